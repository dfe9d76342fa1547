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

// TestProducerTakeoverAfterCutRun: a producer publishes a run of slots it
// wrote unpublished (a batch of reservations, the fragments of a message)
// by marking slots first+1 .. last and then the first, so that a consumer,
// which reads in order, sees the whole run or none of it. This test leaves
// such a run cut short, as a producer killed between the two would: three
// slots written with the mark of a slot not published, the second and
// third marked, the first not, head not stored; the role's holder is a
// killed C process. The consumer, in C or in Go, sees none of it. A
// producer that takes the role over, in C or in Go, starts at the run's
// first slot (head stays) and clears the marks of the other two before it
// writes anything: left marked, the consumer would take the second slot,
// with the dead producer's message, right after the taker's first. The
// consumer receives the taker's messages only, in order: one in a slot,
// then one in three fragments over the cleared slots. The run stands at
// the ring's start, and across the end of its first lap (positions 6 to
// 8 of 8 slots), where the marks of lap 1 are the other value.
func TestProducerTakeoverAfterCutRun(t *testing.T) {
	dead := []int{11, 22, 33}                          // the cut run: seeds 91 to 93
	const single, singleSeed = 17, 1                   // the taker's message in one slot
	const frag, fragSeed = fragFirst + fragPay + 10, 2 // and in three fragments
	require.Equal(t, uint64(3), fragments(frag))
	for _, at := range []uint64{0, 6} {
		for _, taker := range []string{"c", "go"} {
			for _, consumer := range []string{"c", "go"} {
				t.Run(fmt.Sprintf("at-%d/%s-takes-over/%s-consumer", at, taker, consumer), func(t *testing.T) {
					ctx, r, key, dying := fragRing(t)
					dying.ok("producer")
					for i := range at {
						require.Zero(t, dying.do(fmt.Sprintf("sendpat %d %d -1", 5, 50+i)))
					}
					recv := lapConsumer(t, ctx, r, key, consumer)
					for i := range at {
						recv.pattern(5, 50+i) // freeing their slots for the run
					}
					dying.kill()
					raw := newRawProducer(t, r)
					raw.head, raw.marked = at, at
					for i, n := range dead {
						raw.write(encode(pattern(n, uint64(91+i)))...)
					}
					for seq := at + 1; seq < at+3; seq++ {
						raw.markOne(seq)
					}
					require.Equal(t, []bool{false, true, true}, raw.published(at, 3), "the cut run's marks")
					recv.empty() // the run's first slot is not published: nothing of it is

					if taker == "c" {
						c := startScript(t, ctx)
						c.ok(fmt.Sprintf("open %d", key), "producer")
						require.Equal(t, at, r.Stats().Producer.Messages, "the C taker starts at the cut run, head where it was")
						require.Equal(t, []bool{false, false, false}, raw.published(at, 3), "the C taker cleared the cut run's marks")
						require.Zero(t, c.do(fmt.Sprintf("sendpat %d %d -1", single, singleSeed)))
						recv.pattern(single, singleSeed)
						recv.empty() // a stale mark would deliver the dead producer's 22 bytes here
						require.Zero(t, c.do(fmt.Sprintf("sendpat %d %d -1", frag, fragSeed)))
					} else {
						p, err := r.Producer()
						require.NoError(t, err, "Go takes the dead C producer's role over")
						require.Equal(t, at, r.Stats().Producer.Messages, "the Go taker starts at the cut run, head where it was")
						require.Equal(t, []bool{false, false, false}, raw.published(at, 3), "the Go taker cleared the cut run's marks")
						require.NoError(t, p.Send(ctx, pattern(single, singleSeed)))
						recv.pattern(single, singleSeed)
						recv.empty()
						require.NoError(t, p.Send(ctx, pattern(frag, fragSeed)))
					}
					recv.pattern(frag, fragSeed)
					recv.empty()
					require.Equal(t, at+4, r.Stats().Producer.Messages)
				})
			}
		}
	}
}
