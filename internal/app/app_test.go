package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/ring"
)

func msg(seq uint64, sent int64) []byte {
	m := make([]byte, 64)
	wire.Fill(m)
	wire.Put(m, seq, sent)
	return m
}

// TestVerifier feeds sequences and checks each count, with the convention
// that a corrupt message stands for the one expected.
func TestVerifier(t *testing.T) {
	corrupt := func() []byte { m := msg(0, 0); m[30] ^= 1; return m }
	tests := []struct {
		name                         string
		seqs                         []int // -1: a corrupt message
		lost, dup, reorder, corruptN uint64
	}{
		{"in order", []int{0, 1, 2, 3}, 0, 0, 0, 0},
		{"gap", []int{0, 1, 4, 5}, 2, 0, 0, 0},
		{"duplicate", []int{0, 1, 1, 2}, 0, 1, 0, 0},
		{"duplicate of old", []int{0, 1, 2, 3, 0}, 0, 1, 0, 0},
		{"swap", []int{0, 2, 1, 3}, 0, 0, 1, 0},
		{"late pair", []int{0, 3, 1, 2, 4}, 0, 0, 2, 0},
		{"middle of gap", []int{0, 5, 3, 6}, 3, 0, 1, 0},
		{"reordered twice is a duplicate", []int{0, 2, 1, 1}, 0, 1, 1, 0},
		{"corrupt stands for the expected one", []int{0, -1, 2, 3}, 0, 0, 0, 1},
		{"corrupt then gap", []int{0, -1, 5}, 3, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifier{}
			for i, s := range tt.seqs {
				m := corrupt()
				if s >= 0 {
					m = msg(uint64(s), int64(i))
				}
				v.check(m, int64(100+i))
			}
			require.Equal(t, uint64(len(tt.seqs)), v.messages)
			require.Equal(t, tt.lost, v.lost, "lost")
			require.Equal(t, tt.dup, v.dup, "duplicated")
			require.Equal(t, tt.reorder, v.reorder, "reordered")
			require.Equal(t, tt.corruptN, v.corrupt, "corrupt")
		})
	}
}

func TestVerifierStartsAtCursor(t *testing.T) {
	v := &verifier{next: 1000}
	v.check(msg(1000, 5), 25)
	v.check(msg(1001, 5), 35)
	require.Zero(t, v.lost+v.dup+v.reorder+v.corrupt)
	require.Equal(t, uint64(2), v.lat.Count())
	require.Equal(t, uint64(30), v.lat.Max())
	require.Equal(t, int64(25), v.first)
	require.Equal(t, int64(35), v.last)
}

// TestVerifierNoAlloc: checking a message in order costs no allocation.
func TestVerifierNoAlloc(t *testing.T) {
	v := &verifier{}
	m := msg(0, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		wire.Put(m, v.next, 1)
		v.check(m, 2)
	})
	require.Zero(t, allocs)
}

// TestVerifierTorn: a torn message stands for the one expected, as a
// corrupt one does, so the next arrives in order; it is counted apart.
func TestVerifierTorn(t *testing.T) {
	v := &verifier{}
	v.check(msg(0, 0), 1)
	v.tornMessage()
	v.check(msg(2, 0), 2)
	require.Equal(t, uint64(1), v.torn)
	require.Equal(t, uint64(2), v.messages)
	require.Zero(t, v.lost+v.dup+v.reorder+v.corrupt)
}

// TestTornAlone: the consumer goes on after ErrTorn alone (the rest of a
// torn message discarded), not after ErrTorn wrapped with the error that
// ended a wait, which decides by itself.
func TestTornAlone(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ring.ErrTorn, true},
		{fmt.Errorf("%w: the rest of a torn message discarded, through slot 9", ring.ErrTorn), true},
		{fmt.Errorf("recv: %w", fmt.Errorf("%w: discarded", ring.ErrTorn)), true},
		{fmt.Errorf("%w: 5 of 9 bytes received: %w", ring.ErrTorn, ring.ErrPeerDead), false},
		{fmt.Errorf("%w: 5 of 9 bytes received: %w", ring.ErrTorn, context.Canceled), false},
		{ring.ErrPeerDead, false},
		{io.EOF, false},
	} {
		require.Equal(t, c.want, tornAlone(c.err), "%v", c.err)
	}
}

