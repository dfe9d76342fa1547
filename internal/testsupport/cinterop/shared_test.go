package cinterop_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Every shared field means one thing, whichever language writes it and
// whichever reads it: the tests below play the same moves with the Go
// package on one side and include/shmring.h on the other (a C process
// driven line by line, testdata/script.c), and read the header from both.

// The return codes of include/shmring.h these tests expect.
const (
	cEOF     = -1000 // SHMRING_EOF
	cClosed  = -1001 // SHMRING_ECLOSED
	cTimeout = -1014 // SHMRING_ETIMEOUT
)

// cScript is a C process that runs testdata/script.c's commands.
type cScript struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	ctx   context.Context
}

// startScript compiles testdata/script.c (once per test binary) and starts
// it; it is killed when the test ends.
func startScript(t *testing.T, ctx context.Context) *cScript {
	t.Helper()
	cc := shmtest.CC(t)
	root := shmtest.RepoRoot(t)
	dir := shmtest.Build(t, "cinterop-script", func(dir string) error {
		args := append(append([]string{}, cFlags...), "-I", filepath.Join(root, "include"),
			"-o", filepath.Join(dir, "script"), filepath.Join(root, "internal", "testsupport", "cinterop", "testdata", "script.c"))
		if out, err := exec.Command(cc[0], append(cc[1:], args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("compiling testdata/script.c: %v\n%s", err, out)
		}
		return nil
	})
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "script"))
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &cScript{t: t, cmd: cmd, in: in, lines: make(chan string), ctx: ctx}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = in.Close()
		_ = cmd.Process.Kill()
		wg.Wait()
		_ = cmd.Wait()
	})
	return s
}

// kill kills the C process and waits until it is gone (reaped): whatever
// role it held now belongs to a dead process.
func (s *cScript) kill() {
	s.t.Helper()
	require.NoError(s.t, s.cmd.Process.Kill())
	_ = s.cmd.Wait()
}

// send writes one command without waiting for its answer (for a call that
// blocks until the Go side moves); next reads the answer.
func (s *cScript) send(cmd string) {
	s.t.Helper()
	_, err := io.WriteString(s.in, cmd+"\n")
	require.NoError(s.t, err, "command %q", cmd)
}

// next returns the script's next answer, split in fields.
func (s *cScript) next() []string {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		require.True(s.t, ok, "the C script exited")
		return strings.Fields(l)
	case <-s.ctx.Done():
		s.t.Fatalf("no answer from the C script: %v", s.ctx.Err())
	}
	return nil
}

// do runs one command and returns its code.
func (s *cScript) do(cmd string) int {
	s.t.Helper()
	s.send(cmd)
	return s.code(cmd)
}

// code reads the answer to cmd and returns its code.
func (s *cScript) code(cmd string) int {
	s.t.Helper()
	f := s.next()
	name := strings.Fields(cmd)[0]
	require.GreaterOrEqual(s.t, len(f), 2, "answer to %q: %q", cmd, f)
	require.Equal(s.t, name, f[0], "answer to %q: %q", cmd, f)
	rc, err := strconv.Atoi(f[1])
	require.NoError(s.t, err, "answer to %q: %q", cmd, f)
	return rc
}

// ok runs commands that must each return 0.
func (s *cScript) ok(cmds ...string) {
	s.t.Helper()
	for _, c := range cmds {
		require.Zero(s.t, s.do(c), "C: %s", c)
	}
}

// stats returns what shmring_stats reads of the header, by name.
func (s *cScript) stats() map[string]uint64 {
	s.t.Helper()
	s.send("stats")
	f := s.next()
	require.Equal(s.t, "stats", f[0], "answer to stats: %q", f)
	m := map[string]uint64{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(s.t, err, "stats field %q", kv)
		m[k] = n
	}
	return m
}

// sharedCase sets up one case: a Go ring of slots 16-byte slots in a new
// segment, and a C script that has opened it and holds no role yet.
func sharedCase(t *testing.T, slots int) (context.Context, *ring.Ring, *cScript) {
	t.Helper()
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	key := shmtest.Key(t)
	r, err := ring.Create(shmseg.Key(key), ring.Config{MaxMessage: 16, Slots: slots})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove()
		closeRing(t, r)
	})
	c := startScript(t, ctx)
	c.ok(fmt.Sprintf("open %d", key))
	return ctx, r, c
}

