package cinterop_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// field is one field of the shared header: its name (a member designator
// of struct shmring_header: "head", "producer.owner"), its offset from the
// start of the segment and its size.
type field struct {
	c            string
	offset, size int
}

// headerFields are the header's fields where the Go package puts them
// (ring.HeaderFields: the Go compiler's offsets), reserved bytes included,
// so they cover every byte of the 1024.
func headerFields() []field {
	var fs []field
	for _, f := range ring.HeaderFields() {
		fs = append(fs, field{f.Name, f.Offset, f.Size})
	}
	return fs
}

// constants are the header's macros and the values the Go package (or,
// for unexported ones, docs/LAYOUT.md) gives them.
var constants = []struct {
	c    string
	want uint64
}{
	{"SHMRING_MAGIC", ring.Magic},
	{"SHMRING_VERSION_MAJOR", ring.VersionMajor},
	{"SHMRING_VERSION_MINOR", ring.VersionMinor},
	{"SHMRING_HEADER_SIZE", ring.HeaderSize},
	{"SHMRING_BLOCK_SIZE", 128},
	{"SHMRING_LEN_SIZE", 4},
	{"SHMRING_MIN_SLOT_SIZE", ring.MinSlotSize},
	{"SHMRING_MAX_SLOT_SIZE", ring.MaxSlotSize},
	{"SHMRING_MIN_SLOTS", 2},
	{"SHMRING_MAX_SLOTS", ring.MaxSlots},
	{"SHMRING_STATE_READY", 1},
	{"SHMRING_STATE_PRODUCER_CLOSED", 2},
	{"SHMRING_STATE_CONSUMER_CLOSED", 4},
	{"SHMRING_STATE_KNOWN", 7},
	{"SHMRING_FLAG_ASYMMETRIC", 1},
	{"SHMRING_FLAGS_KNOWN", 1},
	{"SHMRING_PID_BITS", 22},
	{"SHMRING_FLUSH_EVERY", 64},
	{"SHMRING_FRAG_MORE", 1 << 31},
	{"SHMRING_FRAG_CONT", 1 << 30},
	{"SHMRING_FRAG_ABORT", 1 << 29},
	{"SHMRING_FRAG_FLAGS", 7 << 29},
	{"SHMRING_FRAG_LEN", 1<<28 - 1},
	{"SHMRING_LAP_BIT", 1 << 28},
	{"SHMRING_TOTAL_SIZE", 8},
	{"SHMRING_MIN_FRAGMENT_SLOT", ring.MinFragmentSlot},
	{"SHMRING_MAX_MESSAGE_LIMIT", ring.MaxMessageLimit},
	{"SHMRING_DEFAULT_LIVENESS_NS", uint64(ring.DefaultLiveness)},
	{"SHMRING_DEFAULT_READY_TIMEOUT_NS", uint64(ring.DefaultReadyTimeout)},
	{"SHMRING_DEFAULT_SPIN_NS", uint64(ring.DefaultSpin)},
	{"SHMRING_DEFAULT_YIELD_NS", uint64(ring.DefaultYield)},
}

// slotSizeInputs are message sizes whose shmring_slot_size_for is compared
// with ring.SlotSizeFor.
var slotSizeInputs = []int{0, 1, 3, 4, 5, 20, 64, 65, 68, 1000, 4096, 1<<30 - 8}

