//go:build linux

// IPC namespaces (CLONE_NEWIPC) and Pdeathsig are Linux's.

package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

const (
	roleLeaks         = "leaks"
	roleCreationCrash = "creation-crash"
	rolePlainSegment  = "plain-segment"
)

func init() {
	childRoles[roleLeaks] = leakScenario
	childRoles[roleCreationCrash] = creationCrashScenario
	childRoles[rolePlainSegment] = plainSegment
}

// inIPCNamespace runs the test binary as a child in role, in a fresh IPC
// namespace of its own, and returns its output; it skips the test if the
// system does not allow that.
func inIPCNamespace(t *testing.T, role string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel)
	cmd := shmtest.Child(t, ctx, role, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	if os.Geteuid() != 0 {
		// An unprivileged user may make an IPC namespace inside a user
		// namespace of its own, where the kernel allows it.
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
	}
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Skipf("cannot run in an IPC namespace of its own (%v): rm -stale would reach other tests' rings", err)
		}
	}
	return out, err
}

func opsBinaries(t testing.TB) []string {
	dir := shmtest.GoBuild(t, "github.com/shmring/shmring/cmd/...")
	return []string{filepath.Join(dir, "producer"), filepath.Join(dir, "consumer"), filepath.Join(dir, "shmring")}
}

// TestNoLeaksAfterKills (RELIABILITY item 14): the real commands (producer
// and consumer, which create their ring on first use and remove it when
// they end or find their peer dead) run in pairs, and one side, the other,
// or both are killed with SIGKILL at random times, from the first
// millisecond on. Then "shmring rm -stale" cleans up, the command it gives
// for each segment of zeros it lists is run (a creator killed before its
// first store leaves one), and no segment of the runs' keys may remain:
// /proc/sysvipc/shm holds nothing beyond the baseline taken before.
//
// "rm -stale" removes every stale ring it can see, so the scenario runs in
// a fresh IPC namespace of its own (a child process with CLONE_NEWIPC),
// where it sees only its own rings and cannot touch those of tests running
// alongside.
func TestNoLeaksAfterKills(t *testing.T) {
	shmtest.NoLeaks(t)
	runs := knob(t, envFaultRuns, 40, 12)
	seed := strconv.FormatUint(uint64(time.Now().UnixNano()), 10)
	out, err := inIPCNamespace(t, roleLeaks, append([]string{strconv.FormatInt(runs, 10), seed}, opsBinaries(t)...)...)
	t.Logf("%s", out)
	require.NoError(t, err, "leak scenario (its stderr is above)")
}

// TestRmStaleCreationCrash (RELIABILITY item 14): "shmring create", built
// with the crash points, is killed at each step of ring.Create; what each
// kill leaves is either removed by "shmring rm -stale" (the ring's magic is
// there: a ring whose creator died while formatting it) or listed by it
// with the exact command that removes it (zeros: nothing tells them from
// another program's segment), and that command removes it. A page of zeros
// as "ipcmk -M 4096" leaves one (mode 0644, its creator gone) survives rm
// -stale, and a live creator's zeros are kept. The scenario runs in an IPC
// namespace of its own, like TestNoLeaksAfterKills, because rm -stale acts
// on the whole namespace.
func TestRmStaleCreationCrash(t *testing.T) {
	shmtest.NoLeaks(t)
	shmring := buildBinary(t, "github.com/shmring/shmring/cmd/shmring", "shmring_crashpoints")
	out, err := inIPCNamespace(t, roleCreationCrash, shmring)
	t.Logf("%s", out)
	require.NoError(t, err, "creation crash scenario (its stderr is above)")
}

// plainSegment makes a segment as a program other than shmring would, and
// exits. Arguments: KEY SIZE MODE (octal).
func plainSegment(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want KEY SIZE MODE, got %q", args)
	}
	key, err1 := strconv.ParseUint(args[0], 0, 32)
	size, err2 := strconv.Atoi(args[1])
	mode, err3 := strconv.ParseUint(args[2], 8, 32)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	_, err := shmseg.Create(shmseg.Key(int32(uint32(key))), size, &shmseg.CreateOptions{Mode: os.FileMode(mode)})
	return err
}

