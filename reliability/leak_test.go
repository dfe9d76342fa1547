package reliability_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

const (
	roleLeaks      = "leaks"
	roleNeverReady = "never-ready"
	roleUnfinished = "unfinished-creator"
)

func init() {
	childRoles[roleLeaks] = leakScenario
	childRoles[roleNeverReady] = neverReadyScenario
	childRoles[roleUnfinished] = unfinishedCreator
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
	return []string{
		buildBinary(t, "producer", "github.com/shmring/shmring/cmd/producer"),
		buildBinary(t, "consumer", "github.com/shmring/shmring/cmd/consumer"),
		buildBinary(t, "shmring", "github.com/shmring/shmring/cmd/shmring"),
	}
}

// TestNoLeaksAfterKills (RELIABILITY item 14): the real commands (producer
// and consumer, which create their ring on first use and remove it when
// they end or find their peer dead) run in pairs, and one side, the other,
// or both are killed with SIGKILL at random times, from the first
// millisecond on. Then "shmring rm -stale" cleans up, and no segment of
// the runs' keys may remain: /proc/sysvipc/shm holds nothing beyond the
// baseline taken before.
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

// TestRmStaleNeverInitialised (RELIABILITY item 14): a creator that dies
// after shmget and before it published the ring header leaves a segment of
// zeros, or a header with the magic and state 0, that nobody will finish.
// "shmring rm -stale" removes both once their creator is gone and nobody
// has them attached, and keeps the same segment while its creator lives
// (it may still be initialising). The scenario runs in an IPC namespace of
// its own, like TestNoLeaksAfterKills, because rm -stale acts on the whole
// namespace.
func TestRmStaleNeverInitialised(t *testing.T) {
	shmtest.NoLeaks(t)
	out, err := inIPCNamespace(t, roleNeverReady, opsBinaries(t)[2])
	t.Logf("%s", out)
	require.NoError(t, err, "never-initialised scenario (its stderr is above)")
}

// Keys of neverReadyScenario, in its own IPC namespace.
const (
	keyZeroed  = shmtest.KeyBase | 0x1234 // creator exited after shmget
	keyHalf    = shmtest.KeyBase | 0x1235 // creator killed after writing the magic
	keyCreator = shmtest.KeyBase | 0x1236 // creator alive: the scenario itself
)

// neverReadyScenario, in the child's own IPC namespace, makes the segments
// a creator killed before READY leaves (ring-sized, unattached, the creator
// gone) with creators that are processes of their own, and one whose
// creator is still alive; runs rm -stale; and fails unless exactly the
// first two are gone. Argument: the path of the shmring command.
func neverReadyScenario(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want SHMRING, got %q", args)
	}
	size, err := ring.SegmentSize(72, 64)
	if err != nil {
		return err
	}
	// A creator that exits right after shmget.
	zeroed := unfinishedCommand(keyZeroed, size, "exit")
	if err := zeroed.Run(); err != nil {
		return fmt.Errorf("creator of %#x: %w", keyZeroed, err)
	}
	// A creator killed while attached, after it wrote the magic.
	half := unfinishedCommand(keyHalf, size, "hang")
	stdout, err := half.StdoutPipe()
	if err != nil {
		return err
	}
	if err := half.Start(); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	_ = half.Process.Kill()
	_ = half.Wait() // reaped: its pid names no process now
	if line != "ready\n" {
		return fmt.Errorf("creator of %#x said %q (%v)", keyHalf, line, err)
	}
	// A live creator between shmget and its header: this process.
	live, err := shmseg.Create(shmseg.Key(int32(keyCreator)), size, nil)
	if err != nil {
		return err
	}
	defer func() { _ = shmseg.Remove(live) }()

	ids := map[uint32]shmseg.ID{}
	for _, k := range []uint32{keyZeroed, keyHalf, keyCreator} {
		id, err := shmseg.Open(shmseg.Key(int32(k)))
		if err != nil {
			return fmt.Errorf("%#x: %w", k, err)
		}
		info, err := shmseg.Stat(id)
		if err != nil {
			return err
		}
		ids[k] = id
		fmt.Printf("segment %#x id %d: %d bytes, nattch %d, creator pid %d\n", k, id, info.Size, info.Nattch, info.CPID)
		if info.Nattch != 0 {
			return fmt.Errorf("segment %#x: nattch %d, want 0", k, info.Nattch)
		}
	}
	out, err := exec.Command(args[0], "rm", "-stale").CombinedOutput()
	fmt.Printf("shmring rm -stale:\n%s", out)
	if err != nil {
		return err
	}
	var problems []string
	for _, k := range []uint32{keyZeroed, keyHalf} {
		want := fmt.Sprintf("removed %#x (id %d): never initialised, creator pid ", k, ids[k])
		if !strings.Contains(string(out), want) {
			problems = append(problems, fmt.Sprintf("rm -stale did not say %q", want))
		}
		if _, err := shmseg.Stat(ids[k]); err == nil {
			_ = shmseg.Remove(ids[k])
			problems = append(problems, fmt.Sprintf("segment %#x (id %d, never initialised, creator gone, nattch 0) is still there after rm -stale", k, ids[k]))
		}
	}
	want := fmt.Sprintf("keep   %#x (id %d): never initialised, but creator pid %d is alive", keyCreator, live, os.Getpid())
	if !strings.Contains(string(out), want) {
		problems = append(problems, fmt.Sprintf("rm -stale did not say %q", want))
	}
	if _, err := shmseg.Stat(live); err != nil {
		problems = append(problems, fmt.Sprintf("segment %#x of a live creator: %v", keyCreator, err))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// unfinishedCommand starts this test binary as a creator of the segment of
// key, as ring.Create begins one (see unfinishedCreator). It is shmtest.Child
// for a caller without a testing.T: the scenario, itself a child.
func unfinishedCommand(key uint32, size int, how string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHMTEST_CHILD="+roleUnfinished,
		fmt.Sprintf("SHMTEST_ARGS=%#x %d %s", key, size, how), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// unfinishedCreator begins a ring as ring.Create does and stops where a
// killed creator would. Arguments: KEY SIZE HOW. With HOW "exit" it exits
// right after shmget (a segment of zeros); with "hang" it also attaches,
// writes the magic and the version (format's first stores, state still 0),
// prints "ready" and waits to be killed.
func unfinishedCreator(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want KEY SIZE HOW, got %q", args)
	}
	key, err := strconv.ParseUint(args[0], 0, 32)
	if err != nil {
		return err
	}
	size, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	id, err := shmseg.Create(shmseg.Key(int32(uint32(key))), size, nil)
	if err != nil || args[2] == "exit" {
		return err
	}
	seg, err := shmseg.Attach(id, nil)
	if err != nil {
		return err
	}
	b, err := seg.Bytes()
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[0:], ring.Magic)
	binary.LittleEndian.PutUint16(b[8:], ring.VersionMajor)
	fmt.Println("ready")
	select {} // until killed
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
	after, err := shmtest.Segments()
	if err != nil {
		return err
	}
	// Every segment the kills left must be gone now: rings nobody uses,
	// and those whose creator was killed between shmget and publishing
	// the header (never initialised, removed once their creator is gone).
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
		"(creator killed between shmget and publishing the header); %d segments remain\n",
		runs, time.Since(start).Round(time.Millisecond), killed[0], killed[1], killed[2],
		left, rings, neverReady, len(leaked))
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