// wait is a timeout for one call that must run out: a millisecond, in ns.
const wait = "1000000"

// TestSharedStalls: a side's stalls counter counts the calls that found the
// ring full (producer) or empty (consumer) and waited, one per call,
// however the wait ended: three calls that each time out are three stalls,
// not one stall continued, in Go and in C, and each language reads the
// other's count as its own. A call that finds what it needs at its first
// look is no stall.
func TestSharedStalls(t *testing.T) {
	const timeouts = 3

	t.Run("c-consumer", func(t *testing.T) {
		ctx, r, c := sharedCase(t, 2)
		c.ok("consumer")
		for range timeouts {
			require.Equal(t, cTimeout, c.do("recv "+wait), "C recv on an empty ring")
		}
		c.ok("flush")
		require.Equal(t, uint64(timeouts), r.Stats().Consumer.Stalls, "Go reads the C consumer's stalls")

		p, err := r.Producer()
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, []byte("there")))
		require.Zero(t, c.do("recv "+wait), "a message there at the first look")
		// One call that sleeps until the producer sends.
		slept := r.Stats().Consumer.Waits
		c.send("recv -1")
		waitUntil(t, ctx, "the C consumer to sleep", func() bool { return r.Stats().Consumer.Waits > slept })
		require.NoError(t, p.Send(ctx, []byte("later")))
		require.Zero(t, c.code("recv"))
		c.ok("flush")
		require.Equal(t, uint64(timeouts+1), r.Stats().Consumer.Stalls)
		require.Equal(t, uint64(timeouts+1), c.stats()["consumer_stalls"], "C reads its own count as Go does")
	})

	t.Run("c-producer", func(t *testing.T) {
		_, r, c := sharedCase(t, 2)
		c.ok("producer", "send 8 "+wait, "send 8 "+wait)
		for range timeouts {
			require.Equal(t, cTimeout, c.do("send 8 "+wait), "C send on a full ring")
		}
		c.ok("flush")
		require.Equal(t, uint64(timeouts), r.Stats().Producer.Stalls, "Go reads the C producer's stalls")
	})

	t.Run("go-consumer", func(t *testing.T) {
		ctx, r, c := sharedCase(t, 2)
		cons, err := r.Consumer()
		require.NoError(t, err)
		buf := make([]byte, 16)
		for range timeouts {
			wctx, wcancel := context.WithTimeout(ctx, time.Millisecond)
			_, err := cons.Recv(wctx, buf)
			wcancel()
			require.ErrorIs(t, err, context.DeadlineExceeded, "Go Recv on an empty ring")
		}
		require.Equal(t, uint64(timeouts), c.stats()["consumer_stalls"], "C reads the Go consumer's stalls")
		require.Equal(t, uint64(timeouts), r.Stats().Consumer.Stalls)
	})

	t.Run("go-producer", func(t *testing.T) {
		ctx, r, c := sharedCase(t, 2)
		p, err := r.Producer()
		require.NoError(t, err)
		for range 2 {
			require.NoError(t, p.Send(ctx, []byte("fill")))
		}
		for range timeouts {
			wctx, wcancel := context.WithTimeout(ctx, time.Millisecond)
			err := p.Send(wctx, []byte("full"))
			wcancel()
			require.ErrorIs(t, err, context.DeadlineExceeded, "Go Send on a full ring")
		}
		require.Equal(t, uint64(timeouts), c.stats()["producer_stalls"], "C reads the Go producer's stalls")
	})
}