// layoutProgram is a C (and C++) program that includes shmring.h and prints
// what it says of the layout, one "kind name value..." line each, and the
// identity of the process whose pid is its argument.
func layoutProgram() string {
	var b strings.Builder
	b.WriteString(`#include "shmring.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define FIELD(m) printf("field %s %zu %zu\n", #m, offsetof(struct shmring_header, m), sizeof(((struct shmring_header *)0)->m))

int main(int argc, char **argv)
{
	uint64_t id = 0;
	uint64_t seg = 0;
	printf("size shmring_header %zu\n", sizeof(struct shmring_header));
	printf("size shmring_side %zu\n", sizeof(struct shmring_side));
`)
	for _, f := range headerFields() {
		fmt.Fprintf(&b, "\tFIELD(%s);\n", f.c)
	}
	for _, c := range constants {
		fmt.Fprintf(&b, "\tprintf(\"const %s %%llu\\n\", (unsigned long long)(%s));\n", c.c, c.c)
	}
	for _, n := range slotSizeInputs {
		fmt.Fprintf(&b, "\tprintf(\"slot_size_for %d %%llu\\n\", (unsigned long long)shmring_slot_size_for(%d));\n", n, n)
	}
	b.WriteString(`	if (shmring_segment_size(72, 4096, &seg) != 0)
		return 3;
	printf("segment_size 72x4096 %llu\n", (unsigned long long)seg);
	if (argc > 1 && shmring_identity_of(atoi(argv[1]), &id) != 0)
		return 4;
	printf("identity %llu\n", (unsigned long long)id);
	printf("status %d\n", (int)shmring_identity_status(id));
	/* With no descriptor left, /proc cannot be read: the status must
	 * not turn to dead for it. */
	struct rlimit rl = {3, 3};
	char state;
	uint64_t start;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 5;
	printf("stat_nofd %d\n", shmring_proc_stat(atoi(argc > 1 ? argv[1] : "1"), &state, &start));
	printf("status_nofd %d\n", (int)shmring_identity_status(id));
	return 0;
}
`)
	return b.String()
}

// cLayout is what the compiled layout program printed.
type cLayout struct {
	fields     map[string]field // "head", "producer.owner"
	sizes      map[string]int
	consts     map[string]uint64
	slotSizes  map[int]uint64
	segSize    uint64
	identity   uint64
	status     int
	statNoFD   int // shmring_proc_stat with no descriptor left: -EMFILE
	statusNoFD int // shmring_identity_status then
	raw        string
}

// buildLayout compiles the layout program with compiler as the language
// lang (the source's suffix: c, cc) with flags, and returns its path.
func buildLayout(t *testing.T, compiler []string, lang string, flags ...string) string {
	t.Helper()
	return shmtest.CompileSource(t, compiler, "layout."+lang, layoutProgram(), append(slices.Clone(flags), "-I", includeDir(t))...)
}

func runLayout(t *testing.T, bin string) cLayout {
	t.Helper()
	return runLayoutFor(t, bin, os.Getpid())
}

// runLayoutFor runs the layout program with the identity of process pid.
func runLayoutFor(t *testing.T, bin string, pid int) cLayout {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, strconv.Itoa(pid)).CombinedOutput()
	require.NoError(t, err, "%s\n%s", bin, out)
	l := cLayout{fields: map[string]field{}, sizes: map[string]int{}, consts: map[string]uint64{},
		slotSizes: map[int]uint64{}, raw: string(out)}
	atoi := func(s string) int {
		v, err := strconv.Atoi(s)
		require.NoError(t, err)
		return v
	}
	atou := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return v
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch {
		case f[0] == "field" && len(f) == 4:
			l.fields[f[1]] = field{f[1], atoi(f[2]), atoi(f[3])}
		case f[0] == "size" && len(f) == 3:
			l.sizes[f[1]] = atoi(f[2])
		case f[0] == "const" && len(f) == 3:
			l.consts[f[1]] = atou(f[2])
		case f[0] == "slot_size_for" && len(f) == 3:
			l.slotSizes[atoi(f[1])] = atou(f[2])
		case f[0] == "segment_size" && len(f) == 3:
			l.segSize = atou(f[2])
		case f[0] == "identity" && len(f) == 2:
			l.identity = atou(f[1])
		case f[0] == "status" && len(f) == 2:
			l.status = atoi(f[1])
		case f[0] == "stat_nofd" && len(f) == 2:
			l.statNoFD = atoi(f[1])
		case f[0] == "status_nofd" && len(f) == 2:
			l.statusNoFD = atoi(f[1])
		default:
			t.Fatalf("layout program: unexpected line %q", line)
		}
	}
	return l
}

