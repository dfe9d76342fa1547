package ring

import (
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestLayout pins every offset of the shared header with a literal number:
// the segment is a wire format, and a change here must be deliberate (a new
// major version). docs/LAYOUT.md must follow (TestLayoutDoc), and so must
// include/shmring_layout.h (go generate ./ring; TestCLayout).
func TestLayout(t *testing.T) {
	var h header
	offsets := []struct {
		name      string
		got, want uintptr
	}{
		{"magic", unsafe.Offsetof(h.magic), 0},
		{"major", unsafe.Offsetof(h.major), 8},
		{"minor", unsafe.Offsetof(h.minor), 10},
		{"headerSize", unsafe.Offsetof(h.headerSize), 12},
		{"slotSize", unsafe.Offsetof(h.slotSize), 16},
		{"slotCount", unsafe.Offsetof(h.slotCount), 20},
		{"segSize", unsafe.Offsetof(h.segSize), 24},
		{"state", unsafe.Offsetof(h.state), 32},
		{"flags", unsafe.Offsetof(h.flags), 36},
		{"created", unsafe.Offsetof(h.created), 40},
		{"head", unsafe.Offsetof(h.head), 128},
		{"tail", unsafe.Offsetof(h.tail), 256},
		{"dataSeq", unsafe.Offsetof(h.dataSeq), 384},
		{"consumerSleeping", unsafe.Offsetof(h.consumerSleeping), 388},
		{"spaceSeq", unsafe.Offsetof(h.spaceSeq), 512},
		{"producerSleeping", unsafe.Offsetof(h.producerSleeping), 516},
		{"consumerWantsFence", unsafe.Offsetof(h.consumerWantsFence), 392},
		{"producerFenced", unsafe.Offsetof(h.producerFenced), 396},
		{"producerWantsFence", unsafe.Offsetof(h.producerWantsFence), 520},
		{"consumerFenced", unsafe.Offsetof(h.consumerFenced), 524},
		{"prod", unsafe.Offsetof(h.prod), 640},
		{"cons", unsafe.Offsetof(h.cons), 768},
		{"label", unsafe.Offsetof(h.label), 896},
		{"side.owner", unsafe.Offsetof(h.prod.owner), 0},
		{"side.bytes", unsafe.Offsetof(h.prod.bytes), 8},
		{"side.stalls", unsafe.Offsetof(h.prod.stalls), 16},
		{"side.waits", unsafe.Offsetof(h.prod.waits), 24},
		{"side.wakes", unsafe.Offsetof(h.prod.wakes), 32},
	}
	for _, o := range offsets {
		require.Equal(t, o.want, o.got, "offset of %s", o.name)
	}
	require.Equal(t, uintptr(HeaderSize), unsafe.Sizeof(h))
	require.Equal(t, uintptr(blockSize), unsafe.Sizeof(side{}))
	require.Equal(t, uintptr(64), unsafe.Sizeof(h.label))

	// Head, tail and each futex word on blocks of their own.
	blocks := map[uintptr]string{}
	for _, o := range offsets[10:16] {
		b := o.want / blockSize
		if prev, ok := blocks[b]; ok && !(o.name == "consumerSleeping" || o.name == "producerSleeping") {
			t.Errorf("%s shares block %d with %s", o.name, b, prev)
		}
		blocks[b] = o.name
	}
	// 64-bit fields 8-aligned, 32-bit fields 4-aligned.
	for _, o := range offsets {
		if o.name != "major" && o.name != "minor" { // the two u16
			require.Zero(t, o.want%4, "%s not 4-aligned", o.name)
		}
	}
	for _, n := range []string{"magic", "segSize", "created", "head", "tail"} {
		for _, o := range offsets {
			if o.name == n {
				require.Zero(t, o.want%8, "%s not 8-aligned", n)
			}
		}
	}
}

// TestNoPointers walks the shared types: memory another process writes must
// hold no Go pointer, slice, string, map, interface, chan or func.
func TestNoPointers(t *testing.T) {
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		switch ty.Kind() {
		case reflect.Pointer, reflect.UnsafePointer, reflect.Slice, reflect.String, reflect.Map,
			reflect.Interface, reflect.Chan, reflect.Func, reflect.Uintptr:
			t.Errorf("%s is a %s: shared memory must hold no Go references", path, ty.Kind())
		case reflect.Struct:
			for i := range ty.NumField() {
				f := ty.Field(i)
				walk(path+"."+f.Name, f.Type)
			}
		case reflect.Array:
			walk(path+"[]", ty.Elem())
		}
	}
	walk("header", reflect.TypeOf(header{}))
}

