package cinterop_test

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Layout 2.0's fences across the language boundary: rings made with and
// without header flag SHMRING_FLAG_ASYMMETRIC, by Go and by C, streamed
// through in both directions in wait modes that take the sleeper's
// membarrier path, and the openers of both languages refusing versions and
// flags they do not know.

func fencesName(symmetric bool) string {
	if symmetric {
		return "symmetric"
	}
	return "asymmetric"
}

// wantAsymmetric says whether a ring created here asking for the given
// fences gets asymmetric ones: only if membarrier(2) works in this process
// (Go and C creators both fall back to symmetric fences otherwise).
func wantAsymmetric(t testing.TB, symmetric bool) bool {
	t.Helper()
	if symmetric {
		return false
	}
	if err := fence.Register(); err != nil {
		t.Logf("membarrier(2) unavailable, so rings fall back to symmetric fences: %v", err)
		return false
	}
	return true
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// fenceWait is a wait setting for the fence streams, with the C programs'
// flags for it.
type fenceWait struct {
	name  string
	ws    ring.WaitStrategy
	cArgs []string
}

var fenceWaits = []fenceWait{
	// Every side sleeps at once when it must wait, and asks its peer for
	// full fences: its first sleeps go through membarrier, then the
	// peer's answer (*_fenced) lets it skip the call.
	{"futex", ring.WaitStrategy{Mode: ring.WaitFutex}, []string{"-wait", "futex"}},
	// Adaptive with 1 ns phases: a side sleeps after a few polls and asks
	// for nothing, so every sleep in an asymmetric ring calls membarrier.
	{"adaptive-1ns", ring.WaitStrategy{Mode: ring.WaitAdaptive, Spin: time.Nanosecond, Yield: time.Nanosecond},
		[]string{"-wait", "adaptive", "-spin", "1ns", "-yield", "1ns"}},
}

// TestFencesStreams streams checked messages between Go and C through
// rings with symmetric fences and with asymmetric ones, created by the Go
// package (ring.Config.SymmetricFences) and by the C header
// (shmring_options.symmetric_fences, examples/c -symmetric), in both
// directions. The C side joins first and sleeps before the Go side moves,
// so its sleeper path (with membarrier in an asymmetric ring) runs at
// least once for certain; then both sides sleep often on an 8-slot ring.
// Both sides must see the fences the creator chose: Go in
// Stats().AsymmetricFences, C in its summary line.
func TestFencesStreams(t *testing.T) {
	bin := cPrograms(t)
	count := pick(20_000, 5_000)
	for _, cCreates := range []bool{false, true} {
		for _, symmetric := range []bool{true, false} {
			for _, w := range fenceWaits {
				for _, goProduces := range []bool{true, false} {
					creator, dir := "go-creates", "c-producer-to-go"
					if cCreates {
						creator = "c-creates"
					}
					if goProduces {
						dir = "go-producer-to-c"
					}
					name := fmt.Sprintf("%s-%s/%s/%s", creator, fencesName(symmetric), w.name, dir)
					t.Run(name, func(t *testing.T) {
						fenceStream(t, bin, cCreates, symmetric, w, goProduces, count)
					})
				}
			}
		}
	}
}

func fenceStream(t *testing.T, bin string, cCreates, symmetric bool, w fenceWait, goProduces bool, count int) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	key := shmtest.Key(t)
	const size, slots = 64, 8
	asym := wantAsymmetric(t, symmetric)
	opts := ring.Options{Wait: w.ws, Liveness: cLiveness}

	var r *ring.Ring
	closed := false
	cleanup := func() {
		if r != nil && !closed {
			_ = r.Segment().Remove()
			closeRing(t, r)
		}
	}
	t.Cleanup(cleanup)
	if !cCreates {
		var err error
		r, err = ring.Create(shmseg.Key(key), ring.Config{MaxMessage: size, SlotSize: ring.SlotSizeFor(size), Slots: slots,
			SymmetricFences: symmetric, Options: opts})
		require.NoError(t, err)
	}

	cRole := "consumer"
	if !goProduces {
		cRole = "producer"
	}
	args := append([]string{"-key", hexKey(key), "-size", strconv.Itoa(size), "-slots", strconv.Itoa(slots),
		"-timeout", "60s"}, w.cArgs...)
	if cCreates && symmetric {
		args = append(args, "-symmetric")
	}
	if goProduces {
		args = append(args, "-expect", strconv.Itoa(count))
	} else {
		args = append(args, "-count", strconv.Itoa(count))
	}
	cp := start(t, ctx, filepath.Join(bin, cRole), args...)

	if cCreates {
		waitUntil(t, ctx, "the C "+cRole+" to create the ring", func() bool {
			var err error
			r, err = ring.Open(shmseg.Key(key), opts)
			if err != nil && !errors.Is(err, shmseg.ErrNotExist) && !errors.Is(err, ring.ErrNotReady) {
				t.Fatalf("opening the ring the C %s made: %v\n%v", cRole, err, cp)
			}
			return err == nil
		})
	}
	require.Equal(t, asym, r.Stats().AsymmetricFences, "Go's view of the ring's fences")

	var (
		p *ring.Producer
		c *ring.Consumer
	)
	if goProduces {
		var err error
		p, err = r.Producer()
		require.NoError(t, err)
		// The C consumer sleeps on the empty ring: in an asymmetric one,
		// after a membarrier (the producer has not answered anything).
		waitUntil(t, ctx, "the C consumer to sleep on the empty ring", func() bool {
			return r.Stats().Consumer.Waits > 0
		})
	} else {
		var err error
		c, err = r.Consumer()
		require.NoError(t, err)
		waitUntil(t, ctx, "the C producer to sleep on the full ring", func() bool {
			return r.Stats().Producer.Waits > 0
		})
	}

	var goMessages uint64
	if goProduces {
		_, err := produce(ctx, p, 0, count, size, false, nil)
		require.NoError(t, err, "%v", cp)
		require.NoError(t, p.Close())
		goMessages = uint64(count)
	} else {
		v := &checker{size: size}
		require.NoError(t, consume(ctx, c, v, nil), "%v", cp)
		goMessages = v.messages
	}
	require.Equal(t, 0, cp.ExitCode(), "%v", cp)
	require.Equal(t, uint64(count), goMessages)

	sum := summary(t, cp)
	require.Equal(t, "ok", sum["status"], "%v", cp)
	require.Equal(t, int64(count), num(t, sum, "messages"))
	require.Equal(t, fencesName(!asym), sum["fences"], "C's view of the ring's fences")
	require.Equal(t, int64(b2u(cCreates)), num(t, sum, "created"), "%v", cp)
	st := r.Stats()
	require.Equal(t, asym, st.AsymmetricFences)
	require.NotZero(t, st.Producer.Waits+st.Consumer.Waits)
	require.NotZero(t, st.Producer.Wakes+st.Consumer.Wakes)

	// The C side slept before the Go side moved. In an asymmetric ring
	// that sleep called membarrier; in a symmetric one nothing does.
	mb := num(t, sum, "membarriers")
	if asym {
		require.Positive(t, mb, "the C %s slept without membarrier in an asymmetric ring", cRole)
	} else {
		require.Zero(t, mb, "membarrier in a ring with symmetric fences")
	}

	// The fence words, read before the Go handle unmaps the segment. The
	// C side asked for full fences in futex mode, before the Go side's
	// first publication woke it: a Go waker in an asymmetric ring answers
	// that wake; in a symmetric ring it publishes with full fences
	// already and answers nothing; in adaptive mode nobody asks.
	b, err := r.Segment().Bytes()
	require.NoError(t, err)
	word := func(name string) uint32 { return binary.LittleEndian.Uint32(b[ring.FieldOffset(name):]) }
	goAnswer, cAnswer := "producer_fenced", "consumer_fenced"
	if !goProduces {
		goAnswer, cAnswer = cAnswer, goAnswer
	}
	futex := w.ws.Mode == ring.WaitFutex
	require.Equal(t, b2u(asym && futex), word(goAnswer), "the Go side's answer to the C side's request")
	if !asym || !futex {
		require.Zero(t, word(cAnswer), "the C side's answer")
	}
	t.Logf("%d messages; C %s: membarriers=%d waits=%s wakes=%s; Go waits %d wakes %d; answers: Go %d, C %d",
		count, cRole, mb, sum["waits"], sum["wakes"],
		st.Producer.Waits+st.Consumer.Waits-uint64(num(t, sum, "waits")),
		st.Producer.Wakes+st.Consumer.Wakes-uint64(num(t, sum, "wakes")), word(goAnswer), word(cAnswer))
	closed = true
	closeRing(t, r)
}

