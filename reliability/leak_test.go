package reliability_test

import (
	"context"
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
)

func init() {
	childRoles[roleLeaks] = leakScenario
	childRoles[roleNeverReady] = neverReadyScenario
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

// TestRmStaleNeverInitialised is the known issue of item 14, as a test
// that fails: a creator killed after shmget and before it published the
// ring header leaves a segment of zeros, nattch 0, that "shmring rm
// -stale" lists as "not a ring (never initialised)" and, true to its
// contract (other segments are never touched), does not remove. Skipped
// unless SHMRING_KNOWN_ISSUES is set.
func TestRmStaleNeverInitialised(t *testing.T) {
	if os.Getenv("SHMRING_KNOWN_ISSUES") == "" {
		t.Skip("known issue (docs/RELIABILITY.md, item 14): rm -stale leaves a never-initialised ring; SHMRING_KNOWN_ISSUES=1 runs this test")
	}
	shmtest.NoLeaks(t)
	out, err := inIPCNamespace(t, roleNeverReady, opsBinaries(t)[2])
	t.Logf("%s", out)
	require.NoError(t, err)
}

// neverReadyScenario makes, in the child's own IPC namespace, the segment
// a creator killed before READY leaves (ring-sized, zeros, unattached),
// runs rm -stale, and fails if the segment is still there.
func neverReadyScenario(args []string) error {
	size, err := ring.SegmentSize(72, 64)
	if err != nil {
		return err
	}
	key := shmseg.Key(int32(shmtest.KeyBase | 0x1234))
	id, err := shmseg.Create(key, size, nil)
	if err != nil {
		return err
	}
	out, err := exec.Command(args[0], "rm", "-stale").CombinedOutput()
	fmt.Printf("shmring rm -stale: %s", out)
	if err != nil {
		return err
	}
	if _, err := shmseg.Stat(id); err == nil {
		_ = shmseg.Remove(id)
		return fmt.Errorf("segment %v (id %d, %d bytes of zeros, nattch 0) is still there after rm -stale", key, id, size)
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
	after, err := shmtest.Segments()
	if err != nil {
		return err
	}
	// A creator killed between shmget and publishing the header leaves
	// a segment that is not (yet) a ring: rm -stale lists it and leaves
	// it alone, as it does every segment that is not a ring (the known
	// issue of docs/RELIABILITY.md, item 14). Those are counted, removed
	// as the operator would (rm -force KEY), and do not fail the test;
	// anything else left is a leak.
	var leaked []string
	neverReady := 0
	for _, s := range after {
		if known[s.ID] || !(keys[uint32(s.Key)] || s.Key == 0) {
			continue
		}
		desc := fmt.Sprintf("key %#x id %d size %d nattch %d creator pid %d", uint32(s.Key), s.ID, s.Size, s.Nattch, s.CPID)
		if _, err := ring.OpenID(shmseg.ID(s.ID), &ring.Options{ReadOnly: true, ReadyTimeout: time.Millisecond}); errors.Is(err, ring.ErrNotReady) && s.Nattch == 0 {
			key := fmt.Sprintf("%#x", uint32(s.Key))
			if out, err := exec.Command(shmring, "rm", "-force", key).CombinedOutput(); err != nil {
				problems = append(problems, fmt.Sprintf("shmring rm -force %s: %v\n%s", key, err, out))
			}
			neverReady++
			fmt.Printf("never initialised (creator killed before the header was published), left by rm -stale, removed by rm -force: %s\n", desc)
			continue
		}
		leaked = append(leaked, desc)
	}
	fmt.Printf("%d runs in %v: killed the producer only %d, the consumer only %d, both %d; "+
		"%d segments left behind by the kills: %d rings, removed by shmring rm -stale, and %d never initialised, "+
		"which rm -stale leaves (removed with rm -force); %d segments remain\n",
		runs, time.Since(start).Round(time.Millisecond), killed[0], killed[1], killed[2],
		left, left-neverReady, neverReady, len(leaked))
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