// TestSharedClose: closing a side means the same in both languages. Its
// CLOSED bit in state is for good (the role is never claimed again, by
// either language), its owner word is freed, a consumer drains what the
// producer sent before it closed and then reads the end of the stream, a
// producer fails every send once the consumer has closed, full ring or not,
// and whichever side closes last removes the segment.
func TestSharedClose(t *testing.T) {
	t.Run("go-consumer-closes", func(t *testing.T) {
		_, r, c := sharedCase(t, 4)
		c.ok("producer", "send 8 0")
		cons, err := r.Consumer()
		require.NoError(t, err)
		require.NoError(t, cons.Close())
		st := c.stats()
		require.Equal(t, uint64(1), st["consumer_closed"], "C sees CONSUMER_CLOSED")
		require.Zero(t, st["consumer_pid"], "and the consumer's role free")
		require.Equal(t, cClosed, c.do("send 8 0"), "a C send after the consumer closed, with room in the ring")
		require.Equal(t, cClosed, c.do("send 8 "+wait), "and one that may wait")
		require.Equal(t, cClosed, c.do("consumer"), "C cannot claim the closed role")

		// The C producer closes last: it removes the segment.
		c.ok("close")
		info, err := r.Segment().Stat()
		require.NoError(t, err)
		require.True(t, info.Removed, "the segment after both sides closed")
	})

	t.Run("c-consumer-closes", func(t *testing.T) {
		ctx, r, c := sharedCase(t, 4)
		p, err := r.Producer()
		require.NoError(t, err)
		c.ok("consumer", "consumer_close")
		st := r.Stats()
		require.True(t, st.ConsumerClosed, "Go sees CONSUMER_CLOSED")
		require.Zero(t, st.Consumer.PID, "and the consumer's role free")
		require.ErrorIs(t, p.Send(ctx, []byte("x")), ring.ErrPeerClosed)
		_, err = r.Consumer()
		require.ErrorIs(t, err, ring.ErrRingClosed, "Go cannot claim the closed role")

		// The Go producer closes last: it removes the segment, which
		// goes once the C process detaches too.
		id := r.Segment().ID()
		require.NoError(t, p.Close())
		require.NoError(t, r.Close())
		info, err := shmseg.Stat(id)
		require.NoError(t, err)
		require.True(t, info.Removed, "the segment after both sides closed")
		c.ok("close")
		_, err = shmseg.Stat(id)
		require.ErrorIs(t, err, shmseg.ErrNotExist)
	})

	t.Run("c-producer-closes", func(t *testing.T) {
		ctx, r, c := sharedCase(t, 4)
		cons, err := r.Consumer()
		require.NoError(t, err)
		c.ok("producer", "send 5 0", "send 7 0", "producer_close")
		st := r.Stats()
		require.True(t, st.ProducerClosed, "Go sees PRODUCER_CLOSED")
		require.Zero(t, st.Producer.PID, "and the producer's role free")
		buf := make([]byte, 16)
		for _, want := range []int{5, 7} {
			n, err := cons.Recv(ctx, buf)
			require.NoError(t, err, "what the C producer sent before it closed")
			require.Equal(t, want, n)
		}
		_, err = cons.Recv(ctx, buf)
		require.ErrorIs(t, err, io.EOF)
		_, err = r.Producer()
		require.ErrorIs(t, err, ring.ErrRingClosed, "Go cannot claim the closed role")
		require.Equal(t, cClosed, c.do("send 1 0"), "nor can C send on it")
	})

	t.Run("go-producer-closes", func(t *testing.T) {
		ctx, r, c := sharedCase(t, 4)
		p, err := r.Producer()
		require.NoError(t, err)
		c.ok("consumer")
		require.NoError(t, p.Send(ctx, []byte("hello")))
		// A C consumer blocked on the empty ring is woken by the close.
		require.Zero(t, c.do("recv -1"))
		slept := r.Stats().Consumer.Waits
		c.send("recv -1")
		waitUntil(t, ctx, "the C consumer to sleep", func() bool { return r.Stats().Consumer.Waits > slept })
		require.NoError(t, p.Close())
		f := c.next()
		require.Equal(t, []string{"recv", strconv.Itoa(cEOF), "0"}, f, "the sleeping C consumer after the producer closed")
		st := c.stats()
		require.Equal(t, uint64(1), st["producer_closed"])
		require.Zero(t, st["producer_pid"])
		require.Equal(t, cClosed, c.do("producer"), "C cannot claim the closed role")
	})
}
