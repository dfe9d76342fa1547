//go:build linux

package conn_test

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// threads is this process's thread count (/proc/self/status).
func threads(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestIdleHoldsNoThread is item 28's short form: many connections, both
// ends in this process, each end blocked in Recv until it has slept (its
// ring counts the wait), and the process's threads stay a handful. With a
// futex sleep each blocked Recv would hold a thread: 2*n of them.
func TestIdleHoldsNoThread(t *testing.T) {
	shmtest.NoLeaks(t)
	n := 200
	if testing.Short() {
		n = 50
	}
	l := listen(t, conn.Config{Slots: 2, SlotSize: 64})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ends []*conn.Conn
	for range n {
		c, s := pair(t, l, conn.Config{})
		ends = append(ends, c, s)
	}
	before := threads(t)
	var wg sync.WaitGroup
	errs := make([]error, len(ends))
	for i, c := range ends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Recv(ctx, make([]byte, 64))
		}()
	}
	// Every Recv has slept once its consumer's ring counts a wait.
	require.Eventually(t, func() bool {
		for _, c := range ends {
			_, recv := c.Rings()
			if recv.Stats().Consumer.Waits == 0 {
				return false
			}
		}
		return true
	}, time.Minute, 10*time.Millisecond, "not every Recv went to sleep")
	during := threads(t)
	t.Logf("%d ends asleep in Recv: %d threads (%d before)", len(ends), during, before)
	require.Less(t, during, before+20, "sleeping ends hold threads")

	// One of them still wakes when its peer sends; the rest when their
	// context ends.
	require.NoError(t, ends[1].Send(context.Background(), []byte("wake")))
	require.Eventually(t, func() bool { _, recv := ends[0].Rings(); return recv.Stats().Consumer.Messages == 1 },
		time.Minute, time.Millisecond, "the woken end did not read its message")
	cancel()
	wg.Wait()
	require.NoError(t, errs[0], "the woken end")
	for i, err := range errs[1:] {
		require.ErrorIs(t, err, context.Canceled, "end %d", i+1)
	}
}
