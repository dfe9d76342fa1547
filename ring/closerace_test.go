package ring_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// TestCloseRacesCalls: Ring.Close, from another goroutine, at a random
// moment while a call of each kind runs in a loop on a shared ring, which
// Close unmaps. Every call in flight must finish or return ErrClosed (or,
// for the producer, ErrPeerClosed: Close closes the consumer first); none
// may touch the unmapped segment, which would kill the test binary with a
// fault, not fail it. Nor may the caller's use of a slice from Reserve,
// ReserveBatch or Peek between its call and the next (Close swaps the
// segment for private memory then). The consumer's calls check that what they received is
// what was sent, in order: a call that returned ErrClosed must not have
// taken a message. It runs under -race in make test and without it.
func TestCloseRacesCalls(t *testing.T) {
	shmtest.NoLeaks(t)
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	calls := []struct {
		name string
		// run makes calls until one fails, and returns that error
		// and how many messages the calls moved.
		run  func(ctx context.Context, p *ring.Producer, c *ring.Consumer) (int, error)
		fill bool // the ring starts full (consumer calls), else empty
	}{
		{"Send", func(ctx context.Context, p *ring.Producer, _ *ring.Consumer) (int, error) {
			return loop(func(i int) error { return p.Send(ctx, msgOf(i)) })
		}, false},
		{"TrySend", func(_ context.Context, p *ring.Producer, _ *ring.Consumer) (int, error) {
			return loop(func(i int) error { return p.TrySend(msgOf(i)) })
		}, false},
		{"SendBatch", func(ctx context.Context, p *ring.Producer, _ *ring.Consumer) (int, error) {
			return loop(func(i int) error { _, err := p.SendBatch(ctx, [][]byte{msgOf(i)}); return err })
		}, false},
		{"Reserve", func(ctx context.Context, p *ring.Producer, _ *ring.Consumer) (int, error) {
			return loop(func(i int) error {
				b, err := p.Reserve(ctx, 8)
				if err != nil {
					return err
				}
				copy(b, msgOf(i))
				return p.Commit()
			})
		}, false},
		{"ReserveBatch", func(ctx context.Context, p *ring.Producer, _ *ring.Consumer) (int, error) {
			return loop(func(i int) error {
				b, err := p.ReserveBatch(ctx, 1, 8)
				if err != nil {
					return err
				}
				copy(b.Slot(0), msgOf(i))
				return p.Commit()
			})
		}, false},
		{"Recv", func(ctx context.Context, _ *ring.Producer, c *ring.Consumer) (int, error) {
			buf := make([]byte, 8)
			return loop(func(i int) error {
				n, err := c.Recv(ctx, buf)
				if err == nil {
					err = checkMsg(buf[:n], i)
				}
				return err
			})
		}, true},
		{"TryRecv", func(_ context.Context, _ *ring.Producer, c *ring.Consumer) (int, error) {
			buf := make([]byte, 8)
			return loop(func(i int) error {
				n, err := c.TryRecv(buf)
				if err == nil {
					err = checkMsg(buf[:n], i)
				}
				return err
			})
		}, true},
		{"Peek", func(ctx context.Context, _ *ring.Producer, c *ring.Consumer) (int, error) {
			return loop(func(i int) error {
				m, err := c.Peek(ctx)
				if err != nil {
					return err
				}
				// A Close that ran since Peek may have swapped the
				// segment for zeros: what was read counts only if
				// Release then finds the consumer open.
				got := string(m)
				if err := c.Release(); err != nil {
					return err
				}
				return checkMsg([]byte(got), i)
			})
		}, true},
		{"RecvBatch", func(ctx context.Context, _ *ring.Producer, c *ring.Consumer) (int, error) {
			return loop(func(i int) error {
				_, err := c.RecvBatch(ctx, 1, func(m []byte) error { return checkMsg(m, i) })
				return err
			})
		}, true},
	}
	const slots = 1 << 12
	for _, call := range calls {
		t.Run(call.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			for round := range rounds {
				key := shmseg.Key(shmtest.Key(t))
				r, err := ring.Create(key, ring.Config{SlotSize: 16, Slots: slots})
				require.NoError(t, err)
				require.NoError(t, r.Segment().Remove()) // gone with the last detach
				p, err := r.Producer()
				require.NoError(t, err)
				c, err := r.Consumer()
				require.NoError(t, err)
				if call.fill {
					for i := range slots {
						require.NoError(t, p.Send(context.Background(), msgOf(i)))
					}
				}
				// A context that ends: a call the Close does not reach
				// (it blocked before Close began) must not hang the test.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				type result struct {
					n   int
					err error
				}
				done := make(chan result, 1)
				go func() {
					n, err := call.run(ctx, p, c)
					done <- result{n, err}
				}()
				// Close at a random moment: before the first call, or
				// some thousands of calls in.
				fence.Pause(rng.IntN(20_000))
				require.NoError(t, r.Close())
				res := <-done
				cancel()
				if !errors.Is(res.err, ring.ErrClosed) && !errors.Is(res.err, ring.ErrPeerClosed) {
					t.Fatalf("round %d: after %d messages: %v, want ErrClosed or ErrPeerClosed", round, res.n, res.err)
				}
				// After Close, every call says so, and touches nothing.
				_, err = call.run(ctx, p, c)
				require.ErrorIs(t, err, ring.ErrClosed, "round %d: a call after Close", round)
			}
		})
	}
}