// openerProgram opens the ring at the key given as its argument with
// shmring_open and prints "open RC asymmetric=0|1" (the flag only on
// success).
const openerProgram = `#include "shmring.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	struct shmring r;
	struct shmring_options o;
	struct shmring_stats st;
	int rc;
	if (argc != 2)
		return 2;
	shmring_options_default(&o);
	o.ready_timeout_ns = 50000000;
	rc = shmring_open(&r, (key_t)(int32_t)(uint32_t)strtoul(argv[1], NULL, 0), &o);
	if (rc != 0) {
		printf("open %d %s\n", rc, shmring_strerror(rc));
		return 0;
	}
	shmring_stats(&r, &st);
	printf("open 0 asymmetric=%d\n", st.asymmetric_fences);
	return shmring_close(&r) == 0 ? 0 : 1;
}
`

// C's codes for the refusals below (enum shmring_status).
const (
	cOK       = 0
	cEVersion = -1009
	cELayout  = -1010
)

// TestOpenRefusedByBoth: a ring in a real segment, made by Go, then
// changed the way a peer of another version would have written it, is
// refused by the Go opener and by the C one alike: major versions 1 (which
// lacked the fence flag, and whose processes would ignore it), 2 (which
// lacked fragments, and whose processes would take one for a corrupt
// length), 3 (which lacked lap marks, and whose processes would take one
// for part of the length) and 5; a flags bit that version 4.0 does not
// define; a max_message out of range (0, above the limit, or longer than a
// slot's payload in slots too small for fragments); and cursors more than a
// ring apart. Cursors with tail up to a ring past head, which a consumer
// that takes slots by their lap marks leaves if the producer dies before
// it stores head, are accepted by both. The unchanged ring, of either
// fences, is accepted by both, which agree on the flag.
func TestOpenRefusedByBoth(t *testing.T) {
	bin := buildC(t, "opener.c", openerProgram)
	le := binary.LittleEndian

	for _, tc := range []struct {
		name      string
		symmetric bool
		slotSize  int // 0: 64
		poke      func(t *testing.T, b []byte)
		goErr     error  // nil: Go opens it
		goSays    string // in Go's error
		cCode     int
	}{
		{name: "asymmetric unchanged", cCode: cOK},
		{name: "symmetric unchanged", symmetric: true, cCode: cOK},
		{name: "major 1", poke: func(t *testing.T, b []byte) { le.PutUint16(b[ring.FieldOffset("major"):], 1) },
			goErr: ring.ErrVersion, goSays: "layout version 1.", cCode: cEVersion},
		{name: "major 2", poke: func(t *testing.T, b []byte) { le.PutUint16(b[ring.FieldOffset("major"):], 2) },
			goErr: ring.ErrVersion, goSays: "layout version 2.", cCode: cEVersion},
		{name: "major 3", poke: func(t *testing.T, b []byte) { le.PutUint16(b[ring.FieldOffset("major"):], 3) },
			goErr: ring.ErrVersion, goSays: "layout version 3.", cCode: cEVersion},
		{name: "major 5", poke: func(t *testing.T, b []byte) { le.PutUint16(b[ring.FieldOffset("major"):], 5) },
			goErr: ring.ErrVersion, goSays: "layout version 5.", cCode: cEVersion},
		{name: "tail a ring past head", poke: func(t *testing.T, b []byte) {
			le.PutUint64(b[ring.FieldOffset("head"):], 7)
			le.PutUint64(b[ring.FieldOffset("tail"):], 11)
		}, cCode: cOK},
		{name: "tail more than a ring past head", poke: func(t *testing.T, b []byte) {
			le.PutUint64(b[ring.FieldOffset("head"):], 7)
			le.PutUint64(b[ring.FieldOffset("tail"):], 12)
		}, goErr: ring.ErrCorrupt, goSays: "cursors head 7 tail 12", cCode: cECorrupt},
		{name: "head more than a ring past tail", poke: func(t *testing.T, b []byte) {
			le.PutUint64(b[ring.FieldOffset("head"):], 12)
			le.PutUint64(b[ring.FieldOffset("tail"):], 7)
		}, goErr: ring.ErrCorrupt, goSays: "cursors head 12 tail 7", cCode: cECorrupt},
		{name: "max_message 0", poke: func(t *testing.T, b []byte) { le.PutUint64(b[ring.FieldOffset("max_message"):], 0) },
			goErr: ring.ErrLayout, goSays: "max_message 0", cCode: cELayout},
		{name: "max_message above the limit", poke: func(t *testing.T, b []byte) {
			le.PutUint64(b[ring.FieldOffset("max_message"):], ring.MaxMessageLimit+1)
		}, goErr: ring.ErrLayout, goSays: "max_message 1099511627777", cCode: cELayout},
		{name: "max_message at the limit", poke: func(t *testing.T, b []byte) {
			le.PutUint64(b[ring.FieldOffset("max_message"):], ring.MaxMessageLimit)
		}, cCode: cOK},
		{name: "max_message past an 8-byte slot", slotSize: 8, poke: func(t *testing.T, b []byte) {
			le.PutUint64(b[ring.FieldOffset("max_message"):], 5)
		}, goErr: ring.ErrLayout, goSays: "max_message 5", cCode: cELayout},
		{name: "unknown flag bit", poke: func(t *testing.T, b []byte) {
			at := ring.FieldOffset("flags")
			le.PutUint32(b[at:], le.Uint32(b[at:])|1<<7)
		}, goErr: ring.ErrLayout, goSays: "flags 0x8", cCode: cELayout},
		{name: "unknown flag bit, symmetric", symmetric: true, poke: func(t *testing.T, b []byte) {
			le.PutUint32(b[ring.FieldOffset("flags"):], 1<<31)
		}, goErr: ring.ErrLayout, goSays: "flags 0x80000000", cCode: cELayout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			key := shmtest.Key(t)
			slotSize := cmp.Or(tc.slotSize, 64)
			r, err := ring.Create(shmseg.Key(key), ring.Config{SlotSize: slotSize, Slots: 4, SymmetricFences: tc.symmetric})
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = r.Segment().Remove()
				closeRing(t, r)
			})
			asym := wantAsymmetric(t, tc.symmetric)
			require.Equal(t, asym, r.Stats().AsymmetricFences)
			if tc.poke != nil {
				b, err := r.Segment().Bytes()
				require.NoError(t, err)
				tc.poke(t, b)
			}

			g, err := ring.Open(shmseg.Key(key), ring.Options{ReadyTimeout: 50 * time.Millisecond})
			if tc.goErr == nil {
				require.NoError(t, err)
				require.Equal(t, asym, g.Stats().AsymmetricFences)
				require.NoError(t, g.Close())
			} else {
				require.ErrorIs(t, err, tc.goErr)
				require.Contains(t, err.Error(), tc.goSays)
			}

			out, err := exec.CommandContext(ctx, bin, hexKey(key)).CombinedOutput()
			require.NoError(t, err, "%s", out)
			f := strings.Fields(string(out))
			require.GreaterOrEqual(t, len(f), 3, "%s", out)
			require.Equal(t, "open", f[0], "%s", out)
			code, err := strconv.Atoi(f[1])
			require.NoError(t, err, "%s", out)
			require.Equal(t, tc.cCode, code, "shmring_open: %s", out)
			if tc.cCode == cOK {
				require.Equal(t, fmt.Sprintf("asymmetric=%d", b2u(asym)), f[2], "C's view of the flag")
			}
		})
	}
}

