package app

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

// durations matches the durations in a message, as time.Duration prints
// them.
var durations = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m|h)\b`)

// runProducer runs the producer command in this process on key with
// -timeout timeout and returns its exit status, its stderr and how long it
// took.
func runProducer(t *testing.T, key shmseg.Key, timeout time.Duration) (int, string, time.Duration) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cfg := Config{Key: key.String(), Size: 64, Slots: 64, Count: 1, Timeout: timeout, Wait: "adaptive"}
	start := time.Now()
	code := RunContext(context.Background(), Producer, cfg, nil, &stdout, &stderr)
	return code, stderr.String(), time.Since(start)
}

// TestAttachNotRing: the producer (the consumer attaches the same way)
// pointed at a segment that is not a ring and that nobody will make one,
// a page of zeros whose creator has exited, fails at once and says so,
// with the segment's creator pid; it does not wait out -timeout.
func TestAttachNotRing(t *testing.T) {
	shmtest.NoLeaks(t)
	key, _, pid := segmentOfDeadCreator(t, 4096, fillZero)
	code, stderr, took := runProducer(t, key, 10*time.Second)
	require.Equal(t, 1, code, stderr)
	require.Less(t, took, 2*time.Second, "at once, not after -timeout: %s", stderr)
	require.Contains(t, stderr, "ring: segment is not a ring")
	require.Contains(t, stderr, fmt.Sprintf("creator pid %d", pid))
}

// TestAttachTimeoutMessage: a segment that could still become a ring (its
// creator, this process, lives) is waited for until -timeout, not longer,
// and the message gives that one duration.
func TestAttachTimeoutMessage(t *testing.T) {
	shmtest.NoLeaks(t)
	key := shmseg.Key(shmtest.Key(t))
	id, err := shmseg.Create(key, 4096, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = shmseg.Remove(id) })
	const timeout = 1500 * time.Millisecond
	code, stderr, took := runProducer(t, key, timeout)
	require.Equal(t, 1, code, stderr)
	require.GreaterOrEqual(t, took, timeout)
	require.Less(t, took, timeout+500*time.Millisecond, stderr)
	require.Equal(t, fmt.Sprintf("producer: ring %v: ring: segment never became ready within -timeout 1.5s\n", key), stderr)
	require.Len(t, durations.FindAllString(stderr, -1), 1, "one duration in %q", stderr)
}