func TestVerifierGapsBounded(t *testing.T) {
	v := &verifier{}
	for i := range 3 * maxGaps {
		v.check(msg(uint64(2*i+1), 0), 0) // every even number missing
	}
	require.LessOrEqual(t, len(v.gaps), maxGaps)
	require.Equal(t, uint64(3*maxGaps), v.lost)
}

func TestCheckFlags(t *testing.T) {
	parse := func(role Role, args ...string) (settings, error) {
		var cfg Config
		fs := FlagSet(role, &cfg, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		require.NoError(t, fs.Parse(args))
		return cfg.check(role, fs.Args())
	}
	s, err := parse(Producer)
	require.NoError(t, err)
	require.Equal(t, DefaultKey, int(s.key))
	require.Equal(t, 72, s.slotSize)
	require.Equal(t, uint64(DefaultProducerCount), s.count)
	require.Equal(t, 1, s.batch)
	s, err = parse(Consumer, "-key", "0x5e7a0001", "-size", "20", "-wait", "spin", "-batch", "16")
	require.NoError(t, err)
	require.Equal(t, 0x5e7a0001, int(s.key))
	require.Equal(t, 24, s.slotSize)
	require.Zero(t, s.count)
	require.Equal(t, 16, s.batch)
	s, err = parse(Consumer, "-key", "ffffffff")
	require.NoError(t, err)
	require.Equal(t, "0xffffffff", s.key.String())

	// -size past a slot: the slot is derived up to 16 KiB of payload,
	// or set by -slot-size, and a message takes several.
	s, err = parse(Producer, "-size", "1048576")
	require.NoError(t, err)
	require.Equal(t, 16392, s.slotSize)
	require.Equal(t, uint64(64), s.perMessage)
	s, err = parse(Producer, "-size", "1048576", "-slot-size", "16384", "-slots", "16")
	require.NoError(t, err)
	require.Equal(t, 16384, s.slotSize)
	require.Equal(t, uint64(65), s.perMessage)
	s, err = parse(Consumer, "-size", "20", "-slot-size", "4096")
	require.NoError(t, err)
	require.Equal(t, 4096, s.slotSize)
	require.Equal(t, uint64(1), s.perMessage)
	s, err = parse(Consumer, "-size", "100", "-slot-size", "16")
	require.NoError(t, err, "the smallest slot that carries fragments")
	require.Equal(t, uint64(1+(100-4+11)/12), s.perMessage)
	_, err = parse(Producer, "-size", strconv.Itoa(MaxSize))
	require.NoError(t, err)

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"-size", "19"}, "minimum is 20 bytes"},
		{[]string{"-size", strconv.Itoa(MaxSize + 1)}, "-size 1073741825: the maximum is 1073741824 bytes"},
		{[]string{"-slot-size", "100"}, "-slot-size 100: want a multiple of 8 from 8 to 268435456"},
		{[]string{"-slot-size", "4"}, "-slot-size 4: want a multiple of 8"},
		{[]string{"-slot-size", strconv.Itoa(1 << 30)}, "-slot-size 1073741824: want a multiple of 8"},
		{[]string{"-size", "24", "-slot-size", "8"}, "-slot-size 8: -size 24 does not fit, and fragments need slots of 16 bytes or more"},
		{[]string{"-size", "70000", "-batch", "8"}, "-batch 8: batches hold one slot per message, and -size 70000 takes 5 slots of 16392 bytes"},
		{[]string{"-slots", "1000"}, "power of two"},
		{[]string{"-wait", "sleep"}, "want spin, yield, futex or adaptive"},
		{[]string{"-key", "xyz"}, "hex"},
		{[]string{"-key", "0"}, "IPC_PRIVATE"},
		{[]string{"-key", "1", "-path", "/"}, "choose one"},
		{[]string{"-path", "/nonexistent/file"}, "no such file"},
		{[]string{"-path", "/", "-proj", "0"}, "-proj 0"},
		{[]string{"-timeout", "0s"}, "-timeout"},
		{[]string{"-batch", "-1"}, "-batch"},
		{[]string{"-duration", "-1s"}, "negative"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, b := range bad {
		_, err := parse(Consumer, b.args...)
		require.ErrorIs(t, err, errUsage, "%v", b.args)
		require.ErrorContains(t, err, b.want, "%v", b.args)
		require.Equal(t, 2, exitCode(err))
	}
	_, err = parse(Producer, "-rate", "-5")
	require.ErrorIs(t, err, errUsage)
}

