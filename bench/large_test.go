package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// Messages larger than a slot (issue 20): 64 KiB, 1 MiB and 16 MiB through
// rings of largeSlots slots of 1 KiB and of 16 KiB (4 and 64 MiB), so that
// each message travels in fragments, and a 16 MiB one is larger than the
// whole of either ring. Every transport moves the same bytes: the sender
// copies each message in from one buffer, the receiver copies it out into
// another and reads its first and last byte.
//
//   - ring: Send and Recv, nothing else (the ring splits and joins).
//   - C ring (cref/cring.c ftput, frtt): the same fragment format, a
//     fragment copied in or out per slot; it publishes and releases every
//     32 KiB of slots (batchBytes), at the end of each message, and before
//     it waits, spinning.
//   - bare copy (cref/cring.c copy, throughput only): no ring; each
//     message is copied whole into one of two buffers and out again.
//   - pipe, Unix socket: one write(2) call per message and reads of
//     exactly one message, as for the small sizes; the kernel copies in
//     and out, through its 64 KiB pipe buffer or socket buffers.
var (
	largeSizes     = []int{64 << 10, 1 << 20, 16 << 20}
	largeSlotSizes = []int{1 << 10, 16 << 10}
)

// largeSlots is the slot count of every ring of the large-message
// benchmarks.
const largeSlots = 4096

// A transport for large messages: slotted ones run once per slot size.
type largeTransport struct {
	name    string
	slotted bool
	run     func(h harness, slotSize, size, n int) result
}

var (
	largeThroughputs = []largeTransport{
		{"ring-send", true, ringThroughputLarge},
		{"cring", true, func(h harness, slotSize, size, n int) result { return cringLarge(h, "ftput", slotSize, size, n) }},
		// Each message copied whole into one of two buffers and out again:
		// no ring, the simplest design that copies in and out
		// (cref/cring.c, copy).
		{"copy-bare", false, func(h harness, _, size, n int) result {
			return cringStreamResult(h, runCRing(h, "copy", strconv.Itoa(size), strconv.Itoa(n)), n)
		}},
		{"pipe", false, func(h harness, _, size, n int) result { return fdThroughput(h, fdPipe, size, n) }},
		{"unix-stream", false, func(h harness, _, size, n int) result { return fdThroughput(h, fdSocket, size, n) }},
	}
	largeRoundTrips = []largeTransport{
		{"ring-spin", true, ringRoundTripLarge},
		{"cring-spin", true, func(h harness, slotSize, size, n int) result { return cringLarge(h, "frtt", slotSize, size, n) }},
		{"pipe", false, func(h harness, _, size, n int) result { return fdRoundTrip(h, fdPipe, size, n) }},
		{"unix-stream", false, func(h harness, _, size, n int) result { return fdRoundTrip(h, fdSocket, size, n) }},
	}
	// headerTrip: the C header's echo, in BenchmarkSecondLine only (and
	// TestSmokeLarge).
	headerTrip = largeTransport{"cheader-spin", true, headerRoundTripLarge}
)

// eachLarge calls fn for every large-message case of ts, named
// "TRANSPORT/SIZE/slot=SLOT" (a transport without slots: "TRANSPORT/SIZE"
// and slot 0). Sizes are the outer loop, then slot sizes, as in
// BenchmarkThroughput: the figures compared run seconds apart.
func eachLarge(ts []largeTransport, fn func(name string, t largeTransport, slotSize, size int)) {
	for _, size := range largeSizes {
		for _, slotSize := range largeSlotSizes {
			for _, t := range ts {
				if t.slotted {
					fn(t.name+"/"+benchkit.SizeName(size)+"/slot="+benchkit.SizeName(slotSize), t, slotSize, size)
				}
			}
		}
		for _, t := range ts {
			if !t.slotted {
				fn(t.name+"/"+benchkit.SizeName(size), t, 0, size)
			}
		}
	}
}

// BenchmarkThroughputLarge streams b.N messages of 64 KiB to 16 MiB one way,
// as BenchmarkThroughput does: ns/op and ns/msg per message, MB/s of
// payload. bench/report runs it with a shorter -benchtime than the rest: a
// 16 MiB message takes milliseconds.
func BenchmarkThroughputLarge(b *testing.B) {
	eachLarge(largeThroughputs, func(name string, t largeTransport, slotSize, size int) {
		b.Run(name, func(b *testing.B) {
			if listOnly {
				return
			}
			shmtest.NoLeaks(b)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			reportThroughput(b, t.run(b, slotSize, size, b.N), size)
		})
	})
}

// BenchmarkRoundTripLarge sends a message of 64 KiB to 16 MiB and waits for
// its echo, b.N times, as BenchmarkRoundTrip does. The echo receives the
// whole message into a buffer and sends it back from there.
func BenchmarkRoundTripLarge(b *testing.B) {
	eachLarge(largeRoundTrips, func(name string, t largeTransport, slotSize, size int) {
		b.Run(name, func(b *testing.B) {
			if listOnly {
				return
			}
			shmtest.NoLeaks(b)
			b.ReportAllocs()
			reportRoundTrip(b, t.run(b, slotSize, size, b.N))
		})
	})
}

