package app_test

// End-to-end tests: the real binaries, built once per test binary, run as
// separate processes, as a user runs them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app"
	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

func TestMain(m *testing.M) { shmtest.Main(m.Run, app.RunChild) }

// command returns the path of cmd/name, built (with the other commands) the
// first time. Not -race even under go test -race: the race detector cannot
// see the shared memory, and the binaries' logic runs in-process in
// TestInProcess.
func command(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(shmtest.GoBuild(t, "github.com/shmring/shmring/cmd/..."), name)
}

// start starts cmd/name; it is killed at the end of the test if it is
// still running.
func start(t *testing.T, name string, args ...string) *shmtest.Proc {
	t.Helper()
	return shmtest.Start(t, exec.Command(command(t, name), args...))
}

// exitTimeout bounds the wait for a command's exit: a hang fails the test.
const exitTimeout = 30 * time.Second

// run runs a command to its end.
func run(t *testing.T, name string, args ...string) *shmtest.Proc {
	t.Helper()
	p := start(t, name, args...)
	p.Wait(t, exitTimeout)
	return p
}

func keyFlag(k shmseg.Key) string { return k.String() }

func newKey(t *testing.T) shmseg.Key { return shmseg.Key(shmtest.Key(t)) }

// requireGone fails unless no segment has key.
func requireGone(t *testing.T, key shmseg.Key) {
	t.Helper()
	// The last side to close removes the segment just before it exits;
	// it is gone by the time both have been waited for.
	_, err := shmseg.Open(key)
	require.ErrorIs(t, err, shmseg.ErrNotExist, "segment %v should be gone", key)
}

func decode[T any](t *testing.T, p *shmtest.Proc) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(p.Stdout.Bytes(), &v), "%v", p)
	return v
}

// waitStream waits until the ring at key has both sides and the consumer
// has received at least n messages.
func waitStream(t *testing.T, key shmseg.Key, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := ring.Open(key, ring.Options{ReadOnly: true, ReadyTimeout: time.Second}); err == nil {
			st := r.Stats()
			_ = r.Close()
			if st.Producer.Alive && st.Consumer.Alive && st.Consumer.Messages >= n {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("ring %v: no stream of %d messages within 20s", key, n)
}

// TestStream: two processes, the consumer first, across wait modes and
// batch sizes; both exit 0 with a complete JSON report, and the segment is
// gone after.
func TestStream(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
		cons  []string // the consumer's only
	}{
		{"default", nil, nil},
		{"batch futex", []string{"-batch", "64", "-wait", "futex"}, nil},
		{"spin size 200 slots 64", []string{"-wait", "spin", "-size", "200", "-slots", "64"}, nil},
		{"yield batch 7", []string{"-wait", "yield", "-batch", "7", "-slots", "16"}, nil},
		{"no trail", nil, []string{"-no-trail"}},
	}
	const count = 200_000
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			key := newKey(t)
			args := append([]string{"-key", keyFlag(key), "-json"}, tc.extra...)
			cons := start(t, "consumer", append(slices.Clone(args), tc.cons...)...)
			prod := start(t, "producer", append(args, "-count", fmt.Sprint(count))...)
			require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
			require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
			requireGone(t, key)

			pr := decode[app.ProducerReport](t, prod)
			cr := decode[app.ConsumerReport](t, cons)
			require.Equal(t, "producer", pr.Role)
			require.Equal(t, "consumer", cr.Role)
			require.Equal(t, uint64(count), pr.Messages)
			require.Equal(t, uint64(count), cr.Messages)
			require.Equal(t, pr.Bytes, cr.Bytes)
			require.Equal(t, uint64(count)*uint64(pr.Size), pr.Bytes)
			require.Equal(t, "count", pr.Ended)
			require.Equal(t, "eof", cr.Ended)
			require.Zero(t, cr.Lost+cr.Duplicated+cr.Reordered+cr.Corrupt)
			require.Positive(t, cr.MsgsPerSec)
			require.Positive(t, cr.MBPerSec)
			require.Positive(t, cr.Seconds)
			l := cr.LatencyNS
			require.True(t, l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max, "%+v", l)
			require.Positive(t, l.Max)
			require.NotEqual(t, cr.Created, pr.Created, "exactly one side creates the ring")
			require.Equal(t, cr.Slots, pr.Slots)
			require.Equal(t, len(tc.cons) > 0, cr.NoTrail, "the report says whether the consumer trails")
		})
	}
}

