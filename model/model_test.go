package model

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

const modelFile = "wakeup.pml"

// maxDepth is pan's -m, the bound of its depth-first stack. The deepest
// configuration reaches about 1,100 steps; a search the bound cut short
// fails the test rather than passing on part of the state space.
const maxDepth = 100000

// A check is one verification run: spin -a with the defines, the verifier
// compiled for a safety search (assertions, invalid end states) or for the
// LTL claim "terminates" under weak fairness, and what it must report.
type check struct {
	name    string
	defines []string
	ltl     bool
	// want is "" when the search must complete with no error, else the
	// kind of error pan must find ("invalid end state", ...).
	want string
	// big: a search of millions of states, worth compiling the verifier
	// with -O1 (a second of gcc); the others are compiled with -O0, which
	// takes half a second and searches a million states in about one.
	big bool
}

var (
	noTimeout    = []string{"-DTIMEOUTS=0", "-DDEATH=0"}
	timeoutDeath = []string{"-DTIMEOUTS=1", "-DDEATH=1", "-DCHECK_DRAIN"}
	// The model's default is ASYM=1, the ring's default: asymmetric
	// fences, cursor stores through a store buffer, membarrier before
	// the re-check. ASYM=0 is Config.SymmetricFences.
	sym = "-DASYM=0"
	// The handshake (a WaitFutex sleeper asks the waker for full fences,
	// then skips the membarrier) with each side asking or not. Its
	// mutation needs a wake before both sides sleep, which a ring of one
	// slot gives with 3 messages (2 slots need 4, a larger search).
	handshake = []string{"-DFENCEREQ=2", "-DSLOTS=1"}
	// The doorbell (wakeup.pml, "THE DOORBELL"): a sleeper blocks on a
	// sticky eventfd counter instead of the futex, and with DEATH the
	// survivor's watcher sets gone and rings it (also when a side exits
	// after it finished). bellDeath has no timeouts: the ring of the
	// watcher alone must end the survivor.
	bell             = "-DBELL=1"
	bellDeathNoDrain = []string{bell, "-DTIMEOUTS=0", "-DDEATH=1"}
	bellDeath        = with(bellDeathNoDrain, "-DCHECK_DRAIN")
)

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

