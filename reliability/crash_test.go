package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/reliability/internal/stream"
	"github.com/shmring/shmring/ring"
)

// The crash points compiled into the peer (ring/crash_on.go). A producer
// killed at any of them must leave a ring whose consumer delivers exactly
// the messages published before the kill, and a consumer killed at any of
// them a ring whose next consumer resumes at the released cursor.
var (
	producerPoints = []string{"send-mid-payload", "send-before-publish", "send-before-wake", "send-mid-mark"}
	consumerPoints = []string{"recv-before-release", "recv-before-wake"}
	largePoints    = []string{"send-large-mid-fragment", "send-mid-mark", "send-large-before-publish", "send-large-mid-message"}
)

// crashSlots is the ring of the crash tests: small, so that the cursors
// wrap every few messages and the producer often waits for space.
const (
	crashSlots    = 8
	crashSlotSize = 72
	crashMax      = crashSlotSize - 4
)

func newRNG(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed>>32|1))
}

// receiver is the test process as the consumer of a ring whose producers
// are peers: it checks every message against its position.
type receiver struct {
	t    testing.TB
	c    *ring.Consumer
	sz   stream.Sizes
	buf  []byte
	next uint64 // the position of the next message
}

func newReceiver(t testing.TB, r *ring.Ring, sz stream.Sizes) *receiver {
	c, err := r.Consumer()
	require.NoError(t, err)
	return &receiver{t: t, c: c, sz: sz, buf: make([]byte, sz.Max)}
}

// untilGone receives until p has exited (or the ring reports its producer
// dead), then takes what p published before it died. It returns the
// number of messages received.
func (rc *receiver) untilGone(p *proc) uint64 {
	t := rc.t
	t.Helper()
	from := rc.next
	ctx, cancel := exitWatch(p)
	defer cancel()
	for {
		n, err := rc.c.Recv(ctx, rc.buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ring.ErrPeerDead) {
				break
			}
			t.Fatalf("receive %d: %v (producer %s)", rc.next, err, p)
		}
		rc.check(rc.buf[:n])
	}
	<-p.done // dead, so what it published is final
	for {
		n, err := rc.c.TryRecv(rc.buf)
		if errors.Is(err, ring.ErrEmpty) {
			break
		}
		require.NoError(t, err, "draining after %s", p)
		rc.check(rc.buf[:n])
	}
	return rc.next - from
}

// toEOF receives until the producer closes.
func (rc *receiver) toEOF(timeout time.Duration) {
	t := rc.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		n, err := rc.c.Recv(ctx, rc.buf)
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err, "receive %d", rc.next)
		rc.check(rc.buf[:n])
	}
}

func (rc *receiver) check(msg []byte) {
	if err := rc.sz.Check(msg, rc.next); err != nil {
		rc.t.Fatalf("delivery failure: %v", err)
	}
	rc.next++
}

// sender is the test process as the producer of a ring whose consumers are
// peers.
type sender struct {
	t    testing.TB
	p    *ring.Producer
	sz   stream.Sizes
	buf  []byte
	next uint64
}

func newSender(t testing.TB, r *ring.Ring, sz stream.Sizes) *sender {
	p, err := r.Producer()
	require.NoError(t, err)
	return &sender{t: t, p: p, sz: sz, buf: make([]byte, sz.Max)}
}

// untilGone sends until consumer c has exited (or is reported dead); a
// message whose Send failed was not sent and is sent again next time.
func (s *sender) untilGone(c *proc) {
	t := s.t
	t.Helper()
	ctx, cancel := exitWatch(c)
	defer cancel()
	for {
		err := s.p.Send(ctx, s.sz.Put(s.buf, s.next))
		if err == nil {
			s.next++
			continue
		}
		if ctx.Err() != nil || errors.Is(err, ring.ErrPeerDead) {
			break
		}
		t.Fatalf("send %d: %v (consumer %s)", s.next, err, c)
	}
	<-c.done
}

func crashEnv(point string, nth int) []string {
	return []string{fmt.Sprintf("SHMRING_CRASH=%s:%d", point, nth)}
}

// requireKilled fails unless p died of SIGKILL: a peer that found a message
// out of place exits 3 instead, and one that failed otherwise exits 1.
func requireKilled(t testing.TB, p *proc) {
	t.Helper()
	require.True(t, p.killedBy(syscall.SIGKILL), "%s: want death by SIGKILL, got %v", p, p.err)
}

