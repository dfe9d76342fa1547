package doccheck_test

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app/wire"
)

// wireField is a row of the table in docs/WIRE.md, "Fields".
type wireField struct {
	offset, size int // size 0: to the end of the message
	typ          string
}

// wireFields parses the table of docs/WIRE.md's "Fields" section.
func wireFields(t *testing.T, doc string) map[string]wireField {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n## Fields\n")
	require.True(t, ok, "docs/WIRE.md has no \"## Fields\" section")
	section, _, _ = strings.Cut(section, "\n## ")
	fields := map[string]wireField{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || strings.TrimSpace(cells[1]) == "offset" || strings.HasPrefix(strings.TrimSpace(cells[1]), "-") {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		offset, err := strconv.Atoi(cells[1])
		require.NoError(t, err, "docs/WIRE.md: offset in %q", line)
		size := 0
		if cells[2] != "" {
			size, err = strconv.Atoi(cells[2])
			require.NoError(t, err, "docs/WIRE.md: size in %q", line)
		}
		fields[cells[4]] = wireField{offset: offset, size: size, typ: cells[3]}
	}
	return fields
}

// crc32c is CRC-32C computed bit by bit from the parameters docs/WIRE.md
// gives (reflected polynomial 0x82f63b78, initial value 0xffffffff, final
// complement), not from hash/crc32, which internal/app/wire uses.
func crc32c(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82f63b78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

// TestWireDoc: docs/WIRE.md describes the messages internal/app/wire makes, so
// that a peer written from the page alone agrees with the commands. A
// message made by internal/app/wire is read back at the page's offsets, with
// its types and its CRC; a message made from the page alone passes
// wire.Check; the worked example is internal/app/wire's bytes.
func TestWireDoc(t *testing.T) {
	doc := readFile(t, "docs/WIRE.md")
	fields := wireFields(t, doc)
	want := map[string]string{"crc": "u32", "seq": "u64", "sent": "i64", "filler": "bytes"}
	for name, typ := range want {
		require.Contains(t, fields, name, "docs/WIRE.md, Fields: no row for %s", name)
		require.Equal(t, typ, fields[name].typ, "docs/WIRE.md, Fields: type of %s", name)
	}
	require.Len(t, fields, len(want), "docs/WIRE.md, Fields: %v", fields)
	crc, seq, sent, filler := fields["crc"], fields["seq"], fields["sent"], fields["filler"]
	require.Equal(t, wire.HeaderSize, filler.offset, "the filler starts after the header: wire.HeaderSize")
	require.Equal(t, crc.offset+crc.size, seq.offset, "the CRC covers every byte after it: seq must follow it")

	le := binary.LittleEndian
	seqV := uint64(0x0102030405060708)
	sentV := int64(-0x1122334455667788) // negative: the sign must survive
	for _, size := range []int{wire.HeaderSize, 21, 64, 600, 4096} {
		// internal/app/wire's message, read as the page says.
		m := make([]byte, size)
		wire.Fill(m)
		wire.Put(m, seqV, sentV)
		require.Equal(t, seqV, le.Uint64(m[seq.offset:seq.offset+seq.size]), "seq of a %d-byte message", size)
		require.Equal(t, sentV, int64(le.Uint64(m[sent.offset:sent.offset+sent.size])), "sent of a %d-byte message", size)
		require.Equal(t, crc32c(m[crc.offset+crc.size:]), le.Uint32(m[crc.offset:crc.offset+crc.size]), "crc of a %d-byte message", size)
		for i := range size - filler.offset {
			require.Equal(t, byte((131*i+17)%256), m[filler.offset+i], "filler byte %d of a %d-byte message", i, size)
		}

		// The page's message, checked by internal/app/wire.
		d := make([]byte, size)
		for i := range size - filler.offset {
			d[filler.offset+i] = byte((131*i + 17) % 256)
		}
		le.PutUint64(d[seq.offset:], seqV)
		le.PutUint64(d[sent.offset:], uint64(sentV))
		le.PutUint32(d[crc.offset:], crc32c(d[crc.offset+crc.size:]))
		gotSeq, gotSent, ok := wire.Check(d)
		require.True(t, ok, "wire.Check refuses a %d-byte message made from docs/WIRE.md", size)
		require.Equal(t, seqV, gotSeq)
		require.Equal(t, sentV, gotSent)
		require.Equal(t, m, d, "a %d-byte message made from docs/WIRE.md is internal/app/wire's", size)
	}
	require.Equal(t, uint32(0xe3069283), crc32c([]byte("123456789")), "the check value docs/WIRE.md gives")

	// The worked example: 32 bytes, seq 5, sent 10^9.
	m := make([]byte, 32)
	wire.Fill(m)
	wire.Put(m, 5, 1_000_000_000)
	require.Equal(t, hex.Dump(m), markedBlock(t, doc, "docs/WIRE.md", "wire-example"), "docs/WIRE.md, Worked example")
}
