package cinterop_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// TestCConsumerSeesDeadGoProducer: a Go producer process sends some
// messages and is killed without closing; the C consumer, blocked on the
// empty ring, reports the producer dead (SHMRING_EPEERDEAD) instead of
// waiting forever, after verifying everything it was sent.
func TestCConsumerSeesDeadGoProducer(t *testing.T) {
	bin := cPrograms(t)
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	key := shmtest.Key(t)
	const sent, size, slots = 1000, 64, 64
	r, err := ring.Create(shmseg.Key(key), ring.Config{MaxMessage: size, SlotSize: ring.SlotSizeFor(size), Slots: slots})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove() // no side will close it: the producer dies
		closeRing(t, r)
	})

	child := shmtest.Child(t, ctx, "producer", hexKey(key), strconv.Itoa(sent), strconv.Itoa(size))
	require.NoError(t, child.Start())
	cons := start(t, ctx, filepath.Join(bin, "consumer"), "-key", hexKey(key), "-size", strconv.Itoa(size),
		"-slots", strconv.Itoa(slots), "-timeout", "60s")
	waitUntil(t, ctx, "the C consumer to receive every message", func() bool {
		return r.Stats().Consumer.Messages == sent
	})
	require.Equal(t, child.Process.Pid, r.Stats().Producer.PID, "the Go child holds the producer role")
	require.NoError(t, child.Process.Kill())
	_ = child.Wait()

	require.Equal(t, 1, cons.ExitCode(), "%v", cons)
	require.Contains(t, cons.Stderr.String(), "peer process is dead", "%v", cons)
	sum := summary(t, cons)
	require.Equal(t, "FAILED", sum["status"])
	require.Equal(t, int64(sent), num(t, sum, "messages"))
	require.Equal(t, int64(sent-1), num(t, sum, "last_seq"))
	require.Equal(t, int64(0), num(t, sum, "corrupt")+num(t, sum, "out_of_order"))
	require.Equal(t, "error", sum["ended"])
}

// TestGoConsumerSeesDeadCProducerAndCTakesOver: a C producer is killed in
// the middle of a stream; the Go consumer drains what it published and is
// told ring.ErrPeerDead (so Go reads the C identity right); a second C
// producer takes the dead one's role over and carries on from the head
// cursor, or after the slot the dead one marked published (its lap mark)
// if it was killed before it stored head, so the Go consumer sees one
// unbroken sequence, then EOF.
func TestGoConsumerSeesDeadCProducerAndCTakesOver(t *testing.T) {
	bin := cPrograms(t)
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const size, slots, more = 64, 64, 1000
	r, key, closeR := newRing(t, ring.Config{
		MaxMessage: size, SlotSize: ring.SlotSizeFor(size), Slots: slots,
		Options: ring.Options{Liveness: 100 * time.Millisecond},
	})
	c, err := r.Consumer()
	require.NoError(t, err)
	args := []string{"-key", hexKey(key), "-size", strconv.Itoa(size), "-slots", strconv.Itoa(slots), "-timeout", "60s"}

	first := start(t, ctx, filepath.Join(bin, "producer"), append(args, "-count", "0")...)
	v := &checker{size: size}
	buf := make([]byte, c.MaxMessage())
	for v.messages < 5000 {
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err, "%v", first)
		require.NoError(t, v.check(buf[:n]))
	}
	require.Equal(t, first.Pid(), r.Stats().Producer.PID)
	require.NoError(t, first.Cmd.Process.Kill())
	first.ExitCode()

	// Drain what the dead producer published; then the verdict. Recv
	// polls once more after finding the producer dead, so the TryRecv
	// loop (which ring.ErrPeerDead's doc recommends) should find nothing;
	// either way every published message must arrive.
	for {
		n, err := c.Recv(ctx, buf)
		if err != nil {
			require.True(t, errors.Is(err, ring.ErrPeerDead), "want ErrPeerDead, got %v", err)
			break
		}
		require.NoError(t, v.check(buf[:n]))
	}
	for {
		n, err := c.TryRecv(buf)
		if errors.Is(err, ring.ErrEmpty) {
			break
		}
		require.NoError(t, err)
		require.NoError(t, v.check(buf[:n]))
	}
	// Everything published was received: up to head, and the slot after
	// it if the producer marked it and was killed before it stored head.
	// The consumer takes a slot by its mark, so its cursor may pass head.
	head := r.Stats().Producer.Messages
	require.Contains(t, []uint64{head, head + 1}, v.next, "messages received, against head %d", head)
	resumeAt := v.next

	second := start(t, ctx, filepath.Join(bin, "producer"), append(args, "-count", strconv.Itoa(more))...)
	// Until it claims the role, the owner is still the dead process, and a
	// Recv would rightly say so again.
	waitUntil(t, ctx, "the second producer to take the role over", func() bool {
		return r.Stats().Producer.PID == second.Pid()
	})
	checked := false
	require.NoError(t, consume(ctx, c, v, func() {
		if !checked {
			// The second producer cannot be done: it sends more than a
			// ring's worth.
			st := r.Stats()
			require.Equal(t, second.Pid(), st.Producer.PID, "the new C producer took the role over")
			require.True(t, st.Producer.Alive)
			checked = true
		}
	}), "%v", second)
	require.Equal(t, 0, second.ExitCode(), "%v", second)
	sum := summary(t, second)
	require.Equal(t, int64(resumeAt), num(t, sum, "first_seq"),
		"the new producer resumes at the head cursor, after any slot marked published beyond it")
	require.Equal(t, resumeAt+more, v.next)
	t.Logf("first producer killed after %d messages; the second sent %d more: %s", resumeAt, more, &second.Stdout)
	closeR()
}