// newBuf returns a formatted ring's memory.
func newBuf(t testing.TB, slotSize, slots int) []byte {
	t.Helper()
	size, err := SegmentSize(slotSize, slots)
	require.NoError(t, err)
	buf := make([]byte, size)
	_, err = NewIn(buf, Config{SlotSize: slotSize, Slots: slots})
	require.NoError(t, err)
	return buf
}

func hdr(buf []byte) *header { h, _ := headerOf(buf); return h }

// TestValidate corrupts one field at a time; each failure has its own
// sentinel and names the value seen.
func TestValidate(t *testing.T) {
	opts := &Options{ReadyTimeout: 20 * time.Millisecond}
	tests := []struct {
		name    string
		corrupt func(b []byte) []byte
		want    error
		seen    string
	}{
		{"magic", func(b []byte) []byte { hdr(b).magic = 0x1234; return b }, ErrBadMagic, "0x0000000000001234"},
		{"major version", func(b []byte) []byte { hdr(b).major, hdr(b).minor = 5, 0; return b }, ErrVersion, "5.0"},
		{"version 3, which lacked lap marks", func(b []byte) []byte { hdr(b).major, hdr(b).minor = 3, 1; return b }, ErrVersion, "3.1, this code reads 4.x"},
		{"version 1, which lacked the fence flag", func(b []byte) []byte { hdr(b).major, hdr(b).minor = 1, 0; return b }, ErrVersion, "1.0"},
		{"version 2, which lacked fragments", func(b []byte) []byte { hdr(b).major = 2; hdr(b).minor = 1; return b }, ErrVersion, "2.1, this code reads 4.x"},
		{"max_message 0", func(b []byte) []byte { hdr(b).maxMessage = 0; return b }, ErrLayout, "max_message 0"},
		{"max_message 2^41", func(b []byte) []byte { hdr(b).maxMessage = 1 << 41; return b }, ErrLayout, "max_message 2199023255552"},
		{"unknown flags", func(b []byte) []byte { hdr(b).flags = 1<<5 | flagAsymmetric; return b }, ErrLayout, "flags 0x21,"},
		{"header size", func(b []byte) []byte { hdr(b).headerSize = 512; return b }, ErrLayout, "header size 512"},
		{"slot count not a power of two", func(b []byte) []byte { hdr(b).slotCount = 12; return b }, ErrLayout, "slot count 12"},
		{"slot count one", func(b []byte) []byte { hdr(b).slotCount = 1; return b }, ErrLayout, "slot count 1"},
		{"slot size not a multiple of 8", func(b []byte) []byte { hdr(b).slotSize = 60; return b }, ErrLayout, "slot size 60"},
		{"slot size huge", func(b []byte) []byte { hdr(b).slotSize = 1<<31 + 8; return b }, ErrLayout, "slot size 2147483656"},
		{"segment size field", func(b []byte) []byte { hdr(b).segSize += 8; return b }, ErrLayout, "segment size 2056"},
		{"memory shorter than header says", func(b []byte) []byte { return b[:len(b)-8] }, ErrLayout, "memory is 2040"},
		{"memory shorter than header", func(b []byte) []byte { return b[:100] }, ErrLayout, "memory is 100"},
		{"slots need more than memory", func(b []byte) []byte { hdr(b).slotCount = 32; hdr(b).segSize = 1024 + 32*64; return b }, ErrLayout, "memory is 2048"},
		{"tail more than a ring beyond head", func(b []byte) []byte { hdr(b).tail.Store(17); return b }, ErrCorrupt, "head 0 tail 17"},
		{"head beyond capacity", func(b []byte) []byte { hdr(b).head.Store(17); return b }, ErrCorrupt, "head 17 tail 0"},
		{"unknown state bits", func(b []byte) []byte { hdr(b).state.Store(stateReady | 1<<9); return b }, ErrCorrupt, "state 0x201"},
		{"never ready", func(b []byte) []byte { hdr(b).state.Store(0); return b }, ErrNotReady, "state 0x0"},
		{"never ready, zeroed", func(b []byte) []byte { clear(b); return b }, ErrNotReady, "state 0x0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := tt.corrupt(newBuf(t, 64, 16))
			_, err := Attach(buf, *opts)
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.seen)
		})
	}
	t.Run("valid", func(t *testing.T) {
		buf := newBuf(t, 64, 16)
		buf = append(buf, make([]byte, 8)...)[:len(buf)+8] // larger memory is fine
		r, err := Attach(buf, *opts)
		require.NoError(t, err)
		require.Equal(t, 16, r.Slots())
	})
	t.Run("newer minor version", func(t *testing.T) {
		buf := newBuf(t, 64, 16)
		hdr(buf).minor = 7
		_, err := Attach(buf, *opts)
		require.NoError(t, err)
	})
	t.Run("unaligned memory", func(t *testing.T) {
		buf := newBuf(t, 64, 16)
		big := make([]byte, len(buf)+1)
		copy(big[1:], buf)
		_, err := Attach(big[1:], *opts)
		require.ErrorIs(t, err, ErrLayout)
		require.Contains(t, err.Error(), "aligned")
	})
}

