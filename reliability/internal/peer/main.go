// Command peer is the other process of the reliability tests: a producer, a
// consumer, an echo for ping-pong, or a process that only holds a role. The
// tests build it, usually with -tags shmring_crashpoints so that
// SHMRING_CRASH can kill it at a chosen point inside the ring, and run it
// against rings they create.
//
//	peer produce  -key K [-count N] [-api send|batch|reserve|reservebatch] [-batch B] [-min L] [-max L] [-from S]
//	peer consume  -key K [-count N] [-api recv|batch|peek] [-batch B] [-min L] [-max L] [-delivered FILE]
//	peer echo     -key K -key2 K2
//	peer hold     -key K -role producer|consumer
//	peer create   -key K -slotsize S -slots N [-mode 0600] [-count N]
//	peer open     -key K [-insecure] [-count N]
//
// Producers send the messages of internal/stream from the ring's head
// cursor on; consumers check each message against its position (the tail
// cursor on), so a consumer that takes a role over from a dead one checks
// that it resumes exactly where the dead one released. On stdout a peer
// prints "ready CURSOR" once it holds its role and "done N NEXT" at a clean
// end (N messages moved, NEXT the next position), plus "eof NEXT" for a
// consumer that reached the end of the stream. Exit status: 0 ok, 1 error,
// 2 usage, 3 a message that is not the one expected (a delivery failure),
// 4 the peer died (without -survive), 5 the peer stayed stopped (without
// -survive).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/reliability/internal/stream"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

const (
	exitOK        = 0
	exitErr       = 1
	exitUsage     = 2
	exitMisdeliv  = 3
	exitPeerDead  = 4
	exitPeerStops = 5
)

type flags struct {
	key, key2   string
	count       uint64
	api         string
	batch       int
	min, max    int
	wait        string
	spin, yield time.Duration
	liveness    time.Duration
	survive     bool
	noClose     bool
	delivered   string
	role        string
	slotSize    int
	slots       int
	mode        string
	insecure    bool
	printBase   bool
	sleepBefore time.Duration
	from        int64
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peer produce|consume|echo|hold|create|open [flags]")
		os.Exit(exitUsage)
	}
	var f flags
	fs := flag.NewFlagSet("peer "+os.Args[1], flag.ExitOnError)
	fs.StringVar(&f.key, "key", "", "ring key, hex")
	fs.StringVar(&f.key2, "key2", "", "echo: ring key to send on, hex")
	fs.Uint64Var(&f.count, "count", 0, "messages to move; 0 = until killed (producer) or the end of the stream (consumer)")
	fs.StringVar(&f.api, "api", "", "producer: send, batch, reserve or reservebatch; consumer: recv, batch or peek")
	fs.IntVar(&f.batch, "batch", 16, "messages per call for the batch APIs")
	fs.IntVar(&f.min, "min", stream.MinLen, "shortest message")
	fs.IntVar(&f.max, "max", 0, "longest message; 0 = the slot's payload")
	fs.StringVar(&f.wait, "wait", "adaptive", "wait mode")
	fs.DurationVar(&f.spin, "spin", 0, "spin phase (0: the default)")
	fs.DurationVar(&f.yield, "yield", 0, "yield phase (0: the default)")
	fs.DurationVar(&f.liveness, "liveness", 200*time.Millisecond, "liveness interval")
	fs.BoolVar(&f.survive, "survive", false, "on a dead or stopped peer, wait for it to be replaced or to resume")
	fs.BoolVar(&f.noClose, "noclose", false, "exit at the end without closing the role")
	fs.StringVar(&f.delivered, "delivered", "", "consumer: file whose first 8 bytes count the messages delivered")
	fs.StringVar(&f.role, "role", "", "hold: producer or consumer")
	fs.IntVar(&f.slotSize, "slotsize", 64, "create: slot size")
	fs.IntVar(&f.slots, "slots", 64, "create: slot count")
	fs.StringVar(&f.mode, "mode", "0600", "create: permission bits, octal")
	fs.BoolVar(&f.insecure, "insecure", false, "open with Options.AllowInsecure")
	fs.BoolVar(&f.printBase, "printbase", false, "print \"base ADDRESS PID\": where the ring is mapped, and this process")
	fs.DurationVar(&f.sleepBefore, "sleep", 0, "sleep this long before closing at a clean end")
	fs.Int64Var(&f.from, "from", -1, "producer: the first message's number; -1: the head cursor (which counts slots, so not with messages in fragments)")
	_ = fs.Parse(os.Args[2:])
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "peer: unexpected argument %q\n", fs.Arg(0))
		os.Exit(exitUsage)
	}
	os.Exit(run(os.Args[1], f))
}