// TestFtokPath: -path and -proj name the ring through ftok, as C programs
// would.
func TestFtokPath(t *testing.T) {
	shmtest.NoLeaks(t)
	path, key := shmtest.FtokPath(t, 7)
	cons := start(t, "consumer", "-path", path, "-proj", "7", "-json")
	prod := run(t, "producer", "-path", path, "-proj", "7", "-count", "1000", "-json")
	require.Equal(t, 0, prod.ExitCode(), "%v", prod)
	require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, key.String(), cr.Key)
	require.Equal(t, uint64(1000), cr.Messages)
	requireGone(t, key)
}

// TestProducerFirst: a producer that finishes before any consumer leaves
// its messages in the ring; a consumer started later drains them, sees the
// end of the stream, and the segment goes.
func TestProducerFirst(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	prod := run(t, "producer", "-key", keyFlag(key), "-count", "100", "-json")
	require.Equal(t, 0, prod.ExitCode(), "%v", prod)
	require.Contains(t, decode[app.ProducerReport](t, prod).Note, "100 messages wait")
	_, err := shmseg.Open(key)
	require.NoError(t, err, "the ring stays for the consumer")
	cons := run(t, "consumer", "-key", keyFlag(key), "-json")
	require.Equal(t, 0, cons.ExitCode(), "%v", cons)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, uint64(100), cr.Messages)
	require.Equal(t, "eof", cr.Ended)
	requireGone(t, key)
}

// TestConsumerStopsFirst: the consumer's own -count ends it; the producer
// then finds the ring closed, which is a normal end with a note.
func TestConsumerStopsFirst(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	cons := start(t, "consumer", "-key", keyFlag(key), "-count", "50000", "-json", "-slots", "256")
	prod := start(t, "producer", "-key", keyFlag(key), "-count", "0", "-json", "-slots", "256")
	require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
	require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, uint64(50000), cr.Messages)
	require.Equal(t, "count", cr.Ended)
	pr := decode[app.ProducerReport](t, prod)
	require.Equal(t, "consumer closed", pr.Ended)
	require.Contains(t, pr.Note, "consumer closed the ring")
	require.GreaterOrEqual(t, pr.Messages, uint64(50000))
	requireGone(t, key)
}

// TestDuration: both sides stop on time.
func TestDuration(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	cons := start(t, "consumer", "-key", keyFlag(key), "-json")
	prod := start(t, "producer", "-key", keyFlag(key), "-count", "0", "-duration", "300ms", "-rate", "20000", "-json")
	require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
	require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
	pr := decode[app.ProducerReport](t, prod)
	require.Equal(t, "duration", pr.Ended)
	// 20000/s for 0.3 s, from the first message: ~6000, give or take a
	// slow start.
	require.InDelta(t, 6000, float64(pr.Messages), 3000, "%v", prod)
	require.Less(t, pr.MsgsPerSec, 25000.0)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, pr.Messages, cr.Messages)
	requireGone(t, key)
}

// TestCorrupt: the test is the producer, in the commands' wire format; it
// damages one message in its slot before the consumer process reads it.
func TestCorrupt(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	const size, slots, n, bad = 64, 64, 40, 21
	slotSize := ring.SlotSizeFor(size)
	r, err := ring.Create(key, ring.Config{MaxMessage: size, SlotSize: slotSize, Slots: slots})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	p, err := r.Producer()
	require.NoError(t, err)
	msg := make([]byte, size)
	wire.Fill(msg)
	for seq := range uint64(n) {
		wire.Put(msg, seq, monotime.Now())
		require.NoError(t, p.Send(context.Background(), msg))
	}
	mem, err := r.Segment().Bytes()
	require.NoError(t, err)
	off := ring.HeaderSize + (bad%slots)*slotSize + 4 // payload of message bad
	mem[off+30] ^= 0x40
	require.NoError(t, p.Close())

	cons := run(t, "consumer", "-key", keyFlag(key), "-size", fmt.Sprint(size), "-slots", fmt.Sprint(slots), "-json")
	require.Equal(t, 1, cons.ExitCode(), "%v", cons)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, uint64(1), cr.Corrupt)
	require.Zero(t, cr.Lost+cr.Duplicated+cr.Reordered, "%+v", cr)
	require.Equal(t, uint64(n), cr.Messages)
	require.Equal(t, "eof", cr.Ended)
	require.Contains(t, cons.Stderr.String(), "0 lost, 0 duplicated, 0 reordered, 1 corrupt")
}