// FuzzAttach feeds arbitrary headers to validation: no panic, and whatever
// is accepted satisfies the invariants the ring relies on.
func FuzzAttach(f *testing.F) {
	// Seeds: a valid header, and that header with its magic, geometry and
	// cursors broken.
	good := newBuf(f, 64, 16)
	f.Add(good[:HeaderSize], uint64(len(good)))
	bad := append([]byte(nil), good[:HeaderSize]...)
	binary.LittleEndian.PutUint32(bad[20:], 3) // slot count
	f.Add(bad, uint64(len(good)))
	bad = append([]byte(nil), good[:HeaderSize]...)
	binary.LittleEndian.PutUint64(bad[128:], 1<<40) // head
	f.Add(bad, uint64(len(good)))
	f.Add([]byte("shmring\x00"), uint64(8))
	bad = append([]byte(nil), good[:HeaderSize]...)
	copy(bad[896:], "a\xff\xfe label\x00after the NUL") // a label no creator writes
	f.Add(bad, uint64(len(good)))

	f.Fuzz(func(t *testing.T, hb []byte, size uint64) {
		size = min(size, 1<<16)
		buf := make([]byte, max(size, uint64(len(hb)))) // Go's allocations of >= 8 bytes are 8-aligned
		copy(buf, hb)
		buf = buf[:size]
		if size >= HeaderSize {
			hdr(buf).state.Store(hdr(buf).state.Load() | stateReady) // do not wait
		}
		r, err := Attach(buf, Options{ReadyTimeout: time.Nanosecond})
		if err != nil {
			return
		}
		g := r.g
		require.LessOrEqual(t, g.segSize, uint64(len(buf)))
		require.Equal(t, g.segSize, HeaderSize+g.slots*g.slotSize)
		require.Equal(t, uint64(0), g.slots&(g.slots-1))
		require.GreaterOrEqual(t, g.slots, uint64(2))
		// Whatever the label field holds, what a reader gets is short
		// and valid: the label is informational, never an error.
		label := r.Stats().Label
		require.LessOrEqual(t, len(label), MaxLabel)
		require.True(t, utf8.ValidString(label), "label %q", label)
		// Every slot lies inside the memory, and reading each one through
		// the consumer either works or reports corruption.
		// (A fragment is refused by Peek, which reads one slot.)
		c := newConsumer(r) // unclaimed: the fuzzed owner and state may refuse a claim
		c.frag, c.whole = fragNone, c.payload
		for seq, end := c.tail, c.tail+g.slots; seq < end; seq++ {
			c.tail, c.cachedHead = seq, seq+1 // as if published: nothing waits
			msg, err := c.next(nil)
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("slot %d: %v, want ErrCorrupt or ErrMessageTooLarge", seq, err)
			}
			if len(msg) > c.payload {
				t.Fatalf("slot %d: %d bytes delivered from a slot of %d", seq, len(msg), c.payload)
			}
		}
	})
}