// BenchmarkSecondLine is the round trip of 16 and 64-byte messages, copied
// out of the ring on both sides (Send and Recv; the C ring's frtt; Send and
// Recv against the C header's echo, cheader-spin), in 4096 slots of 512 B
// and of 1 KiB: what docs/DESIGN.md ("Smaller choices", the second-line
// fetch) compares. A 64-byte message spills into its slot's second cache
// line, a 16-byte one does not. BenchmarkRoundTrip's initiator reads one
// byte of each reply in place, which hides the difference.
func BenchmarkSecondLine(b *testing.B) {
	for _, size := range []int{16, 64} {
		for _, slotSize := range []int{512, 1 << 10} {
			for _, t := range append(largeRoundTrips, headerTrip) {
				if !t.slotted {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/slot=%d", t.name, benchkit.SizeName(size), slotSize), func(b *testing.B) {
					if listOnly {
						return
					}
					shmtest.NoLeaks(b)
					b.ReportAllocs()
					reportRoundTrip(b, t.run(b, slotSize, size, b.N))
				})
			}
		}
	}
}

// The rings here are up to 64 MiB, and on the project's VM (a Firecracker
// guest) the first access to a page of a new segment costs some 12 us, in
// the process that allocates it (write) and again in the one that maps it
// (read): a fresh 64 MiB ring would spend 0.4 s of its first lap in page
// faults, which a ring in use has long paid. So the parent writes a byte
// of every page of its segments before the clock starts, and the peer
// reads one before it says it is ready, as the C ring does (cring.c,
// prefault). madvise(MADV_POPULATE_WRITE, _READ) first halves that (about
// 130 ms a side for 64 MiB instead of 250), but is no substitute: after it
// alone, the first lap still paid half the cost.

// prefault reads (write false) or writes a zero to (write true) one byte
// of every page of b, a ring's segment, from its first slot: every page
// from the header's on, and never a byte of the header. Writing slots
// nobody has published is harmless. It returns the sum of what it read.
func prefault(b []byte, write bool) byte {
	populate(b, write)
	var sum byte
	for i := ring.HeaderSize; i < len(b); i += os.Getpagesize() {
		if write {
			b[i] = 0
		} else {
			sum += b[i]
		}
	}
	return sum
}

// prefaultRing prefaults r's segment: writing in the process that made
// it, reading in its peer.
func prefaultRing(r *ring.Ring, write bool) error {
	b, err := r.Segment().Bytes()
	if err == nil {
		prefaultSum += prefault(b, write)
	}
	return err
}

// prefaultSum keeps prefault's reads.
var prefaultSum byte

// writePages prefaults the segment of r, a ring this process made.
func writePages(h testing.TB, r *ring.Ring) {
	if err := prefaultRing(r, true); err != nil {
		h.Fatal(err)
	}
}

// headOffset is where the producer's cursor lives in the segment.
var headOffset = ring.FieldOffset("head")

// largeConfig is the ring of the large-message benchmarks: largeSlots
// slots of slotSize bytes, for messages of up to size bytes.
func largeConfig(slotSize, size int) ring.Config {
	return ring.Config{MaxMessage: size, SlotSize: slotSize, Slots: largeSlots}
}

// ringThroughputLarge sends n messages of size bytes with Send through a
// ring of slots of slotSize bytes to a consumer process that receives
// them with Recv, and times it until the consumer has released the last
// slot. Both sides wait adaptively, as shipped.
func ringThroughputLarge(h harness, slotSize, size, n int) result {
	r, key := newRingOf(h, largeConfig(slotSize, size), ring.WaitAdaptive)
	writePages(h, r)
	p, err := r.Producer()
	if err != nil {
		h.Fatal(err)
	}
	peer := startPeer(h, "ring-consume", nil, key.String(), apiSend, strconv.Itoa(size), ring.WaitAdaptive.String(), "prefault")
	unlink(h, r)
	seg, err := r.Segment().Bytes()
	if err != nil {
		h.Fatal(err)
	}
	head, tail := word64(seg, headOffset), word64(seg, tailOffset)
	send := newRingSender(p, apiSend, size)

	s := benchkit.Begin(h)
	send.send(h, n)
	// The cursors count slots: the consumer is done when it has released
	// every slot the producer published.
	awaitCursor(h, tail, atomic.LoadUint64(head), peer)
	elapsed, allocs := s.End(n)

	return closeStream(h, r, p, peer, n, elapsed, allocs)
}

// ringRoundTripLarge measures n round trips of size-byte messages over two
// rings of slots of slotSize bytes, both sides spinning: the parent Sends
// and Recvs the echo; the peer (ring-echo) Recvs each message into a buffer
// and Sends it back.
func ringRoundTripLarge(h harness, slotSize, size, n int) result {
	return roundTripLargeWith(h, slotSize, size, n, func(keyA, keyB string) *peer {
		return startPeer(h, "ring-echo", nil, keyA, keyB, ring.WaitSpin.String())
	})
}