// TestCrashPointsProducer (RELIABILITY items 9 and 13): a producer peer
// kills itself (SIGKILL) at a crash point, on a random visit: with half a
// payload written, with messages written and marked published (lap marks)
// and the cursor not stored, or with the cursor stored and the consumer not
// woken. The test, as consumer, checks every message (length, CRC32C,
// sequence number) and must receive exactly the messages published before
// the kill, no more, no fewer: the next producer, which takes the role
// over, starts after the last slot marked published, and must start at the
// next message the consumer expects. head may lag what was published (the
// dead producer marked slots and did not count them), never lead it. Over
// all runs the consumer sees one unbroken sequence.
func TestCrashPointsProducer(t *testing.T) {
	runs := int(knob(t, envFaultRuns, 40, 10))
	for _, point := range producerPoints {
		t.Run(point, func(t *testing.T) {
			shmtest.NoLeaks(t)
			rng := newRNG(t)
			r, key := newRing(t, ring.Config{SlotSize: crashSlotSize, Slots: crashSlots,
				Options: ring.Options{Liveness: 200 * time.Millisecond}})
			sz := stream.Upto(crashMax)
			rc := newReceiver(t, r, sz)
			apis := []string{"send", "batch", "reserve", "reservebatch"}
			switch point {
			case "send-mid-payload":
				apis = apis[:2] // Reserve and ReserveBatch write in place: no copy to interrupt
			case "send-mid-mark":
				// A run of two slots or more, its first marked last:
				// Send and Reserve publish one slot at a time.
				apis = []string{"batch", "reservebatch"}
			}
			byAPI := map[string]uint64{}
			for run := range runs {
				api := apis[run%len(apis)]
				nth := 1 + rng.IntN(4*crashSlots)
				batch := 1 + rng.IntN(2*crashSlots)
				if point == "send-mid-mark" {
					batch = 2 + rng.IntN(2*crashSlots-1)
				}
				p := startPeer(t, crashEnv(point, nth), "produce", key,
					"-api", api, "-batch", fmt.Sprint(batch), "-max", fmt.Sprint(crashMax))
				start := p.ready(t)
				require.Equal(t, rc.next, start, "run %d: the new producer resumes at the committed cursor", run)
				got := rc.untilGone(p)
				requireKilled(t, p)
				require.LessOrEqual(t, r.Stats().Producer.Messages, rc.next,
					"run %d (%s, visit %d): head counts no message the consumer did not get", run, api, nth)
				if api == "send" { // one copy and one publication per message
					want := uint64(nth - 1) // the nth was half written
					if point != "send-mid-payload" {
						want = uint64(nth) // the nth was marked published
					}
					require.Equal(t, want, got, "run %d: Send, killed at visit %d of %s", run, nth, point)
				}
				byAPI[api] += got
			}
			// A last producer takes over and ends the stream cleanly.
			p := startPeer(t, nil, "produce", key, "-count", "100", "-max", fmt.Sprint(crashMax))
			require.Equal(t, rc.next, p.ready(t))
			end := rc.next + 100
			rc.toEOF(time.Minute)
			require.Equal(t, end, rc.next)
			p.waitOK(t, 30*time.Second)
			t.Logf("%d kills at %s; messages delivered per API before the kills %v; stream of %d messages, no loss, no duplicate",
				runs, point, byAPI, rc.next)
		})
	}
}