// removeCommands returns the commands "shmring rm -stale" printed (out) to
// remove the segments it listed and left, by the segment's name
// ("KEY (id N)").
func removeCommands(out []byte) map[string]string {
	cmds := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(l, "skip   ")
		name, rest, ok2 := strings.Cut(rest, ": ")
		_, cmd, ok3 := strings.Cut(rest, "; to remove it: ")
		if ok && ok2 && ok3 {
			cmds[name] = cmd
		}
	}
	return cmds
}

// runTold runs a command rm -stale printed, with the shmring command at
// path shmring, and prints what it says.
func runTold(shmring, cmd string) error {
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "shmring" {
		return fmt.Errorf("%q is not a shmring command", cmd)
	}
	out, err := exec.Command(shmring, f[1:]...).CombinedOutput()
	fmt.Printf("%s:\n%s", cmd, out)
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", cmd, err, out)
	}
	return nil
}

// Keys of creationCrashScenario, in its own IPC namespace: one per
// creation crash point, from keyCrashed on, and two more.
const (
	keyCrashed = shmtest.KeyBase | 0x1230
	keyForeign = shmtest.KeyBase | 0x1240 // another program's page of zeros, its creator gone
	keyCreator = shmtest.KeyBase | 0x1241 // zeros whose creator is alive: the scenario itself
)

// createPoints are ring.Create's crash points, in its order, and whether a
// creator killed there leaves the ring's magic (else zeros).
var createPoints = []struct {
	name  string
	magic bool
}{
	{"create-after-shmget", false},
	{"create-after-attach", false},
	{"create-after-mark", true},
	{"create-before-ready", true},
}