var checks = []check{
	// (c) with timeouts and the death of either side, both sides end.
	// The largest searches come first: the subtests run GOMAXPROCS at a
	// time, in this order.
	{name: "timeout-death/termination", defines: timeoutDeath, ltl: true, big: true},
	// The doorbell (BELL) with both ways of finding a dead peer: the
	// watcher's ring and the liveness check after a timeout.
	{name: "bell/timeout-death/termination", defines: with(timeoutDeath, bell), ltl: true, big: true},
	// Both sides asking (FENCEREQ=2 is about 4 times the states).
	{name: "handshake/timeout-death/safety", defines: with(timeoutDeath, "-DFENCEREQ=1", "-DSLOTS=1"), big: true},
	// The doorbell without timeouts: the watcher's ring alone ends the
	// survivor, and (CHECK_DRAIN) not before it read what the dead peer
	// published.
	{name: "bell/death/termination", defines: bellDeath, ltl: true, big: true},
	{name: "bell/death/safety", defines: bellDeath, big: true},
	{name: "sym/timeout-death/termination", defines: with(timeoutDeath, sym), ltl: true, big: true},
	{name: "timeout-death/safety", defines: timeoutDeath, big: true},
	{name: "bell/handshake/death/safety", defines: with(bellDeath, "-DFENCEREQ=1", "-DSLOTS=1"), big: true},
	{name: "sym/timeout-death/safety", defines: with(timeoutDeath, sym), big: true},
	{name: "bell/sym/death/termination", defines: with(bellDeath, sym), ltl: true},
	{name: "bell/sym/death/safety", defines: with(bellDeath, sym)},

	// (a) delivery in order, no deadlock; (b) no lost wake-up: without
	// timeouts a lost wake-up blocks a side for ever. With asymmetric
	// fences (the default) and symmetric ones.
	{name: "no-timeout/safety", defines: noTimeout},
	{name: "no-timeout/termination", defines: noTimeout, ltl: true},
	{name: "sym/no-timeout/safety", defines: with(noTimeout, sym)},
	{name: "sym/no-timeout/termination", defines: with(noTimeout, sym), ltl: true},
	{name: "handshake/no-timeout/safety", defines: with(noTimeout, handshake...)},
	{name: "bell/no-timeout/safety", defines: with(noTimeout, bell)},
	{name: "bell/no-timeout/termination", defines: with(noTimeout, bell), ltl: true},
	{name: "bell/handshake/no-timeout/safety", defines: with(with(noTimeout, bell), handshake...)},

	// Each mutation breaks the protocol; the model must catch it, with
	// asymmetric fences and with symmetric ones.
	{name: "mutation/no-recheck", defines: with(noTimeout, "-DMUT_NO_RECHECK"), want: "invalid end state"},
	{name: "mutation/no-seq-bump", defines: with(noTimeout, "-DMUT_NO_SEQ_BUMP"), want: "invalid end state"},
	{name: "mutation/split-word", defines: with(noTimeout, "-DMUT_SPLIT_WORD"), want: "invalid end state"},
	{name: "mutation/no-liveness", defines: with(timeoutDeath, "-DMUT_NO_LIVENESS"), ltl: true, want: "acceptance cycle"},
	{name: "sym/mutation/no-recheck", defines: with(noTimeout, sym, "-DMUT_NO_RECHECK"), want: "invalid end state"},
	{name: "sym/mutation/no-seq-bump", defines: with(noTimeout, sym, "-DMUT_NO_SEQ_BUMP"), want: "invalid end state"},
	{name: "sym/mutation/split-word", defines: with(noTimeout, sym, "-DMUT_SPLIT_WORD"), want: "invalid end state"},
	{name: "sym/mutation/no-liveness", defines: with(timeoutDeath, sym, "-DMUT_NO_LIVENESS"), ltl: true, want: "acceptance cycle"},

	// waitFor once reported the producer dead with a message it published
	// just before dying still unread; it now polls once more after
	// finding the peer dead (wakeup.pml, "THE FINAL POLL").
	{name: "mutation/no-final-poll", defines: with(timeoutDeath, "-DMUT_NO_FINAL_POLL"), want: "assertion violated"},
	{name: "sym/mutation/no-final-poll", defines: with(timeoutDeath, sym, "-DMUT_NO_FINAL_POLL"), want: "assertion violated"},

	// Asymmetric fences only. Without the sleeper's membarrier a cursor
	// store still in the waker's store buffer is missed by the re-check
	// while the waker's flag load missed the flag: both sides sleep for
	// ever (wakeup.pml, MUT_NO_MEMBARRIER; it needs MSGS > SLOTS, the
	// default). A waker that answers the request for full fences and
	// goes on with release stores loses a wake-up the same way.
	{name: "mutation/no-membarrier", defines: with(noTimeout, "-DMUT_NO_MEMBARRIER"), want: "invalid end state"},
	{name: "handshake/mutation/no-membarrier", defines: with(with(noTimeout, handshake...), "-DMUT_NO_MEMBARRIER"), want: "invalid end state"},
	{name: "handshake/mutation/no-fence-switch", defines: with(with(noTimeout, handshake...), "-DMUT_NO_FENCE_SWITCH"), want: "invalid end state"},

	// The doorbell's own mutations (wakeup.pml, "THE DOORBELL"): a ring
	// that is lost when nobody is blocked in the read; a watcher that sets
	// gone but does not ring, or rings before it sets gone. Each leaves a
	// side asleep for ever, with asymmetric fences and symmetric ones.
	{name: "bell/mutation/not-sticky", defines: with(noTimeout, bell, "-DMUT_BELL_NOT_STICKY"), want: "invalid end state"},
	{name: "bell/mutation/no-gone-ring", defines: with(bellDeath, "-DMUT_BELL_NO_GONE_RING"), want: "invalid end state"},
	{name: "bell/mutation/gone-late", defines: with(bellDeath, "-DMUT_BELL_GONE_LATE"), want: "invalid end state"},
	{name: "bell/sym/mutation/not-sticky", defines: with(noTimeout, bell, sym, "-DMUT_BELL_NOT_STICKY"), want: "invalid end state"},
	{name: "bell/sym/mutation/no-gone-ring", defines: with(bellDeath, sym, "-DMUT_BELL_NO_GONE_RING"), want: "invalid end state"},
	{name: "bell/sym/mutation/gone-late", defines: with(bellDeath, sym, "-DMUT_BELL_GONE_LATE"), want: "invalid end state"},
	// The bell replaces the futex's compare, not the flag's Dekker pair,
	// the membarrier, the handshake or the final poll (now also after
	// gone): without each, the bell model still loses a wake-up or a
	// message.
	{name: "bell/mutation/no-recheck", defines: with(noTimeout, bell, "-DMUT_NO_RECHECK"), want: "invalid end state"},
	{name: "bell/mutation/no-membarrier", defines: with(noTimeout, bell, "-DMUT_NO_MEMBARRIER"), want: "invalid end state"},
	{name: "bell/handshake/mutation/no-fence-switch", defines: with(with(noTimeout, bell), with(handshake, "-DMUT_NO_FENCE_SWITCH")...), want: "invalid end state"},
	{name: "bell/mutation/no-final-poll", defines: with(bellDeath, "-DMUT_NO_FINAL_POLL"), want: "assertion violated"},
	// Without CHECK_DRAIN the same mutation shows the other use of that
	// poll: a peer that closed and then exited is reported dead.
	{name: "bell/mutation/no-final-poll/exit", defines: with(bellDeathNoDrain, "-DMUT_NO_FINAL_POLL"), want: "assertion violated pdead"},
}