// headerRoundTripLarge is ringRoundTripLarge with the C header's consumer
// and producer as the echo (cref/hecho.c), spinning too.
func headerRoundTripLarge(h harness, slotSize, size, n int) result {
	bin := hechoBin(h)
	return roundTripLargeWith(h, slotSize, size, n, func(keyA, keyB string) *peer {
		ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
		h.Cleanup(cancel)
		return startCmd(h, "hecho", shmtest.Command(h, ctx, bin, keyA, keyB), nil)
	})
}

// roundTripLargeWith is the round trips of ringRoundTripLarge, with the echo
// start starts on the rings of two keys: messages go on the first.
func roundTripLargeWith(h harness, slotSize, size, n int, start func(keyA, keyB string) *peer) result {
	cfg := largeConfig(slotSize, size)
	a, keyA := newRingOf(h, cfg, ring.WaitSpin)
	b, keyB := newRingOf(h, cfg, ring.WaitSpin)
	writePages(h, a)
	writePages(h, b)
	p, err := a.Producer()
	if err != nil {
		h.Fatal(err)
	}
	c, err := b.Consumer()
	if err != nil {
		h.Fatal(err)
	}
	peer := start(keyA.String(), keyB.String())
	unlink(h, a, b)
	msg, in := benchkit.Payload(size), make([]byte, size)
	ctx := context.Background()
	sum := 0
	r, warm := measureRoundTrips(h, n, func() {
		if err := p.Send(ctx, msg); err != nil {
			h.Fatal(err)
		}
		m, err := c.Recv(ctx, in)
		if err != nil {
			h.Fatal(err)
		}
		if m != size {
			h.Fatalf("echo of %d bytes, want %d", m, size)
		}
		sum += int(in[0]) + int(in[m-1])
	})
	if err := p.Close(); err != nil {
		h.Fatal(err)
	}
	peer.Done(h, warm+n)
	return r
}

// ringEcho: args KEY_IN KEY_OUT MODE. Receives each message of ring KEY_IN
// into a buffer (Recv) and sends it back on ring KEY_OUT (Send), until the
// producer closes; prints "done COUNT".
func ringEcho(args []string) error {
	c, p, closeRings, err := openPairArgs(args, true)
	if err != nil {
		return err
	}
	defer closeRings()
	fmt.Println("ready")

	ctx := context.Background()
	buf := make([]byte, c.MaxMessage())
	count := 0
	for {
		m, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := p.Send(ctx, buf[:m]); err != nil {
			return err
		}
		count++
	}
	fmt.Println("done", count)
	return nil
}

// cringLarge has the C ring run mode (ftput or frtt) for n messages of
// size bytes through largeSlots slots of slotSize bytes, publishing every
// batchBytes of slots.
func cringLarge(h harness, mode string, slotSize, size, n int) result {
	batch := max(1, batchBytes/slotSize)
	figs := runCRing(h, mode, strconv.Itoa(size), strconv.Itoa(largeSlots), strconv.Itoa(slotSize),
		strconv.Itoa(batch), strconv.Itoa(n))
	if mode == "ftput" {
		return cringStreamResult(h, figs, n)
	}
	return cringRoundTripResult(h, figs, n)
}

// TestSmokeLarge runs every large-message transport once, with a few
// messages: 64 KiB in slots of 16 KiB (a message fits the ring many times)
// and 16 MiB in slots of 1 KiB (a message is four times the ring).
func TestSmokeLarge(t *testing.T) {
	for _, c := range []struct{ slotSize, size, n int }{{16 << 10, 64 << 10, 200}, {1 << 10, 16 << 20, 3}} {
		for _, tr := range largeThroughputs {
			t.Run(fmt.Sprintf("throughput/%s/%s/slot=%s", tr.name, benchkit.SizeName(c.size), benchkit.SizeName(c.slotSize)), func(t *testing.T) {
				shmtest.NoLeaks(t)
				if r := tr.run(benchkit.Smoke{T: t}, c.slotSize, c.size, c.n); r.elapsed <= 0 {
					t.Errorf("elapsed %v", r.elapsed)
				}
			})
		}
		for _, tr := range append(largeRoundTrips, headerTrip) {
			t.Run(fmt.Sprintf("roundtrip/%s/%s/slot=%s", tr.name, benchkit.SizeName(c.size), benchkit.SizeName(c.slotSize)), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r := tr.run(benchkit.Smoke{T: t}, c.slotSize, c.size, c.n)
				if r.elapsed <= 0 || !(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.p999) {
					t.Errorf("elapsed %v, p50 %v, p99 %v, p99.9 %v", r.elapsed, r.p50, r.p99, r.p999)
				}
			})
		}
	}
}
