package ring_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// chanBell is a Doorbell over a channel of one: sticky, as the interface
// asks (a ring with nobody waiting is kept for the next Wait).
type chanBell struct {
	c     chan struct{}
	gone  atomic.Pointer[error]
	waits atomic.Int64
	rings atomic.Int64
}

func newChanBell() *chanBell { return &chanBell{c: make(chan struct{}, 1)} }

func (b *chanBell) Ring() {
	b.rings.Add(1)
	select {
	case b.c <- struct{}{}:
	default:
	}
}

func (b *chanBell) Wait(deadline time.Time) error {
	b.waits.Add(1)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-b.c:
	case <-t.C:
	}
	return nil
}

func (b *chanBell) Err() error {
	if e := b.gone.Load(); e != nil {
		return *e
	}
	return nil
}

// kill makes the bell report the peer gone, and rings it, as conn's
// watcher does when the peer's socket ends.
func (b *chanBell) kill(err error) {
	b.gone.Store(&err)
	b.Ring()
}

// bellRing is a heap ring whose sides sleep on two chanBells at once when
// they must wait (WaitFutex), so that every wait goes through the bells.
func bellRing(t *testing.T, slots int) (data, space *chanBell, p *ring.Producer, c *ring.Consumer) {
	data, space = newChanBell(), newChanBell()
	cfg := ring.Config{MaxMessage: 64, Slots: slots}
	cfg.Wait.Mode = ring.WaitFutex
	cfg.Liveness = time.Minute // a wake-up by timeout would hang the test, not pass it
	cfg.Doorbells = &ring.Doorbells{Data: data, Space: space}
	_, p, c = heapRing(t, cfg)
	return data, space, p, c
}

// TestDoorbellPingPong sends one message at a time each way through two
// rings with bells, so that each side sleeps on its bell for every message:
// a wake-up lost between the bell and the flags hangs it (the liveness
// interval, a minute, is longer than the test's deadline). The ring's own
// futex is never used: the bells count the waits.
func TestDoorbellPingPong(t *testing.T) {
	const rounds = 20000
	dataA, _, pa, ca := bellRing(t, 2)
	dataB, _, pb, cb := bellRing(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { // the echo: ring A in, ring B out
		buf := make([]byte, 64)
		for range rounds {
			n, err := ca.Recv(ctx, buf)
			if err == nil {
				err = pb.Send(ctx, buf[:n])
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var msg, buf [8]byte
	for i := range uint64(rounds) {
		binary.LittleEndian.PutUint64(msg[:], i)
		require.NoError(t, pa.Send(ctx, msg[:]))
		n, err := cb.Recv(ctx, buf[:])
		require.NoError(t, err, "round %d", i)
		require.Equal(t, i, binary.LittleEndian.Uint64(buf[:n]))
	}
	require.NoError(t, <-errc)
	require.Positive(t, dataA.waits.Load()+dataB.waits.Load(), "no side ever slept on its bell")
}

// TestDoorbellWakes covers the bell's slow paths: a context that ends, a
// Close from another goroutine and a peer reported gone each wake a side
// asleep on its bell, and a gone peer's last message is read before the
// error (the final poll).
func TestDoorbellWakes(t *testing.T) {
	errGone := fmt.Errorf("%w: the test's peer", ring.ErrPeerDead)
	asleep := func(t *testing.T, b *chanBell) {
		t.Helper()
		require.Eventually(t, func() bool { return b.waits.Load() > 0 }, 10*time.Second, time.Millisecond)
	}
	t.Run("context", func(t *testing.T) {
		data, _, _, c := bellRing(t, 4)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { asleep(t, data); cancel() }()
		_, err := c.Recv(ctx, make([]byte, 64))
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("close", func(t *testing.T) {
		data, _, _, c := bellRing(t, 4)
		go func() { asleep(t, data); _ = c.Close() }()
		_, err := c.Recv(context.Background(), make([]byte, 64))
		require.ErrorIs(t, err, ring.ErrClosed)
	})
	t.Run("gone, consumer", func(t *testing.T) {
		data, _, p, c := bellRing(t, 4)
		require.NoError(t, p.Send(context.Background(), []byte("last")))
		data.kill(errGone)
		buf := make([]byte, 64)
		n, err := c.Recv(context.Background(), buf)
		require.NoError(t, err)
		require.Equal(t, "last", string(buf[:n]))
		_, err = c.Recv(context.Background(), buf)
		require.ErrorIs(t, err, ring.ErrPeerDead)
	})
	t.Run("gone while asleep, producer", func(t *testing.T) {
		_, space, p, _ := bellRing(t, 2)
		ctx := context.Background()
		require.NoError(t, p.Send(ctx, []byte("1")))
		require.NoError(t, p.Send(ctx, []byte("2")))
		go func() { asleep(t, space); space.kill(errGone) }()
		err := p.Send(ctx, []byte("3"))
		require.ErrorIs(t, err, ring.ErrPeerDead)
	})
}

// TestCreatePrivate: a private ring's segment is marked for removal from
// the start, another handle attaches it by id, and it is gone once both
// have closed; a crash would free it too, the kernel's doing.
func TestCreatePrivate(t *testing.T) {
	shmtest.NoLeaks(t)
	r, err := ring.CreatePrivate(ring.Config{MaxMessage: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	id := r.Segment().ID()
	info, err := shmseg.Stat(id)
	require.NoError(t, err)
	require.True(t, info.Removed, "a private ring's segment is marked for removal at once")
	require.Equal(t, shmseg.IPCPrivate, info.Key)
	o, err := ring.OpenID(id, ring.Options{})
	require.NoError(t, err)
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := o.Consumer()
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, []byte("hello")))
	buf := make([]byte, 64)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))
	require.NoError(t, o.Close())
	require.NoError(t, r.Close())
	_, err = shmseg.Stat(id)
	require.True(t, errors.Is(err, shmseg.ErrNotExist), "segment %d still there after both closed: %v", id, err)
}
