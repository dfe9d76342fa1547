package ringtest_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/shmring/shmring/ring/ringtest"
)

// This file is what a benchmark of one's own messages looks like in one's
// own module. Run it with "go test -run '^$' -bench Order ./ring/ringtest/".
//
// The peer process is this test binary, started again by the benchmark:
// ringtest.Main, called first in TestMain (the one TestMain of the
// package's tests), is where it finds its part. BenchmarkOrderThroughput
// streams orders to the peer, and decodeOrders decodes them there.
func TestMain(m *testing.M) { ringtest.Main(m) }

func BenchmarkOrderThroughput(b *testing.B) {
	ringtest.Throughput(b, ringtest.Config{MaxMessage: orderSize},
		func(i int, buf []byte) []byte { return appendOrder(buf, newOrder(i)) }, decodeOrders)
}

// order is the caller's own message type: a fixed-size little-endian
// record.
type order struct {
	ID    uint64
	Price int64
	Qty   uint32
}

const orderSize = 20

func appendOrder(b []byte, o order) []byte {
	b = binary.LittleEndian.AppendUint64(b, o.ID)
	b = binary.LittleEndian.AppendUint64(b, uint64(o.Price))
	return binary.LittleEndian.AppendUint32(b, o.Qty)
}

func decodeOrder(b []byte) (order, error) {
	if len(b) != orderSize {
		return order{}, fmt.Errorf("order of %d bytes, want %d", len(b), orderSize)
	}
	le := binary.LittleEndian
	return order{ID: le.Uint64(b), Price: int64(le.Uint64(b[8:])), Qty: le.Uint32(b[16:])}, nil
}

// newOrder is order i: its ID is i, which decodeOrders checks.
func newOrder(i int) order {
	return order{ID: uint64(i), Price: 100_00 + int64(i%7), Qty: uint32(i%100 + 1)}
}

// nextOrder is the ID that decodeOrders expects next. It lives in the peer
// process, as a sink's state does: each benchmark run starts a new peer.
var nextOrder uint64

// decodeOrders runs in the peer process, on every order it receives: an
// order that does not decode, or that arrives out of turn, fails the
// benchmark.
var decodeOrders = ringtest.NewSink("orders", func(msg []byte) error {
	o, err := decodeOrder(msg)
	if err != nil {
		return err
	}
	if o.ID != nextOrder {
		return fmt.Errorf("order %d arrived, want %d", o.ID, nextOrder)
	}
	nextOrder++
	return nil
})

// ackOrders runs in the peer process too: it answers each order with its ID.
var ackOrders = ringtest.NewResponder("order-acks", func(req, reply []byte) ([]byte, error) {
	o, err := decodeOrder(req)
	if err != nil {
		return nil, err
	}
	return binary.LittleEndian.AppendUint64(reply, o.ID), nil
})

// BenchmarkOrderRoundTrip sends orders one at a time and waits for each
// acknowledgement. Both processes wait adaptively, the ring's default;
// Wait: ring.WaitStrategy{Mode: ring.WaitSpin} gives the lowest latency
// when each has a core of its own, and is far slower on a machine with
// more busy threads than cores: a waiting side spins out its time slice
// while the side it waits for does not run.
func BenchmarkOrderRoundTrip(b *testing.B) {
	cfg := ringtest.Config{MaxMessage: orderSize}
	produce := func(i int, buf []byte) []byte { return appendOrder(buf, newOrder(i)) }
	ringtest.RoundTrip(b, cfg, produce, ackOrders, func(i int, reply []byte) error {
		if len(reply) != 8 || binary.LittleEndian.Uint64(reply) != uint64(i) {
			return errors.New("the acknowledgement is not of this order")
		}
		return nil
	})
}

// A benchmark run from code rather than by "go test -bench": the figures
// it reports are in the result's Extra, beside ns/op and allocs/op.
func ExampleThroughput() {
	r := testing.Benchmark(BenchmarkOrderThroughput)
	fmt.Println(slices.Sorted(maps.Keys(r.Extra)))
	// Output: [MB/s msgs/s ns/msg]
}