// noMembarrierProgram denies itself membarrier(2) with a seccomp filter
// (EPERM), as a sandbox might, and then:
//
//	claim KEY: opens the ring at KEY and tries to claim the consumer role;
//	  prints "claim RC errno=E" (E: the handle's membarrier_errno);
//	create KEY: prints "register RC" (shmring_membarrier_register), creates
//	  a ring at KEY with the default options, prints "create asymmetric=0|1",
//	  claims the consumer role, prints "claim RC errno=E", removes the ring.
//
// It prints "seccomp RC" and exits 3 if the filter cannot be installed.
const noMembarrierProgram = `#include "shmring.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>

static int deny_membarrier(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog;
	prog.len = (unsigned short)(sizeof f / sizeof f[0]);
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct shmring r;
	struct shmring_stats st;
	key_t key;
	int rc;
	if (argc != 3)
		return 2;
	key = (key_t)(int32_t)(uint32_t)strtoul(argv[2], NULL, 0);
	if ((rc = deny_membarrier()) != 0) {
		printf("seccomp %d\n", rc);
		return 3;
	}
	if (strcmp(argv[1], "claim") == 0) {
		if ((rc = shmring_open(&r, key, NULL)) != 0) {
			printf("open %d\n", rc);
			return 1;
		}
		rc = shmring_consumer(&r);
		printf("claim %d errno=%d\n", rc, SHMRING_LOAD(&r.membarrier_errno));
		return shmring_close(&r) == 0 ? 0 : 1;
	}
	printf("register %d\n", shmring_membarrier_register());
	if ((rc = shmring_create(&r, key, 64, 4, 0, NULL)) != 0) {
		printf("create-failed %d\n", rc);
		return 1;
	}
	shmring_stats(&r, &st);
	printf("create asymmetric=%d\n", st.asymmetric_fences);
	rc = shmring_consumer(&r);
	printf("claim %d errno=%d\n", rc, SHMRING_LOAD(&r.membarrier_errno));
	shmring_remove(&r);
	return shmring_close(&r) == 0 ? 0 : 1;
}
`