func parseKey(s string) (shmseg.Key, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("bad key %q", s)
	}
	return shmseg.Key(int32(uint32(v))), nil
}

func fail(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "peer: "+format+"\n", args...)
	return code
}

func (f flags) options() (*ring.Options, error) {
	mode, err := ring.ParseWaitMode(f.wait)
	if err != nil {
		return nil, err
	}
	return &ring.Options{
		Wait:          ring.WaitStrategy{Mode: mode, Spin: f.spin, Yield: f.yield},
		Liveness:      f.liveness,
		ReadyTimeout:  10 * time.Second,
		AllowInsecure: f.insecure,
	}, nil
}

func (f flags) open(key string) (*ring.Ring, error) {
	k, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	r, err := ring.Open(k, *opts)
	if err != nil {
		return nil, err
	}
	if f.printBase {
		b, err := r.Segment().Bytes()
		if err != nil {
			return nil, err
		}
		fmt.Printf("base %#x %d\n", uintptr(unsafe.Pointer(unsafe.SliceData(b))), os.Getpid())
	}
	return r, nil
}

func (f flags) sizes(r *ring.Ring) (stream.Sizes, error) {
	s := stream.Sizes{Min: f.min, Max: f.max}
	if s.Max == 0 {
		s.Max = r.MaxMessage()
	}
	return s, s.Valid(r.MaxMessage())
}

// retry reports whether err is a dead or stopped peer that -survive waits
// out, and otherwise maps it to an exit status.
func (f flags) retry(err error) (bool, int) {
	switch {
	case errors.Is(err, ring.ErrPeerDead):
		if f.survive {
			time.Sleep(time.Millisecond)
			return true, 0
		}
		return false, exitPeerDead
	case errors.Is(err, ring.ErrPeerUnresponsive):
		if f.survive {
			return true, 0
		}
		return false, exitPeerStops
	}
	return false, exitErr
}

func run(cmd string, f flags) int {
	switch cmd {
	case "create":
		return create(f)
	case "open":
		return open(f)
	}
	r, err := f.open(f.key)
	if err != nil {
		return fail(exitErr, "%v", err)
	}
	switch cmd {
	case "produce":
		return produce(r, f)
	case "consume":
		return consume(r, f)
	case "echo":
		return echo(r, f)
	case "hold":
		var err error
		if f.role == "producer" {
			_, err = r.Producer()
		} else {
			_, err = r.Consumer()
		}
		if err != nil {
			return fail(exitErr, "claim %s: %v", f.role, err)
		}
		fmt.Println("ready 0")
		select {}
	}
	return fail(exitUsage, "unknown command %q", cmd)
}

func produce(r *ring.Ring, f flags) int {
	p, err := r.Producer()
	if err != nil {
		return fail(exitErr, "claim producer: %v", err)
	}
	sz, err := f.sizes(r)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	return sendStream(r, p, f, sz)
}

// sendStream sends f.count messages (forever if 0) from the head cursor.
func sendStream(r *ring.Ring, p *ring.Producer, f flags, sz stream.Sizes) int {
	ctx := context.Background()
	start := r.Stats().Producer.Messages
	if f.from >= 0 {
		start = uint64(f.from)
	}
	fmt.Printf("ready %d\n", start)
	end := uint64(1<<64 - 1)
	if f.count > 0 {
		end = start + f.count
	}
	batch := max(f.batch, 1)
	i := start
	switch f.api {
	case "", "send":
		buf := make([]byte, sz.Max)
		for ; i < end; i++ {
			m := sz.Put(buf, i)
			for {
				err := p.Send(ctx, m)
				if err == nil {
					break
				}
				if ok, code := f.retry(err); !ok {
					return fail(code, "send %d: %v", i, err)
				}
			}
		}
	case "batch":
		bufs := make([][]byte, batch)
		for j := range bufs {
			bufs[j] = make([]byte, sz.Max)
		}
		msgs := make([][]byte, batch)
		for i < end {
			k := int(min(uint64(batch), end-i))
			for j := range k {
				msgs[j] = sz.Put(bufs[j], i+uint64(j))
			}
			n, err := p.SendBatch(ctx, msgs[:k])
			i += uint64(n)
			if err != nil {
				if ok, code := f.retry(err); !ok {
					return fail(code, "send batch at %d: %v", i, err)
				}
			}
		}
	case "reserve":
		var code int
		i, code = commitRuns(p, f, i, end, batch, func(at, room uint64) (uint64, error) {
			b, err := p.Reserve(ctx, sz.Len(at))
			if err != nil {
				return 0, err
			}
			sz.Put(b, at)
			return 1, nil
		})
		if code != exitOK {
			return code
		}
	case "reservebatch":
		// One ReserveBatch per run of equal lengths.
		var code int
		i, code = commitRuns(p, f, i, end, batch, func(at, room uint64) (uint64, error) {
			n := sz.Len(at)
			run := uint64(1)
			for run < room && sz.Len(at+run) == n {
				run++
			}
			b, err := p.ReserveBatch(ctx, int(run), n)
			if err != nil {
				return 0, err
			}
			for j := range b.Len() {
				sz.Put(b.Slot(j), at+uint64(j))
			}
			return uint64(b.Len()), nil
		})
		if code != exitOK {
			return code
		}
	default:
		return fail(exitUsage, "unknown producer api %q", f.api)
	}
	time.Sleep(f.sleepBefore)
	fmt.Printf("done %d %d\n", i-start, i)
	if f.noClose {
		return 0
	}
	if err := p.Close(); err != nil {
		return fail(exitErr, "close: %v", err)
	}
	if err := r.Close(); err != nil {
		return fail(exitErr, "close ring: %v", err)
	}
	return 0
}