// TestCrashPointsLarge (RELIABILITY items 9 and 13, for messages in
// fragments): a producer peer sends messages of 20 to 4096 bytes through a
// ring of 8 slots of 64 bytes (in one slot, in fragments that fit the ring,
// published in runs of 2, or streamed through a ring too small for them)
// and kills itself inside a fragmented send, on a random visit: with a
// fragment half written, with a run of fragments written and not
// published, or with a run of a message published and the rest not. The
// test, as consumer, checks every
// message it receives (length, CRC32C, sequence number): no part of a
// message is ever delivered as a whole one; the message being sent may be
// torn (ErrTorn, with ErrPeerDead or the end of the wait); and the next
// producer, which takes the role over, aborts what the dead one left and
// sends from the next message on. Over all runs the consumer sees one
// unbroken sequence.
func TestCrashPointsLarge(t *testing.T) {
	runs := int(knob(t, envFaultRuns, 40, 10))
	const maxLen = 4096
	for _, point := range largePoints {
		t.Run(point, func(t *testing.T) {
			shmtest.NoLeaks(t)
			rng := newRNG(t)
			r, key := newRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: maxLen,
				Options: ring.Options{Liveness: 200 * time.Millisecond}})
			sz := stream.Upto(maxLen)
			c, err := r.Consumer()
			require.NoError(t, err)
			buf := make([]byte, maxLen)
			var next uint64 // the next message's number
			torn := 0
			recv := func(ctx context.Context) error {
				n, err := c.Recv(ctx, buf)
				if err == nil {
					if err := sz.Check(buf[:n], next); err != nil {
						t.Fatalf("delivery failure: %v", err)
					}
					next++
				} else if errors.Is(err, ring.ErrTorn) {
					torn++
				}
				return err
			}
			for run := range runs {
				// A message takes up to 70 slots, so a point visited per
				// fragment is visited some 35 times per message, one
				// visited per run about 5 times.
				visits := 40
				if point == "send-large-mid-fragment" {
					visits = 300
				}
				nth := 1 + rng.IntN(visits)
				p := startPeer(t, crashEnv(point, nth), "produce", key,
					"-api", "send", "-from", fmt.Sprint(next), "-max", fmt.Sprint(maxLen))
				p.ready(t)
				ctx, cancel := exitWatch(p)
				for {
					err := recv(ctx)
					if err == nil || errors.Is(err, ring.ErrTorn) && ctx.Err() == nil && !errors.Is(err, ring.ErrPeerDead) {
						continue // a message, or the rest of one torn before this producer
					}
					if ctx.Err() != nil || errors.Is(err, ring.ErrPeerDead) {
						break
					}
					t.Fatalf("run %d: receive %d: %v (producer %s)", run, next, err, p)
				}
				cancel()
				<-p.done
				requireKilled(t, p)
				// What the dead producer published, up to the message it
				// died in, which ends torn or was never begun.
				for {
					dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := recv(dctx)
					dcancel()
					if errors.Is(err, ring.ErrPeerDead) {
						break
					}
					if err != nil && !errors.Is(err, ring.ErrTorn) {
						t.Fatalf("run %d (visit %d): draining at %d: %v", run, nth, next, err)
					}
				}
			}
			// A last producer takes over and ends the stream cleanly.
			from := next
			p := startPeer(t, nil, "produce", key, "-from", fmt.Sprint(from), "-count", "100", "-max", fmt.Sprint(maxLen))
			p.ready(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for {
				err := recv(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if errors.Is(err, ring.ErrTorn) && next == from {
					continue // the rest of the last dead producer's message, through the abort
				}
				require.NoError(t, err, "receive %d", next)
			}
			require.Equal(t, from+100, next)
			p.waitOK(t, 30*time.Second)
			t.Logf("%d kills at %s; %d messages, none delivered in part, %d torn errors", runs, point, next, torn)
		})
	}
}

// TestCrashPointsConsumer (RELIABILITY items 9 and 13): a consumer peer
// kills itself at a crash point on a random visit (messages read, cursor
// not stored; cursor stored, producer not woken); the test is the
// producer. The next consumer takes the role over and resumes at the
// released cursor, checking every message itself. What the killed consumer
// had handed to its caller but not released is delivered again, as the
// ring's doc promises (at least once across a consumer crash): never more
// than one call's worth (its -batch). Recv is the exception the other way:
// it releases a message before it returns it, so a kill between the two
// (recv-before-wake) loses that one message to the caller, exactly as a
// kill just after Recv returned would; the test checks that this is the
// only message not seen.
func TestCrashPointsConsumer(t *testing.T) {
	runs := int(knob(t, envFaultRuns, 40, 10))
	for _, point := range consumerPoints {
		t.Run(point, func(t *testing.T) {
			shmtest.NoLeaks(t)
			rng := newRNG(t)
			r, key := newRing(t, ring.Config{SlotSize: crashSlotSize, Slots: crashSlots,
				Options: ring.Options{Liveness: 200 * time.Millisecond}})
			sz := stream.Upto(crashMax)
			s := newSender(t, r, sz)
			var released, redelivered, lostInRecv uint64
			for run := range runs {
				api := []string{"recv", "batch", "peek"}[run%3]
				nth := 1 + rng.IntN(4*crashSlots)
				batch := 1 + rng.IntN(crashSlots)
				path, delivered := deliveredFile(t, released)
				c := startPeer(t, crashEnv(point, nth), "consume", key, "-api", api,
					"-batch", fmt.Sprint(batch), "-max", fmt.Sprint(crashMax), "-delivered", path)
				start := c.ready(t)
				require.Equal(t, released, start, "run %d: the new consumer resumes at the released cursor", run)
				s.untilGone(c)
				requireKilled(t, c)
				tail, d := r.Stats().Consumer.Messages, delivered()
				switch {
				case api == "recv":
					// Recv copies the message out, releases it, and
					// only then returns it: a kill after the release
					// loses that one message to the caller (as a kill
					// just after Recv returned would).
					want, wantD := start+uint64(nth), tail-1
					if point == "recv-before-release" {
						want, wantD = want-1, tail
					}
					require.Equal(t, want, tail, "run %d: Recv, killed at visit %d of %s", run, nth, point)
					require.Equal(t, wantD, d, "run %d: Recv, killed at %s", run, point)
					lostInRecv += tail - d
				case point == "recv-before-wake":
					require.Equal(t, tail, d, "run %d (%s): released everything it handed out", run, api)
				default:
					require.GreaterOrEqual(t, d, tail+1, "run %d (%s): killed between handing out and releasing", run, api)
					require.LessOrEqual(t, d, tail+uint64(batch), "run %d (%s): at most one batch not released", run, api)
					redelivered += d - tail
				}
				released = tail
			}
			require.NoError(t, s.p.Close())
			c := startPeer(t, nil, "consume", key, "-max", fmt.Sprint(crashMax))
			require.Equal(t, released, c.ready(t))
			require.Equal(t, s.next, number(t, c.line(t, "eof", time.Minute), 1), "the last consumer reads to the end")
			c.waitOK(t, 30*time.Second)
			t.Logf("%d kills at %s; %d messages sent; %d handed out again after a kill (peeked or batched, not released); "+
				"%d released inside a Recv that never returned", runs, point, s.next, redelivered, lostInRecv)
		})
	}
}

