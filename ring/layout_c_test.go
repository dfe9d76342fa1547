package ring

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// The C definition of the layout, include/shmring_layout.h, is generated
// from the header type by this file: the offsets are the Go compiler's
// (reflect reads them, as unsafe.Offsetof would), the names those of
// layoutOf, the comments those of layout.go. go generate ./ring runs
// TestCLayout with -write-c-layout, which writes the file; without the flag
// (make test) the test regenerates it in memory and fails if the file
// differs. The generator is a test of package ring, not a program of its
// own, because it reads the package's unexported types and constants (as
// go/types' generate_test.go does for its sources).

var writeCLayout = flag.Bool("write-c-layout", false, "TestCLayout: write include/shmring_layout.h instead of comparing it")

const cLayoutPath = "../include/shmring_layout.h"

// TestCLayout fails when include/shmring_layout.h is not what the header
// type generates.
func TestCLayout(t *testing.T) {
	got, err := cLayout()
	require.NoError(t, err)
	if *writeCLayout {
		require.NoError(t, os.WriteFile(cLayoutPath, got, 0o644))
		return
	}
	want, err := os.ReadFile(cLayoutPath)
	require.NoError(t, err)
	if !bytes.Equal(got, want) {
		g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return strconv.Quote(l[i])
			}
			return "end of file"
		}
		t.Fatalf("%s is stale: run go generate ./ring\nline %d: generated %s, file has %s", cLayoutPath, i+1, line(g), line(w))
	}
}

// TestCLayoutComments: the generator refuses a comment in layout.go whose
// offset is not its field's, and takes the others.
func TestCLayoutComments(t *testing.T) {
	for _, c := range []struct {
		comment string
		off     uintptr
		rel     bool
		want    string
		err     string
	}{
		{"384: bumped by the producer", 384, false, "384: bumped by the producer", ""},
		{"384", 384, false, "384", ""},
		{"+16: calls that waited", 16, true, "+16: calls that waited", ""},
		{"the producer role", 640, false, "640: the producer role", ""},
		{"", 896, false, "896", ""},
		{"385: off by one", 384, false, "", "says 385, the field is at 384"},
		{"+8: a side field", 16, true, "", "says +8, the field is at +16"},
		{"16: relative without the plus", 16, true, "", `say "+16"`},
	} {
		got, err := offsetComment(c.comment, c.off, c.rel)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, "%q", c.comment)
			continue
		}
		require.NoError(t, err, "%q", c.comment)
		require.Equal(t, c.want, got, "%q", c.comment)
	}
}

// cConst is a macro of the generated file.
type cConst struct {
	name, value, doc string
}

func u32(v uint32) string { return fmt.Sprintf("UINT32_C(%d)", v) }

func x32(v uint32) string { return fmt.Sprintf("UINT32_C(%#x)", v) }

