package cinterop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// The Go halves of the streams, speaking internal/app/wire as cmd/producer and
// cmd/consumer do, and the child process the peer tests kill.

// variedLen is the length of message seq when sizes vary up to size: the
// same formula as examples/c/producer.c -vary, so either side can check
// the other's lengths exactly.
func variedLen(seq uint64, size int) int {
	span := uint64(size - wire.HeaderSize + 1)
	return wire.HeaderSize + int(seq*2654435761%span)
}

// produce sends count wire messages from sequence number seq on (the
// ring's head when p was claimed), of size bytes or, with vary, of
// variedLen bytes. each, if not nil, is called after every message. It
// returns the payload bytes sent.
func produce(ctx context.Context, p *ring.Producer, seq uint64, count, size int, vary bool, each func(i int)) (uint64, error) {
	buf := make([]byte, size)
	wire.Fill(buf)
	var bytes uint64
	for i := range count {
		msg := buf
		if vary {
			msg = buf[:variedLen(seq, size)]
		}
		wire.Put(msg, seq, monotime.Now())
		err := p.Send(ctx, msg)
		for errors.Is(err, ring.ErrPeerUnresponsive) { // stopped, not dead: wait on
			err = p.Send(ctx, msg)
		}
		if err != nil {
			return bytes, fmt.Errorf("sending message %d: %w", seq, err)
		}
		bytes += uint64(len(msg))
		seq++
		if each != nil {
			each(i)
		}
	}
	return bytes, nil
}

// checker verifies a stream on the Go side: every message has a good CRC,
// exactly the next sequence number and, when lengths are known, exactly
// the length the producer gave it.
type checker struct {
	next     uint64
	messages uint64
	bytes    uint64
	size     int  // largest message
	vary     bool // lengths follow variedLen; otherwise all are size
}

func (v *checker) check(msg []byte) error {
	seq, _, ok := wire.Check(msg)
	switch {
	case !ok:
		return fmt.Errorf("message %d (expected sequence number) of %d bytes: bad CRC32C or too short", v.next, len(msg))
	case seq != v.next:
		return fmt.Errorf("got sequence number %d, expected %d", seq, v.next)
	case v.vary && len(msg) != variedLen(seq, v.size):
		return fmt.Errorf("message %d: %d bytes, the producer's formula gives %d", seq, len(msg), variedLen(seq, v.size))
	case !v.vary && len(msg) != v.size:
		return fmt.Errorf("message %d: %d bytes, want %d", seq, len(msg), v.size)
	}
	v.next++
	v.messages++
	v.bytes += uint64(len(msg))
	return nil
}

// consume receives and checks messages until io.EOF (returned as nil) or
// another error. each, if not nil, is called after every message.
func consume(ctx context.Context, c *ring.Consumer, v *checker, each func()) error {
	buf := make([]byte, c.MaxMessage())
	for {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, ring.ErrPeerUnresponsive) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := v.check(buf[:n]); err != nil {
			return err
		}
		if each != nil {
			each()
		}
	}
}

// producerChild is the child role "producer KEY COUNT SIZE": open the ring,
// claim the producer role, send COUNT messages of SIZE bytes, then hold the
// role without closing until killed. The peer tests kill it to make a dead
// Go producer.
func producerChild(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want KEY COUNT SIZE, got %q", args)
	}
	key, err1 := strconv.ParseInt(args[0], 0, 64)
	count, err2 := strconv.Atoi(args[1])
	size, err3 := strconv.Atoi(args[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	r, err := ring.Open(shmseg.Key(int32(uint32(key))), ring.Options{Liveness: 250 * time.Millisecond})
	if err != nil {
		return err
	}
	p, err := r.Producer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := produce(ctx, p, 0, count, size, false, nil); err != nil {
		return err
	}
	<-ctx.Done() // hold the role; the test kills this process
	return ctx.Err()
}