// TestLayoutAgreement compiles a program against include/shmring.h and
// checks what it prints in two ways: against the Go package's layout
// (ring.HeaderFields, the Go compiler's offsets, which ring.TestLayout pins
// with literal numbers; include/shmring_layout.h is generated from them and
// asserts them at compile time), and against the Go code's behaviour:
// a ring.New ring is driven through the ring API while the test reads and
// pokes its bytes at the offsets the C header gave. Any disagreement between
// the header and the Go layout fails one or both.
func TestLayoutAgreement(t *testing.T) {
	l := runLayout(t, buildLayout(t, shmtest.CC(t), "c", cFlags...))

	t.Run("table", func(t *testing.T) {
		require.Equal(t, ring.HeaderSize, l.sizes["shmring_header"], "sizeof(struct shmring_header)")
		require.Equal(t, 128, l.sizes["shmring_side"], "sizeof(struct shmring_side)")
		fields := headerFields()
		for _, f := range fields {
			require.Equal(t, f, l.fields[f.c], "header field %s: C says, the Go compiler says", f.c)
		}
		require.Len(t, l.fields, len(fields))
		for _, c := range constants {
			require.Equal(t, c.want, l.consts[c.c], "%s", c.c)
		}
		for _, n := range slotSizeInputs {
			require.Equal(t, uint64(ring.SlotSizeFor(n)), l.slotSizes[n], "slot size for a %d-byte message", n)
		}
		seg, err := ring.SegmentSize(72, 4096)
		require.NoError(t, err)
		require.Equal(t, uint64(seg), l.segSize)
	})

	t.Run("behaviour", func(t *testing.T) {
		checkAgainstGo(t, l)
	})
}

// checkAgainstGo drives Go rings in ordinary memory, made with each kind
// of fences, and watches their bytes through the C header's offsets and
// constants.
func checkAgainstGo(t *testing.T, l cLayout) {
	for _, symmetric := range []bool{false, true} {
		t.Run(fencesName(symmetric), func(t *testing.T) { checkAgainstGoFences(t, l, symmetric) })
	}
}