// TestLargeMessages: messages larger than a slot travel in fragments
// between the two processes, and every one arrives whole, in order, with
// its CRC good across all its fragments. The first case is the issue's:
// each 1 MiB message is four times the whole ring (16 slots of 16 KiB), so
// the producer must publish fragments as it writes them and the consumer
// copy them out as they come. In the second a message fits the ring; the
// third derives the slot from -size.
func TestLargeMessages(t *testing.T) {
	cases := []struct {
		name              string
		size, slot        int // slot 0: no -slot-size
		slots             int
		count             int
		wantSlot          int
		wantSlotsPerMsg   uint64
		largerThanTheRing bool
	}{
		{"four times the ring", 1 << 20, 16384, 16, 100, 16384, 65, true},
		{"fits the ring", 100_000, 1024, 256, 1000, 1024, 99, false},
		{"derived slot", 70_000, 0, 64, 1000, 16392, 5, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			key := newKey(t)
			args := []string{"-key", keyFlag(key), "-json", "-size", fmt.Sprint(tc.size), "-slots", fmt.Sprint(tc.slots)}
			if tc.slot != 0 {
				args = append(args, "-slot-size", fmt.Sprint(tc.slot))
			}
			cons := start(t, "consumer", args...)
			prod := start(t, "producer", append(slices.Clone(args), "-count", fmt.Sprint(tc.count))...)
			require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
			require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
			requireGone(t, key)

			pr := decode[app.ProducerReport](t, prod)
			cr := decode[app.ConsumerReport](t, cons)
			for _, r := range []app.Report{pr.Report, cr.Report} {
				require.Equal(t, tc.size, r.Size, r.Role)
				require.Equal(t, tc.wantSlot, r.SlotSize, r.Role)
				require.Equal(t, tc.slots, r.Slots, r.Role)
				require.Equal(t, tc.wantSlotsPerMsg, r.SlotsPerMessage, r.Role)
			}
			require.Equal(t, tc.largerThanTheRing, tc.size > tc.slots*tc.wantSlot)
			require.Equal(t, uint64(tc.count), pr.Messages)
			require.Equal(t, uint64(tc.count), cr.Messages)
			require.Equal(t, uint64(tc.count)*uint64(tc.size), cr.Bytes)
			require.Equal(t, "eof", cr.Ended)
			require.Zero(t, cr.Lost+cr.Duplicated+cr.Reordered+cr.Corrupt+cr.Torn, "%+v", cr)
		})
	}
}

// TestCorruptFragment: the consumer's CRC covers a message across its
// fragments. The test is the producer: three messages of 17 fragments
// each, then one byte flipped in the tenth fragment of the second, in its
// slot, before the consumer process reads them.
func TestCorruptFragment(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	const size, slotSize, slots, n = 4096, 256, 64, 3
	r, err := ring.Create(key, ring.Config{MaxMessage: size, SlotSize: slotSize, Slots: slots})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	p, err := r.Producer()
	require.NoError(t, err)
	msg := make([]byte, size)
	wire.Fill(msg)
	for seq := range uint64(n) {
		wire.Put(msg, seq, monotime.Now())
		require.NoError(t, p.Send(context.Background(), msg))
	}
	const perMsg = 17 // 244 bytes in the first fragment, 252 in each next
	require.Equal(t, uint64(n*perMsg), r.Stats().Producer.Messages, "the cursor counts slots")
	mem, err := r.Segment().Bytes()
	require.NoError(t, err)
	off := ring.HeaderSize + (perMsg+9)*slotSize + 4 // payload of message 1's tenth fragment
	mem[off+100] ^= 0x08
	require.NoError(t, p.Close())

	cons := run(t, "consumer", "-key", keyFlag(key), "-size", fmt.Sprint(size), "-slot-size", fmt.Sprint(slotSize),
		"-slots", fmt.Sprint(slots), "-json")
	require.Equal(t, 1, cons.ExitCode(), "%v", cons)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, uint64(1), cr.Corrupt)
	require.Zero(t, cr.Lost+cr.Duplicated+cr.Reordered, "%+v", cr)
	require.Equal(t, uint64(n), cr.Messages)
	require.Equal(t, "eof", cr.Ended)
	require.Contains(t, cons.Stderr.String(), "0 lost, 0 duplicated, 0 reordered, 1 corrupt")
}

