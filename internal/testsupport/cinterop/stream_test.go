package cinterop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// A stream between a Go side (the ring package, in this test process) and a
// C side (examples/c, a child process), each verifying what it can see.
type stream struct {
	name  string
	slots int
	size  int  // message size, the largest with vary
	vary  bool // sizes from 20 to size bytes
	count int
	wait  ring.WaitMode
	// cFirst: the C side joins and blocks (on an empty ring, or a full one)
	// before the Go side moves, and the Go side then idles for more than
	// two of the C side's liveness intervals: the C side's futex sleep and
	// its liveness checks on a live Go peer are both exercised.
	cFirst bool
}

func streams() []stream {
	return []stream{
		{name: "default-ring", slots: 4096, size: 64, count: pick(1_000_000, 100_000), wait: ring.WaitAdaptive},
		{name: "8-slots-futex", slots: 8, size: 64, count: pick(100_000, 20_000), wait: ring.WaitFutex, cFirst: true},
		{name: "8-slots-varied-sizes", slots: 8, size: 1000, vary: true, count: pick(100_000, 20_000), wait: ring.WaitAdaptive},
		{name: "64-slots-4KiB-varied", slots: 64, size: 4096, vary: true, count: pick(50_000, 10_000), wait: ring.WaitAdaptive},
	}
}

// cLiveness is the liveness interval of the examples/c programs (and of the
// Go commands); idle is longer than two of them.
const (
	cLiveness = 250 * time.Millisecond
	idle      = 3 * cLiveness
)

// config is the ring examples/c makes for s (and cmd/producer and
// cmd/consumer do): messages of up to -size bytes, in slots that hold one.
func (s stream) config() ring.Config {
	return ring.Config{
		MaxMessage: s.size,
		SlotSize:   ring.SlotSizeFor(s.size),
		Slots:      s.slots,
		Options:    ring.Options{Wait: ring.WaitStrategy{Mode: s.wait}, Liveness: cLiveness},
	}
}

func (s stream) cArgs(key int32) []string {
	args := []string{"-key", hexKey(key), "-size", strconv.Itoa(s.size), "-slots", strconv.Itoa(s.slots),
		"-wait", s.wait.String(), "-timeout", "60s"}
	return args
}

// TestGoProducerCConsumer: the ring package sends, examples/c/consumer
// verifies every message (CRC32C, sequence 0..N-1) and exits 0.
func TestGoProducerCConsumer(t *testing.T) {
	bin := cPrograms(t)
	for _, s := range streams() {
		t.Run(s.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			r, key, closeR := newRing(t, s.config())
			p, err := r.Producer()
			require.NoError(t, err)

			cons := start(t, ctx, filepath.Join(bin, "consumer"), append(s.cArgs(key), "-expect", strconv.Itoa(s.count))...)
			if s.cFirst {
				waitUntil(t, ctx, "the C consumer to sleep on the empty ring", func() bool {
					return r.Stats().Consumer.Waits > 0
				})
				time.Sleep(idle) // the C consumer checks on this live, idle producer
			}
			checked := false
			bytes, err := produce(ctx, p, 0, s.count, s.size, s.vary, func(i int) {
				// More than a ring ahead: the consumer has claimed
				// its role and cannot have finished.
				if i == s.slots+16 {
					st := r.Stats()
					require.Equal(t, cons.Pid(), st.Consumer.PID, "consumer pid in the header")
					require.True(t, st.Consumer.Alive, "Go sees the C consumer's identity as alive")
					checked = true
				}
			})
			require.NoError(t, err, "%v", cons)
			require.True(t, checked || s.count <= s.slots+16)
			require.NoError(t, p.Close())
			require.Equal(t, 0, cons.ExitCode(), "%v", cons)

			sum := summary(t, cons)
			require.Equal(t, "ok", sum["status"], "%v", cons)
			require.Equal(t, int64(s.count), num(t, sum, "messages"))
			require.Equal(t, int64(bytes), num(t, sum, "bytes"))
			require.Equal(t, int64(0), num(t, sum, "first_seq"))
			require.Equal(t, int64(s.count-1), num(t, sum, "last_seq"))
			require.Equal(t, int64(0), num(t, sum, "corrupt"))
			require.Equal(t, int64(0), num(t, sum, "out_of_order"))
			require.Equal(t, "eof", sum["ended"])

			// The C consumer's counters, as Go (and shmring stat) reads them.
			st := r.Stats()
			require.True(t, st.ProducerClosed && st.ConsumerClosed)
			require.Equal(t, uint64(s.count), st.Consumer.Messages)
			require.Equal(t, bytes, st.Consumer.Bytes, "C flushes its byte count when it closes")
			require.Equal(t, uint64(num(t, sum, "stalls")), st.Consumer.Stalls)
			require.Equal(t, uint64(num(t, sum, "waits")), st.Consumer.Waits)
			require.Equal(t, uint64(num(t, sum, "wakes")), st.Consumer.Wakes)
			require.Zero(t, st.Consumer.PID, "a closed side frees its role")
			if s.wait == ring.WaitFutex {
				require.NotZero(t, st.Consumer.Waits+st.Producer.Waits, "no side slept on the futex")
				require.NotZero(t, st.Consumer.Wakes+st.Producer.Wakes, "no side woke the other")
			}
			t.Logf("%d messages, %d bytes; Go producer: %d stalls, %d futex waits, %d wakes; C consumer: %s",
				s.count, bytes, st.Producer.Stalls, st.Producer.Waits, st.Producer.Wakes, &cons.Stdout)
			closeR()
		})
	}
}

