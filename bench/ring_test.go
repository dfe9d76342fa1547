package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// The ring's APIs under test. apiSend: Producer.Send per message, and
// Consumer.Recv, which copies each message out. apiBatch: ReserveBatch of
// batchFor(size) slots, written in place, one Commit; the consumer reads in
// place with RecvBatch.
const (
	apiSend  = "send"
	apiBatch = "batch"
)

// tailOffset is where the consumer's cursor lives in the segment
// (docs/LAYOUT.md): the parent reads it to know when the consumer has
// released everything, without a message of its own.
var tailOffset = ring.FieldOffset("tail")

// newRing creates a ring for size-byte messages in a new segment and closes
// it when the benchmark ends.
func newRing(h testing.TB, slots, size int, mode ring.WaitMode) (*ring.Ring, shmseg.Key) {
	h.Helper()
	return newRingOf(h, ring.Config{SlotSize: ring.SlotSizeFor(size), Slots: slots}, mode)
}

// newRingOf creates a ring of cfg, waiting with mode, in a new segment and
// closes it when the benchmark ends.
func newRingOf(h testing.TB, cfg ring.Config, mode ring.WaitMode) (*ring.Ring, shmseg.Key) {
	h.Helper()
	key := shmseg.Key(shmtest.Key(h))
	cfg.Options.Wait = ring.WaitStrategy{Mode: mode}
	r, err := ring.Create(key, cfg)
	if err != nil {
		h.Fatal(err)
	}
	h.Cleanup(func() {
		_ = r.Close()
		// Close removes the segment only once both sides have closed:
		// not if the peer never started. Removing it again is harmless.
		_ = r.Segment().Remove()
	})
	return r, key
}

// unlink marks a ring's segment for removal once the peer has attached it:
// from then on the kernel frees it when both processes are gone, however
// they end. The rings' own Close accepts a segment already removed.
func unlink(h testing.TB, rs ...*ring.Ring) {
	h.Helper()
	for _, r := range rs {
		if err := r.Segment().Remove(); err != nil {
			h.Fatal(err)
		}
	}
}

func openRing(s string, mode ring.WaitMode) (*ring.Ring, error) {
	key, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return nil, err
	}
	return ring.Open(shmseg.Key(key), ring.Options{
		Wait:         ring.WaitStrategy{Mode: mode},
		ReadyTimeout: 10 * time.Second,
	})
}

// ringThroughput sends n messages of size bytes through a ring of slots
// slots to a consumer process, and times it until the consumer has released
// the last one. The consumer waits adaptively (the default): this is the
// ring as it is shipped.
func ringThroughput(h harness, api string, size, slots, n int) result {
	r, key := newRing(h, slots, size, ring.WaitAdaptive)
	p, err := r.Producer()
	if err != nil {
		h.Fatal(err)
	}
	peer := startPeer(h, "ring-consume", nil, key.String(), api, strconv.Itoa(size), ring.WaitAdaptive.String())
	unlink(h, r)
	seg, err := r.Segment().Bytes()
	if err != nil {
		h.Fatal(err)
	}
	tail := word64(seg, tailOffset)
	send := newRingSender(p, api, size)

	s := benchkit.Begin(h)
	send.send(h, n)
	awaitCursor(h, tail, uint64(n), peer)
	elapsed, allocs := s.End(n)

	return closeStream(h, r, p, peer, n, elapsed, allocs)
}

// closeStream ends a one-way stream of n messages, timed as elapsed with
// allocs per 1000 messages: it reads the ring's counters, closes the
// producer, and checks that the peer saw n messages.
func closeStream(h harness, r *ring.Ring, p *ring.Producer, peer *peer, n int, elapsed time.Duration, allocs float64) result {
	st := r.Stats()
	if err := p.Close(); err != nil {
		h.Fatal(err)
	}
	peer.Done(h, n)
	m := syscallMetrics(st, n)
	m["allocs/1000msg"] = allocs
	return result{elapsed: elapsed, metrics: m}
}

// ringSender sends messages through one of the producer's APIs.
type ringSender struct {
	p   *ring.Producer
	api string
	msg []byte
	ctx context.Context
}

