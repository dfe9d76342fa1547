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
// own module; main_test.go holds the TestMain it needs:
//
//	func TestMain(m *testing.M) { ringtest.Main(m) }
//
// Run it with "go test -run '^$' -bench Order ./ring/ringtest/".

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

// produceOrder builds order i, without allocating, in the buffer the
// benchmark lends.
func produceOrder(i int, buf []byte) []byte {
	return appendOrder(buf, order{ID: uint64(i), Price: 100_00 + int64(i%7), Qty: uint32(i%100 + 1)})
}

// decodeOrders runs in the peer process, on every order it receives. Its
// state (next) is the peer's: each benchmark run starts a new peer.
var decodeOrders = func() *ringtest.Sink {
	var next uint64
	return ringtest.NewSink("orders", func(msg []byte) error {
		o, err := decodeOrder(msg)
		if err != nil {
			return err
		}
		if o.ID != next {
			return fmt.Errorf("order %d arrived, want %d", o.ID, next)
		}
		next++
		return nil
	})
}()

// ackOrders runs in the peer process too: it answers each order with its ID.
var ackOrders = ringtest.NewResponder("order-acks", func(req, reply []byte) ([]byte, error) {
	o, err := decodeOrder(req)
	if err != nil {
		return nil, err
	}
	return binary.LittleEndian.AppendUint64(reply, o.ID), nil
})

// BenchmarkOrderThroughput streams orders to a peer process that decodes
// them.
func BenchmarkOrderThroughput(b *testing.B) {
	ringtest.Throughput(b, ringtest.Config{MaxMessage: orderSize}, produceOrder, decodeOrders)
}

// BenchmarkOrderRoundTrip sends orders one at a time and waits for each
// acknowledgement. Both processes wait adaptively, the ring's default;
// Wait: ring.WaitStrategy{Mode: ring.WaitSpin} gives the lowest latency
// when each has a core of its own, and is far slower on a machine with
// more busy threads than cores: a waiting side spins out its time slice
// while the side it waits for does not run.
func BenchmarkOrderRoundTrip(b *testing.B) {
	cfg := ringtest.Config{MaxMessage: orderSize}
	ringtest.RoundTrip(b, cfg, produceOrder, ackOrders, func(i int, reply []byte) error {
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