// loop calls f(0), f(1), ... until it fails, and returns how many
// succeeded and the error. ErrFull and ErrEmpty (TrySend and TryRecv) are
// not failures: f is called again with the same i.
func loop(f func(i int) error) (int, error) {
	for i := 0; ; {
		switch err := f(i); {
		case errors.Is(err, ring.ErrFull) || errors.Is(err, ring.ErrEmpty):
		case err != nil:
			return i, err
		default:
			i++
		}
	}
}

func msgOf(i int) []byte { return []byte(fmt.Sprintf("%08d", i%100_000_000)) }

func checkMsg(m []byte, i int) error {
	if want := msgOf(i); string(m) != string(want) {
		return fmt.Errorf("message %d: got %q", i, m)
	}
	return nil
}

// TestCloseWithSlicesOut: a caller that holds a reserved slot and a peeked
// message and never comes back (its context ended, say) does not hold
// Ring.Close up, and its late use of the slices does not fault: Close swaps
// the segment for private memory, which detaches it, so the segment is
// gone once both sides have closed.
func TestCloseWithSlicesOut(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx := context.Background()
	r, err := ring.Create(shmseg.Key(shmtest.Key(t)), ring.Config{SlotSize: 16, Slots: 4})
	require.NoError(t, err)
	id := r.Segment().ID()
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	require.NoError(t, p.Send(ctx, msgOf(0)))
	peeked, err := c.Peek(ctx)
	require.NoError(t, err)
	reserved, err := p.Reserve(ctx, 8)
	require.NoError(t, err)

	closeWithSlicesOut(t, r, id, reserved, peeked)
	require.ErrorIs(t, p.Commit(), ring.ErrClosed)
	require.ErrorIs(t, c.Release(), ring.ErrClosed)
}

// closeWithSlicesOut closes r, shared segment id, while a slice to write
// (written) and one to read (read) are still out: Close does not wait for
// them, a late write to written is lost without a fault, a late read of
// read sees the private memory's zeros, and the segment is gone (both
// sides closed, nothing attached).
func closeWithSlicesOut(t *testing.T, r *ring.Ring, id shmseg.ID, written, read []byte) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Ring.Close waited for slices nobody will give back")
	}
	copy(written, "late") // lost, but no fault
	require.Equal(t, make([]byte, len(read)), read, "a late read sees the private memory's zeros")
	_, err := shmseg.Stat(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist, "both sides closed and nothing attached: the segment is gone")
}
