package ringtest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// plain runs a measurement as a test, with no timer to reset or stop.
type plain struct{ *testing.T }

func (plain) ResetTimer() {}
func (plain) StopTimer()  {}

// Peer code for the failure tests. Each peer process counts for itself.
var (
	failAt3 = func() *Sink {
		n := 0
		return NewSink("fail-at-3", func([]byte) error {
			if n++; n == 4 {
				return errors.New("message refused")
			}
			return nil
		})
	}()
	exitAt5 = func() *Sink {
		n := 0
		return NewSink("exit-at-5", func([]byte) error {
			if n++; n == 6 {
				os.Stderr.WriteString("exiting at 5\n")
				os.Exit(3)
			}
			return nil
		})
	}()
	refuseAll = NewResponder("refuse-all", func(req, reply []byte) ([]byte, error) {
		return nil, errors.New("request refused")
	})
	tooLong = NewResponder("too-long", func(req, reply []byte) ([]byte, error) {
		return append(reply, make([]byte, cap(reply)+1)...), nil
	})
)

func fixed(size int) func(int, []byte) []byte {
	return func(i int, buf []byte) []byte {
		for range size {
			buf = append(buf, byte(i))
		}
		return buf
	}
}

// children returns the pids of this process's child processes that have
// not been reaped.
func children(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("/proc/self/task/*/children")
	require.NoError(t, err)
	var pids []string
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			pids = append(pids, strings.Fields(string(b))...)
		}
	}
	return pids
}

// TestFailures checks that each way a run can fail fails it with an error
// that says what happened, and leaves no segment and no process behind
// (the runs are subtests, so their cleanups have run when they return).
func TestFailures(t *testing.T) {
	shmtest.NoLeaks(t)
	errCheck := errors.New("reply refused")
	small := Config{MaxMessage: 16, Slots: 64}
	tests := []struct {
		name string
		run  func(h harness) error
		is   error    // errors.Is, if not nil
		want []string // in the error's text
	}{
		{"sink error", func(h harness) error {
			_, err := throughput(h, small, 10, fixed(8), failAt3)
			return err
		}, nil, []string{`sink "fail-at-3": message 3: message refused`, "exit status 1"}},
		// More messages than slots: the benchmark is blocked on a full
		// ring when its peer dies.
		{"peer dies", func(h harness) error {
			_, err := throughput(h, small, 1000, fixed(8), exitAt5)
			return err
		}, nil, []string{"send message", "exit status 3", "exiting at 5"}},
		{"message too large", func(h harness) error {
			_, err := throughput(h, small, 10, fixed(64), nil)
			return err
		}, ring.ErrMessageTooLarge, []string{"send message 0 (64 bytes)"}},
		{"unknown sink", func(h harness) error {
			_, err := throughput(h, small, 10, fixed(8), &Sink{name: "never-registered"})
			return err
		}, nil, []string{`no sink "never-registered"`, "before it was ready", "exit status 1"}},
		{"responder error", func(h harness) error {
			_, err := roundTrip(h, small, 10, fixed(8), refuseAll, nil)
			return err
		}, nil, []string{`responder "refuse-all": request 0: request refused`}},
		{"reply too large", func(h harness) error {
			_, err := roundTrip(h, small, 10, fixed(8), tooLong, nil)
			return err
		}, nil, []string{`responder "too-long": reply 0:`, ring.ErrMessageTooLarge.Error()}},
		{"check error", func(h harness) error {
			_, err := roundTrip(h, small, 10, fixed(8), nil, func(i int, reply []byte) error {
				if !bytes.Equal(reply, fixed(8)(i, nil)) {
					return errors.New("not the echo")
				}
				if i == 0 {
					return errCheck
				}
				return nil
			})
			return err
		}, errCheck, []string{"check reply 0"}},
	}
	for _, tt := range tests {
		var err error
		t.Run(tt.name, func(t *testing.T) {
			err = tt.run(plain{t})
		})
		require.Error(t, err, tt.name)
		t.Logf("%s: %v", tt.name, err)
		if tt.is != nil {
			assert.ErrorIs(t, err, tt.is, tt.name)
		}
		for _, w := range tt.want {
			assert.Contains(t, err.Error(), w, tt.name)
		}
		assert.Empty(t, children(t), "%s: the peer outlived the run", tt.name)
	}
}

// TestEchoAndDrain runs the peer's own parts, the drain and the echo, and
// checks in every reply that the echo is the request.
func TestEchoAndDrain(t *testing.T) {
	shmtest.NoLeaks(t)
	for _, size := range []int{0, 1, 100} {
		cfg := Config{MaxMessage: 100, Slots: 8}
		r, err := throughput(plain{t}, cfg, 500, fixed(size), nil)
		require.NoError(t, err)
		assert.Equal(t, uint64(500*size), r.bytes)

		_, err = roundTrip(plain{t}, cfg, 50, fixed(size), nil, func(i int, reply []byte) error {
			if !bytes.Equal(reply, fixed(size)(i, nil)) {
				return errors.New("the echo differs from the request")
			}
			return nil
		})
		require.NoError(t, err)
	}
}

func TestNoMain(t *testing.T) {
	mu.Lock()
	started = false
	mu.Unlock()
	defer func() {
		mu.Lock()
		started = true
		mu.Unlock()
	}()
	_, err := throughput(plain{t}, Config{}, 1, fixed(1), nil)
	assert.ErrorIs(t, err, errNoMain)
	_, err = roundTrip(plain{t}, Config{}, 1, fixed(1), nil, nil)
	assert.ErrorIs(t, err, errNoMain)
}

// TestRegister checks that registering what a peer could not know panics.
func TestRegister(t *testing.T) {
	nop := func([]byte) error { return nil }
	// Main has started in this test binary: a sink made now would be
	// missing from the peer.
	assert.PanicsWithValue(t, `ringtest: NewSink("late") after ringtest.Main started: the peer process would never `+
		`register it; declare it in a package-level var, or call it in TestMain before ringtest.Main`,
		func() { NewSink("late", nop) })

	mu.Lock()
	started = false
	mu.Unlock()
	defer func() {
		mu.Lock()
		started = true
		delete(sinks, "fresh")
		mu.Unlock()
	}()
	assert.PanicsWithValue(t, `ringtest: NewSink("fail-at-3"): the name is taken`, func() { NewSink("fail-at-3", nop) })
	assert.PanicsWithValue(t, `ringtest: NewSink(""): want a non-empty name without spaces`, func() { NewSink("", nop) })
	assert.PanicsWithValue(t, `ringtest: NewResponder("a b"): want a non-empty name without spaces`,
		func() { NewResponder("a b", nil) })
	assert.NotPanics(t, func() { NewSink("fresh", nop) })
}