func checkAgainstGoFences(t *testing.T, l cLayout, symmetric bool) {
	off := func(name string) int {
		f, ok := l.fields[name]
		require.True(t, ok, "the C program printed no field %s", name)
		return f.offset
	}
	c := l.consts
	le := binary.LittleEndian
	const slotSize, slots = 24, 4
	segSize, err := ring.SegmentSize(slotSize, slots)
	require.NoError(t, err)
	buf := make([]byte, segSize)
	u16 := func(name string) uint16 { return le.Uint16(buf[off(name):]) }
	u32 := func(name string) uint32 { return le.Uint32(buf[off(name):]) }
	u64 := func(name string) uint64 { return le.Uint64(buf[off(name):]) }
	put32 := func(name string, v uint32) { le.PutUint32(buf[off(name):], v) }
	put64 := func(name string, v uint64) { le.PutUint64(buf[off(name):], v) }

	before := time.Now().UnixNano()
	r, err := ring.NewIn(buf, ring.Config{SlotSize: slotSize, Slots: slots, SymmetricFences: symmetric})
	require.NoError(t, err)
	after := time.Now().UnixNano()
	asym := wantAsymmetric(t, symmetric)

	// What the Go creator wrote, read where C reads it.
	require.Equal(t, c["SHMRING_MAGIC"], u64("magic"))
	require.Equal(t, c["SHMRING_VERSION_MAJOR"], uint64(u16("major")))
	require.Equal(t, c["SHMRING_VERSION_MINOR"], uint64(u16("minor")))
	require.Equal(t, c["SHMRING_HEADER_SIZE"], uint64(u32("header_size")))
	require.Equal(t, uint32(slotSize), u32("slot_size"))
	require.Equal(t, uint32(slots), u32("slot_count"))
	require.Equal(t, uint64(segSize), u64("segment_size"))
	require.Equal(t, uint64(slotSize-4), u64("max_message"), "max_message of a ring made with SlotSize alone")
	require.Equal(t, c["SHMRING_STATE_READY"], uint64(u32("state")))
	wantFlags := uint32(0)
	if asym {
		wantFlags = uint32(c["SHMRING_FLAG_ASYMMETRIC"])
	}
	require.Equal(t, wantFlags, u32("flags"), "flags of a ring made with SymmetricFences=%v", symmetric)
	require.Equal(t, asym, r.Stats().AsymmetricFences)
	require.GreaterOrEqual(t, int64(u64("created")), before)
	require.LessOrEqual(t, int64(u64("created")), after)

	// Owner words: Go's identity of this process is the one C computes.
	p, err := r.Producer()
	require.NoError(t, err)
	cons, err := r.Consumer()
	require.NoError(t, err)
	require.Equal(t, l.identity, u64("producer.owner"), "identity of pid %d: C vs Go's claim", os.Getpid())
	require.Equal(t, l.identity, u64("consumer.owner"))
	require.Equal(t, os.Getpid(), int(l.identity&(1<<c["SHMRING_PID_BITS"]-1)))
	require.Equal(t, 1, l.status, "C sees this live process as running")
	require.Equal(t, -int(syscall.EMFILE), l.statNoFD, "the layout program cannot open /proc with its descriptor limit at 3")
	require.Equal(t, 1, l.statusNoFD, "C sees this live process as running even when /proc cannot be read")
	// Claims in the default wait mode ask for no fences, and clear the
	// peer's answer word.
	for _, w := range []string{"consumer_wants_fence", "producer_fenced", "producer_wants_fence", "consumer_fenced"} {
		require.Zero(t, u32(w), "%s after claims in adaptive mode", w)
	}

	// A publication: the slot, the head cursor, and the wake of a consumer
	// that said it may sleep and asked for full fences: in an asymmetric
	// ring the producer answers before it wakes; in a symmetric one it
	// publishes with full fences anyway, and does not.
	put32("consumer_sleeping", 1)
	put32("consumer_wants_fence", 1)
	require.NoError(t, p.Send(context.Background(), []byte("hello")))
	require.Equal(t, b2u(asym), u32("producer_fenced"), "the producer's answer to consumer_wants_fence")
	slot := buf[c["SHMRING_HEADER_SIZE"]:]
	require.Equal(t, uint32(5|c["SHMRING_LAP_BIT"]), le.Uint32(slot), "the length, and the lap mark of slot 0 in lap 0: set")
	require.Equal(t, "hello", string(slot[c["SHMRING_LEN_SIZE"]:][:5]))
	require.Equal(t, uint64(1), u64("head"))
	require.Zero(t, u32("consumer_sleeping"), "the producer clears the flag it acts on")
	require.Equal(t, uint32(1), u32("data_seq"), "and bumps the word the consumer sleeps on")
	require.Equal(t, uint64(1), u64("producer.wakes"))
	require.Zero(t, u32("space_seq"))

	// A release, mirrored; no request this time, so no answer.
	put32("producer_sleeping", 1)
	got := make([]byte, 16)
	n, err := cons.Recv(context.Background(), got)
	require.NoError(t, err)
	require.Equal(t, "hello", string(got[:n]))
	require.Equal(t, uint64(1), u64("tail"))
	require.Zero(t, u32("producer_sleeping"))
	require.Equal(t, uint32(1), u32("space_seq"))
	require.Equal(t, uint64(1), u64("consumer.wakes"))
	require.Zero(t, u32("consumer_fenced"), "an answer nobody asked for")

	// Counters written where C writes them are what Go's Stats report.
	for i, side := range []string{"producer", "consumer"} {
		base := uint64(1000 * (i + 1))
		put64(side+".bytes", base+1)
		put64(side+".stalls", base+2)
		put64(side+".waits", base+3)
		put64(side+".wakes", base+4)
	}
	put64("head", 3)
	put64("tail", 2)
	st := r.Stats()
	require.Equal(t, ring.SideStats{PID: os.Getpid(), Alive: true, Messages: 3, Bytes: 1001, Stalls: 1002, Waits: 1003, Wakes: 1004}, st.Producer)
	require.Equal(t, ring.SideStats{PID: os.Getpid(), Alive: true, Messages: 2, Bytes: 2001, Stalls: 2002, Waits: 2003, Wakes: 2004}, st.Consumer)
	require.Equal(t, 1, st.Fill)
	put64("head", 1)
	put64("tail", 1)

	// Closing: the state bits C tests, and the owner freed.
	require.NoError(t, p.Close())
	require.Equal(t, c["SHMRING_STATE_READY"]|c["SHMRING_STATE_PRODUCER_CLOSED"], uint64(u32("state")))
	require.Zero(t, u64("producer.owner"))
	require.NoError(t, cons.Close())
	require.Equal(t, c["SHMRING_STATE_READY"]|c["SHMRING_STATE_PRODUCER_CLOSED"]|c["SHMRING_STATE_CONSUMER_CLOSED"],
		uint64(u32("state")))
	require.Zero(t, u64("consumer.owner"))
	require.NoError(t, r.Close())

	// The Go opener refuses what C's would, field by field.
	for _, bad := range []struct {
		name  string
		poke  func(b []byte)
		error error
	}{
		{"magic", func(b []byte) { le.PutUint64(b[off("magic"):], 1) }, ring.ErrBadMagic},
		{"major 5", func(b []byte) { le.PutUint16(b[off("major"):], 5) }, ring.ErrVersion},
		{"major 3", func(b []byte) { le.PutUint16(b[off("major"):], 3) }, ring.ErrVersion},
		{"major 2", func(b []byte) { le.PutUint16(b[off("major"):], 2) }, ring.ErrVersion},
		{"major 1", func(b []byte) { le.PutUint16(b[off("major"):], 1) }, ring.ErrVersion},
		{"max_message 0", func(b []byte) { le.PutUint64(b[off("max_message"):], 0) }, ring.ErrLayout},
		{"max_message above the limit", func(b []byte) {
			le.PutUint64(b[off("max_message"):], c["SHMRING_MAX_MESSAGE_LIMIT"]+1)
		}, ring.ErrLayout},
		{"flags", func(b []byte) {
			le.PutUint32(b[off("flags"):], le.Uint32(b[off("flags"):])|uint32(c["SHMRING_FLAGS_KNOWN"]+1))
		}, ring.ErrLayout},
		{"header_size", func(b []byte) { le.PutUint32(b[off("header_size"):], 2048) }, ring.ErrLayout},
		{"slot_size", func(b []byte) { le.PutUint32(b[off("slot_size"):], 12) }, ring.ErrLayout},
		{"slot_count", func(b []byte) { le.PutUint32(b[off("slot_count"):], 3) }, ring.ErrLayout},
		{"segment_size", func(b []byte) { le.PutUint64(b[off("segment_size"):], uint64(segSize)+8) }, ring.ErrLayout},
		{"state", func(b []byte) {
			le.PutUint32(b[off("state"):], uint32(c["SHMRING_STATE_READY"]|(c["SHMRING_STATE_KNOWN"]+1)))
		}, ring.ErrCorrupt},
		{"cursors: tail more than a ring past head", func(b []byte) { le.PutUint64(b[off("tail"):], slots+1) }, ring.ErrCorrupt},
		{"cursors: head more than a ring past tail", func(b []byte) { le.PutUint64(b[off("head"):], slots+1) }, ring.ErrCorrupt},
	} {
		fresh := make([]byte, segSize)
		_, err := ring.NewIn(fresh, ring.Config{SlotSize: slotSize, Slots: slots, SymmetricFences: symmetric})
		require.NoError(t, err)
		bad.poke(fresh)
		_, err = ring.Attach(fresh, ring.Options{ReadyTimeout: time.Millisecond})
		require.ErrorIs(t, err, bad.error, "header with a bad %s", bad.name)
	}
}

// TestHeaderCompilesAsCXX: the header compiles as C++20 (with -Wall -Wextra
// -Werror) and the layout a C++ compiler sees is the C one.
func TestHeaderCompilesAsCXX(t *testing.T) {
	cBin := buildLayout(t, shmtest.CC(t), "c", cFlags...)
	cxxBin := buildLayout(t, shmtest.CXX(t), "cc", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-O2")
	require.Equal(t, runLayout(t, cBin).raw, runLayout(t, cxxBin).raw)
}

// TestIdentityMainThreadExited: the C header, like the Go package
// (ring.TestIdentityMainThreadExited), takes a process whose main thread
// has exited while another thread runs for alive, and for dead once every
// thread is gone (a zombie not yet reaped).
func TestIdentityMainThreadExited(t *testing.T) {
	layout := buildLayout(t, shmtest.CC(t), "c", cFlags...)
	cmd := shmtest.StartMainThreadExited(t)
	pid := cmd.Process.Pid
	require.Equal(t, 1, runLayoutFor(t, layout, pid).status, "main thread exited, worker alive: running")

	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return runLayoutFor(t, layout, pid).status == 0 }, testTimeout, 10*time.Millisecond,
		"killed, not reaped: dead")
}
