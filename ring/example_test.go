package ring_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/shmring/shmring/ring"
)

// A ring over ordinary memory, both sides in one process: send, close, and
// receive until io.EOF. Between processes, ring.Create and ring.Open take
// the place of ring.New; the calls on the sides are the same.
func Example() {
	r, err := ring.New(ring.Config{MaxMessage: 32, Slots: 8})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()

	ctx := context.Background()
	for _, m := range []string{"one", "two", "three"} {
		if err := p.Send(ctx, []byte(m)); err != nil {
			panic(err)
		}
	}
	p.Close() // the consumer drains what is left, then reads io.EOF

	buf := make([]byte, c.MaxMessage())
	for {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		fmt.Println(string(buf[:n]))
	}
	// Output:
	// one
	// two
	// three
}

// Zero-copy: write messages in place with Reserve, publish them together
// with one Commit, read them in place with Peek, free them with Release.
func ExampleProducer_Reserve() {
	r, _ := ring.New(ring.Config{MaxMessage: 12, Slots: 4})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()

	for i := range 3 {
		b, err := p.Reserve(ctx, 5)
		if err != nil {
			panic(err)
		}
		copy(b, fmt.Sprintf("msg-%d", i))
	}
	p.Commit() // one store publishes all three

	for range 3 {
		m, _ := c.Peek(ctx)
		fmt.Println(string(m))
	}
	c.Release() // one store frees all three
	// Output:
	// msg-0
	// msg-1
	// msg-2
}

// Batches: SendBatch publishes many messages with one cursor store;
// RecvBatch hands each waiting message to a function, in place, and frees
// them all with one store.
func ExampleProducer_SendBatch() {
	r, _ := ring.New(ring.Config{MaxMessage: 12, Slots: 8})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()

	n, err := p.SendBatch(ctx, [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")})
	fmt.Println("sent", n, err)

	got, err := c.RecvBatch(ctx, 0, func(msg []byte) error {
		fmt.Printf("%s (%d bytes)\n", msg, len(msg)) // msg is valid only here
		return nil
	})
	fmt.Println("received", got, err)
	// Output:
	// sent 3 <nil>
	// a (1 bytes)
	// bb (2 bytes)
	// ccc (3 bytes)
	// received 3 <nil>
}

// Fixed-size messages in bulk: ReserveBatch claims a run of slots at once,
// each slot is written in place, and one Commit publishes them. The loop
// asks again when the ring granted fewer slots than were left to send.
func ExampleProducer_ReserveBatch() {
	r, _ := ring.New(ring.Config{MaxMessage: 12, Slots: 8})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()

	const total = 5
	for sent := 0; sent < total; {
		b, err := p.ReserveBatch(ctx, total-sent, 4) // up to 5 slots of 4 bytes
		if err != nil {
			panic(err)
		}
		for i := range b.Len() {
			copy(b.Slot(i), fmt.Sprintf("m%03d", sent+i))
		}
		p.Commit()
		sent += b.Len()
	}

	c.RecvBatch(ctx, 0, func(msg []byte) error {
		fmt.Println(string(msg))
		return nil
	})
	// Output:
	// m000
	// m001
	// m002
	// m003
	// m004
}

// A consumer that does not size its buffer from MaxMessage, which may be
// far larger than any message: it starts small and grows the buffer to
// the length io.ErrShortBuffer reports. The message waits in the ring
// meanwhile.
func ExampleConsumer_Recv() {
	r, err := ring.New(ring.Config{}) // max_message: 1 GiB, in 72-byte slots
	if err != nil {
		panic(err)
	}
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()

	ctx := context.Background()
	for _, n := range []int{10, 100000, 20} {
		if err := p.Send(ctx, make([]byte, n)); err != nil {
			panic(err)
		}
	}
	p.Close()

	buf := make([]byte, 4096)
	for {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.ErrShortBuffer) {
			fmt.Println("grow to", n)
			buf = make([]byte, n)
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		fmt.Println("received", n, "bytes")
	}
	// Output:
	// received 10 bytes
	// grow to 100000
	// received 100000 bytes
	// received 20 bytes
}
