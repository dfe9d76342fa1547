package app

import (
	"context"
	"errors"
	"io"

	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/ring"
)

// maxGaps bounds the gaps the verifier remembers. A message from a gap older
// than that is counted as a duplicate rather than as reordered; either way
// the run fails.
const maxGaps = 1024

// verifier checks the stream of messages: each must carry the next sequence
// number and a good CRC. It counts, for a message with sequence seq:
//
//	seq == next                      in order
//	seq >  next                      lost += seq-next (a gap, remembered)
//	seq <  next, inside a gap        reordered (and one fewer lost)
//	seq <  next, otherwise           duplicated
//	bad CRC or too short             corrupt; it stands for message next
//	torn (the ring discarded it)     torn; it stands for message next
type verifier struct {
	next     uint64
	gaps     []gap // missing sequence numbers, oldest first
	messages uint64
	bytes    uint64
	lost     uint64
	dup      uint64
	reorder  uint64
	corrupt  uint64
	torn     uint64
	first    int64 // monotime of the first message
	last     int64 // and of the latest
	lat      hist.Histogram
}

type gap struct{ lo, hi uint64 } // [lo, hi)

// check verifies msg, received at now.
func (v *verifier) check(msg []byte, now int64) {
	if v.messages == 0 {
		v.first = now
	}
	v.last = now
	v.messages++
	v.bytes += uint64(len(msg))
	seq, sent, ok := wire.Check(msg)
	switch {
	case !ok:
		v.corrupt++
		v.next++
	case seq == v.next:
		v.next++
		v.lat.Record(now - sent)
	case seq > v.next:
		v.lost += seq - v.next
		v.gaps = append(v.gaps, gap{v.next, seq})
		if len(v.gaps) > maxGaps {
			v.gaps = v.gaps[1:]
		}
		v.next = seq + 1
		v.lat.Record(now - sent)
	default:
		if v.fill(seq) {
			v.reorder++
			v.lost--
		} else {
			v.dup++
		}
		v.lat.Record(now - sent)
	}
}

// tornMessage counts a message the ring tore and discarded (ring.ErrTorn):
// its producer gave up in the middle of it, or a wait ended there. Like a
// corrupt one, it stands for the message expected next; unlike one, it is
// no fault of the stream (the ring says so, and delivers no part of it),
// so it is reported, not failed.
func (v *verifier) tornMessage() {
	v.torn++
	v.next++
}

// tornAlone reports whether err is ring.ErrTorn alone: what the call that
// discarded the rest of a torn message returns (ErrTorn's doc). A call
// whose wait ended in the middle of a message returns that wait's error
// wrapped with ErrTorn as well; the wait's error decides then.
func tornAlone(err error) bool {
	for err != nil {
		if err == ring.ErrTorn {
			return true
		}
		if _, both := err.(interface{ Unwrap() []error }); both {
			return false
		}
		err = errors.Unwrap(err)
	}
	return false
}

// fill removes seq from the gap that holds it, if one does.
func (v *verifier) fill(seq uint64) bool {
	for i := len(v.gaps) - 1; i >= 0; i-- {
		g := v.gaps[i]
		if seq < g.lo || seq >= g.hi {
			continue
		}
		switch {
		case g.hi-g.lo == 1:
			v.gaps = append(v.gaps[:i], v.gaps[i+1:]...)
		case seq == g.lo:
			v.gaps[i].lo++
		case seq == g.hi-1:
			v.gaps[i].hi--
		default:
			v.gaps[i].hi = seq
			v.gaps = append(v.gaps[:i+1], append([]gap{{seq + 1, g.hi}}, v.gaps[i+1:]...)...)
			if len(v.gaps) > maxGaps {
				v.gaps = v.gaps[1:]
			}
		}
		return true
	}
	return false
}

// consume receives until the producer closes (io.EOF), -count, -duration
// or an interrupt.
func (s *session) consume(ctx context.Context, stderr io.Writer) report {
	rep := &ConsumerReport{Report: s.baseReport()}
	st0 := s.r.Stats()
	v := &verifier{next: st0.Consumer.Messages / s.perMessage}
	rn := s.start(ctx, stderr)
	var err error
	if s.batch > 1 {
		err = s.recvBatches(rn, v)
	} else {
		err = s.recvEach(rn, v)
	}
	if errors.Is(err, io.EOF) {
		err = nil
		rn.ended = "eof"
	}
	rn.finish(&rep.Report, err)
	rep.setRate(v.messages, v.bytes, v.first, v.last)
	rep.Lost, rep.Duplicated, rep.Reordered, rep.Corrupt, rep.Torn = v.lost, v.dup, v.reorder, v.corrupt, v.torn
	rep.LatencyNS = Latency{
		P50:  v.lat.Quantile(0.50),
		P90:  v.lat.Quantile(0.90),
		P99:  v.lat.Quantile(0.99),
		P999: v.lat.Quantile(0.999),
		Max:  v.lat.Max(),
		Min:  v.lat.Min(),
		Mean: v.lat.Mean(),
	}
	st := s.r.Stats()
	rep.Stalls = st.Consumer.Stalls - st0.Consumer.Stalls
	rep.Waits = st.Consumer.Waits - st0.Consumer.Waits
	rep.addNote(s.close(false))
	return rep
}

// recvEach receives one message per Recv: the copy path. The buffer holds
// -size bytes, the ring's largest message: ring.OpenOrCreate refuses a
// ring whose max_message is not the Config.MaxMessage attach asks for.
func (s *session) recvEach(rn *run, v *verifier) error {
	buf := make([]byte, s.size)
	for !rn.stop.Load() {
		if s.count > 0 && v.messages >= s.count {
			rn.ended = "count"
			return nil
		}
		n, err := s.c.Recv(rn.ctx, buf)
		if rn.stalled(s.role, err) {
			continue
		}
		if tornAlone(err) {
			v.tornMessage()
			continue
		}
		if err != nil {
			return err
		}
		now := monotime.Now()
		v.check(buf[:n], now)
		if rn.endAt != 0 && now >= rn.endAt {
			rn.ended = "duration"
			return nil
		}
	}
	return nil
}

// recvBatches hands up to -batch messages at a time to the verifier in
// place (RecvBatch): the zero-copy path. The messages of one call arrived
// together, so they share one receive time.
func (s *session) recvBatches(rn *run, v *verifier) error {
	var now int64
	fn := func(msg []byte) error {
		if now == 0 {
			now = monotime.Now()
		}
		v.check(msg, now)
		return nil
	}
	for !rn.stop.Load() {
		max := s.batch
		if s.count > 0 {
			if v.messages >= s.count {
				rn.ended = "count"
				return nil
			}
			max = int(min(uint64(max), s.count-v.messages))
		}
		now = 0
		if _, err := s.c.RecvBatch(rn.ctx, max, fn); tornAlone(err) {
			v.tornMessage()
		} else if err != nil && !rn.stalled(s.role, err) {
			return err
		}
		if rn.endAt != 0 && now >= rn.endAt {
			rn.ended = "duration"
			return nil
		}
	}
	return nil
}
