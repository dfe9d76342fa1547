package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/ring"
)

// produce sends until -count, -duration, an interrupt, or the consumer
// closing the ring.
func (s *session) produce(ctx context.Context, stderr io.Writer) report {
	rep := &ProducerReport{Report: s.baseReport(), Rate: s.rate}
	st0 := s.r.Stats()
	rn := s.start(ctx, stderr)
	var n, bytes uint64
	var first, last int64
	var err error
	if s.batch > 1 {
		n, bytes, first, last, err = s.sendBatches(rn, st0.Producer.Messages/s.perMessage)
	} else {
		n, bytes, first, last, err = s.sendEach(rn, rep, st0.Producer.Messages/s.perMessage)
	}
	var closed bool
	if errors.Is(err, ring.ErrPeerClosed) {
		// The consumer stopped first (its -count or -duration, or
		// Ctrl-C): a normal end.
		closed, err = true, nil
		rn.ended = "consumer closed"
	}
	rn.finish(&rep.Report, err)
	rep.setRate(n, bytes, first, last)
	st := s.r.Stats()
	rep.Stalls = st.Producer.Stalls - st0.Producer.Stalls
	rep.Waits = st.Producer.Waits - st0.Producer.Waits
	if closed {
		rep.addNote(fmt.Sprintf("the consumer closed the ring; the last %d messages sent were not read", s.messages(uint64(st.Fill))))
	}
	normal := rep.Ended == "count" || rep.Ended == "duration"
	rep.addNote(s.close(normal))
	return rep
}

// pace waits until message i (counting from 0, the first sent at t0) is
// due under -rate. Long waits sleep, in slices short enough to notice a
// stop; the last stretch yields, as timers are coarser than the gaps at
// high rates. A producer that fell behind (the ring was full) catches up at
// full speed.
func (s *session) pace(rn *run, t0 int64, i uint64) {
	due := t0 + int64(float64(i)*1e9/s.rate)
	for !rn.stop.Load() {
		d := time.Duration(due - monotime.Now())
		switch {
		case d <= 0:
			return
		case d > 200*time.Microsecond:
			time.Sleep(min(d-100*time.Microsecond, 50*time.Millisecond))
		default:
			runtime.Gosched()
		}
	}
}

// sendEach sends one message per Send: the copy path. A Send that ends in
// the middle of a message larger than the ring tears it (ring.ErrTorn):
// the consumer counts it as the one it expected, so its number is spent,
// and it is counted in rep.Torn, not in n. After a stalled consumer the
// next message goes on with the next number.
func (s *session) sendEach(rn *run, rep *ProducerReport, seq uint64) (n, bytes uint64, first, last int64, err error) {
	msg := make([]byte, s.size)
	wire.Fill(msg)
	for {
		if rn.stop.Load() {
			break
		}
		if s.count > 0 && n >= s.count {
			rn.ended = "count"
			break
		}
		if s.rate > 0 && n > 0 {
			s.pace(rn, first, n)
		}
		now := monotime.Now()
		if rn.endAt != 0 && now >= rn.endAt {
			rn.ended = "duration"
			break
		}
		if n == 0 {
			first = now
		}
		wire.Put(msg, seq, now)
		err = s.p.Send(rn.ctx, msg)
		if errors.Is(err, ring.ErrTorn) {
			seq++
			rep.Torn++
		}
		if rn.stalled(s.role, err) {
			err = nil
			continue
		}
		if err != nil {
			break
		}
		seq++
		n++
		bytes += uint64(len(msg))
		last = monotime.Now()
	}
	return n, bytes, first, last, err
}

// sendBatches writes up to -batch messages in place (ReserveBatch) and
// publishes them with one Commit: the zero-copy path.
func (s *session) sendBatches(rn *run, seq uint64) (n, bytes uint64, first, last int64, err error) {
	for {
		if rn.stop.Load() {
			break
		}
		want := uint64(s.batch)
		if s.count > 0 {
			if n >= s.count {
				rn.ended = "count"
				break
			}
			want = min(want, s.count-n)
		}
		if s.rate > 0 && n > 0 {
			s.pace(rn, first, n)
		}
		if rn.endAt != 0 && monotime.Now() >= rn.endAt {
			rn.ended = "duration"
			break
		}
		var k uint64
		for k < want {
			var b ring.Batch
			b, err = s.p.ReserveBatch(rn.ctx, int(want-k), s.size)
			if err != nil {
				if errors.Is(err, ring.ErrFull) && k > 0 {
					err = nil // ring full with reservations pending: commit them
				}
				if k == 0 && rn.stalled(s.role, err) {
					err = nil
					continue
				}
				break
			}
			for i := range b.Len() {
				buf := b.Slot(i)
				now := monotime.Now()
				if n == 0 && k == 0 {
					first = now
				}
				wire.Fill(buf)
				wire.Put(buf, seq, now)
				seq++
				k++
			}
		}
		if k > 0 {
			if cerr := s.p.Commit(); cerr != nil && err == nil {
				err = cerr
			}
			n += k
			bytes += k * uint64(s.size)
			last = monotime.Now()
		}
		if err != nil {
			break
		}
	}
	return n, bytes, first, last, err
}