func newRingSender(p *ring.Producer, api string, size int) *ringSender {
	return &ringSender{p: p, api: api, msg: benchkit.Payload(size), ctx: context.Background()}
}

// send sends n messages and publishes them all.
func (s *ringSender) send(h testing.TB, n int) {
	p, ctx, msg := s.p, s.ctx, s.msg
	switch s.api {
	case apiSend:
		for range n {
			if err := p.Send(ctx, msg); err != nil {
				h.Fatal(err)
			}
		}
	case apiBatch:
		batch := batchFor(len(msg))
		for i := 0; i < n; {
			// Nothing is pending between batches, so ReserveBatch
			// waits for space rather than return ErrFull; it may
			// grant fewer slots than asked when the ring is nearly
			// full.
			b, err := p.ReserveBatch(ctx, min(batch, n-i), len(msg))
			if err != nil {
				h.Fatal(err)
			}
			for j := range b.Len() {
				copy(b.Slot(j), msg)
			}
			if err := p.Commit(); err != nil {
				h.Fatal(err)
			}
			i += b.Len()
		}
	default:
		h.Fatalf("unknown api %q", s.api)
	}
}

// syscallMetrics are the futex calls (waits and wakes, both sides) and the
// stalls (a side found the ring full or empty and waited) per 1000
// messages, from the ring's own counters.
func syscallMetrics(st ring.Stats, n int) map[string]float64 {
	calls := st.Producer.Waits + st.Producer.Wakes + st.Consumer.Waits + st.Consumer.Wakes
	stalls := st.Producer.Stalls + st.Consumer.Stalls
	return map[string]float64{
		"futex/1000msg":  float64(calls) * 1000 / float64(n),
		"stalls/1000msg": float64(stalls) * 1000 / float64(n),
	}
}

// awaitCursor waits until the cursor at w reaches want. It polls, yielding
// now and then (the benchmark may run on one P), and gives up if the peer
// dies or nothing moves for a minute.
func awaitCursor(h testing.TB, w *uint64, want uint64, p *peer) {
	h.Helper()
	last, since := atomic.LoadUint64(w), time.Now()
	for i := 1; ; i++ {
		v := atomic.LoadUint64(w)
		if v >= want {
			return
		}
		if i%64 != 0 {
			continue
		}
		runtime.Gosched()
		if i%(1<<14) != 0 {
			continue
		}
		switch {
		case v != last:
			last, since = v, time.Now()
		case !p.watch.alive():
			h.Fatalf("%s died at cursor %d of %d", p.Name, v, want)
		case time.Since(since) > time.Minute:
			h.Fatalf("%s stuck at cursor %d of %d", p.Name, v, want)
		}
	}
}