// TestRandomKills (RELIABILITY items 9, 10, 13): peers are killed with
// SIGKILL from outside at random times, whatever they are doing: the
// producer, the consumer, or both at once; new ones take the roles over.
// Every consumer checks every message it gets against its position, and
// the stream ends complete.
func TestRandomKills(t *testing.T) {
	runs := int(knob(t, envFaultRuns, 20, 5))
	const maxDelay = 30 * time.Millisecond
	cfg := ring.Config{SlotSize: crashSlotSize, Slots: crashSlots, Options: ring.Options{Liveness: 200 * time.Millisecond}}
	sz := stream.Upto(crashMax)
	maxArg := fmt.Sprint(crashMax)
	delay := func(rng *rand.Rand) time.Duration { return time.Duration(rng.Int64N(int64(maxDelay))) }

	t.Run("producer", func(t *testing.T) {
		shmtest.NoLeaks(t)
		rng := newRNG(t)
		r, key := newRing(t, cfg)
		rc := newReceiver(t, r, sz)
		for run := range runs {
			api := []string{"send", "batch", "reserve", "reservebatch"}[run%4]
			p := startPeer(t, nil, "produce", key, "-api", api, "-batch", fmt.Sprint(1+rng.IntN(16)), "-max", maxArg)
			time.AfterFunc(delay(rng), p.kill)
			rc.untilGone(p)
			// Head may lag what was published: a producer killed
			// between marking slots published and storing head leaves
			// it behind, and the consumer reads by the marks.
			head := r.Stats().Producer.Messages
			require.LessOrEqual(t, head, rc.next, "run %d: head counts no message the consumer did not get", run)
			require.LessOrEqual(t, rc.next, head+crashSlots, "run %d: the consumer got at most a ring past head", run)
		}
		p := startPeer(t, nil, "produce", key, "-count", "10", "-max", maxArg)
		require.Equal(t, rc.next, p.ready(t), "the last producer resumes after every message the consumer got")
		rc.toEOF(time.Minute)
		p.waitOK(t, 30*time.Second)
		t.Logf("%d producers killed; %d messages, in order, each checked", runs, rc.next)
	})

	t.Run("consumer", func(t *testing.T) {
		shmtest.NoLeaks(t)
		rng := newRNG(t)
		r, key := newRing(t, cfg)
		s := newSender(t, r, sz)
		var released, redelivered, lostInRecv uint64
		for run := range runs {
			api := []string{"recv", "batch", "peek"}[run%3]
			batch := 1 + rng.IntN(crashSlots)
			path, delivered := deliveredFile(t, released)
			c := startPeer(t, nil, "consume", key, "-api", api, "-batch", fmt.Sprint(batch), "-max", maxArg, "-delivered", path)
			time.AfterFunc(delay(rng), c.kill)
			s.untilGone(c)
			requireKilled(t, c)
			tail, d := r.Stats().Consumer.Messages, delivered()
			require.GreaterOrEqual(t, tail, released)
			again, lost := checkDelivered(t, run, api, batch, tail, d)
			redelivered += again
			lostInRecv += lost
			released = tail
		}
		require.NoError(t, s.p.Close())
		c := startPeer(t, nil, "consume", key, "-max", maxArg)
		require.Equal(t, released, c.ready(t))
		require.Equal(t, s.next, number(t, c.line(t, "eof", time.Minute), 1))
		c.waitOK(t, 30*time.Second)
		t.Logf("%d consumers killed; %d messages; %d handed out again after a kill; %d released inside a Recv that never returned",
			runs, s.next, redelivered, lostInRecv)
	})

	// Both sides are peers, both killed in every run at independent random
	// times (sometimes together), and both replaced. The consumers check
	// the stream themselves: one that sees a message out of place exits 3
	// instead of dying by the signal.
	t.Run("both", func(t *testing.T) {
		shmtest.NoLeaks(t)
		rng := newRNG(t)
		r, key := newRing(t, cfg)
		var released, redelivered, lostInRecv uint64
		for run := range runs {
			papi := []string{"send", "batch", "reserve", "reservebatch"}[run%4]
			capi := []string{"recv", "batch", "peek"}[rng.IntN(3)]
			batch := 1 + rng.IntN(crashSlots)
			path, delivered := deliveredFile(t, released)
			p := startPeer(t, nil, "produce", key, "-api", papi, "-batch", fmt.Sprint(batch), "-max", maxArg, "-survive")
			c := startPeer(t, nil, "consume", key, "-api", capi, "-batch", fmt.Sprint(batch), "-max", maxArg, "-survive", "-delivered", path)
			dp, dc := delay(rng), delay(rng)
			if run%4 == 0 {
				dc = dp // at the same moment
			}
			time.AfterFunc(dp, p.kill)
			time.AfterFunc(dc, c.kill)
			<-p.done
			<-c.done
			requireKilled(t, p)
			requireKilled(t, c)
			st := r.Stats()
			tail, d := st.Consumer.Messages, delivered()
			// Head may lag what was published (see "producer"), by at
			// most a ring; the next producer to start counts the rest.
			require.LessOrEqual(t, tail, st.Producer.Messages+crashSlots, "run %d", run)
			require.GreaterOrEqual(t, tail, released)
			again, lost := checkDelivered(t, run, capi, batch, tail, d)
			redelivered += again
			lostInRecv += lost
			released = tail
		}
		p := startPeer(t, nil, "produce", key, "-count", "1000", "-max", maxArg)
		c := startPeer(t, nil, "consume", key, "-max", maxArg)
		require.Equal(t, released, c.ready(t))
		require.LessOrEqual(t, released, p.ready(t), "the consumers took no slot the producers did not publish")
		end := number(t, p.line(t, "done", time.Minute), 2)
		require.Equal(t, end, number(t, c.line(t, "eof", time.Minute), 1))
		p.waitOK(t, 30*time.Second)
		c.waitOK(t, 30*time.Second)
		t.Logf("%d runs killing both sides; stream of %d messages checked by %d consumers; %d handed out again after a kill; "+
			"%d released inside a Recv that never returned", runs, end, runs+1, redelivered, lostInRecv)
	})
}