// FuzzSlotLength: any length word in a slot is either delivered within the
// slot or refused as corrupt, never read past it; or, read by a consumer
// that took over (tail > 0), a continuation is discarded as the rest of a
// message its predecessor left half read (ErrTorn, or ErrEmpty while more
// of it is to come).
func FuzzSlotLength(f *testing.F) {
	for _, n := range []uint32{0, 1, 60, 61, 1 << 28, 1<<28 | 61, 1 << 31, ^uint32(0)} {
		f.Add(n, uint8(0))
	}
	f.Fuzz(func(t *testing.T, n uint32, slot uint8) {
		buf := newBuf(t, 64, 4)
		r, err := Attach(buf, Options{})
		require.NoError(t, err)
		h := hdr(buf)
		i := uint64(slot % 4)
		binary.LittleEndian.PutUint32(buf[HeaderSize+i*64:], n)
		h.tail.Store(i)
		publishBy(buf, i, i+1) // bit 28 becomes the slot's lap mark
		n &^= lapBit
		c, err := r.Consumer()
		require.NoError(t, err)
		got := make([]byte, 64)
		m, err := c.TryRecv(got)
		if n > 60 {
			if i > 0 && n&fragCont != 0 && (errors.Is(err, ErrTorn) || errors.Is(err, ErrEmpty)) {
				require.Zero(t, m)
				return
			}
			require.ErrorIs(t, err, ErrCorrupt)
			require.Contains(t, err.Error(), "length")
			return
		}
		require.NoError(t, err)
		require.Equal(t, int(n), m)
	})
}

// TestIsSegmentSize: every geometry's segment size is one, and sizes
// between are not (a page is: 1024 + 2 x 1536).
func TestIsSegmentSize(t *testing.T) {
	for _, c := range []struct{ slotSize, slots int }{{8, 2}, {72, 64}, {72, 4096}, {1 << 20, 2}, {8, 1 << 20}, {MaxSlotSize, 4}} {
		n, err := SegmentSize(c.slotSize, c.slots)
		require.NoError(t, err)
		require.True(t, IsSegmentSize(uint64(n)), "%d x %d = %d", c.slotSize, c.slots, n)
	}
	for _, n := range []uint64{0, 1, 100, HeaderSize, HeaderSize + 8, HeaderSize + 24, 4095, 4100, HeaderSize + 1<<62} {
		require.False(t, IsSegmentSize(n), "%d", n)
	}
	require.True(t, IsSegmentSize(4096), "4096 = 1024 + 2 x 1536: a page is a ring's size")
}

// TestHeaderFields: the fields tools get (HeaderFields, FieldOffset) are
// the header's, tile it exactly, and name the side blocks' fields through
// their block.
func TestHeaderFields(t *testing.T) {
	fields := HeaderFields()
	at := 0
	for _, f := range fields {
		require.Equal(t, at, f.Offset, "gap or overlap before %s", f.Name)
		require.Equal(t, f.Offset, FieldOffset(f.Name))
		at += f.Size
	}
	require.Equal(t, HeaderSize, at, "the fields cover the header")

	var h header
	for _, c := range []struct {
		name string
		want uintptr
	}{
		{"magic", unsafe.Offsetof(h.magic)},
		{"segment_size", unsafe.Offsetof(h.segSize)},
		{"head", unsafe.Offsetof(h.head)},
		{"consumer_wants_fence", unsafe.Offsetof(h.consumerWantsFence)},
		{"producer.owner", unsafe.Offsetof(h.prod) + unsafe.Offsetof(h.prod.owner)},
		{"consumer.stalls", unsafe.Offsetof(h.cons) + unsafe.Offsetof(h.cons.stalls)},
		{"label", unsafe.Offsetof(h.label)},
		{"reserved7", HeaderSize - blockSize + labelSize},
	} {
		require.Equal(t, int(c.want), FieldOffset(c.name), c.name)
	}
	require.PanicsWithValue(t, `ring: FieldOffset("producer"): the header has no such field (HeaderFields lists them)`,
		func() { FieldOffset("producer") }, "a side block is named by its fields")

	fields[0].Offset = 99
	require.Zero(t, HeaderFields()[0].Offset, "HeaderFields returns a copy")
}