// TestTornMessage: a producer that gives up in the middle of a message
// larger than the ring (its Send's context ends while the consumer process
// is stopped) tears it. The consumer reports one message torn, standing for
// the one it expected, and receives the next in order: nothing lost,
// duplicated or corrupt, exit status 0. The test is the producer, in the
// commands' wire format.
func TestTornMessage(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	const size, slotSize, slots = 4096, 64, 16 // 69 slots a message, four times the ring
	cons := start(t, "consumer", "-key", keyFlag(key), "-size", fmt.Sprint(size), "-slot-size", fmt.Sprint(slotSize),
		"-slots", fmt.Sprint(slots), "-json")
	r, _, err := ring.OpenOrCreate(key, ring.Config{MaxMessage: size, SlotSize: slotSize, Slots: slots,
		Options: ring.Options{ReadyTimeout: 10 * time.Second}})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove() // if the test failed before the consumer removed it
		_ = r.Close()
	})
	p, err := r.Producer()
	require.NoError(t, err)
	msg := make([]byte, size)
	wire.Fill(msg)
	send := func(ctx context.Context, seq uint64) error {
		wire.Put(msg, seq, monotime.Now())
		return p.Send(ctx, msg)
	}
	require.NoError(t, send(context.Background(), 0))
	// Once the consumer has released all of message 0, stop it.
	deadline := time.Now().Add(20 * time.Second)
	for r.Stats().Consumer.Messages < 69 {
		require.True(t, time.Now().Before(deadline), "the consumer did not take message 0")
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGSTOP))
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = cons.Cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	// A signal stops its target some time after kill(2) returns; the
	// consumer could take a whole message meanwhile.
	waitThreadsStopped(t, cons.Cmd.Process.Pid)
	// Message 1 fills the ring, 16 of its 69 slots, and waits for room
	// that never comes.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = send(ctx, 1)
	cancel()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGCONT))
	stopped = false
	// Message 1's number is spent: the next carries 2.
	require.NoError(t, send(context.Background(), 2))
	require.NoError(t, p.Close())
	require.NoError(t, r.Close()) // the consumer, the last to close, removes the ring

	require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, uint64(1), cr.Torn, "%v", cons)
	require.Equal(t, uint64(2), cr.Messages)
	require.Zero(t, cr.Lost+cr.Duplicated+cr.Reordered+cr.Corrupt, "%+v", cr)
	require.Equal(t, "eof", cr.Ended)
	requireGone(t, key)
}

// waitThreadsStopped waits until every thread of process pid is stopped
// (state T in /proc/PID/task/*/stat).
func waitThreadsStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		require.NoError(t, err)
		stopped := len(tasks) > 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			// The state follows the command's closing parenthesis.
			i := bytes.LastIndexByte(b, ')')
			if err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		require.True(t, time.Now().Before(deadline), "process %d not stopped within 10s", pid)
		time.Sleep(time.Millisecond)
	}
}

// TestSizeMismatch: -size is the ring's largest message, so commands
// whose -size differs from the ring's, with the same slots, are refused at
// once, naming both, and leave the ring as it was.
func TestSizeMismatch(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	p := run(t, "shmring", "create", key.String(), "-size", "20000", "-slot-size", "16384", "-slots", "16")
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	t.Cleanup(func() {
		if id, err := shmseg.Open(key); err == nil {
			_ = shmseg.Remove(id)
		}
	})
	require.Contains(t, p.Stdout.String(), "16 slots of 16384 bytes, messages up to 20000 bytes (2 slots)")
	p = run(t, "shmring", "stat", key.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stdout.String(), "16 slots of 16384 bytes, messages up to 20000 bytes (2 slots)")
	for _, cmd := range []string{"producer", "consumer"} {
		for _, size := range []string{"30000", "10000"} {
			c := run(t, cmd, "-key", keyFlag(key), "-size", size, "-slot-size", "16384", "-slots", "16", "-count", "1")
			require.Equal(t, 1, c.ExitCode(), "%v", c)
			require.Contains(t, c.Stderr.String(), "20000", "%v", c)
			require.Contains(t, c.Stderr.String(), size, "%v", c)
		}
	}
	p = run(t, "shmring", "rm", key.String())
	require.Equal(t, 0, p.ExitCode(), "the ring is there, unclaimed: %v", p)
	requireGone(t, key)
}