// cConsts are the constants of the layout, from the Go constants.
func cConsts() []cConst {
	return []cConst{
		{"SHMRING_MAGIC", fmt.Sprintf("UINT64_C(%#016x)", Magic), `The first 8 bytes of a ring, "shmring\0" little-endian.`},
		{"SHMRING_VERSION_MAJOR", strconv.Itoa(VersionMajor), "The layout version: a ring of another major version is refused, any minor version of this major is accepted."},
		{"SHMRING_VERSION_MINOR", strconv.Itoa(VersionMinor), ""},
		{"SHMRING_HEADER_SIZE", strconv.Itoa(HeaderSize), "Bytes before slot 0; also sizeof(struct shmring_header)."},
		{"SHMRING_BLOCK_SIZE", strconv.Itoa(blockSize), "The header is blocks of this many bytes; fields written by different sides never share a block."},
		{"SHMRING_LEN_SIZE", strconv.Itoa(lenSize), "Bytes of the length prefix at the start of each slot."},
		{"SHMRING_MIN_SLOT_SIZE", strconv.Itoa(MinSlotSize), "Bounds of slot_size (a multiple of 8, length prefix included) and of slot_count (a power of two)."},
		{"SHMRING_MAX_SLOT_SIZE", u32(MaxSlotSize), ""},
		{"SHMRING_MIN_SLOTS", strconv.Itoa(minSlots), ""},
		{"SHMRING_MAX_SLOTS", u32(MaxSlots), ""},
		{"SHMRING_FLAG_ASYMMETRIC", u32(flagAsymmetric), "Bits of header.flags, set by the creator before READY and never changed; a ring with another bit set is refused."},
		{"SHMRING_FLAGS_KNOWN", u32(flagsKnown), ""},
		{"SHMRING_STATE_READY", u32(stateReady), "Bits of header.state; 0 while the creator is still initialising."},
		{"SHMRING_STATE_PRODUCER_CLOSED", u32(stateProducerClosed), ""},
		{"SHMRING_STATE_CONSUMER_CLOSED", u32(stateConsumerClosed), ""},
		{"SHMRING_STATE_KNOWN", u32(stateKnown), ""},
		{"SHMRING_PID_BITS", strconv.Itoa(pidBits), "A side's owner word is pid | start_time << SHMRING_PID_BITS, start_time being field 22 of /proc/PID/stat (clock ticks since boot)."},
		{"SHMRING_FLUSH_EVERY", strconv.Itoa(flushEvery), "A side copies its bytes and stalls counters to its block at least every this many publications (or releases), and before it sleeps."},
		{"SHMRING_FRAG_MORE", x32(fragMore), "Bits of a slot's length word (docs/LAYOUT.md, \"Fragments\"): MORE, another fragment of the message follows; CONT, the slot continues a message begun earlier; ABORT, with CONT and length 0, that message ends here unfinished. The length is the word's low bits (SHMRING_FRAG_LEN)."},
		{"SHMRING_FRAG_CONT", x32(fragCont), ""},
		{"SHMRING_FRAG_ABORT", x32(fragAbort), ""},
		{"SHMRING_FRAG_FLAGS", x32(fragFlags), ""},
		{"SHMRING_FRAG_LEN", x32(fragLen), ""},
		{"SHMRING_LAP_BIT", x32(lapBit), "A slot's lap mark, bit 28 of its length word (docs/LAYOUT.md, \"Lap marks\"): the slot at cursor position seq is published when the bit is set on an even lap (seq & slot_count == 0) and clear on an odd one. The producer writes a slot's word with the other value until its payload is complete, then the published one with a release store, slot by slot in cursor order, before it stores head; a consumer may take the slots so marked before head says so."},
		{"SHMRING_TOTAL_SIZE", strconv.Itoa(totalSize), "Bytes of a first fragment's total (the message's length), after its length word."},
		{"SHMRING_MIN_FRAGMENT_SLOT", strconv.Itoa(MinFragmentSlot), "The smallest slot_size that carries fragments, and the bound of header.max_message."},
		{"SHMRING_MAX_MESSAGE_LIMIT", fmt.Sprintf("UINT64_C(%d)", uint64(MaxMessageLimit)), ""},
		{"SHMRING_LABEL_SIZE", strconv.Itoa(labelSize), "Bytes of header.label: a label is at most SHMRING_LABEL_SIZE - 1 bytes of UTF-8, then NUL (Go: ring.MaxLabel)."},
	}
}

// goComments are the comments of one struct type's fields in layout.go,
// by field index: the doc comment above and the comment at the end of the
// line, as text.
type goComments struct{ doc, line []string }

// layoutComments parses layout.go for the comments of the header and side
// types.
func layoutComments() (map[string]goComments, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "layout.go", nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	out := map[string]goComments{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok || (ts.Name.Name != "header" && ts.Name.Name != "side") {
			return true
		}
		var c goComments
		for _, fl := range st.Fields.List {
			for range max(len(fl.Names), 1) {
				c.doc = append(c.doc, strings.TrimSpace(fl.Doc.Text()))
				c.line = append(c.line, strings.TrimSpace(fl.Comment.Text()))
			}
		}
		out[ts.Name.Name] = c
		return false
	})
	if len(out) != 2 {
		return nil, fmt.Errorf("layout.go: found the comments of %d of the types header and side", len(out))
	}
	return out, nil
}

var offsetPrefix = regexp.MustCompile(`^(\+?)(\d+)(?::\s*|$)`)