// TestCProducerGoConsumer: examples/c/producer sends, the ring package
// receives and verifies every message: CRC32C, sequence 0..N-1, and each
// length.
func TestCProducerGoConsumer(t *testing.T) {
	bin := cPrograms(t)
	for _, s := range streams() {
		t.Run(s.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			r, key, closeR := newRing(t, s.config())
			c, err := r.Consumer()
			require.NoError(t, err)

			args := append(s.cArgs(key), "-count", strconv.Itoa(s.count))
			if s.vary {
				args = append(args, "-vary")
			}
			prod := start(t, ctx, filepath.Join(bin, "producer"), args...)
			if s.cFirst {
				waitUntil(t, ctx, "the C producer to sleep on the full ring", func() bool {
					return r.Stats().Producer.Waits > 0
				})
				time.Sleep(idle) // the C producer checks on this live, idle consumer
			}
			v := &checker{size: s.size, vary: s.vary}
			err = consume(ctx, c, v, func() {
				// The producer cannot have finished: at most a ring
				// ahead of the first message.
				if v.messages == 1 && s.count > s.slots+1 {
					st := r.Stats()
					require.Equal(t, prod.Pid(), st.Producer.PID, "producer pid in the header")
					require.True(t, st.Producer.Alive, "Go sees the C producer's identity as alive")
				}
			})
			require.NoError(t, err, "%v", prod)
			require.Equal(t, uint64(s.count), v.messages, "messages received before EOF")
			require.Equal(t, 0, prod.ExitCode(), "%v", prod)

			sum := summary(t, prod)
			require.Equal(t, "ok", sum["status"], "%v", prod)
			require.Equal(t, int64(s.count), num(t, sum, "messages"))
			require.Equal(t, int64(v.bytes), num(t, sum, "bytes"))
			require.Equal(t, "count", sum["ended"])

			st := r.Stats()
			require.True(t, st.ProducerClosed)
			require.Equal(t, uint64(s.count), st.Producer.Messages)
			require.Equal(t, v.bytes, st.Producer.Bytes, "C flushes its byte count when it closes")
			require.Equal(t, uint64(num(t, sum, "stalls")), st.Producer.Stalls)
			require.Equal(t, uint64(num(t, sum, "waits")), st.Producer.Waits)
			require.Equal(t, uint64(num(t, sum, "wakes")), st.Producer.Wakes)
			if s.wait == ring.WaitFutex {
				require.NotZero(t, st.Consumer.Waits+st.Producer.Waits, "no side slept on the futex")
				require.NotZero(t, st.Consumer.Wakes+st.Producer.Wakes, "no side woke the other")
			}
			t.Logf("%d messages, %d bytes; Go consumer: %d stalls, %d futex waits, %d wakes; C producer: %s",
				v.messages, v.bytes, st.Consumer.Stalls, st.Consumer.Waits, st.Consumer.Wakes, &prod.Stdout)
			closeR()
		})
	}
}