// checkDelivered checks what a killed consumer peer handed out (d) against
// what it released (tail): at most one batch more (to be delivered again),
// or with Recv one message fewer (released inside a Recv that never
// returned).
func checkDelivered(t testing.TB, run int, api string, batch int, tail, d uint64) (again, lostInRecv uint64) {
	t.Helper()
	if api == "recv" {
		require.True(t, d == tail || d+1 == tail, "run %d: Recv: released %d, handed out %d", run, tail, d)
		return 0, tail - d
	}
	require.GreaterOrEqual(t, d, tail, "run %d (%s): released only what was handed out", run, api)
	require.LessOrEqual(t, d, tail+uint64(batch), "run %d (%s): at most one batch handed out and not released", run, api)
	return d - tail, 0
}

// TestNoHookInProductionBuilds (RELIABILITY item 9): the crash points exist
// only in builds with -tags shmring_crashpoints. A normal build of the
// producer command does not even contain the variable's name; the tagged
// build does (so the check can fail).
func TestNoHookInProductionBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the producer command twice; skipped in -short")
	}
	plain := buildBinary(t, "github.com/shmring/shmring/cmd/producer")
	tagged := buildBinary(t, "github.com/shmring/shmring/cmd/producer", "shmring_crashpoints")
	for _, c := range []struct {
		path string
		want bool
	}{{plain, false}, {tagged, true}} {
		b, err := os.ReadFile(c.path)
		require.NoError(t, err)
		require.Equal(t, c.want, bytes.Contains(b, []byte("SHMRING_CRASH")), "%s contains SHMRING_CRASH", c.path)
		require.Equal(t, c.want, bytes.Contains(b, []byte("send-before-publish")), "%s contains a crash point's name", c.path)
	}
}