// commitRuns sends messages i to end with the zero-copy calls: reserve
// writes messages from at on, no more than room of them, and returns how
// many; up to batch messages go into one Commit. A full ring ends the batch
// early once something is reserved (reserve returns ErrFull then). It
// returns the next message and exitOK, or the exit status of a failure.
func commitRuns(p *ring.Producer, f flags, i, end uint64, batch int,
	reserve func(at, room uint64) (uint64, error)) (uint64, int) {
	for i < end {
		want := min(uint64(batch), end-i)
		var k uint64
		for k < want {
			got, err := reserve(i+k, want-k)
			if errors.Is(err, ring.ErrFull) && k > 0 {
				break
			}
			if err != nil {
				if ok, code := f.retry(err); ok && k == 0 {
					continue
				} else if !ok {
					return i, fail(code, "reserve %d: %v", i+k, err)
				}
				break
			}
			k += got
		}
		if err := p.Commit(); err != nil {
			return i, fail(exitErr, "commit at %d: %v", i, err)
		}
		i += k
	}
	return i, exitOK
}

// counter is where a consumer counts what it delivered: the first word of a
// file mapped shared, so the count survives a SIGKILL.
type counter struct{ w *atomic.Uint64 }

func newCounter(path string) (counter, error) {
	if path == "" {
		return counter{new(atomic.Uint64)}, nil
	}
	fd, err := unix.Open(path, unix.O_RDWR, 0)
	if err != nil {
		return counter{}, fmt.Errorf("delivered file: %w", err)
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, 0, 8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return counter{}, fmt.Errorf("delivered file: %w", err)
	}
	return counter{(*atomic.Uint64)(unsafe.Pointer(unsafe.SliceData(mem)))}, nil
}

func consume(r *ring.Ring, f flags) int {
	c, err := r.Consumer()
	if err != nil {
		return fail(exitErr, "claim consumer: %v", err)
	}
	sz, err := f.sizes(r)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	delivered, err := newCounter(f.delivered)
	if err != nil {
		return fail(exitErr, "%v", err)
	}
	ctx := context.Background()
	start := r.Stats().Consumer.Messages
	next := start
	delivered.w.Store(next)
	fmt.Printf("ready %d\n", start)
	end := uint64(1<<64 - 1)
	if f.count > 0 {
		end = start + f.count
	}
	var bad error
	take := func(msg []byte) error {
		if err := sz.Check(msg, next); err != nil {
			bad = err
			return err
		}
		next++
		delivered.w.Store(next)
		return nil
	}
	batch := max(f.batch, 1)
	buf := make([]byte, min(sz.Max, firstBuf))
	var err2 error
loop:
	for next < end {
		switch f.api {
		case "", "recv":
			var n int
			if n, err2 = recvGrow(ctx, c, &buf); err2 == nil {
				err2 = take(buf[:n])
			}
		case "batch":
			_, err2 = c.RecvBatch(ctx, int(min(uint64(batch), end-next)), take)
		case "peek":
			for k := uint64(0); k < min(uint64(batch), end-next) && err2 == nil; k++ {
				var m []byte
				if m, err2 = c.Peek(ctx); err2 == nil {
					err2 = take(m)
				} else if errors.Is(err2, ring.ErrEmpty) && k > 0 {
					err2 = nil
					break
				}
			}
			// Release what was peeked, also when the end of the
			// stream came in the middle of a batch.
			if err2 == nil || errors.Is(err2, io.EOF) {
				if rerr := c.Release(); err2 == nil {
					err2 = rerr
				}
			}
		default:
			return fail(exitUsage, "unknown consumer api %q", f.api)
		}
		switch {
		case bad != nil:
			return fail(exitMisdeliv, "%v", bad)
		case errors.Is(err2, io.EOF):
			fmt.Printf("eof %d\n", next)
			break loop
		case err2 != nil:
			if ok, code := f.retry(err2); !ok {
				return fail(code, "receive %d: %v", next, err2)
			}
			err2 = nil
		}
	}
	fmt.Printf("done %d %d\n", next-start, next)
	if f.noClose {
		return 0
	}
	if err := c.Close(); err != nil {
		return fail(exitErr, "close: %v", err)
	}
	if err := r.Close(); err != nil {
		return fail(exitErr, "close ring: %v", err)
	}
	return 0
}

