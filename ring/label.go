package ring

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkLabel refuses a Config.Label that the header could not give back
// as it was: longer than MaxLabel bytes, holding a NUL (the field's end
// marker), or not UTF-8 (which readLabel would replace).
func checkLabel(label string) error {
	switch i := strings.IndexByte(label, 0); {
	case len(label) > MaxLabel:
		return fmt.Errorf("%w: Config.Label is %d bytes, at most %d", ErrLabel, len(label), MaxLabel)
	case i >= 0:
		return fmt.Errorf("%w: Config.Label %q has a NUL byte at %d", ErrLabel, label, i)
	case !utf8.ValidString(label):
		return fmt.Errorf("%w: Config.Label %q is not valid UTF-8", ErrLabel, label)
	}
	return nil
}

// readLabel reads the label of header h. The field is the creator's, but
// the creator may be any process that can write the segment, so it is
// taken as untrusted text: copied once, cut at its first NUL and at
// MaxLabel bytes, invalid UTF-8 replaced by U+FFFD, and the result cut
// again to MaxLabel bytes on a rune boundary (a replacement is longer than
// the byte it replaces). None of this is an error: the label is
// informational, and a ring with a strange one works as well as any.
func readLabel(h *header) string {
	b := h.label // one copy: a writer cannot change it under the checks
	s := b[:MaxLabel]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if utf8.Valid(s) {
		return string(s)
	}
	out := strings.ToValidUTF8(string(s), string(utf8.RuneError))
	for len(out) > MaxLabel {
		_, n := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-n]
	}
	return out
}