// tools finds spin and the C compiler. Spin preprocesses the model with
// gcc; the verifier is compiled with $CC if set, else gcc. Without them the
// test skips, unless SHMRING_REQUIRE_SPIN=1 (as `make test` sets), when it
// fails.
func tools(t *testing.T) (spin string, cc []string) {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		msg := what + ": run `make setup` (or `apt-get install spin gcc`)"
		if os.Getenv("SHMRING_REQUIRE_SPIN") == "1" {
			t.Fatal(msg + "; SHMRING_REQUIRE_SPIN=1 forbids skipping")
		}
		t.Skip(msg)
	}
	spin, err := exec.LookPath("spin")
	if err != nil {
		missing("spin (the Promela model checker) is not installed")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		missing("gcc is not installed (spin preprocesses with it, and the verifier is C)")
	}
	cc, err = shmtest.FindCompiler("CC", "gcc")
	if err != nil {
		missing(err.Error())
	}
	return spin, cc
}

func TestModel(t *testing.T) {
	spin, cc := tools(t)
	src, err := os.ReadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			verify(t, spin, cc, src, c)
		})
	}
}

// result is what pan reports.
type result struct {
	errors, states, depth int
	seconds               float64
	firstError            string // "pan:1: ..." line, if any
	out                   string
}

var (
	reErrors  = regexp.MustCompile(`errors: (\d+)`)
	reStates  = regexp.MustCompile(`(\d+) states, stored`)
	reDepth   = regexp.MustCompile(`depth reached (\d+)`)
	reElapsed = regexp.MustCompile(`elapsed time ([0-9.e+-]+) seconds`)
	reFirst   = regexp.MustCompile(`(?m)^pan:1: .*$`)
)

func parse(out string) (result, error) {
	r := result{out: out}
	num := func(re *regexp.Regexp, what string) (int, error) {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("pan's output has no %s", what)
		}
		return strconv.Atoi(m[1])
	}
	var errs [3]error
	r.errors, errs[0] = num(reErrors, "error count")
	r.states, errs[1] = num(reStates, "state count")
	r.depth, errs[2] = num(reDepth, "depth")
	if m := reElapsed.FindStringSubmatch(out); m != nil {
		r.seconds, _ = strconv.ParseFloat(m[1], 64)
	}
	r.firstError = reFirst.FindString(out)
	return r, errors.Join(errs[:]...)
}

func verify(t *testing.T, spin string, cc []string, src []byte, c check) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, modelFile), src, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}

	start := time.Now()
	run(spin, append(with(c.defines, "-a"), modelFile)...)
	opt := "-O0"
	if c.big {
		opt = "-O1"
	}
	build := with(cc[1:], opt, "-w", "-o", "pan")
	if !c.ltl {
		build = append(build, "-DSAFETY", "-DNOCLAIM")
	}
	run(cc[0], append(build, "pan.c")...)
	pan := []string{"-m" + strconv.Itoa(maxDepth), "-n"}
	if c.ltl {
		pan = append(pan, "-a", "-f")
	}
	r, err := parse(run("./pan", pan...))
	if err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	t.Logf("%s: %d states, depth %d, %d errors, pan %.2fs, all %.1fs %s",
		strings.Join(c.defines, " "), r.states, r.depth, r.errors, r.seconds,
		time.Since(start).Seconds(), r.firstError)

	if c.want != "" {
		if r.errors == 0 || !strings.Contains(r.firstError, c.want) {
			t.Fatalf("the model did not catch it: want %q, pan found %d errors (%q)\n%s",
				c.want, r.errors, r.firstError, r.out)
		}
		return
	}
	if r.errors != 0 {
		trail := run(spin, append(with(c.defines, "-t", "-p", "-g"), modelFile)...)
		t.Fatalf("pan found %d errors: %s\n%s\ncounterexample:\n%s", r.errors, r.firstError, r.out, tail(trail, 120))
	}
	for _, bad := range []string{"search depth too small", "Search not completed", "out of memory"} {
		if strings.Contains(r.out, bad) {
			t.Fatalf("the search was incomplete (%q)\n%s", bad, r.out)
		}
	}
	if !strings.Contains(r.out, "Full statespace search") {
		t.Fatalf("not a full state-space search\n%s", r.out)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