// ringConsume: args KEY API SIZE MODE [prefault]. Receives until the
// producer closes, checking each message's length; prints "done COUNT".
// With "prefault", it reads every page of the segment first
// (prefaultRing).
func ringConsume(args []string) error {
	a := childArgs(args)
	key, err1 := a.str(0)
	api, err2 := a.str(1)
	size, err3 := a.int(2)
	modeName, err4 := a.str(3)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	mode, err := ring.ParseWaitMode(modeName)
	if err != nil {
		return err
	}
	r, err := openRing(key, mode)
	if err != nil {
		return err
	}
	defer r.Close()
	if t, _ := a.str(4); t == "prefault" {
		if err := prefaultRing(r, false); err != nil {
			return err
		}
	}
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	fmt.Println("ready")

	ctx := context.Background()
	var count, sum int
	switch api {
	case apiSend:
		buf := make([]byte, c.MaxMessage())
		for {
			m, err := c.Recv(ctx, buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if m != size {
				return fmt.Errorf("message %d: %d bytes, want %d", count, m, size)
			}
			sum += int(buf[0]) + int(buf[m-1])
			count++
		}
	case apiBatch:
		// Read in place: the first and last byte, as the C consumer does.
		var bad error
		fn := func(m []byte) error {
			if len(m) != size {
				bad = fmt.Errorf("message %d: %d bytes, want %d", count, len(m), size)
				return bad
			}
			sum += int(m[0]) + int(m[len(m)-1])
			count++
			return nil
		}
		for {
			_, err := c.RecvBatch(ctx, 0, fn)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown api %q", api)
	}
	fmt.Println("done", count, sum)
	return nil
}

// ringRoundTrip measures n round trips over two rings: the parent sends on
// one and waits for the echo on the other. Both processes wait with mode
// (WaitSpin or WaitFutex). The work matches the C ring's: the parent copies
// its message into a slot and reads the echo in place; the peer copies slot
// to slot.
func ringRoundTrip(h harness, mode ring.WaitMode, size, n int) result {
	slots := slotsFor(size)
	a, keyA := newRing(h, slots, size, mode)
	b, keyB := newRing(h, slots, size, mode)
	p, err := a.Producer()
	if err != nil {
		h.Fatal(err)
	}
	c, err := b.Consumer()
	if err != nil {
		h.Fatal(err)
	}
	peer := startPeer(h, "ring-pong", nil, keyA.String(), keyB.String(), mode.String())
	unlink(h, a, b)
	msg := benchkit.Payload(size)
	ctx := context.Background()
	sum := 0
	r, warm := measureRoundTrips(h, n, func() {
		if err := p.Send(ctx, msg); err != nil {
			h.Fatal(err)
		}
		m, err := c.Peek(ctx)
		if err != nil {
			h.Fatal(err)
		}
		if len(m) != size {
			h.Fatalf("echo of %d bytes, want %d", len(m), size)
		}
		sum += int(m[0])
		if err := c.Release(); err != nil {
			h.Fatal(err)
		}
	})
	if err := p.Close(); err != nil {
		h.Fatal(err)
	}
	peer.Done(h, warm+n)
	return r
}

// openPair opens the ring keyed in as its consumer and the ring keyed out
// as its producer, both waiting with mode: a peer that answers on a ring
// of its own. closeRings closes both.
func openPair(in, out string, mode ring.WaitMode) (c *ring.Consumer, p *ring.Producer, closeRings func(), err error) {
	return openPairPrefaulted(in, out, mode, false)
}

// openPairPrefaulted is openPair; with prefault, it first reads every page
// of both segments (prefaultRing).
func openPairPrefaulted(in, out string, mode ring.WaitMode, prefault bool) (c *ring.Consumer, p *ring.Producer, closeRings func(), err error) {
	ra, err := openRing(in, mode)
	if err != nil {
		return nil, nil, nil, err
	}
	rb, err := openRing(out, mode)
	if err != nil {
		_ = ra.Close()
		return nil, nil, nil, err
	}
	closeRings = func() { _ = ra.Close(); _ = rb.Close() }
	if prefault {
		for _, r := range []*ring.Ring{ra, rb} {
			if err := prefaultRing(r, false); err != nil {
				closeRings()
				return nil, nil, nil, err
			}
		}
	}
	if c, err = ra.Consumer(); err == nil {
		p, err = rb.Producer()
	}
	if err != nil {
		closeRings()
		return nil, nil, nil, err
	}
	return c, p, closeRings, nil
}

// openPairArgs is openPairPrefaulted for a peer's arguments KEY_IN KEY_OUT
// MODE.
func openPairArgs(args []string, prefault bool) (c *ring.Consumer, p *ring.Producer, closeRings func(), err error) {
	a := childArgs(args)
	in, err1 := a.str(0)
	out, err2 := a.str(1)
	modeName, err3 := a.str(2)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, nil, err
	}
	mode, err := ring.ParseWaitMode(modeName)
	if err != nil {
		return nil, nil, nil, err
	}
	return openPairPrefaulted(in, out, mode, prefault)
}

// ringPong: args KEY_IN KEY_OUT MODE. Echoes each message of ring KEY_IN on
// ring KEY_OUT, slot to slot, until the producer closes; prints
// "done COUNT".
func ringPong(args []string) error {
	c, p, closeRings, err := openPairArgs(args, false)
	if err != nil {
		return err
	}
	defer closeRings()
	fmt.Println("ready")

	ctx := context.Background()
	count := 0
	for {
		m, err := c.Peek(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		o, err := p.Reserve(ctx, len(m))
		if err != nil {
			return err
		}
		copy(o, m)
		if err := p.Commit(); err != nil {
			return err
		}
		if err := c.Release(); err != nil {
			return err
		}
		count++
	}
	fmt.Println("done", count)
	return nil
}