// TestFlags: usage errors exit 2 with a message naming the problem; -h
// exits 0.
func TestFlags(t *testing.T) {
	cases := []struct {
		cmd  string
		args []string
		want string
	}{
		{"producer", []string{"-size", "8"}, "minimum is 20 bytes"},
		{"consumer", []string{"-size", "19"}, "minimum is 20 bytes"},
		{"producer", []string{"-slot-size", "12"}, "-slot-size 12: want a multiple of 8"},
		{"consumer", []string{"-size", "1048576", "-batch", "4"}, "-batch 4: batches hold one slot per message"},
		{"shmring", []string{"create", "0x5e7a0001", "-size", "100", "-slot-size", "8"}, "-slot-size 8: -size 100 does not fit"},
		{"producer", []string{"-wait", "nap"}, "want spin, yield, futex or adaptive"},
		{"consumer", []string{"-slots", "100"}, "power of two"},
		{"producer", []string{"-no-such-flag"}, "flag provided but not defined"},
		{"producer", []string{"-no-trail"}, "flag provided but not defined"}, // the consumer's
		{"consumer", []string{"-count", "many"}, "invalid value"},
		{"producer", []string{"stray"}, "unexpected argument"},
		{"consumer", []string{"-key", "0x1", "-path", "/tmp"}, "choose one"},
		{"producer", []string{"-key", "nothex"}, "hex"},
		{"shmring", nil, "usage: shmring"},
		{"shmring", []string{"frobnicate"}, "unknown command"},
		{"shmring", []string{"rm"}, "want KEY"},
		{"shmring", []string{"rm", "-stale", "-force"}, "-force"},
		{"shmring", []string{"stat"}, "want one KEY"},
		{"shmring", []string{"create", "0x5e7a0001", "-slots", "3"}, "slot count 3"},
		{"shmring", []string{"ls", "-bogus"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		p := run(t, c.cmd, c.args...)
		require.Equal(t, 2, p.ExitCode(), "%v", p)
		require.Contains(t, p.Stderr.String(), c.want, "%v", p)
	}
	for _, cmd := range []string{"producer", "consumer"} {
		p := run(t, cmd, "-h")
		require.Equal(t, 0, p.ExitCode(), "%v", p)
		require.Contains(t, p.Stderr.String(), "usage: "+cmd)
		require.Contains(t, p.Stderr.String(), "-timeout")
		require.Contains(t, p.Stderr.String(), "-slot-size")
	}
	p := run(t, "shmring", "-h")
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stdout.String(), "rm -stale")
}

// TestLayoutMismatch: a ring exists with other slots than asked for: the
// command fails at once, naming both geometries.
func TestLayoutMismatch(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	r, err := ring.Create(key, ring.Config{SlotSize: ring.SlotSizeFor(64), Slots: 4096})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove()
		_ = r.Close()
	})
	cons := run(t, "consumer", "-key", keyFlag(key), "-size", "128")
	require.Equal(t, 1, cons.ExitCode(), "%v", cons)
	require.Contains(t, cons.Stderr.String(), "4096 slots of 72 bytes", "%v", cons)
	require.Contains(t, cons.Stderr.String(), "4096 slots of 136 bytes", "%v", cons)
	prod := run(t, "producer", "-key", keyFlag(key), "-slots", "1024")
	require.Equal(t, 1, prod.ExitCode(), "%v", prod)
	require.Contains(t, prod.Stderr.String(), "4096 slots of 72 bytes", "%v", prod)
	require.Contains(t, prod.Stderr.String(), "1024 slots of 72 bytes", "%v", prod)
}

// TestNoPeer: a consumer alone gives up after -timeout and leaves nothing.
func TestNoPeer(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	cons := run(t, "consumer", "-key", keyFlag(key), "-timeout", "300ms")
	require.Equal(t, 1, cons.ExitCode(), "%v", cons)
	require.Contains(t, cons.Stderr.String(), "no producer claimed ring "+key.String())
	requireGone(t, key)
}

// TestInterrupt: SIGINT to both processes mid-stream: both finish cleanly
// with a report, and the segment is gone.
func TestInterrupt(t *testing.T) {
	for _, batch := range []string{"0", "32"} {
		t.Run("batch "+batch, func(t *testing.T) {
			shmtest.NoLeaks(t)
			key := newKey(t)
			cons := start(t, "consumer", "-key", keyFlag(key), "-json", "-batch", batch)
			prod := start(t, "producer", "-key", keyFlag(key), "-count", "0", "-json", "-batch", batch)
			waitStream(t, key, 10_000)
			require.NoError(t, prod.Cmd.Process.Signal(syscall.SIGINT))
			require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGINT))
			require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
			require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
			pr := decode[app.ProducerReport](t, prod)
			cr := decode[app.ConsumerReport](t, cons)
			require.Contains(t, []string{"interrupted", "consumer closed"}, pr.Ended)
			require.Contains(t, []string{"interrupted", "eof"}, cr.Ended)
			require.Positive(t, cr.Messages)
			require.LessOrEqual(t, cr.Messages, pr.Messages)
			require.Zero(t, cr.Lost+cr.Duplicated+cr.Reordered+cr.Corrupt)
			requireGone(t, key)
		})
	}
}

