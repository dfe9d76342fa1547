package ring

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestConfigLabel: New and NewIn refuse a label the header cannot give
// back as it was, naming what is wrong, and take one of up to MaxLabel
// bytes. (Create checks the same Config before shmget: TestLabelShared.)
func TestConfigLabel(t *testing.T) {
	for _, tc := range []struct {
		name, label string
		seen        string // in the error; "" = accepted
	}{
		{"empty", "", ""},
		{"conn", "conn:kv/s2c", ""},
		{"63 bytes", strings.Repeat("x", 63), ""},
		{"63 bytes of runes", strings.Repeat("é", 31) + "x", ""},
		{"64 bytes", strings.Repeat("x", 64), "Config.Label is 64 bytes, at most 63"},
		{"1000 bytes", strings.Repeat("x", 1000), "Config.Label is 1000 bytes, at most 63"},
		{"NUL", "abc\x00def", `has a NUL byte at 3`},
		{"NUL only", "\x00", `has a NUL byte at 0`},
		{"not UTF-8", "ab\xffc", `Config.Label "ab\xffc" is not valid UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{SlotSize: 64, Slots: 4, Label: tc.label}
			r, err := New(cfg)
			size, serr := SegmentSize(64, 4)
			require.NoError(t, serr)
			_, errIn := NewIn(make([]byte, size), cfg)
			if tc.seen != "" {
				require.ErrorIs(t, err, ErrLabel)
				require.ErrorContains(t, err, tc.seen)
				require.ErrorIs(t, errIn, ErrLabel)
				require.ErrorContains(t, errIn, tc.seen)
				return
			}
			require.NoError(t, err)
			require.NoError(t, errIn)
			require.Equal(t, tc.label, r.Stats().Label)
		})
	}
}

// TestLabelRead: what a header's label field holds, whoever wrote it,
// reads as at most MaxLabel bytes of valid UTF-8, and never fails the
// ring: Attach and Inspect accept it, and the ring carries messages.
func TestLabelRead(t *testing.T) {
	long := strings.Repeat("\xff", labelSize) // 64 invalid bytes, no NUL
	for _, tc := range []struct {
		name  string
		field string // the raw field, NUL-padded to labelSize
		want  string
	}{
		{"zeros, as in a 3.0 ring", "", ""},
		{"plain", "conn:kv/c2s", "conn:kv/c2s"},
		{"bytes after the NUL", "abc\x00junk\xff", "abc"},
		{"no NUL: the 64th byte is not read", strings.Repeat("y", 64), strings.Repeat("y", 63)},
		{"invalid UTF-8 replaced", "a\xffb", "a\uFFFDb"},
		// Its first byte is replaced, and the replacement does not fit.
		{"a rune cut by the 63-byte end", strings.Repeat("x", 62) + "é", strings.Repeat("x", 62)},
		{"a run of invalid bytes, one replacement", long, "\uFFFD"},
		// 63 bytes become 125 once replaced, cut to 61: the next
		// replacement would not fit whole.
		{"replacements cut to 63 bytes on a rune", strings.Repeat("a\xff", 32), strings.Repeat("a\uFFFD", 15) + "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := newBuf(t, 64, 16)
			h := hdr(buf)
			h.label = [labelSize]byte{}
			copy(h.label[:], tc.field)
			if tc.name == "zeros, as in a 3.0 ring" {
				h.minor = 0
			}
			r, err := Attach(buf, Options{ReadyTimeout: time.Millisecond})
			require.NoError(t, err, "a label never fails the ring")
			got := r.Stats().Label
			info, err := Inspect(buf)
			require.NoError(t, err)
			require.Equal(t, got, info.Label)
			require.LessOrEqual(t, len(got), MaxLabel)
			require.True(t, utf8.ValidString(got), "%q", got)
			require.Equal(t, tc.want, got)
		})
	}
}
