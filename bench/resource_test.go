package bench

import (
	"os"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// rssWarm is how many messages BenchmarkRSS sends before its first reading:
// 16 times around the ring, so every slot's page is resident (VmRSS counts
// the segment's pages once touched) and the runtime has settled.
const rssWarm = 16 * 4096

// rssGrowLimit is the growth of either process's resident memory that
// TestRSSFlat tolerates while the message count grows 100x: loose, because
// the runtime may still map a page or two for itself.
const rssGrowLimit = 4 << 10 // KiB

type rssGrowth struct {
	parentBefore, childBefore int64 // KiB
	parent, child             int64 // KiB, after minus before
}

// rssExperiment sends warm messages of size bytes to a consumer process,
// reads both processes' VmRSS, sends 100*warm more, and reads it again.
func rssExperiment(h testing.TB, api string, size, warm int) rssGrowth {
	h.Helper()
	r, key := newRing(h, slotsFor(size), size, ring.WaitAdaptive)
	p, err := r.Producer()
	if err != nil {
		h.Fatal(err)
	}
	peer := startPeer(h, "ring-consume", nil, key.String(), api, itoa(size), ring.WaitAdaptive.String())
	unlink(h, r)
	seg, err := r.Segment().Bytes()
	if err != nil {
		h.Fatal(err)
	}
	tail := word64(seg, tailOffset)
	send := newRingSender(p, api, size)
	read := func() (parent, child int64) {
		parent, err1 := rssKiB(os.Getpid())
		child, err2 := rssKiB(peer.Pid())
		if err1 != nil || err2 != nil {
			h.Fatal(err1, err2)
		}
		return parent, child
	}

	send.send(h, warm)
	awaitCursor(h, tail, uint64(warm), peer)
	var g rssGrowth
	g.parentBefore, g.childBefore = read()
	send.send(h, 100*warm)
	awaitCursor(h, tail, uint64(101*warm), peer)
	pa, ca := read()
	g.parent, g.child = pa-g.parentBefore, ca-g.childBefore

	if err := p.Close(); err != nil {
		h.Fatal(err)
	}
	peer.Done(h, 101*warm)
	return g
}

// TestRSSFlat: neither process's resident memory grows (beyond a few
// pages) while the message count grows 100x, for both sending APIs.
func TestRSSFlat(t *testing.T) {
	for _, api := range []string{apiSend, apiBatch} {
		t.Run(api, func(t *testing.T) {
			shmtest.NoLeaks(t)
			warm := 4 * slotsFor(64)
			g := rssExperiment(t, api, 64, warm)
			t.Logf("%d then %d messages: parent VmRSS %d KiB %+d KiB, child %d KiB %+d KiB",
				warm, 100*warm, g.parentBefore, g.parent, g.childBefore, g.child)
			if g.parent > rssGrowLimit || g.child > rssGrowLimit {
				t.Errorf("resident memory grew by %d KiB (parent) and %d KiB (child) over %d messages; want at most %d KiB each",
					g.parent, g.child, 100*warm, rssGrowLimit)
			}
		})
	}
}

// idleCPU starts a consumer waiting with mode on an empty ring and returns
// the CPU it used over d: clock ticks (utime+stime) and ns on a CPU
// (schedstat), and the wall time they cover.
func idleCPU(h testing.TB, mode ring.WaitMode, d time.Duration) (ticks, nanos int64, wall time.Duration) {
	h.Helper()
	r, key := newRing(h, slotsFor(64), 64, ring.WaitAdaptive)
	p, err := r.Producer()
	if err != nil {
		h.Fatal(err)
	}
	peer := startPeer(h, "ring-consume", nil, key.String(), apiSend, "64", mode.String())
	unlink(h, r)
	// Let it get past spinning and yielding, into the futex.
	time.Sleep(100 * time.Millisecond)
	read := func() (int64, int64) {
		t, err1 := cpuTicks(peer.Pid())
		n, err2 := onCPUNanos(peer.Pid())
		if err1 != nil || err2 != nil {
			h.Fatal(err1, err2)
		}
		return t, n
	}
	t0, n0 := read()
	start := time.Now()
	time.Sleep(d)
	t1, n1 := read()
	wall = time.Since(start)
	if err := p.Close(); err != nil {
		h.Fatal(err)
	}
	peer.Done(h, 0)
	return t1 - t0, n1 - n0, wall
}