// TestTerminate: SIGTERM is handled as SIGINT; the text report is printed.
func TestTerminate(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	cons := start(t, "consumer", "-key", keyFlag(key))
	prod := start(t, "producer", "-key", keyFlag(key), "-count", "0", "-rate", "100000")
	waitStream(t, key, 1000)
	require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
	require.Contains(t, cons.Stdout.String(), "(ended: interrupted)")
	require.Contains(t, cons.Stdout.String(), "lost 0, duplicated 0, reordered 0, corrupt 0: OK")
	// The consumer has gone: the producer stops once the ring is full.
	require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
	require.Contains(t, prod.Stdout.String(), "(ended: consumer closed)")
	requireGone(t, key)
}

// TestPeerDies: when one side is killed, the other notices, fails, and
// removes the ring: both sides are gone.
func TestPeerDies(t *testing.T) {
	for _, victim := range []string{"producer", "consumer"} {
		t.Run(victim, func(t *testing.T) {
			shmtest.NoLeaks(t)
			key := newKey(t)
			cons := start(t, "consumer", "-key", keyFlag(key), "-json")
			prod := start(t, "producer", "-key", keyFlag(key), "-count", "0", "-json")
			waitStream(t, key, 1000)
			dead, survivor := prod, cons
			if victim == "consumer" {
				dead, survivor = cons, prod
			}
			require.NoError(t, dead.Cmd.Process.Kill())
			dead.Wait(t, exitTimeout)
			require.Equal(t, 1, survivor.Wait(t, exitTimeout), "%v", survivor)
			require.Contains(t, survivor.Stderr.String(), "peer process is dead", "%v", survivor)
			var rep app.Report
			require.NoError(t, json.Unmarshal(survivor.Stdout.Bytes(), &rep), "%v", survivor)
			require.Equal(t, "error", rep.Ended)
			require.Contains(t, rep.Note, "died; ring "+key.String()+" removed")
			requireGone(t, key)
		})
	}
}

// TestPeerStopped: a consumer stopped with SIGSTOP for longer than the
// liveness interval (1 s) is reported on the producer's stderr as stopped,
// not dead; after SIGCONT the stream completes with every message verified.
func TestPeerStopped(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	const count = 200_000
	cons := start(t, "consumer", "-key", keyFlag(key), "-json", "-slots", "64")
	prod := start(t, "producer", "-key", keyFlag(key), "-json", "-slots", "64", "-count", strconv.Itoa(count), "-rate", "50000")
	waitStream(t, key, 1000)
	require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGSTOP))
	// The producer fills 64 slots at once, then finds the consumer
	// stopped at two liveness checks a second apart: 2 to 3 s.
	time.Sleep(4 * time.Second)
	require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGCONT))
	require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
	require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
	require.Contains(t, prod.Stderr.String(), "peer process is stopped", "%v", prod)
	require.Contains(t, prod.Stderr.String(), "still waiting", "%v", prod)
	rep := decode[app.ConsumerReport](t, cons)
	require.Equal(t, uint64(count), rep.Messages, "%v", cons)
	require.Zero(t, rep.Lost+rep.Corrupt+rep.Duplicated+rep.Reordered, "%v", cons)
	requireGone(t, key)
}

// TestPeerStoppedLarge is TestPeerStopped with messages four times the
// ring. A consumer stopped for longer than two liveness checks makes the
// producer give up the message it is streaming (if it has begun it: a
// ring still full of the last one gives it no room to): both count it
// torn, the producer notes the stop and goes on once the consumer
// resumes, and every other message arrives in order.
func TestPeerStoppedLarge(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	const count = 300
	args := []string{"-key", keyFlag(key), "-json", "-size", "65536", "-slot-size", "1024", "-slots", "16"}
	cons := start(t, "consumer", args...)
	prod := start(t, "producer", append(slices.Clone(args), "-count", strconv.Itoa(count), "-rate", "200")...)
	waitStream(t, key, 20*66) // 20 messages of 66 slots
	require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGSTOP))
	time.Sleep(2 * time.Second) // two liveness checks are 0.5 s
	require.NoError(t, cons.Cmd.Process.Signal(syscall.SIGCONT))
	require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
	require.Equal(t, 0, cons.Wait(t, exitTimeout), "%v", cons)
	require.Contains(t, prod.Stderr.String(), "peer process is stopped", "%v", prod)
	pr := decode[app.ProducerReport](t, prod)
	cr := decode[app.ConsumerReport](t, cons)
	require.Equal(t, uint64(count), pr.Messages, "%v", prod)
	require.Equal(t, uint64(count), cr.Messages, "%v", cons)
	t.Logf("torn: producer %d, consumer %d", pr.Torn, cr.Torn)
	require.Equal(t, pr.Torn, cr.Torn, "both sides count the torn messages")
	require.Zero(t, cr.Lost+cr.Corrupt+cr.Duplicated+cr.Reordered, "%v", cons)
	requireGone(t, key)
}