// echo sends every message of ring key back on ring key2 until the end of
// the stream.
func echo(r *ring.Ring, f flags) int {
	c, err := r.Consumer()
	if err != nil {
		return fail(exitErr, "claim consumer: %v", err)
	}
	r2, err := f.open(f.key2)
	if err != nil {
		return fail(exitErr, "%v", err)
	}
	p, err := r2.Producer()
	if err != nil {
		return fail(exitErr, "claim producer on %s: %v", f.key2, err)
	}
	fmt.Println("ready 0")
	ctx := context.Background()
	buf := make([]byte, min(r.MaxMessage(), firstBuf))
	var n uint64
	for {
		m, err := recvGrow(ctx, c, &buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(exitErr, "receive %d: %v", n, err)
		}
		if err := p.Send(ctx, buf[:m]); err != nil {
			return fail(exitErr, "send %d: %v", n, err)
		}
		n++
	}
	fmt.Printf("done %d %d\n", n, n)
	_ = p.Close()
	_ = c.Close()
	return errorsExit(r.Close(), r2.Close())
}

// firstBuf is the first size of a receive buffer, which recvGrow grows.
const firstBuf = 64 << 10

// recvGrow is Recv into *buf, grown to the length Recv reports when it is
// too short (io.ErrShortBuffer; the message waits in the ring): a ring's
// MaxMessage may be far more than any message sent (1 GiB by default), so
// the buffer starts at what the messages usually need.
func recvGrow(ctx context.Context, c *ring.Consumer, buf *[]byte) (int, error) {
	for {
		n, err := c.Recv(ctx, *buf)
		if !errors.Is(err, io.ErrShortBuffer) {
			return n, err
		}
		*buf = make([]byte, n)
	}
}

func errorsExit(errs ...error) int {
	if err := errors.Join(errs...); err != nil {
		return fail(exitErr, "%v", err)
	}
	return 0
}

// create makes a ring (owned by whatever user this process runs as),
// claims the producer and sends -count messages (forever if 0), then closes
// the producer as produce does.
func create(f flags) int {
	k, err := parseKey(f.key)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	mode, err := strconv.ParseUint(f.mode, 8, 32)
	if err != nil {
		return fail(exitUsage, "-mode %q: %v", f.mode, err)
	}
	opts, err := f.options()
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	r, err := ring.Create(k, ring.Config{SlotSize: f.slotSize, Slots: f.slots, Mode: os.FileMode(mode), Options: *opts})
	if err != nil {
		return fail(exitErr, "%v", err)
	}
	p, err := r.Producer()
	if err != nil {
		return fail(exitErr, "claim producer: %v", err)
	}
	sz, err := f.sizes(r)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	return sendStream(r, p, f, sz)
}

// open opens a ring made by someone else, prints how that went ("open ok" or
// "open ERROR-CLASS: message"), and if it went well consumes -count
// messages.
func open(f flags) int {
	r, err := f.open(f.key)
	switch {
	case err == nil:
		fmt.Println("open ok")
	case errors.Is(err, ring.ErrInsecure):
		fmt.Printf("open ErrInsecure: %v\n", err)
		return 0
	case errors.Is(err, shmseg.ErrPermission):
		fmt.Printf("open ErrPermission: %v\n", err)
		return 0
	default:
		return fail(exitErr, "open: %v", err)
	}
	if f.count == 0 {
		return errorsExit(r.Close())
	}
	return consume(r, f)
}