// TestCWithoutMembarrier: a C process that membarrier(2) fails in (here a
// seccomp filter answering EPERM) is refused a role in an asymmetric ring,
// with SHMRING_EMEMBARRIER and the errno, and leaves the role free; when
// it creates a ring, it falls back to symmetric fences, in which it can
// claim a role.
func TestCWithoutMembarrier(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	bin := buildC(t, "nomb.c", noMembarrierProgram)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			t.Skipf("cannot install a seccomp filter here: %s", out)
		}
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	const cEMembarrier, eperm = -1017, 1

	if wantAsymmetric(t, false) {
		key := shmtest.Key(t)
		r, err := ring.Create(shmseg.Key(key), ring.Config{SlotSize: 64, Slots: 4})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = r.Segment().Remove()
			closeRing(t, r)
		})
		require.True(t, r.Stats().AsymmetricFences)
		require.Equal(t, fmt.Sprintf("claim %d errno=%d", cEMembarrier, eperm), run("claim", hexKey(key)))
		require.Zero(t, r.Stats().Consumer.PID, "a refused claim leaves the role free")
		_, err = r.Consumer()
		require.NoError(t, err, "the role is still free")
	}

	key := shmtest.Key(t)
	require.Equal(t, fmt.Sprintf("register %d\ncreate asymmetric=0\nclaim 0 errno=0", -eperm), run("create", hexKey(key)))
}