// offsetComment returns a field's comment led by its offset ("+16: " in a
// side block, rel): a comment of layout.go that gives one must give the
// right one.
func offsetComment(text string, off uintptr, rel bool) (string, error) {
	num := strconv.FormatUint(uint64(off), 10)
	want := num
	if rel {
		want = "+" + num
	}
	if m := offsetPrefix.FindStringSubmatch(text); m != nil {
		switch said := m[1] + m[2]; {
		case m[2] != num:
			return "", fmt.Errorf("layout.go: a comment says %s, the field is at %s: %q", said, want, text)
		case said != want:
			return "", fmt.Errorf("layout.go: the comment should say %q: %q", want, text)
		}
		text = text[len(m[0]):]
	}
	if text == "" {
		return want, nil
	}
	return want + ": " + text, nil
}

// cType is the C type of a shared field's Go type; an array is returned
// with its length, for the declarator.
func cType(t reflect.Type) (string, int, error) {
	switch t {
	case reflect.TypeFor[uint16]():
		return "uint16_t", 0, nil
	case reflect.TypeFor[uint32]():
		return "uint32_t", 0, nil
	case reflect.TypeFor[uint64]():
		return "uint64_t", 0, nil
	case reflect.TypeFor[int64]():
		return "int64_t", 0, nil
	case reflect.TypeFor[atomic.Uint32]():
		return "SHMRING_ATOMIC(uint32_t)", 0, nil
	case reflect.TypeFor[atomic.Uint64]():
		return "SHMRING_ATOMIC(uint64_t)", 0, nil
	case reflect.TypeFor[side]():
		return "struct shmring_side", 0, nil
	}
	if t.Kind() == reflect.Array && t.Elem() == reflect.TypeFor[byte]() {
		return "uint8_t", t.Len(), nil
	}
	return "", 0, fmt.Errorf("no C type for the shared field type %v", t)
}

// wrap breaks text into lines of at most width bytes, between words.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(w) > width:
			b.WriteString("\n")
			n = 0
		default:
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// cComment writes text as a C comment, indented by indent, its lines as
// they were in layout.go.
func cComment(b *bytes.Buffer, indent, text string) {
	lines := strings.Split(text, "\n")
	if len(lines) == 1 {
		fmt.Fprintf(b, "%s/* %s */\n", indent, text)
		return
	}
	for i, l := range lines {
		lead := " * "
		if i == 0 {
			lead = "/* "
		}
		fmt.Fprintf(b, "%s%s%s", indent, lead, l)
		if i == len(lines)-1 {
			b.WriteString(" */")
		}
		b.WriteString("\n")
	}
}

// cStruct writes the C struct of a shared Go type, and returns the static
// assertions of its offsets.
func cStruct(b *bytes.Buffer, cName string, t reflect.Type, c goComments, rel bool) ([]string, error) {
	fields := layoutOf(t)
	type decl struct{ doc, text, comment string }
	decls := make([]decl, len(fields))
	width := 0
	for i, f := range fields {
		ty, n, err := cType(f.typ)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name(), f.goName, err)
		}
		d := decl{text: fmt.Sprintf("%s %s;", ty, f.name)}
		if n > 0 {
			d.text = fmt.Sprintf("%s %s[%d];", ty, f.name, n)
		}
		// The offset leads the doc comment if the field has one (as in
		// layout.go), the line comment otherwise.
		if d.doc = c.doc[i]; d.doc != "" && !offsetPrefix.MatchString(d.doc) {
			d.comment, err = offsetComment(c.line[i], f.off, rel)
		} else if d.doc != "" {
			d.doc, err = offsetComment(d.doc, f.off, rel)
			if err == nil && c.line[i] != "" {
				err = fmt.Errorf("layout.go: %s.%s has two comments that give its offset", t.Name(), f.goName)
			}
		} else {
			d.comment, err = offsetComment(c.line[i], f.off, rel)
		}
		if err != nil {
			return nil, err
		}
		decls[i] = d
		width = max(width, len(d.text))
	}
	fmt.Fprintf(b, "struct %s {\n", cName)
	for i, d := range decls {
		if d.doc != "" {
			if i > 0 {
				b.WriteString("\n")
			}
			cComment(b, "\t", d.doc)
		}
		b.WriteString("\t" + d.text)
		if d.comment != "" {
			fmt.Fprintf(b, "%*s/* %s */", width-len(d.text)+1, "", d.comment)
		}
		b.WriteString("\n")
	}
	b.WriteString("};\n")

	short := strings.TrimPrefix(cName, "shmring_")
	var asserts []string
	for _, f := range fields {
		at := strconv.FormatUint(uint64(f.off), 10)
		if rel {
			at = "+" + at
		}
		asserts = append(asserts, fmt.Sprintf("SHMRING_STATIC_ASSERT(offsetof(struct %s, %s) == %d, \"%s.%s at %s\");",
			cName, f.name, f.off, short, f.name, at))
	}
	asserts = append(asserts, fmt.Sprintf("SHMRING_STATIC_ASSERT(sizeof(struct %s) == %d, \"struct %s is %d bytes\");",
		cName, t.Size(), cName, t.Size()))
	return asserts, nil
}

