// Package app is the code of the shmring commands: cmd/producer,
// cmd/consumer and cmd/shmring. Their main functions only parse flags and
// call Run or Shmring; everything else is here, where the tests reach it.
//
// The producer and the consumer stream messages in the format of
// internal/app/wire through a ring at one key. Whichever starts first creates
// the ring and the other opens it. The consumer checks every message
// (sequence, CRC32C) and measures its one-way latency from the send
// timestamp.
//
// Exit status, for all three commands: 0 success, 1 failure (for the
// consumer: any message lost, duplicated, reordered or corrupt), 2 bad
// usage.
package app
