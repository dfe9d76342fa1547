package ring

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// A HeaderField is one field of the segment's header: its name in
// docs/LAYOUT.md and include/shmring.h, and where the Go definition puts
// it, as the compiler laid it out. For tools that read or write a
// segment's bytes themselves (a test that plays a hostile peer, a
// debugger's script): they ask here rather than copy the numbers.
type HeaderField struct {
	// Name is the field's name: "magic", "head", "data_seq"; a side
	// block's fields are "producer.owner", "consumer.stalls"; reserved
	// bytes are "reserved0" to "reserved7" (by block) and
	// "producer.reserved", "consumer.reserved".
	Name   string
	Offset int // bytes from the start of the segment
	Size   int // bytes
}

// HeaderFields returns every field of the header in offset order. They
// cover its HeaderSize bytes exactly, without gaps or overlaps.
func HeaderFields() []HeaderField { return slices.Clone(headerFields()) }

// FieldOffset returns the offset of the header field called name (one of
// HeaderFields' names). It panics for any other name: a caller that names
// a field the header does not have is broken, not unlucky.
func FieldOffset(name string) int {
	for _, f := range headerFields() {
		if f.Name == name {
			return f.Offset
		}
	}
	panic(fmt.Sprintf("ring: FieldOffset(%q): the header has no such field (HeaderFields lists them)", name))
}

var headerFields = sync.OnceValue(func() []HeaderField {
	var out []HeaderField
	for _, f := range layoutOf(reflect.TypeFor[header]()) {
		if f.typ != reflect.TypeFor[side]() {
			out = append(out, HeaderField{f.name, int(f.off), int(f.typ.Size())})
			continue
		}
		for _, m := range layoutOf(f.typ) {
			out = append(out, HeaderField{f.name + "." + m.name, int(f.off + m.off), int(m.typ.Size())})
		}
	}
	return out
})

// layoutField is one field of a shared struct (header, side) as the
// compiler laid it out.
type layoutField struct {
	name   string // as docs/LAYOUT.md and C name it
	goName string // "_" for padding
	off    uintptr
	typ    reflect.Type
}

// layoutOf lists the fields of a shared struct in order. A field's shared
// name is its layout tag, or its Go name in snake case; padding is
// "reserved", numbered by its block where a struct has several.
func layoutOf(t reflect.Type) []layoutField {
	pads := 0
	for i := range t.NumField() {
		if t.Field(i).Name == "_" {
			pads++
		}
	}
	fields := make([]layoutField, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("layout")
		switch {
		case name != "":
		case f.Name == "_" && pads > 1:
			name = fmt.Sprintf("reserved%d", f.Offset/blockSize)
		case f.Name == "_":
			name = "reserved"
		default:
			name = snakeCase(f.Name)
		}
		fields = append(fields, layoutField{name: name, goName: f.Name, off: f.Offset, typ: f.Type})
	}
	return fields
}

// snakeCase turns consumerWantsFence into consumer_wants_fence.
func snakeCase(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// HeaderInfo is what Inspect found in a segment's header.
type HeaderInfo struct {
	// Magic and State are the header's first word and its state word,
	// whatever they hold: Magic and READY (bit 0, docs/LAYOUT.md) in a
	// ring; Magic and 0 in a ring whose creator has not published it yet
	// (or died before it did); anything in another program's segment.
	Magic uint64
	State uint32
	// Zero: every byte of the header is zero, as in a new segment that no
	// creator has written to yet.
	Zero bool
	// Major and Minor are the header's layout version, read from a header
	// with the ring's magic.
	Major, Minor int
	// Stats is the header of a valid ring (Inspect returned no error) as
	// Ring.Stats reports it: the geometry derived from the header and
	// checked against the memory's length, the cursors (Messages), the
	// owners, the counters, the closed bits and the fences. Every shared
	// word is read atomically.
	Stats
}

// Inspect reads the header of a ring's segment from seg, the segment's
// bytes (a read-only attach is enough), for tools that look at rings
// without joining them: it claims nothing, waits for nothing and writes
// nothing. It validates the header as Open does (docs/LAYOUT.md, "Opening a
// ring") and returns the same errors, naming the values seen: ErrLayout
// for memory that is shorter than a header or not 8-byte aligned, or
// sizes that do not add up against len(seg); ErrBadMagic for a non-zero
// magic that is not a ring's; ErrNotReady for a header without READY in
// its state (a ring being made, never finished, or zeros), which Open
// would wait for; ErrVersion and ErrCorrupt. Whatever it read before it
// failed is in the HeaderInfo it returns with the error.
func Inspect(seg []byte) (HeaderInfo, error) {
	h, err := headerOf(seg)
	if err != nil {
		return HeaderInfo{}, err
	}
	info := HeaderInfo{Magic: h.loadMagic(), State: h.state.Load()}
	info.Zero = [HeaderSize]byte(seg[:HeaderSize]) == [HeaderSize]byte{}
	switch {
	case info.Magic != Magic && info.Magic != 0:
		return info, fmt.Errorf("%w: got %#016x, want %#016x", ErrBadMagic, info.Magic, Magic)
	case info.State&stateReady == 0:
		return info, fmt.Errorf("%w: state %#x, magic %#x", ErrNotReady, info.State, info.Magic)
	}
	// READY was read (an atomic load): the creator's plain stores of the
	// rest of the header came before it.
	info.Major, info.Minor = int(h.major), int(h.minor)
	g, err := validate(h, len(seg))
	if err != nil {
		return info, err
	}
	info.Stats = statsOf(h, g)
	return info, nil
}
