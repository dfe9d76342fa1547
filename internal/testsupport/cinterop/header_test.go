package cinterop_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// TestHeaderRefusesBadSetups: a language standard older than the header
// needs, or an include order that keeps _DEFAULT_SOURCE from taking effect,
// stops the build with the header's own #error, which names the cause and
// the fix, rather than with whatever the compiler trips on first
// (is_always_lock_free, an undeclared clock_gettime). Each refused setup
// has a control that differs in the one thing the message names, and
// builds.
func TestHeaderRefusesBadSetups(t *testing.T) {
	const (
		plain       = "#include \"shmring.h\"\nint main(void) { return 0; }\n"
		stdioFirst  = "#include <stdio.h>\n#include \"shmring.h\"\nint main(void) { return 0; }\n"
		definedLate = "#include <stdio.h>\n#define _DEFAULT_SOURCE 1\n#include \"shmring.h\"\nint main(void) { return 0; }\n"
	)
	for _, tc := range []struct {
		name  string
		cxx   bool
		flags []string
		src   string
		want  string // in the compiler's output; "" = must build
	}{
		{"c++14", true, []string{"-std=c++14"}, plain, "shmring.h needs C++17 or later"},
		{"c++17", true, []string{"-std=c++17"}, plain, ""},
		{"c99", false, []string{"-std=c99"}, plain, "shmring.h needs C11 or later"},
		{"gnu99", false, []string{"-std=gnu99"}, plain, "shmring.h needs C11 or later"},
		{"c11", false, []string{"-std=c11"}, plain, ""},
		{"stdio-first", false, []string{"-std=c11"}, stdioFirst,
			"a system header was included before shmring.h, so the _DEFAULT_SOURCE that shmring.h defines came too late"},
		{"stdio-first-D_DEFAULT_SOURCE", false, []string{"-std=c11", "-D_DEFAULT_SOURCE"}, stdioFirst, ""},
		{"stdio-first-gnu11", false, []string{"-std=gnu11"}, stdioFirst, ""}, // GNU modes imply _DEFAULT_SOURCE
		{"defined-late", false, []string{"-std=c11"}, definedLate,
			"_DEFAULT_SOURCE or _GNU_SOURCE was defined after a system header was included"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compiler, ext := shmtest.CC(t), ".c"
			if tc.cxx {
				compiler, ext = shmtest.CXX(t), ".cc"
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "main"+ext)
			require.NoError(t, os.WriteFile(src, []byte(tc.src), 0o600))
			args := append(append(append(compiler[1:len(compiler):len(compiler)], tc.flags...),
				"-Wall", "-Wextra", "-Werror", "-I", includeDir(t), "-c", "-o", filepath.Join(dir, "main.o")), src)
			out, err := exec.Command(compiler[0], args...).CombinedOutput()
			if tc.want == "" {
				require.NoError(t, err, "%s %s\n%s", compiler[0], strings.Join(args, " "), out)
				return
			}
			require.Error(t, err, "%s %s built; want it refused", compiler[0], strings.Join(args, " "))
			// The header's #error must be the first error, not one
			// among the consequences.
			first := firstError(string(out))
			require.Contains(t, first, tc.want, "first error of %s %s; all output:\n%s", compiler[0], strings.Join(args, " "), out)
		})
	}
}

// firstError returns the first line of compiler output that reports an
// error (GCC and Clang both write "error:").
func firstError(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "error:") {
			return line
		}
	}
	return ""
}

// quickUse returns the code of the "Quick use" example in the comment at
// the top of include/shmring.h: the lines indented as code (" *     ")
// that follow the paragraph starting with "Quick use".
func quickUse(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shmtest.RepoRoot(t), "include", "shmring.h"))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	i := 0
	for i < len(lines) && !strings.HasPrefix(lines[i], " * Quick use") {
		i++
	}
	require.Less(t, i, len(lines), "no \"Quick use\" paragraph in include/shmring.h")
	for i < len(lines) && !strings.HasPrefix(lines[i], " *     ") {
		i++
	}
	var code strings.Builder
	for ; i < len(lines) && strings.HasPrefix(lines[i], " *     "); i++ {
		code.WriteString("\t" + strings.TrimPrefix(lines[i], " *     ") + "\n")
	}
	require.NotZero(t, code.Len(), "no code after \"Quick use\" in include/shmring.h")
	return code.String()
}