// layoutDocRow is one row of a table of docs/LAYOUT.md: offset, size,
// type and field.
var layoutDocRow = regexp.MustCompile(`^\| *(\+?\d+) *\| *(\d+) *\| *([^|]*?) *\| *([^|]*?) *\|`)

// layoutDocTable returns the rows of the first table after the line that
// starts with heading.
func layoutDocTable(t *testing.T, doc, heading string) [][]string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n"+heading)
	require.True(t, ok, "docs/LAYOUT.md has no %q", heading)
	var rows [][]string
	for _, line := range strings.Split(rest, "\n") {
		switch m := layoutDocRow.FindStringSubmatch(line); {
		case m != nil:
			rows = append(rows, m[1:])
		case len(rows) > 0 && !strings.HasPrefix(line, "|"):
			return rows
		}
	}
	return rows
}

// docType is the type column of docs/LAYOUT.md for a field's Go type.
func docType(t *testing.T, f layoutField) string {
	t.Helper()
	if f.goName == "_" {
		return "" // reserved bytes have no type, whatever array holds them
	}
	switch f.typ {
	case reflect.TypeFor[uint16]():
		return "u16"
	case reflect.TypeFor[uint32]():
		return "u32"
	case reflect.TypeFor[uint64]():
		return "u64"
	case reflect.TypeFor[int64]():
		return "i64"
	case reflect.TypeFor[atomic.Uint32]():
		return "u32 atomic"
	case reflect.TypeFor[atomic.Uint64]():
		return "u64 atomic"
	case reflect.TypeFor[side]():
		return "side"
	case reflect.TypeFor[[labelSize]byte]():
		return "u8[64]"
	}
	t.Fatalf("%s: a type docs/LAYOUT.md has no name for", f.goName)
	return ""
}

// TestLayoutDoc checks the tables of docs/LAYOUT.md, the reference for
// other implementations, against the header type: one row per field, in
// order, with its offset, size, type and name (reserved bytes are
// "reserved").
func TestLayoutDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/LAYOUT.md")
	require.NoError(t, err)
	doc := string(b)
	for _, tab := range []struct {
		heading string
		typ     reflect.Type
		plus    string
	}{
		{"## Header", reflect.TypeFor[header](), ""},
		{"### Side block", reflect.TypeFor[side](), "+"},
	} {
		rows := layoutDocTable(t, doc, tab.heading)
		fields := layoutOf(tab.typ)
		require.Len(t, rows, len(fields), "rows of the table under %q, fields of %v", tab.heading, tab.typ)
		for i, f := range fields {
			name := f.name
			if f.goName == "_" {
				name = "reserved"
			}
			want := []string{tab.plus + strconv.Itoa(int(f.off)), strconv.Itoa(int(f.typ.Size())), docType(t, f), name}
			require.Equal(t, want, rows[i], "row %d of the table under %q (offset, size, type, field)", i+1, tab.heading)
		}
	}
	// The version the header table and the title give is the one the
	// code writes.
	for _, want := range []string{
		"# shmring segment layout, version " + strconv.Itoa(VersionMajor) + "." + strconv.Itoa(VersionMinor) + "\n",
		"| major | creator | layout major version: " + strconv.Itoa(VersionMajor) + " |",
		"| minor | creator | layout minor version: " + strconv.Itoa(VersionMinor) + " |",
	} {
		require.True(t, strings.Contains(doc, want), "docs/LAYOUT.md lacks %q", want)
	}
}