// TestCToC: the C programs alone. The first to come creates the ring
// (shmring_open_or_create), the last to close removes it.
func TestCToC(t *testing.T) {
	bin := cPrograms(t)
	for _, consumerFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("consumer-first=%v", consumerFirst), func(t *testing.T) {
			shmtest.NoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			key := shmtest.Key(t)
			count := pick(200_000, 20_000)
			common := []string{"-key", hexKey(key), "-size", "100", "-slots", "16", "-timeout", "60s"}
			var prod, cons *shmtest.Proc
			if consumerFirst {
				cons = start(t, ctx, filepath.Join(bin, "consumer"), append(common, "-expect", strconv.Itoa(count))...)
				prod = start(t, ctx, filepath.Join(bin, "producer"), append(common, "-count", strconv.Itoa(count), "-vary")...)
			} else {
				prod = start(t, ctx, filepath.Join(bin, "producer"), append(common, "-count", strconv.Itoa(count), "-vary")...)
				cons = start(t, ctx, filepath.Join(bin, "consumer"), append(common, "-expect", strconv.Itoa(count))...)
			}
			require.Equal(t, 0, prod.ExitCode(), "%v", prod)
			require.Equal(t, 0, cons.ExitCode(), "%v", cons)
			ps, cs := summary(t, prod), summary(t, cons)
			require.Equal(t, int64(count), num(t, cs, "messages"))
			require.Equal(t, num(t, ps, "bytes"), num(t, cs, "bytes"))
			require.Equal(t, int64(count-1), num(t, cs, "last_seq"))
			require.Equal(t, int64(1), num(t, ps, "created")+num(t, cs, "created"), "exactly one side created the ring")
			_, err := shmseg.Open(shmseg.Key(key))
			require.ErrorIs(t, err, shmseg.ErrNotExist, "the last side to close removes the ring")
		})
	}
}

// consumerJSON is the part of cmd/consumer's -json report checked here.
type consumerJSON struct {
	Messages   uint64 `json:"messages"`
	Bytes      uint64 `json:"bytes"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	Corrupt    uint64 `json:"corrupt"`
	Torn       uint64 `json:"torn"`
	Ended      string `json:"ended"`
	Error      string `json:"error"`
}

// TestGoCommands: the C programs against the real cmd/producer and
// cmd/consumer binaries, as examples/c/README.md tells a user to run them.
// Whichever side starts first creates the ring. Besides 64-byte messages,
// the 1 MiB ones in 16 slots of 16 KiB: each is four times the
// ring, and streams through it in fragments, CRC-checked across them.
func TestGoCommands(t *testing.T) {
	cbin := cPrograms(t)
	gobin := goCommands(t)
	for _, g := range []struct {
		name           string
		size, slotSize int // slotSize 0: the default for size
		slots, count   int
	}{
		{"slots=8", 64, 0, 8, pick(200_000, 20_000)},
		{"slots=4096", 64, 0, 4096, pick(200_000, 20_000)},
		{"1MiB-in-16-slots-of-16KiB", 1 << 20, 16 << 10, 16, pick(100, 20)},
	} {
		count := g.count
		common := func(key int32) []string {
			args := []string{"-key", hexKey(key), "-size", strconv.Itoa(g.size), "-slots", strconv.Itoa(g.slots), "-timeout", "60s"}
			if g.slotSize != 0 {
				args = append(args, "-slot-size", strconv.Itoa(g.slotSize))
			}
			return args
		}
		t.Run("cmd-producer-to-c-consumer/"+g.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			key := shmtest.Key(t)
			cons := start(t, ctx, filepath.Join(cbin, "consumer"), append(common(key), "-expect", strconv.Itoa(count))...)
			prod := start(t, ctx, filepath.Join(gobin, "producer"), append(common(key), "-count", strconv.Itoa(count))...)
			require.Equal(t, 0, prod.ExitCode(), "%v", prod)
			require.Equal(t, 0, cons.ExitCode(), "%v", cons)
			sum := summary(t, cons)
			require.Equal(t, int64(count), num(t, sum, "messages"))
			require.Equal(t, int64(count-1), num(t, sum, "last_seq"))
			require.Equal(t, "eof", sum["ended"])
			t.Logf("C consumer: %s", &cons.Stdout)
		})
		t.Run("c-producer-to-cmd-consumer/"+g.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			key := shmtest.Key(t)
			cons := start(t, ctx, filepath.Join(gobin, "consumer"), append(common(key), "-json")...)
			prod := start(t, ctx, filepath.Join(cbin, "producer"), append(common(key), "-count", strconv.Itoa(count), "-vary")...)
			require.Equal(t, 0, prod.ExitCode(), "%v", prod)
			require.Equal(t, 0, cons.ExitCode(), "%v", cons)
			var rep consumerJSON
			require.NoError(t, json.Unmarshal(cons.Stdout.Bytes(), &rep), "%v", cons)
			require.Equal(t, consumerJSON{
				Messages: uint64(count), Bytes: uint64(num(t, summary(t, prod), "bytes")), Ended: "eof",
			}, rep)
			t.Logf("C producer: %s", &prod.Stdout)
		})
	}
}
