package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app"
	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// TestFences: the creating command chooses the ring's fences
// (-symmetric-fences), the other side follows the ring, and both reports
// say which the ring uses.
func TestFences(t *testing.T) {
	for _, symmetric := range []bool{false, true} {
		want := "asymmetric"
		if symmetric || fence.Register() != nil {
			want = "symmetric"
		}
		t.Run(want, func(t *testing.T) {
			shmtest.NoLeaks(t)
			key := newKey(t)
			args := []string{"-key", keyFlag(key), "-count", "20000", "-wait", "futex", "-json"}
			if symmetric {
				args = append(args, "-symmetric-fences")
			}
			prod := start(t, "producer", args...)
			waitCreated(t, key) // the producer makes the ring, and chooses
			cons := run(t, "consumer", "-key", keyFlag(key), "-wait", "futex", "-json")
			require.Equal(t, 0, cons.ExitCode(), "%v", cons)
			require.Equal(t, 0, prod.Wait(t, exitTimeout), "%v", prod)
			pr, cr := decode[app.ProducerReport](t, prod), decode[app.ConsumerReport](t, cons)
			require.Equal(t, uint64(20000), cr.Messages)
			require.True(t, pr.Created)
			require.Equal(t, want, pr.Fences)
			require.Equal(t, want, cr.Fences)
			requireGone(t, key)
		})
	}
}

// waitCreated waits until the ring at key is ready.
func waitCreated(t *testing.T, key shmseg.Key) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := ring.Open(key, ring.Options{ReadOnly: true, ReadyTimeout: time.Second}); err == nil {
			_ = r.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("ring %v: not created within 20s", key)
}