// TestCStoppedPeer: a C producer stopped with SIGSTOP for several liveness
// intervals is not taken for dead by the C consumer (which notes it and
// waits on), and the stream resumes with nothing lost after SIGCONT.
func TestCStoppedPeer(t *testing.T) {
	bin := cPrograms(t)
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	key := shmtest.Key(t)
	args := []string{"-key", hexKey(key), "-size", "64", "-slots", "8", "-timeout", "60s"}
	cons := start(t, ctx, filepath.Join(bin, "consumer"), args...)
	prod := start(t, ctx, filepath.Join(bin, "producer"), append(args, "-count", "0")...)

	var mon *ring.Ring
	waitUntil(t, ctx, "the ring", func() bool {
		var err error
		mon, err = ring.Open(shmseg.Key(key), ring.Options{ReadOnly: true})
		return err == nil
	})
	defer closeRing(t, mon)
	moved := func(n uint64) func() bool {
		return func() bool { return mon.Stats().Consumer.Messages > n }
	}
	waitUntil(t, ctx, "messages to flow", moved(1000))
	require.NoError(t, prod.Cmd.Process.Signal(syscall.SIGSTOP))
	time.Sleep(4 * cLiveness)
	at := mon.Stats().Consumer.Messages
	require.NoError(t, prod.Cmd.Process.Signal(syscall.SIGCONT))
	waitUntil(t, ctx, "messages to flow again", moved(at+1000))
	require.NoError(t, prod.Cmd.Process.Signal(syscall.SIGTERM))

	require.Equal(t, 0, prod.ExitCode(), "%v", prod)
	require.Equal(t, 0, cons.ExitCode(), "%v", cons)
	ps, cs := summary(t, prod), summary(t, cons)
	require.Equal(t, "interrupted", ps["ended"])
	require.Equal(t, "eof", cs["ended"])
	require.Equal(t, num(t, ps, "messages"), num(t, cs, "messages"))
	if strings.Contains(cons.Stderr.String(), "peer process is stopped") {
		t.Logf("the consumer noticed the stop: %s", strings.TrimSpace(cons.Stderr.String()))
	} else {
		t.Logf("the consumer did not wait through two liveness checks during the stop")
	}
}
