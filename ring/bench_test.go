package ring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/shmring/shmring/ring"
)

// BenchmarkHeap moves messages between two goroutines over a heap ring:
// the ring's own cost, without a second process. bench/ has the
// cross-process figures and the baselines.
func BenchmarkHeap(b *testing.B) {
	for _, size := range []int{8, 64, 1024} {
		for _, batch := range []int{1, 64} {
			name := fmt.Sprintf("send/%dB", size)
			if batch > 1 {
				name = fmt.Sprintf("reserve-batch%d/%dB", batch, size)
			}
			b.Run(name, func(b *testing.B) { benchHeap(b, size, batch) })
		}
	}
}

func benchHeap(b *testing.B, size, batch int) {
	ctx := context.Background()
	cfg := ring.Config{SlotSize: ring.SlotSizeFor(size), Slots: 4096}
	r, p, c := heapRing(b, cfg)
	done := make(chan error, 1)
	go func() {
		var n int
		buf := make([]byte, size)
		var err error
		for n < b.N && err == nil {
			if batch == 1 {
				_, err = c.Recv(ctx, buf)
				n++
				continue
			}
			var k int
			k, err = c.RecvBatch(ctx, batch, func([]byte) error { return nil })
			n += k
		}
		done <- err
	}()
	msg := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		if batch == 1 {
			if err := p.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			i++
			continue
		}
		k := min(batch, b.N-i)
		for range k {
			m, err := p.Reserve(ctx, size)
			if err != nil {
				b.Fatal(err)
			}
			copy(m, msg)
		}
		if err := p.Commit(); err != nil {
			b.Fatal(err)
		}
		i += k
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
	reportSyscalls(b, r.Stats())
}

// reportSyscalls reports futex calls (waits and wakes of both sides) per
// 1000 messages, from the ring's own counters, and how often a side stalled.
func reportSyscalls(b *testing.B, st ring.Stats) {
	calls := st.Producer.Waits + st.Producer.Wakes + st.Consumer.Waits + st.Consumer.Wakes
	b.ReportMetric(float64(calls)*1000/float64(b.N), "futex/1000msg")
	b.ReportMetric(float64(st.Producer.Stalls+st.Consumer.Stalls)*1000/float64(b.N), "stalls/1000msg")
}

