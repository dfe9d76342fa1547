package ringtest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/shmring/shmring/ring"
)

// Config describes the rings of a benchmark. The zero value is the ring
// package's defaults: ring.DefaultSlots slots of ring.DefaultSlotSize,
// waiting adaptively.
type Config struct {
	// MaxMessage is the largest message produce (or a responder) returns,
	// in bytes; the ring's slots are sized to hold it (the peers' buffers
	// are this size). Zero means the ring's default slot,
	// ring.DefaultSlotSize, and messages that fit it.
	MaxMessage int
	// Slots is the ring's capacity in messages, a power of two >= 2. Zero
	// means ring.DefaultSlots.
	Slots int
	// Wait is how both processes wait for each other. The zero value is
	// ring.WaitAdaptive.
	Wait ring.WaitStrategy
}

// ringConfig is the one place this package builds a ring.Config.
func ringConfig(maxMessage, slots int, wait ring.WaitStrategy) ring.Config {
	c := ring.Config{Slots: slots, SlotSize: ring.DefaultSlotSize, Options: ringOptions(wait)}
	if maxMessage > 0 {
		c.SlotSize = ring.SlotSizeFor(maxMessage)
	}
	return c
}

// ringOptions is the one place this package builds ring.Options: the peer
// opens with the same, since a ring's Options are each process's own and
// not stored in the segment.
func ringOptions(wait ring.WaitStrategy) ring.Options {
	return ring.Options{Wait: wait}
}

// A Sink is code of the caller's that the peer of [Throughput] runs on
// every message. Make one with [NewSink].
type Sink struct {
	name string
	fn   func(msg []byte) error
}

// A Responder is code of the caller's that the peer of [RoundTrip] runs on
// every message to build its reply. Make one with [NewResponder].
type Responder struct {
	name string
	fn   func(req, reply []byte) ([]byte, error)
}

// The registry: what both processes know by name because they both ran
// the same package initialisation.
var (
	mu         sync.Mutex
	started    bool // Run was called
	sinks      = map[string]*Sink{}
	responders = map[string]*Responder{}
)

// NewSink registers fn under name, for the peer of [Throughput] to call
// on every message it receives, in order. msg is the peer's own buffer,
// valid until fn returns. An error ends the peer and fails the benchmark.
//
// Call it in a package-level variable declaration (or in TestMain before
// [Main]), where the peer process runs it too: NewSink panics once Main
// has started, and for a name already taken or one with spaces.
func NewSink(name string, fn func(msg []byte) error) *Sink {
	s := &Sink{name: name, fn: fn}
	register("NewSink", name, func() bool {
		if sinks[name] != nil {
			return false
		}
		sinks[name] = s
		return true
	})
	return s
}

// NewResponder registers fn under name, for the peer of [RoundTrip] to
// call on every request it receives. fn appends its reply to reply (length
// 0, capacity Config.MaxMessage, reused) and returns it; req is valid until
// fn returns. An error ends the peer and fails the benchmark. The rules of
// [NewSink] on when to call it apply.
func NewResponder(name string, fn func(req, reply []byte) ([]byte, error)) *Responder {
	r := &Responder{name: name, fn: fn}
	register("NewResponder", name, func() bool {
		if responders[name] != nil {
			return false
		}
		responders[name] = r
		return true
	})
	return r
}

func register(op, name string, add func() bool) {
	mu.Lock()
	defer mu.Unlock()
	switch {
	case started:
		panic(fmt.Sprintf("ringtest: %s(%q) after ringtest.Main started: the peer process would never "+
			"register it; declare it in a package-level var, or call it in TestMain before ringtest.Main", op, name))
	case name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' }):
		panic(fmt.Sprintf("ringtest: %s(%q): want a non-empty name without spaces", op, name))
	case !add():
		panic(fmt.Sprintf("ringtest: %s(%q): the name is taken", op, name))
	}
}

// Main is TestMain's body: it plays the peer when this process was started
// as one by [Throughput] or [RoundTrip], and otherwise runs the tests and
// benchmarks; then it exits.
//
//	func TestMain(m *testing.M) { ringtest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is [Main] without the exit, for a TestMain with work of its own: in a
// peer process it plays the peer and returns its exit code without running
// m; otherwise it returns m.Run(). Call it first: what runs before it runs
// in the peer too.
func Run(m *testing.M) int {
	mu.Lock()
	started = true
	mu.Unlock()
	if spec, ok := os.LookupEnv(peerEnv); ok {
		return peerMain(spec)
	}
	return m.Run()
}

// mainStarted reports whether Run was called: without it, a peer would run
// the tests instead of its part.
func mainStarted() bool {
	mu.Lock()
	defer mu.Unlock()
	return started
}