// TestRmStale: after SIGKILL of both sides, shmring rm -stale removes their
// ring, and leaves alone a ring with a live producer (this test).
func TestRmStale(t *testing.T) {
	shmtest.NoLeaks(t)
	dead, live := newKey(t), newKey(t)
	for live == dead {
		live = newKey(t)
	}
	cons := start(t, "consumer", "-key", keyFlag(dead))
	prod := start(t, "producer", "-key", keyFlag(dead), "-count", "0")
	waitStream(t, dead, 1000)
	require.NoError(t, prod.Cmd.Process.Kill())
	require.NoError(t, cons.Cmd.Process.Kill())
	prod.Wait(t, exitTimeout)
	cons.Wait(t, exitTimeout)

	r, err := ring.Create(live, ring.Config{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove()
		_ = r.Close()
	})
	_, err = r.Producer()
	require.NoError(t, err)
	// Only the producer is live, and the segment is attached (by this
	// process): kept on both counts.

	ls := run(t, "shmring", "ls")
	require.Equal(t, 0, ls.ExitCode(), "%v", ls)
	require.Regexp(t, dead.String()+`.* dead .* dead +0\n`, ls.Stdout.String())
	require.Regexp(t, live.String()+`.* live +- +1\n`, ls.Stdout.String())

	rm := run(t, "shmring", "rm", "-stale")
	require.Equal(t, 0, rm.ExitCode(), "%v", rm)
	require.Contains(t, rm.Stdout.String(), "removed "+dead.String())
	require.Contains(t, rm.Stdout.String(), "keep   "+live.String())
	requireGone(t, dead)
	_, err = shmseg.Open(live)
	require.NoError(t, err, "the live ring stays")

	// rm KEY refuses the live ring without -force.
	p := run(t, "shmring", "rm", live.String())
	require.Equal(t, 1, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stderr.String(), "in use")
}

