//go:build linux && (amd64 || arm64)

package futex_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

const (
	pingPongRounds = 5000
	// Far longer than a round trip takes; a wait that reaches it means a
	// wake-up was lost, and the test fails instead of limping on.
	pingPongWait = 5 * time.Second
	segSize      = 4096
)

// pingPongWords returns the two futex words of the test segment: the parent
// bumps ping and the child waits on it; the child bumps pong and the parent
// waits on it. They sit on separate 128-byte blocks.
func pingPongWords(mem []byte) (ping, pong *uint32) {
	return (*uint32)(unsafe.Pointer(&mem[0])), (*uint32)(unsafe.Pointer(&mem[128]))
}

// waitUntil blocks until *word == want, sleeping on the futex between looks
// and looping on spurious returns, as the package doc says callers must.
func waitUntil(word *uint32, want uint32, deadline time.Time) error {
	for {
		v := atomic.LoadUint32(word)
		if v == want {
			return nil
		}
		if err := futex.Wait(word, v, deadline); err != nil {
			return fmt.Errorf("waiting for %d (have %d): %w", want, v, err)
		}
	}
}

// bump stores v and wakes the peer. It wakes unconditionally: the test
// exercises the kernel path on every round, not the announce protocol.
func bump(word *uint32, v uint32) (int, error) {
	atomic.StoreUint32(word, v)
	return futex.Wake(word, 1)
}

// TestCrossProcessPingPong is the proof that the futex words are shared,
// not private (RELIABILITY item 4): the waiter and the waker are separate
// processes, which map the segment each for itself. A private futex
// (FUTEX_PRIVATE_FLAG) is keyed by the address space, so the other
// process's Wake would never find the waiter: every Wait would run to its
// deadline and the test would fail, and Wake would never report a waiter
// woken in the other process. Built with shmring_portable_futex, it checks
// instead that the portable Wait sees another process's change by polling.
func TestCrossProcessPingPong(t *testing.T) {
	shmtest.NoLeaks(t)
	key := shmtest.Key(t)

	id, err := unix.SysvShmGet(int(key), segSize, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		assert.NoError(t, err, "IPC_RMID")
	})
	mem, err := unix.SysvShmAttach(id, 0, 0)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, unix.SysvShmDetach(mem)) })
	ping, pong := pingPongWords(mem)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := shmtest.Child(t, ctx, rolePingPong, strconv.Itoa(int(key)), strconv.Itoa(pingPongRounds))
	require.NoError(t, cmd.Start())

	start := time.Now()
	woken := 0
	for i := uint32(1); i <= pingPongRounds; i++ {
		n, err := bump(ping, i)
		require.NoError(t, err, "round %d", i)
		woken += n
		require.NoError(t, waitUntil(pong, i, time.Now().Add(pingPongWait)), "round %d", i)
	}
	elapsed := time.Since(start)
	require.NoError(t, cmd.Wait(), "child")
	// The child is the only process that waits on ping: every waiter this
	// side woke was in the other process. The portable build's Wake finds
	// none there (nor should it): its child saw each ping by polling, and
	// the rounds above passing is what that build checks.
	if kernelFutex {
		require.Positive(t, woken, "no Wake found the child asleep in %d rounds", pingPongRounds)
	} else {
		require.Zero(t, woken, "the portable Wake found a waiter in another process")
	}
	t.Logf("%d round trips in %v (%v each); %d wakes found the child asleep",
		pingPongRounds, elapsed, elapsed/pingPongRounds, woken)
}

// pingPongChild is the child's side: open the segment by key, wait for each
// ping, answer with a pong.
func pingPongChild(args []string) (err error) {
	if len(args) != 2 {
		return fmt.Errorf("want args: key rounds, got %q", args)
	}
	key, err1 := strconv.Atoi(args[0])
	rounds, err2 := strconv.Atoi(args[1])
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	id, err := unix.SysvShmGet(key, 0, 0)
	if err != nil {
		return fmt.Errorf("shmget %#x: %w", key, err)
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		return fmt.Errorf("shmat %d: %w", id, err)
	}
	defer func() { err = errors.Join(err, unix.SysvShmDetach(mem)) }()
	ping, pong := pingPongWords(mem)

	for i := uint32(1); i <= uint32(rounds); i++ {
		if err := waitUntil(ping, i, time.Now().Add(pingPongWait)); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		if _, err := bump(pong, i); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
	}
	return nil
}