// BenchmarkHeapRoundTrip sends a message to a goroutine that echoes it on a
// second ring, and waits for the echo: the ring's own round trip in each
// wait mode, without a second process. ns/op is one round trip.
func BenchmarkHeapRoundTrip(b *testing.B) {
	for _, mode := range []ring.WaitMode{ring.WaitSpin, ring.WaitAdaptive, ring.WaitFutex} {
		b.Run(mode.String(), func(b *testing.B) {
			ctx := context.Background()
			cfg := ring.Config{SlotSize: 16, Slots: 64, Options: ring.Options{Wait: ring.WaitStrategy{Mode: mode}}}
			_, ping, pingC := heapRing(b, cfg)
			_, pongP, pong := heapRing(b, cfg)
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 8)
				for {
					n, err := pingC.Recv(ctx, buf)
					if err != nil {
						done <- err
						return
					}
					if err := pongP.Send(ctx, buf[:n]); err != nil {
						done <- err
						return
					}
				}
			}()
			msg, buf := make([]byte, 8), make([]byte, 8)
			b.ReportAllocs()
			for b.Loop() {
				if err := ping.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if _, err := pong.Recv(ctx, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := ping.Close(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRoundTripCalls makes the calls of one round trip of bench's
// ping-pong (Send; Peek, Reserve, Commit, Release on the echoing side;
// Peek, Release back home) in one goroutine over two heap rings. Nothing
// ever waits: it is the calls' own cost, which every round trip pays on
// top of moving the cache lines between CPUs.
func BenchmarkRoundTripCalls(b *testing.B) {
	ctx := context.Background()
	cfg := ring.Config{SlotSize: 16, Slots: 4096}
	_, pa, ca := heapRing(b, cfg)
	_, pb, cb := heapRing(b, cfg)
	msg := make([]byte, 8)
	b.ReportAllocs()
	for b.Loop() {
		if err := pa.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		m, err := ca.Peek(ctx)
		if err != nil {
			b.Fatal(err)
		}
		o, err := pb.Reserve(ctx, len(m))
		if err != nil {
			b.Fatal(err)
		}
		copy(o, m)
		if err := pb.Commit(); err != nil {
			b.Fatal(err)
		}
		if err := ca.Release(); err != nil {
			b.Fatal(err)
		}
		e, err := cb.Peek(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(e) != len(msg) {
			b.Fatalf("echo of %d bytes, want %d", len(e), len(msg))
		}
		if err := cb.Release(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOneSide times Send alone, Reserve with Commit alone (the
// zero-copy Send: one reservation written and committed), Recv alone, and
// Peek with Release alone (the zero-copy Recv, reading the message's first
// and last byte as recvbatch does), one message per call, and SendBatch
// alone and RecvBatch alone, oneSideBatch messages per call, in one
// goroutine: the other side's work is done between runs of a ring's
// worth of calls, outside the time reported, so no cache line moves
// between CPUs while the calls are timed. It is the calls' own cost, which
// the cross-process figures in bench/ add the line transfers to. ns/op is
// per message, for the timed calls only. (StopTimer would not do: it reads
// the memory statistics, a stop-the-world pause, which every ring's worth
// of calls would pay.)
func BenchmarkOneSide(b *testing.B) {
	for _, size := range []int{8, 64} {
		for _, side := range []string{"send", "reserve", "recv", "peek", "sendbatch", "recvbatch"} {
			b.Run(fmt.Sprintf("%s/%dB", side, size), func(b *testing.B) {
				benchOneSide(b, side, size)
			})
		}
	}
}

// oneSideBatch is the batch of BenchmarkOneSide's batch calls: bench/'s
// for small messages.
const oneSideBatch = 64

func benchOneSide(b *testing.B, side string, size int) {
	ctx := context.Background()
	const slots = 4096
	_, p, c := heapRing(b, ring.Config{SlotSize: ring.SlotSizeFor(size), Slots: slots})
	msg, buf := make([]byte, size), make([]byte, size)
	msgs := make([][]byte, oneSideBatch)
	for i := range msgs {
		msgs[i] = msg
	}
	sum := 0
	// As bench/'s consumer: the first and last byte, in place.
	read := func(m []byte) error {
		sum += int(m[0]) + int(m[len(m)-1])
		return nil
	}
	send := side == "send" || side == "reserve" || side == "sendbatch"
	b.ReportAllocs()
	var timed time.Duration
	for done := 0; done < b.N; {
		// Make room (send) or fill the ring (recv), untimed.
		for {
			var err error
			if send {
				_, err = c.TryRecv(buf)
			} else {
				err = p.TrySend(msg)
			}
			if err != nil {
				break
			}
		}
		k := min(slots, b.N-done)
		start := time.Now()
		for i := 0; i < k; {
			n, err := 1, error(nil)
			switch side {
			case "send":
				err = p.Send(ctx, msg)
			case "reserve":
				var s []byte
				if s, err = p.Reserve(ctx, size); err == nil {
					copy(s, msg)
					err = p.Commit()
				}
			case "recv":
				_, err = c.Recv(ctx, buf)
			case "peek":
				var m []byte
				if m, err = c.Peek(ctx); err == nil {
					err = read(m)
					if err == nil {
						err = c.Release()
					}
				}
			case "sendbatch":
				n, err = p.SendBatch(ctx, msgs[:min(oneSideBatch, k-i)])
			case "recvbatch":
				n, err = c.RecvBatch(ctx, min(oneSideBatch, k-i), read)
			}
			if err != nil {
				b.Fatal(err)
			}
			i += n
		}
		timed += time.Since(start)
		done += k
	}
	b.ReportMetric(float64(timed.Nanoseconds())/float64(b.N), "ns/op")
}
