// Package ringtest times a ring between two processes with messages of the
// caller's own, from a benchmark in the caller's module:
//
//	func TestMain(m *testing.M) { ringtest.Main(m) }
//
//	func BenchmarkOrderThroughput(b *testing.B) {
//		ringtest.Throughput(b, ringtest.Config{MaxMessage: orderSize},
//			func(i int, buf []byte) []byte { return appendOrder(buf, newOrder(i)) }, decodeOrders)
//	}
//
// [Throughput] streams b.N messages one way and reports ns/msg, msgs/s and
// MB/s; [RoundTrip] sends b.N messages one at a time, each answered before
// the next, and reports the mean (ns/op) and the p50-ns, p99-ns and
// p99.9-ns of the round trips. Both report allocs/op of the benchmark
// process.
//
// # Two processes
//
// The peer is the test binary itself, started again by the benchmark with
// an environment variable that [Main] (or [Run]) finds: instead of running
// the tests, it opens the rings, plays the peer's part, and exits. This is
// why TestMain must call Main, and call it first: whatever runs before it
// runs in the peer too.
//
// Code of the caller's runs on both sides. The benchmark process runs
// produce (it builds message i) and, in a round trip, check (it judges
// reply i). The peer runs a [Sink] (Throughput: it gets every message) or
// a [Responder] (RoundTrip: it builds the reply), or, when they are nil, a
// drain that counts and an echo. A closure cannot cross to another
// process, so sinks and responders are registered by name when the
// program starts, in package-level variables (or in TestMain before Main),
// and both processes find them there:
//
//	var nextOrder uint64
//	...
//	var decodeOrders = ringtest.NewSink("orders", func(msg []byte) error {
//		o, err := decodeOrder(msg)
//		if err != nil {
//			return err
//		}
//		if o.ID != nextOrder {
//			return fmt.Errorf("order %d arrived, want %d", o.ID, nextOrder)
//		}
//		nextOrder++
//		return nil
//	})
//
// They keep their state, if any, in the peer process: this sink checks
// that orders arrive in turn, but it cannot tell the benchmark anything
// except by failing. An error from a sink or a responder ends the
// peer, and the benchmark fails with that error and the peer's output.
//
// # What is timed
//
// The clock starts once the peer has attached both rings and claimed its
// roles; starting the process is not timed. Throughput stops it when the
// peer has received (and sunk) every message: after the last send the
// benchmark closes its producer, and the peer answers the io.EOF that
// follows with its count on a second ring. A round trip runs from the
// call of produce to the return of check. produce and check are timed:
// they are part of the cost of a message. Messages go with
// [ring.Producer.Send] (one copy in) and come out with
// [ring.Consumer.Recv] (one copy out) in Throughput, the calls of
// bench's ring-send; RoundTrip reads the reply in place with Peek, and its
// echo copies slot to slot, as bench's ring-spin and ring-futex do.
//
// # Segments and processes
//
// Each ring is a new segment made with the key IPC_PRIVATE, so there is no
// key to choose and none can collide with another program's: the peer is
// given the segment's ID. The segment is marked for removal (IPC_RMID) as
// soon as it is made, before the peer starts; Linux lets the peer attach it
// all the same, and frees it when the last of the two processes detaches or
// dies. Nothing is left behind whichever way the benchmark ends, except in
// the microseconds between shmget and IPC_RMID. The peer is killed and
// reaped when the benchmark ends. A peer whose benchmark process was
// killed ends by itself: its next wait on the ring returns
// ring.ErrPeerDead.
package ringtest
