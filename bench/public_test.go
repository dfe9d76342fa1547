package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/ring"
)

// The copying calls, as a program that has its messages in hand makes them
// (issue 18): SendBatch with RecvBatch, and Send with Recv, both sides
// spinning (WaitSpin), as the C ring does. Both processes use the ring's
// exported calls and nothing else: the parent learns that the consumer has
// taken the last message from an acknowledgement the peer sends back on a
// second ring, not from the consumer's cursor in the segment (as
// ringThroughput does). That answer costs one more hand-over per
// measurement, a few hundred nanoseconds over millions of messages.
//
// The comparisons: ring-sendbatch-spin against cring-batch, which
// publishes and releases as often (batchFor(size) messages: 64 at 8 and
// 64 bytes, 32 at 1 KiB); ring-send-spin against cring-each, which
// publishes and releases every message, as Send and Recv do.
const (
	apiSendBatch = "sendbatch"
	apiSendRecv  = "sendrecv"
)

// publicThroughput sends n messages of size bytes to a consumer process
// through the copying calls of api, and times them until the consumer has
// received the last one.
func publicThroughput(h harness, api string, size, n int) result {
	r, key := newRing(h, slotsFor(size), size, ring.WaitSpin)
	back, backKey := newRing(h, 2, ackSize, ring.WaitSpin)
	p, err := r.Producer()
	if err != nil {
		h.Fatal(err)
	}
	acks, err := back.Consumer()
	if err != nil {
		h.Fatal(err)
	}
	batch := batchFor(size)
	peer := startPeer(h, "ring-ack", nil, key.String(), backKey.String(), api,
		strconv.Itoa(size), strconv.Itoa(batch), strconv.Itoa(n))
	unlink(h, r, back)
	// One message, sent batch times over: the C ring copies one buffer
	// too, so neither side reads more source lines than the other.
	msg := benchkit.Payload(size)
	msgs := make([][]byte, batch)
	for i := range msgs {
		msgs[i] = msg
	}
	ctx := context.Background()
	var ack [ackSize]byte

	s := benchkit.Begin(h)
	switch api {
	case apiSendBatch:
		for i := 0; i < n; {
			k, err := p.SendBatch(ctx, msgs[:min(batch, n-i)])
			if err != nil {
				h.Fatalf("SendBatch after %d messages: %v", i+k, err)
			}
			i += k
		}
	case apiSendRecv:
		for i := range n {
			if err := p.Send(ctx, msg); err != nil {
				h.Fatalf("Send of message %d: %v", i, err)
			}
		}
	default:
		h.Fatalf("unknown api %q", api)
	}
	k, err := acks.Recv(ctx, ack[:])
	elapsed, allocs := s.End(n)

	if err != nil {
		h.Fatalf("the consumer's acknowledgement: %v", err)
	}
	if got := binary.LittleEndian.Uint64(ack[:k]); k != ackSize || got != uint64(n) {
		h.Fatalf("the consumer acknowledged %d messages (%d bytes), want %d", got, k, n)
	}
	return closeStream(h, r, p, peer, n, elapsed, allocs)
}

// ackSize is the acknowledgement's length: a count, little-endian.
const ackSize = 8

// ringAck: args KEY ACK_KEY API SIZE BATCH COUNT. Receives COUNT messages
// of SIZE bytes from ring KEY through the copying calls of API (RecvBatch
// of at most BATCH, or Recv), reading the first and last byte of each as
// the C consumer does, then sends the count on ring ACK_KEY. It then
// waits for the producer to close, refusing any message more, and prints
// "done COUNT SUM".
func ringAck(args []string) error {
	a := childArgs(args)
	key, err1 := a.str(0)
	ackKey, err2 := a.str(1)
	api, err3 := a.str(2)
	size, err4 := a.int(3)
	batch, err5 := a.int(4)
	want, err6 := a.int(5)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	c, p, closeRings, err := openPair(key, ackKey, ring.WaitSpin)
	if err != nil {
		return err
	}
	defer closeRings()
	fmt.Println("ready")

	ctx := context.Background()
	count, sum := 0, 0
	check := func(m []byte) error {
		if len(m) != size {
			return fmt.Errorf("message %d: %d bytes, want %d", count, len(m), size)
		}
		sum += int(m[0]) + int(m[len(m)-1])
		count++
		return nil
	}
	buf := make([]byte, c.MaxMessage())
	switch api {
	case apiSendBatch:
		for count < want {
			if _, err := c.RecvBatch(ctx, batch, check); err != nil {
				return fmt.Errorf("RecvBatch after %d messages: %w", count, err)
			}
		}
	case apiSendRecv:
		for count < want {
			m, err := c.Recv(ctx, buf)
			if err != nil {
				return fmt.Errorf("Recv after %d messages: %w", count, err)
			}
			if err := check(buf[:m]); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown api %q", api)
	}
	var ack [ackSize]byte
	binary.LittleEndian.PutUint64(ack[:], uint64(count))
	if err := p.Send(ctx, ack[:]); err != nil {
		return fmt.Errorf("acknowledge %d messages: %w", count, err)
	}
	if m, err := c.Recv(ctx, buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("after %d messages: got %d bytes, %v; want io.EOF", count, m, err)
	}
	fmt.Println("done", count, sum)
	return nil
}