// creationCrashScenario, in the child's own IPC namespace: see
// TestRmStaleCreationCrash. Argument: the path of the shmring command
// built with the crash points.
func creationCrashScenario(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want SHMRING, got %q", args)
	}
	shmring := args[0]
	ids := map[uint32]shmseg.ID{}
	for i, p := range createPoints {
		key := keyCrashed + uint32(i)
		cmd := exec.Command(shmring, "create", "-slots", "64", fmt.Sprintf("%#x", key))
		cmd.Env = append(os.Environ(), "SHMRING_CRASH="+p.name)
		out, err := cmd.CombinedOutput()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			return fmt.Errorf("shmring create with SHMRING_CRASH=%s: want death by SIGKILL, got %v\n%s", p.name, err, out)
		}
	}
	// Another program's segment, made as "ipcmk -M 4096" makes one, by a
	// process that then exits.
	foreign, err := shmtest.ChildCommand(context.Background(), rolePlainSegment, fmt.Sprintf("%#x", keyForeign), "4096", "0644")
	if err != nil {
		return err
	}
	if out, err := foreign.CombinedOutput(); err != nil {
		return fmt.Errorf("making segment %#x: %v\n%s", keyForeign, err, out)
	}
	// A live creator between shmget and its header: this process.
	live, err := shmseg.Create(shmseg.Key(int32(keyCreator)), 4096, nil)
	if err != nil {
		return err
	}
	defer func() { _ = shmseg.Remove(live) }()

	keys := []uint32{keyForeign, keyCreator}
	for i := range createPoints {
		keys = append(keys, keyCrashed+uint32(i))
	}
	for _, k := range keys {
		id, err := shmseg.Open(shmseg.Key(int32(k)))
		if err != nil {
			return fmt.Errorf("%#x: %w", k, err)
		}
		info, err := shmseg.Stat(id)
		if err != nil {
			return err
		}
		ids[k] = id
		fmt.Printf("segment %#x id %d: %d bytes, mode %#o, nattch %d, creator pid %d\n",
			k, id, info.Size, uint32(info.Mode.Perm()), info.Nattch, info.CPID)
		if info.Nattch != 0 {
			return fmt.Errorf("segment %#x: nattch %d, want 0", k, info.Nattch)
		}
	}
	if info, _ := shmseg.Stat(ids[keyForeign]); info == nil || info.Size != 4096 || info.Mode.Perm() != 0o644 {
		return fmt.Errorf("segment %#x: %+v, want 4096 bytes of mode 0644, as ipcmk -M 4096 makes", keyForeign, info)
	}

	out, err := exec.Command(shmring, "rm", "-stale").CombinedOutput()
	fmt.Printf("shmring rm -stale:\n%s", out)
	if err != nil {
		return err
	}
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	exists := func(k uint32) bool { _, err := shmseg.Stat(ids[k]); return err == nil }
	told := removeCommands(out)
	// The command rm -stale gives for k, run; or a problem.
	removeAsTold := func(k uint32, what string) {
		name := fmt.Sprintf("%#x (id %d)", k, ids[k])
		cmd, ok := told[name]
		if !ok {
			problem("%s: rm -stale did not list segment %s with a command that removes it", what, name)
			return
		}
		if want := fmt.Sprintf("shmring rm -force %#x", k); cmd != want {
			problem("%s: rm -stale says %q, want %q", what, cmd, want)
			return
		}
		if err := runTold(shmring, cmd); err != nil {
			problem("%s: %v", what, err)
		}
		if exists(k) {
			problem("%s: segment %s is still there after %s", what, name, cmd)
		}
	}
	for i, p := range createPoints {
		k := keyCrashed + uint32(i)
		what := "creator killed at " + p.name
		if !p.magic {
			if !exists(k) {
				problem("%s: rm -stale removed segment %#x of zeros", what, k)
			}
			removeAsTold(k, what)
			continue
		}
		want := fmt.Sprintf("removed %#x (id %d): never initialised, creator pid ", k, ids[k])
		if !strings.Contains(string(out), want) {
			problem("%s: rm -stale did not say %q", what, want)
		}
		if exists(k) {
			problem("%s: segment %#x (id %d, the ring's magic, creator gone, nattch 0) is still there after rm -stale", what, k, ids[k])
		}
	}
	if !exists(keyForeign) {
		problem("rm -stale removed another program's segment %#x (zeros, mode 0644, creator gone)", keyForeign)
	}
	want := fmt.Sprintf("keep   %#x (id %d): never initialised, but creator pid %d is alive", keyCreator, live, os.Getpid())
	if !strings.Contains(string(out), want) {
		problem("rm -stale did not say %q", want)
	}
	if !exists(keyCreator) {
		problem("rm -stale removed segment %#x of a live creator", keyCreator)
	}
	// On request, the foreign segment goes too.
	out, err = exec.Command(shmring, "rm", "-stale", "-zeroed").CombinedOutput()
	fmt.Printf("shmring rm -stale -zeroed:\n%s", out)
	if err != nil || exists(keyForeign) {
		problem("rm -stale -zeroed did not remove segment %#x: %v", keyForeign, err)
	}
	if !exists(keyCreator) {
		problem("rm -stale -zeroed removed segment %#x of a live creator", keyCreator)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// leakScenario runs in the child, in its own IPC namespace. Arguments: the
// number of runs, a random seed, and the paths of the producer, consumer
// and shmring commands.
func leakScenario(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("want RUNS SEED PRODUCER CONSUMER SHMRING, got %q", args)
	}
	runs, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	seed, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		return err
	}
	producer, consumer, shmring := args[2], args[3], args[4]
	fmt.Printf("seed %d\n", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>32|1))

	baseline, err := shmtest.Segments()
	if err != nil {
		return err
	}
	known := map[int]bool{}
	for _, s := range baseline {
		known[s.ID] = true
	}

	// Runs go eight at a time, each on its own key.
	type plan struct {
		key                  uint32
		killProd, killCons   bool
		prodDelay, consDelay time.Duration
		prodFirst            bool
		wait                 string
	}
	keys := map[uint32]bool{}
	plans := make([]plan, runs)
	for i := range plans {
		k := uint32(shmtest.KeyBase) | uint32(rng.IntN(1<<16))
		for keys[k] {
			k = uint32(shmtest.KeyBase) | uint32(rng.IntN(1<<16))
		}
		keys[k] = true
		which := rng.IntN(3) // 0: producer, 1: consumer, 2: both
		plans[i] = plan{
			key:       k,
			killProd:  which != 1,
			killCons:  which != 0,
			prodDelay: time.Duration(rng.Int64N(int64(60 * time.Millisecond))),
			consDelay: time.Duration(rng.Int64N(int64(60 * time.Millisecond))),
			prodFirst: rng.IntN(2) == 0,
			wait:      []string{"adaptive", "spin", "yield", "futex"}[rng.IntN(4)],
		}
	}
	var (
		mu       sync.Mutex
		problems []string
		killed   [3]int // producer only, consumer only, both
	)
	run := func(p plan) {
		key := fmt.Sprintf("%#x", p.key)
		start := func(path string, extra ...string) *exec.Cmd {
			cmd := exec.Command(path, append([]string{"-key", key, "-slots", "64", "-wait", p.wait, "-timeout", "2s", "-json"}, extra...)...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				mu.Lock()
				problems = append(problems, err.Error())
				mu.Unlock()
				return nil
			}
			return cmd
		}
		var prod, cons *exec.Cmd
		if p.prodFirst {
			prod = start(producer, "-count", "0")
			cons = start(consumer)
		} else {
			cons = start(consumer)
			prod = start(producer, "-count", "0")
		}
		if prod == nil || cons == nil {
			return
		}
		if p.killProd {
			time.AfterFunc(p.prodDelay, func() { _ = prod.Process.Kill() })
		}
		if p.killCons {
			time.AfterFunc(p.consDelay, func() { _ = cons.Process.Kill() })
		}
		// A survivor sees its peer dead (or never come) and ends by
		// itself, within a few liveness intervals or its -timeout.
		for _, c := range []*exec.Cmd{prod, cons} {
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = c.Process.Kill()
				<-done
				mu.Lock()
				problems = append(problems, fmt.Sprintf("key %s: %s did not end within 30s after its peer was killed", key, c.Path))
				mu.Unlock()
			}
		}
		mu.Lock()
		switch {
		case p.killProd && p.killCons:
			killed[2]++
		case p.killProd:
			killed[0]++
		default:
			killed[1]++
		}
		mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, p := range plans {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			run(p)
		})
	}
	wg.Wait()

	before, err := shmtest.Segments()
	if err != nil {
		return err
	}
	left := 0
	for _, s := range before {
		if !known[s.ID] && keys[uint32(s.Key)] {
			left++
		}
	}
	out, err := exec.Command(shmring, "rm", "-stale").CombinedOutput()
	if err != nil {
		problems = append(problems, fmt.Sprintf("shmring rm -stale: %v\n%s", err, out))
	}
	// Zeros left by a creator killed before its first store are listed
	// with the command that removes each: an operator runs it.
	told := removeCommands(out)
	for _, cmd := range told {
		if err := runTold(shmring, cmd); err != nil {
			problems = append(problems, err.Error())
		}
	}
	after, err := shmtest.Segments()
	if err != nil {
		return err
	}
	// Every segment the kills left must be gone now: rings nobody uses,
	// those whose creator was killed after its first store and before it
	// published the header (never initialised, removed once their creator
	// is gone), and those of a creator killed before its first store
	// (zeros, removed by the command rm -stale gave).
	var leaked []string
	for _, s := range after {
		if known[s.ID] || !(keys[uint32(s.Key)] || s.Key == 0) {
			continue
		}
		leaked = append(leaked, fmt.Sprintf("key %#x id %d size %d nattch %d creator pid %d", uint32(s.Key), s.ID, s.Size, s.Nattch, s.CPID))
	}
	rings, neverReady := 0, 0
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "removed ") && strings.Contains(l, ": never initialised, "):
			neverReady++
			fmt.Println(l)
		case strings.HasPrefix(l, "removed "):
			rings++
		}
	}
	fmt.Printf("%d runs in %v: killed the producer only %d, the consumer only %d, both %d; "+
		"%d segments left behind by the kills; shmring rm -stale removed %d rings and %d never initialised "+
		"(creator killed between its first store and publishing the header), and listed %d of zeros "+
		"(creator killed between shmget and its first store) with the command that removed them; %d segments remain\n",
		runs, time.Since(start).Round(time.Millisecond), killed[0], killed[1], killed[2],
		left, rings, neverReady, len(told), len(leaked))
	if len(leaked) > 0 {
		ls, _ := exec.Command(shmring, "ls", "-a").CombinedOutput()
		problems = append(problems, fmt.Sprintf("segments left after rm -stale:\n%s\nrm -stale said:\n%s\nshmring ls -a:\n%s",
			strings.Join(leaked, "\n"), out, ls))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}
