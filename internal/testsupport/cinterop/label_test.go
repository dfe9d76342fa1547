package cinterop_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// labelProgram creates a ring with a label, or reads one's, through
// shmring.h; labels go in and out in hex, so that any bytes can.
//
//	label create KEY HEX   shmring_create with o.label; prints "create RC";
//	                       detaches without closing, leaving the ring
//	label read KEY         read-only open; prints "read RC HEX" (the label
//	                       of shmring_stats)
const labelProgram = `#include "shmring.h"
#include <stdio.h>
#include <stdlib.h>

static int unhex(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s) / 2, i;
	if (n >= cap)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (char)v;
	}
	out[n] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	struct shmring r;
	struct shmring_options o;
	struct shmring_stats st;
	char label[1024];
	key_t key;
	size_t i;
	int rc;
	if (argc < 3)
		return 2;
	key = (key_t)(int32_t)(uint32_t)strtoul(argv[2], NULL, 0);
	shmring_options_default(&o);
	if (strcmp(argv[1], "create") == 0 && argc == 4) {
		if (unhex(argv[3], label, sizeof label) != 0)
			return 2;
		o.label = label;
		rc = shmring_create(&r, key, 64, 16, 0600, &o);
		printf("create %d\n", rc);
		if (rc == 0 && shmdt(r.hdr) != 0)
			return 1;
		return 0;
	}
	if (strcmp(argv[1], "read") == 0) {
		o.readonly = 1;
		rc = shmring_open(&r, key, &o);
		printf("read %d ", rc);
		if (rc == 0) {
			shmring_stats(&r, &st);
			for (i = 0; st.label[i] != '\0'; i++)
				printf("%02x", (unsigned char)st.label[i]);
			for (; i < sizeof st.label; i++)
				if (st.label[i] != '\0')
					return 3; /* the rest is zeros */
			if (shmring_close(&r) != 0)
				return 1;
		}
		printf("\n");
		return 0;
	}
	return 2;
}
`

// runLabel runs the label program and returns its one line of output.
func runLabel(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := start(t, ctx, bin, args...)
	require.Equal(t, 0, p.Wait(t, testTimeout), "%v", p)
	return strings.TrimSpace(p.Stdout.String())
}

// TestLabelCToGo: a label given to shmring_create is the one Go reads
// (Stats.Label) and C reads back (shmring_stats). C refuses exactly the
// labels Go refuses (ErrLabel) that a C string can hold: longer than 63
// bytes, or not UTF-8 as Go's utf8.ValidString has it, and makes no
// segment for them.
func TestLabelCToGo(t *testing.T) {
	bin := buildC(t, "label.c", labelProgram)
	for _, label := range []string{
		"", "conn:kv/s2c", strings.Repeat("x", 63), strings.Repeat("x", 64),
		"é€𐍈", "\xff", "a\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "ok\xe2\x82\xac",
	} {
		t.Run(fmt.Sprintf("%q", label), func(t *testing.T) {
			shmtest.NoLeaks(t)
			key := shmseg.Key(shmtest.Key(t))
			_, goErr := ring.New(ring.Config{SlotSize: 64, Slots: 16, Label: label})
			out := runLabel(t, bin, "create", hexKey(int32(key)), hex.EncodeToString([]byte(label)))
			if goErr != nil {
				require.ErrorIs(t, goErr, ring.ErrLabel)
				require.Equal(t, "create -22", out, "C refuses what Go refuses, with -EINVAL")
				_, err := shmseg.Open(key)
				require.ErrorIs(t, err, shmseg.ErrNotExist)
				return
			}
			require.True(t, utf8.ValidString(label) && len(label) <= ring.MaxLabel)
			require.Equal(t, "create 0", out)
			r, err := ring.Open(key, ring.Options{})
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = r.Segment().Remove()
				_ = r.Close()
			})
			require.Equal(t, label, r.Stats().Label)
			require.Equal(t, strings.TrimSpace("read 0 "+hex.EncodeToString([]byte(label))),
				runLabel(t, bin, "read", hexKey(int32(key))))
		})
	}
}

// TestLabelGoToC: C reads a label that Go wrote, and of a field no
// creator writes it takes, as Go does, the bytes before the first NUL in
// the first 63 (without replacing invalid UTF-8, as its comment says).
func TestLabelGoToC(t *testing.T) {
	bin := buildC(t, "label.c", labelProgram)
	for _, tc := range []struct {
		name  string
		field []byte // nil: the label Go wrote
		want  string
	}{
		{"as written", nil, "conn:kv/c2s"},
		{"bytes after the NUL", []byte("abc\x00junk"), "abc"},
		{"no NUL", []byte(strings.Repeat("z", 64)), strings.Repeat("z", 63)},
		{"not UTF-8", []byte("a\xffb"), "a\xffb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			r, key, _ := newRing(t, ring.Config{SlotSize: 64, Slots: 16, Label: "conn:kv/c2s"})
			if tc.field != nil {
				b, err := r.Segment().Bytes()
				require.NoError(t, err)
				at := ring.FieldOffset("label")
				copy(b[at:at+64], make([]byte, 64))
				copy(b[at:], tc.field)
			}
			require.Equal(t, strings.TrimSpace("read 0 "+hex.EncodeToString([]byte(tc.want))),
				runLabel(t, bin, "read", hexKey(key)))
		})
	}
}