// cLayout generates include/shmring_layout.h.
func cLayout() ([]byte, error) {
	comments, err := layoutComments()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `// Code generated by "go generate ./ring" from ring/layout.go; DO NOT EDIT.

/*
 * shmring_layout.h - the shared header of a shmring ring, layout version
 * %d.%d: its constants and structs, generated from the Go definition (the
 * header type in ring/layout.go) with the offsets the Go compiler gave it,
 * and static assertions that the C compiler agrees. docs/LAYOUT.md
 * describes every field. Part of shmring.h, which includes it: include
 * shmring.h, not this file.
 */
#ifndef SHMRING_LAYOUT_H
#define SHMRING_LAYOUT_H

#ifndef SHMRING_ATOMIC
#error "shmring_layout.h is part of shmring.h: include shmring.h instead"
#endif
`, VersionMajor, VersionMinor)

	b.WriteString("\n/* ---- Constants --------------------------------------------------------- */\n")
	for _, c := range cConsts() {
		if c.doc != "" {
			b.WriteString("\n")
			cComment(&b, "", wrap(c.doc, 74))
		}
		fmt.Fprintf(&b, "#define %s %s\n", c.name, c.value)
	}

	b.WriteString("\n/* ---- Offsets ----------------------------------------------------------- */\n\n")
	b.WriteString("/* Where each field is: from the start of the segment (SHMRING_OFFSET_*), or\n * from the start of a side block (SHMRING_SIDE_OFFSET_*). */\n")
	for _, f := range layoutOf(reflect.TypeFor[header]()) {
		if f.goName != "_" {
			fmt.Fprintf(&b, "#define SHMRING_OFFSET_%s %d\n", strings.ToUpper(f.name), f.off)
		}
	}
	for _, f := range layoutOf(reflect.TypeFor[side]()) {
		if f.goName != "_" {
			fmt.Fprintf(&b, "#define SHMRING_SIDE_OFFSET_%s %d\n", strings.ToUpper(f.name), f.off)
		}
	}

	b.WriteString("\n/* ---- The header -------------------------------------------------------- */\n\n")
	b.WriteString("/* One side's block. Only the holder of the role writes it; anyone may read it. */\n")
	sideAsserts, err := cStruct(&b, "shmring_side", reflect.TypeFor[side](), comments["side"], true)
	if err != nil {
		return nil, err
	}
	b.WriteString("\n/* The first SHMRING_HEADER_SIZE bytes of the segment. Fields that are not\n * atomic are written by the creator before it sets READY and never change. */\n")
	headerAsserts, err := cStruct(&b, "shmring_header", reflect.TypeFor[header](), comments["header"], false)
	if err != nil {
		return nil, err
	}

	b.WriteString("\n/* Every offset and size as the Go compiler laid them out. */\n")
	b.WriteString("SHMRING_STATIC_ASSERT(sizeof(SHMRING_ATOMIC(uint32_t)) == 4, \"atomic u32 is 4 bytes\");\n")
	b.WriteString("SHMRING_STATIC_ASSERT(sizeof(SHMRING_ATOMIC(uint64_t)) == 8, \"atomic u64 is 8 bytes\");\n")
	for _, a := range append(sideAsserts, headerAsserts...) {
		b.WriteString(a + "\n")
	}
	b.WriteString("SHMRING_STATIC_ASSERT(sizeof(struct shmring_header) == SHMRING_HEADER_SIZE, \"the header is SHMRING_HEADER_SIZE bytes\");\n")
	b.WriteString("SHMRING_STATIC_ASSERT(SHMRING_ALIGNOF(struct shmring_header) == 8, \"the header is 8-aligned\");\n")
	b.WriteString("\n#endif /* SHMRING_LAYOUT_H */\n")
	return b.Bytes(), nil
}
