package ring_test

import (
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"testing"
)

// TestInlining pins which functions of the fast paths the compiler inlines,
// as net/netip's inlining test does: each is on every message's way, and a
// change that makes one too large to inline adds a call, a frame and
// spills to every message without failing any other test. Run with -v to
// see the whole list; a function that stops inlining for a good reason
// leaves this list in the same commit, with the reason.
func TestInlining(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		// On arm64 the cursor store is an assembly routine (STLR),
		// and the publication step calling it is too costly to inline.
		t.Skip("the list is for linux/amd64")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	out, err := exec.Command(goBin, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
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
	"(*Consumer).refresh",
	"Batch.Len",
	"Batch.Slot",
}