// TestSlotsPerMessage pins the fragment count of docs/LAYOUT.md
// ("Fragments") with literal numbers: one slot up to a slot's payload
// (slot-4), then a first fragment of slot-12 bytes and the rest in
// fragments of slot-4.
func TestSlotsPerMessage(t *testing.T) {
	for _, c := range []struct {
		size, slot int
		want       uint64
	}{
		{64, 72, 1},
		{68, 72, 1},   // a full slot
		{69, 72, 2},   // 60 in the first fragment, 9 in the last
		{128, 72, 2},  // 60 + 68
		{129, 72, 3},  // 60 + 68 + 1
		{20, 16, 3},   // 4 + 12 + 4 in the smallest slot that fragments
		{100, 16, 9},  // 4 + 8 x 12
		{101, 16, 10}, // 4 + 8 x 12 + 1
		{1 << 20, 16384, 65},
		{1 << 20, 16392, 64},
		{16 << 20, 1024, 16449},
	} {
		require.Equal(t, c.want, slotsPerMessage(c.size, c.slot), "%d bytes in slots of %d", c.size, c.slot)
	}
}

func TestBytesName(t *testing.T) {
	for n, want := range map[int]string{
		64:        "64 bytes",
		1023:      "1023 bytes",
		1024:      "1024 bytes (1 KiB)",
		20000:     "20000 bytes (19.5 KiB)",
		1 << 20:   "1048576 bytes (1 MiB)",
		3 << 29:   "1610612736 bytes (1.5 GiB)",
		1<<20 + 1: "1048577 bytes (1 MiB)",
	} {
		require.Equal(t, want, bytesName(n))
	}
}

func TestPrintErrDropsTag(t *testing.T) {
	var b bytes.Buffer
	printErr(&b, "producer", usageErr("-size %d: too small", 3))
	require.Equal(t, "producer: -size 3: too small\n", b.String())
}

// TestReportJSON pins the field names scripts rely on.
func TestReportJSON(t *testing.T) {
	c := &ConsumerReport{Report: Report{Role: "consumer", Messages: 10}}
	c.setRate(10, 640, 0, int64(time.Second))
	var b bytes.Buffer
	require.NoError(t, c.print(&b, true))
	var m map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &m))
	for _, k := range []string{"role", "messages", "bytes", "seconds", "msgs_per_sec", "mb_per_sec", "size",
		"slots", "wait", "lost", "duplicated", "reordered", "corrupt", "latency_ns"} {
		require.Contains(t, m, k)
	}
	for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
		require.Contains(t, m["latency_ns"], k)
	}
	require.InDelta(t, 10.0, m["msgs_per_sec"], 1e-9)
	require.InDelta(t, 0.00064, m["mb_per_sec"], 1e-12)
	require.Equal(t, 0, c.exitCode())
	c.Lost = 1
	require.Equal(t, 1, c.exitCode())

	b.Reset()
	p := &ProducerReport{Report: Report{Role: "producer"}}
	require.NoError(t, p.print(&b, false))
	require.True(t, strings.HasPrefix(b.String(), "producer: 0 messages"), b.String())
}

func TestFormat(t *testing.T) {
	require.Equal(t, "123ns", ns(123))
	require.Equal(t, "1.23µs", ns(1234))
	require.Equal(t, "12.3ms", ns(12_345_678))
	require.Equal(t, "2s", ns(2_000_000_000))
	require.Equal(t, "12.35M", si(12_345_678))
	require.Equal(t, "999", si(999))
}

// TestIsTerminal: a buffer and a regular file are not terminals; a
// pseudo-terminal's master is (its termios reads), which a wrong ioctl
// number for the platform (ioctlReadTermios) would miss.
func TestIsTerminal(t *testing.T) {
	require.False(t, isTerminal(&bytes.Buffer{}))
	f, err := os.Create(filepath.Join(t.TempDir(), "file"))
	require.NoError(t, err)
	defer f.Close()
	require.False(t, isTerminal(f), "a regular file")

	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to check with: %v", err)
	}
	defer pty.Close()
	require.True(t, isTerminal(pty), "/dev/ptmx")
}
