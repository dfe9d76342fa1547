package ring_test

import (
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestInlining pins which functions of the fast paths the compiler inlines,
// as net/netip's inlining test does: each is on every message's way, and a
// change that makes one too large to inline adds a call, a frame and
// spills to every message without failing any other test. Run with -v to
// see the whole list; a function that stops inlining for a good reason
// leaves this list in the same commit, with the reason.
func TestInlining(t *testing.T) {
	out := compilerOutput(t, "-m")
	got := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m): can inline (\S+)`).FindAllStringSubmatch(string(out), -1) {
		got[m[1]] = true
	}
	var missing []string
	for _, fn := range mustInline {
		if !got[fn] {
			missing = append(missing, fn)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("no longer inlinable: %v", missing)
	}
	if testing.Verbose() {
		var all []string
		for fn := range got {
			all = append(all, fn)
		}
		slices.Sort(all)
		t.Logf("inlinable: %v", all)
	}
}

// mustInline: the ring's per-message work.
var mustInline = []string{
	"(*slots).publishCursor",
	"(*slots).store",
	"(*slots).begin",
	"(*slots).end",
	"(*slots).at",
	"(*slots).lend",
	"(*slots).settled",
	"(*slots).wakePeer",
	"(*Producer).put",
	"(*Producer).opened",
	"(*Consumer).refresh",
	"(*Consumer).refreshBatch",
	"Batch.Len",
	"Batch.Slot",
	"putSmall",
}

// TestStoreOrder checks, in the compiler's output, what the wake-up
// protocol needs of a cursor store that is a plain Go store
// (internal/platform/fence's store_amd64.go): in every call that
// publishes, the store is there (not dropped), and the load of the peer's
// sleeping flag (D) comes after it (C), before the call that may wake the
// peer. gc keeps that order (every memory operation is a link in one chain
// of memory states); this test is what says so for the compiler at hand.
func TestStoreOrder(t *testing.T) {
	funcs := compiledFuncs(t)
	for _, fn := range []string{"(*Producer).Send", "(*Producer).Commit", "(*Producer).publish", "(*Consumer).copyOut", "(*Consumer).release", "(*Consumer).Release"} {
		text := funcs[fn]
		require.NotEmpty(t, text, "no code for %s", fn)
		store, load, wake := -1, -1, -1
		for i, ins := range text {
			switch {
			case store < 0 && strings.Contains(ins, "fence/store_amd64.go") && strings.Contains(ins, "MOVQ"):
				store = i
			case store >= 0 && load < 0 && strings.Contains(ins, "sync/atomic/type.go") && strings.Contains(ins, "MOVL"):
				load = i
			case store >= 0 && strings.Contains(ins, "CALL") && strings.Contains(ins, "(*slots).settle"):
				wake = i
			}
		}
		require.GreaterOrEqual(t, store, 0, "%s: no plain cursor store", fn)
		require.Greater(t, load, store, "%s: no atomic load of the flag after the cursor store", fn)
		require.Greater(t, wake, load, "%s: the flag load is not before the call to settle", fn)
	}
}

// TestNoContextSpill: the per-message code of Recv (copyOut) and of
// RecvBatch (recvBatch's loop) touches no stack slot of a context or of
// max. Only fragments need the context, and an interface argument is
// stored to the stack on entry (two stores a message), a value needed
// after recvBatch's loop is kept across every fn call: both were so once
// fragments came, and cost every message for what one in a thousand
// needs.
func TestNoContextSpill(t *testing.T) {
	funcs := compiledFuncs(t)
	for _, fn := range []string{"(*Consumer).copyOut", "(*Consumer).recvBatch"} {
		text := funcs[fn]
		require.NotEmpty(t, text, "no code for %s", fn)
		for _, ins := range text {
			for _, arg := range []string{"ring.ctx+", "ring.max+"} {
				require.NotContains(t, ins, arg, "%s keeps an argument on the stack", fn)
			}
		}
	}
}

// compiledFuncs returns this package's functions as the compiler prints
// them (-S), each name (without the package path) to its instructions.
func compiledFuncs(t *testing.T) map[string][]string {
	out := compilerOutput(t, "-S")
	funcs := map[string][]string{}
	var cur string
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, " STEXT "); i >= 0 {
			cur = strings.TrimPrefix(line[:i], "github.com/shmring/shmring/ring.")
			continue
		}
		if cur != "" && strings.HasPrefix(line, "\t0x") {
			funcs[cur] = append(funcs[cur], line)
		}
	}
	return funcs
}

// compilerOutput builds this package with -gcflags=flag and returns what the
// compiler printed. The lists these tests check are linux/amd64's: on
// arm64 the cursor store is an assembly routine (STLR), and the
// publication step calling it is too costly to inline.
func compilerOutput(t *testing.T, flag string) []byte {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the compiled code checked here is linux/amd64's")
	}
	out, err := exec.Command(shmtest.GoTool(t), "build", "-gcflags="+flag, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=%s: %v\n%s", flag, err, out)
	}
	return out
}