// quickUseProgram wraps the quick use in a consumer program: path is its
// argument, use prints each message on a line, and a failure is printed
// with shmring_strerror and exits 1.
func quickUseProgram(code string) string {
	return `#include "shmring.h"
#include <stdio.h>

static void use(const char *buf, size_t n)
{
	printf("%.*s\n", (int)n, buf);
	fflush(stdout);
}

static int consume(const char *path)
{
` + code + `}

int main(int argc, char **argv)
{
	int rc;
	if (argc != 2)
		return 2;
	rc = consume(argv[1]);
	if (rc != 0) {
		fprintf(stderr, "quick use: %s\n", shmring_strerror(rc));
		return 1;
	}
	return 0;
}
`
}

// TestHeaderQuickUse compiles the header's quick use as it is written, and
// runs it against a ring made in Go under the key shmseg.Ftok gives for the
// same path: once to the end of the stream (it must print every message
// and exit 0, and the ring must be gone), and once with a producer that
// dies (it must print what was sent, fail with the dead peer, and remove
// the ring, as its comment says it does).
func TestHeaderQuickUse(t *testing.T) {
	bin := buildC(t, "quick.c", quickUseProgram(quickUse(t)))

	// run starts the quick use on a fresh path and returns the path's key
	// and the process.
	run := func(t *testing.T, ctx context.Context) (shmseg.Key, *shmtest.Proc) {
		path, key := shmtest.FtokPath(t, 1)
		p := start(t, ctx, bin, path)
		// Most likely the program is now waiting for the ring to exist,
		// the case the quick use's loop is for; the test passes either
		// way.
		time.Sleep(100 * time.Millisecond)
		return key, p
	}

	t.Run("end-of-stream", func(t *testing.T) {
		shmtest.NoLeaks(t)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		key, quick := run(t, ctx)
		r, err := ring.Create(key, quickUseConfig())
		require.NoError(t, err)
		p, err := r.Producer()
		require.NoError(t, err)
		for _, m := range []string{"one", "two", "three"} {
			require.NoError(t, p.Send(ctx, []byte(m)))
		}
		require.NoError(t, p.Close())
		require.Equal(t, 0, quick.ExitCode(), "%v", quick)
		require.Equal(t, "one\ntwo\nthree\n", quick.Stdout.String())
		require.NoError(t, r.Close())
		_, err = shmseg.Open(key)
		require.ErrorIs(t, err, shmseg.ErrNotExist, "both sides closed: the ring is gone")
	})

	t.Run("producer-dies", func(t *testing.T) {
		shmtest.NoLeaks(t)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		key, quick := run(t, ctx)
		// This process creates the ring and holds no role; a child
		// process, the producer, sends and is killed.
		r, err := ring.Create(key, quickUseConfig())
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = r.Segment().Remove() // in case the quick use did not
			closeRing(t, r)
		})
		child := shmtest.Child(t, ctx, "producer", hexKey(int32(key)), "2", "20")
		require.NoError(t, child.Start())
		waitUntil(t, ctx, "the quick use to receive both messages", func() bool {
			return r.Stats().Consumer.Messages == 2
		})
		require.NoError(t, child.Process.Kill())
		_ = child.Wait()

		require.Equal(t, 1, quick.ExitCode(), "%v", quick)
		require.Equal(t, "quick use: peer process is dead\n", quick.Stderr.String(), "shmring_strerror(SHMRING_EPEERDEAD)")
		require.Equal(t, uint64(2), r.Stats().Consumer.Messages, "%v", quick)
		_, err = shmseg.Open(key)
		require.ErrorIs(t, err, shmseg.ErrNotExist, "the quick use removed the ring it gave up on")
	})
}

// quickUseConfig is the ring the Go side makes for the quick use.
func quickUseConfig() ring.Config {
	return ring.Config{SlotSize: ring.SlotSizeFor(64), Slots: 8}
}
