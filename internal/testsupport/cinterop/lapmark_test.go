package cinterop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/ring"
)

// Layout 4.0's lap marks across the language boundary (docs/LAYOUT.md,
// "Lap marks"): a producer marks each slot published before it stores
// head, and a consumer takes a slot by its mark, so a producer that dies
// between the two leaves messages that only the marks announce. The
// producer that takes its role over must start after them, never writing
// over a slot the consumer may be reading, and store their end as head;
// the consumer receives each of them once, whether it read them before
// the takeover (its tail then passes head) or after.

// TestProducerTakeoverAfterMarks: a C producer sends three messages and is
// killed; this test then writes two more messages after them and marks
// them published, and a third it leaves unmarked (as a producer killed
// before it finished one would), without storing head: a producer that
// died between its marks and its head. A producer that takes the role
// over, in C or in Go, starts after the two marked slots (head says 5, not
// 3) and writes its own message over the unmarked one; the consumer, in C
// or in Go, reading the marked messages before the takeover or after it,
// receives the six messages once each, in order, and then nothing.
func TestProducerTakeoverAfterMarks(t *testing.T) {
	sizes := []int{10, 20, 30, 40, 50} // seeds 1 to 5: whole messages, a slot each
	const deadLen, deadSeed = 55, 99   // the message left unmarked
	const mine, seed = 60, 6           // the taker's message
	for _, taker := range []string{"c", "go"} {
		for _, consumer := range []string{"c", "go"} {
			for _, early := range []bool{true, false} {
				when := "after"
				if early {
					when = "before"
				}
				t.Run(fmt.Sprintf("%s-takes-over/%s-consumer/reads-%s", taker, consumer, when), func(t *testing.T) {
					ctx, r, key, dying := fragRing(t)
					dying.ok("producer")
					for i, n := range sizes[:3] {
						require.Zero(t, dying.do(fmt.Sprintf("sendpat %d %d -1", n, i+1)))
					}
					dying.kill()
					raw := newRawProducer(t, r)
					raw.head, raw.marked = 3, 3
					for i, n := range sizes[3:] {
						raw.write(encode(pattern(n, uint64(i+4)))...)
					}
					raw.mark()
					raw.write(encode(pattern(deadLen, deadSeed))...)
					st := r.Stats()
					require.Equal(t, uint64(3), st.Producer.Messages, "head, as the dead producer left it")
					require.False(t, st.Producer.Alive)

					recv := lapConsumer(t, ctx, r, key, consumer)
					if early {
						for i, n := range sizes {
							recv.pattern(n, uint64(i+1))
						}
						st := r.Stats()
						require.Equal(t, uint64(5), st.Consumer.Messages, "the consumer took the marked slots")
						require.Equal(t, uint64(3), st.Producer.Messages, "before head said so")
						require.Zero(t, st.Fill, "no fill while tail is past head")
					}

					if taker == "c" {
						c := startScript(t, ctx)
						c.ok(fmt.Sprintf("open %d", key))
						if early {
							st := c.stats()
							require.Equal(t, []uint64{3, 5, 0}, []uint64{st["producer_messages"], st["consumer_messages"], st["fill"]},
								"C's head, tail and fill, tail past head: the C opener accepts it, and counts no fill")
						}
						c.ok("producer")
						require.Equal(t, uint64(5), r.Stats().Producer.Messages, "the C taker stored head after the marked slots")
						require.Zero(t, c.do(fmt.Sprintf("sendpat %d %d -1", mine, seed)))
					} else {
						p, err := r.Producer()
						require.NoError(t, err, "Go takes the dead C producer's role over")
						require.Equal(t, uint64(5), r.Stats().Producer.Messages, "the Go taker stored head after the marked slots")
						require.NoError(t, p.Send(ctx, pattern(mine, seed)))
					}
					require.Equal(t, uint64(6), r.Stats().Producer.Messages)

					if !early {
						for i, n := range sizes {
							recv.pattern(n, uint64(i+1))
						}
					}
					recv.pattern(mine, seed)
					recv.empty()
				})
			}
		}
	}
}

// lapReceiver is the consumer of TestProducerTakeoverAfterMarks, in C or
// in Go.
type lapReceiver struct {
	t    *testing.T
	ctx  context.Context
	c    *cScript       // the C consumer, or nil
	cons *ring.Consumer // the Go consumer, or nil
	buf  []byte
}

// lapConsumer claims the consumer role of r, at key, in C (lang "c") or in
// Go.
func lapConsumer(t *testing.T, ctx context.Context, r *ring.Ring, key int32, lang string) *lapReceiver {
	t.Helper()
	l := &lapReceiver{t: t, ctx: ctx, buf: make([]byte, fragMax)}
	if lang == "c" {
		l.c = startScript(t, ctx)
		l.c.ok(fmt.Sprintf("open %d", key), "consumer")
		return l
	}
	var err error
	l.cons, err = r.Consumer()
	require.NoError(t, err)
	return l
}

// pattern receives one message and checks that it is pattern(n, seed).
func (l *lapReceiver) pattern(n int, seed uint64) {
	l.t.Helper()
	if l.c != nil {
		l.c.recvPattern(n, seed)
		return
	}
	got, err := l.cons.Recv(l.ctx, l.buf)
	require.NoError(l.t, err, "Go recv of the message of seed %d", seed)
	require.True(l.t, bytes.Equal(pattern(n, seed), l.buf[:got]), "the %d-byte message of seed %d: %d bytes received", n, seed, got)
}

// empty checks that nothing more is there: no message came twice.
func (l *lapReceiver) empty() {
	l.t.Helper()
	if l.c != nil {
		rc, n, _ := l.c.recvcrc("0", 0)
		require.Equal(l.t, cEEmpty, rc, "C recv after the last message: %d bytes", n)
		return
	}
	n, err := l.cons.TryRecv(l.buf)
	require.True(l.t, errors.Is(err, ring.ErrEmpty), "Go recv after the last message: %d bytes, %v", n, err)
}

// cEEmpty is SHMRING_EEMPTY.
const cEEmpty = -1007