// TestOps: create, ls -json, stat, rm.
func TestOps(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	p := run(t, "shmring", "create", key.String(), "-size", "100", "-slots", "64")
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stdout.String(), "64 slots of 104 bytes")
	t.Cleanup(func() {
		if id, err := shmseg.Open(key); err == nil {
			_ = shmseg.Remove(id)
		}
	})
	p = run(t, "shmring", "create", key.String())
	require.Equal(t, 1, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stderr.String(), "exists")

	// -symmetric-fences reaches the header.
	sym := newKey(t)
	p = run(t, "shmring", "create", "-symmetric-fences", sym.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	t.Cleanup(func() {
		if id, err := shmseg.Open(sym); err == nil {
			_ = shmseg.Remove(id)
		}
	})
	require.Contains(t, p.Stdout.String(), "symmetric fences")
	p = run(t, "shmring", "stat", sym.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stdout.String(), ", symmetric fences")

	// A producer with the same geometry uses the ring made for it.
	prod := run(t, "producer", "-key", key.String(), "-size", "100", "-slots", "64", "-count", "10")
	require.Equal(t, 0, prod.ExitCode(), "%v", prod)

	p = run(t, "shmring", "ls", "-json")
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	var segs []app.SegmentJSON
	require.NoError(t, json.Unmarshal(p.Stdout.Bytes(), &segs))
	var found *app.SegmentJSON
	for i := range segs {
		if segs[i].Key == key.String() {
			found = &segs[i]
		}
	}
	require.NotNil(t, found, "%v", p)
	require.True(t, found.Ring)
	require.Equal(t, 104, found.SlotSize)
	require.Equal(t, 64, found.Slots)
	require.Equal(t, 10, found.Fill)
	require.True(t, found.ProducerClosed)
	require.False(t, found.ConsumerClosed)
	require.Equal(t, uint64(10), found.Producer.Messages)
	require.Zero(t, found.Nattch)

	// stat -json: ring.Stats' names beside the segment's, in one flat
	// object (docs/OPERATIONS.md, "Stats as JSON"), created in UTC.
	p = run(t, "shmring", "stat", "-json", key.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	var obj map[string]any
	require.NoError(t, json.Unmarshal(p.Stdout.Bytes(), &obj), "%v", p)
	require.Equal(t, key.String(), obj["key"])
	require.Equal(t, true, obj["ring"])
	require.EqualValues(t, 104, obj["slot_size"])
	require.EqualValues(t, 10, obj["fill"])
	require.Equal(t, true, obj["ready"])
	require.Equal(t, true, obj["producer_closed"])
	require.Contains(t, obj, "asymmetric_fences")
	require.Regexp(t, `^\d{4}-\d\d-\d\dT[0-9:.]+Z$`, obj["created"])
	prodObj, ok := obj["producer"].(map[string]any)
	require.True(t, ok, "producer: %v", obj["producer"])
	require.EqualValues(t, 10, prodObj["messages"])
	require.EqualValues(t, 0, prodObj["pid"], "a closed role is free")

	p = run(t, "shmring", "stat", key.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stdout.String(), "64 slots of 104 bytes, messages up to 100 bytes,")
	require.Contains(t, p.Stdout.String(), "fill      10 of 64 slots")
	require.Regexp(t, `producer +closed, 10 slots`, p.Stdout.String())

	p = run(t, "shmring", "stat", "-watch", "-interval", "50ms", "-n", "3", "-json", key.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	require.Equal(t, 3, strings.Count(p.Stdout.String(), "\n"), "%v", p)

	p = run(t, "shmring", "rm", key.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	requireGone(t, key)
	p = run(t, "shmring", "rm", key.String())
	require.Equal(t, 1, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stderr.String(), "no such segment")
	p = run(t, "shmring", "stat", key.String())
	require.Equal(t, 1, p.ExitCode(), "%v", p)
}

// TestNotARing: a plain segment is listed by ls -a only, refused by
// stat and rm, and never touched by rm -stale. (It holds data: a page of
// zeros is the size of a ring and looks like one being made; see
// TestRmStaleUnfinished.)
func TestNotARing(t *testing.T) {
	shmtest.NoLeaks(t)
	key := shmtest.PlainSegment(t, 4096, func(b []byte) { copy(b, "not a ring") })

	p := run(t, "shmring", "ls")
	require.NotContains(t, p.Stdout.String(), key.String())
	p = run(t, "shmring", "ls", "-a")
	require.Regexp(t, key.String()+`.*not a ring`, p.Stdout.String())
	// In JSON: the segment's fields only, none of a ring's stats.
	p = run(t, "shmring", "ls", "-a", "-json")
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	var segs []map[string]any
	require.NoError(t, json.Unmarshal(p.Stdout.Bytes(), &segs), "%v", p)
	var js map[string]any
	for _, s := range segs {
		if s["key"] == key.String() {
			js = s
		}
	}
	require.NotNil(t, js, "%v", p)
	require.Equal(t, false, js["ring"])
	require.Contains(t, js["not_ring"], "not a ring")
	require.NotContains(t, js, "fill")
	require.NotContains(t, js, "producer")
	p = run(t, "shmring", "stat", key.String())
	require.Equal(t, 1, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stderr.String(), "not a ring")
	p = run(t, "shmring", "rm", "-stale")
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stdout.String(), "skip   "+key.String())
	p = run(t, "shmring", "rm", key.String())
	require.Equal(t, 1, p.ExitCode(), "%v", p)
	require.Contains(t, p.Stderr.String(), "-force")
	_, err := shmseg.Open(key)
	require.NoError(t, err, "rm without -force removed it")
	p = run(t, "shmring", "rm", "-force", key.String())
	require.Equal(t, 0, p.ExitCode(), "%v", p)
	requireGone(t, key)
}

// TestInProcess runs both sides' code in this process, so that go test
// -race sees the commands' own goroutines (progress, peer watch, signals).
func TestInProcess(t *testing.T) {
	shmtest.NoLeaks(t)
	key := newKey(t)
	var pout, perr, cout, cerr bytes.Buffer
	cfg := func(count uint64, batch int) app.Config {
		return app.Config{Key: key.String(), Size: 64, Slots: 256, Count: count, Timeout: 10 * time.Second,
			Wait: "adaptive", Batch: batch, JSON: true}
	}
	codes := make(chan int, 1)
	go func() {
		codes <- app.RunContext(context.Background(), app.Consumer, cfg(0, 16), nil, &cout, &cerr)
	}()
	require.Equal(t, 0, app.RunContext(context.Background(), app.Producer, cfg(50_000, 0), nil, &pout, &perr), perr.String())
	require.Equal(t, 0, <-codes, cerr.String())
	var cr app.ConsumerReport
	require.NoError(t, json.Unmarshal(cout.Bytes(), &cr))
	require.Equal(t, uint64(50_000), cr.Messages)
	requireGone(t, key)

	// Cancelling the context is Ctrl-C.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		codes <- app.RunContext(ctx, app.Consumer, cfg(0, 0), nil, &cout, &cerr)
	}()
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	pout.Reset()
	require.Equal(t, 0, app.RunContext(ctx, app.Producer, cfg(0, 8), nil, &pout, &perr), perr.String())
	require.Equal(t, 0, <-codes, cerr.String())
	requireGone(t, key)
}
