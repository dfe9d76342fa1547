package ring

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/shmseg"
)

// Default settings, used where a Config or Options field is zero.
const (
	DefaultSlotSize     = 72 // a 64-byte message and its length, rounded to 8
	DefaultSlots        = 4096
	DefaultLiveness     = time.Second
	DefaultReadyTimeout = time.Second
	DefaultSpin         = 20 * time.Microsecond
	DefaultYield        = 50 * time.Microsecond
)

// WaitMode says what a side does when it must wait for its peer.
type WaitMode int

const (
	// WaitAdaptive spins, then yields the processor, then sleeps on a
	// futex. The default: near-spin latency when the peer is busy, no CPU
	// when it is idle.
	WaitAdaptive WaitMode = iota
	// WaitSpin polls without sleeping: the lowest latency, a whole core
	// while waiting. It still yields to other goroutines now and then, so
	// it works at GOMAXPROCS=1.
	WaitSpin
	// WaitYield spins, then polls with runtime.Gosched between polls.
	WaitYield
	// WaitFutex sleeps on the futex at once.
	WaitFutex
)

func (m WaitMode) String() string {
	switch m {
	case WaitAdaptive:
		return "adaptive"
	case WaitSpin:
		return "spin"
	case WaitYield:
		return "yield"
	case WaitFutex:
		return "futex"
	}
	return fmt.Sprintf("WaitMode(%d)", int(m))
}

// ParseWaitMode is the inverse of WaitMode.String.
func ParseWaitMode(s string) (WaitMode, error) {
	for m := WaitAdaptive; m <= WaitFutex; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("ring: unknown wait mode %q (want adaptive, spin, yield or futex)", s)
}

// WaitStrategy tunes waiting. The zero value is WaitAdaptive with the
// default durations.
//
// The phases are timed, not counted: how long a side should poll before it
// sleeps depends on how long the peer takes to produce or consume the next
// message (a 64 KiB copy takes microseconds, an 8-byte one nanoseconds),
// not on how fast this side polls. A futex sleep and wake costs tens of
// microseconds, so the defaults poll for about that long first.
type WaitStrategy struct {
	Mode WaitMode
	// Spin is how long to poll before yielding (adaptive, yield). Zero
	// means DefaultSpin.
	Spin time.Duration
	// Yield is how long to poll with runtime.Gosched in between before
	// sleeping (adaptive). Zero means DefaultYield. In WaitAdaptive mode
	// a side whose sleeps keep ending soon after they began (its peer is
	// busy, and only late now and then) doubles it for its next waits,
	// up to 8 times Yield, and halves it again after any longer sleep
	// (docs/DESIGN.md, "Phases").
	Yield time.Duration
	// NoTrail stops a consumer from trailing its producer. By default a
	// consumer that keeps finding the next message already published
	// when it looks for more (a stream that keeps pace with it) pauses
	// briefly before each such look (4 spin-wait hints; a hint's length
	// varies by CPU), and then reads several messages at once behind the
	// producer instead of each one beside it: a per-message stream moves
	// fewer cache lines between the CPUs and runs faster, and a message
	// waits a little longer in the ring while the stream lasts
	// (docs/DESIGN.md, "Per-message sends"). Set it for the lowest
	// latency in a stream that runs at full speed. It has no effect on
	// the producer, nor on a consumer that has to wait for its messages.
	NoTrail bool
}

// Options are the run-time settings of a ring handle: how it waits and how
// it judges its peer. They are not stored in the segment; each process
// chooses its own.
type Options struct {
	Wait WaitStrategy
	// Liveness is how often a waiting side checks that its peer's process
	// still exists. A side blocked on a dead peer returns ErrPeerDead
	// within twice this interval; one blocked on a peer found stopped at
	// two checks in a row returns ErrPeerUnresponsive. The interval counts
	// waiting across calls until the peer's cursor moves, so calls that
	// each wait less (a short context deadline, in a loop) still check.
	// A futex sleep never lasts longer than this. Zero means
	// DefaultLiveness.
	Liveness time.Duration
	// ReadyTimeout is how long Open waits for the creator to finish
	// initialising the segment. Zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// ReadOnly attaches the segment read-only: Stats works, claiming a
	// role does not. For monitoring. A read-only Open skips the
	// ErrInsecure check (it cannot be made to write anything).
	ReadOnly bool
	// AllowInsecure lets Open use a segment that every user may write, or
	// that another user owns. Anyone who can write the segment can make
	// this process read garbage (never outside the segment) or stall it.
	AllowInsecure bool
	// Doorbells, if set, make this handle's sides sleep on them and wake
	// the peer through them instead of the futex words (see Doorbell).
	// Every handle with a role on the ring must use the same two.
	Doorbells *Doorbells
	// NoProcCheck stops a waiting side from judging its peer by /proc
	// (ErrPeerDead, ErrPeerUnresponsive), for a peer whose pid means
	// nothing here (another PID namespace). Its death is then reported
	// only through Doorbell.Err. Liveness still bounds each sleep.
	NoProcCheck bool
}

func (o Options) withDefaults() Options {
	if o.Wait.Spin <= 0 {
		o.Wait.Spin = DefaultSpin
	}
	if o.Wait.Yield <= 0 {
		o.Wait.Yield = DefaultYield
	}
	if o.Liveness <= 0 {
		o.Liveness = DefaultLiveness
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	return o
}

// Config describes a new ring.
type Config struct {
	// MaxMessage is the largest message the ring carries, in bytes (at
	// most MaxMessageLimit): the size a Config is usually written in. It
	// is stored in the segment, and both sides refuse longer messages
	// (ErrMessageTooLarge). A message longer than a slot's payload travels
	// in fragments, one per slot, and may be longer than the whole ring.
	// When SlotSize is zero the slot is derived from MaxMessage
	// (SlotSizeFor: the 4-byte length added, rounded up to a multiple of
	// 8), up to a payload of DefaultMaxSlotPayload. Zero means SlotSize-4
	// when SlotSize is set, else DefaultMaxMessage.
	MaxMessage int
	// SlotSize sets the slot itself, its 4-byte length included (a
	// multiple of 8), for a caller that lays out the segment; most leave
	// it zero and set MaxMessage. A MaxMessage larger than the slot's
	// payload needs slots of MinFragmentSlot bytes or more. Neither set
	// means DefaultSlotSize and DefaultMaxMessage.
	SlotSize int
	// Slots is the number of slots, a power of two >= 2. Zero means
	// DefaultSlots.
	Slots int
	// Mode holds the segment's permission bits; zero means 0600. Open in
	// another process refuses a mode that lets every user write (the 0o002
	// bit) with ErrInsecure; use group permissions (0660) to share a ring
	// between users.
	Mode os.FileMode
	// HugePages backs the segment with huge pages (SHM_HUGETLB). They must
	// be reserved (vm.nr_hugepages), or Create fails with
	// shmseg.ErrHugePages; see docs/OPERATIONS.md.
	HugePages bool
	// SymmetricFences makes every publication of a cursor a full fence (a
	// sequentially consistent store, an XCHG on amd64) instead of a plain
	// release store backed by membarrier(2) on the sleeping side. It costs
	// tens of nanoseconds per publication. Set it when a process that will
	// join the ring cannot call membarrier (a seccomp filter, a kernel
	// older than 4.16): such a process is refused a role in a ring made
	// without it. Create sets it by itself when this process cannot use
	// membarrier. Stats.AsymmetricFences tells which a ring uses.
	SymmetricFences bool
	// Label names the ring for people and tools: it is stored in the
	// header (layout 3.1) and read back by Stats.Label, "shmring ls" and
	// "shmring stat". At most MaxLabel (63) bytes of UTF-8 without a NUL
	// byte, else ErrLabel; empty means none. It means nothing to the
	// ring itself. Package conn labels its rings "conn:NAME/s2c" and
	// "conn:NAME/c2s" (conn.RingLabel).
	Label string
	// Options for the creating handle.
	Options
}

func (c Config) withDefaults() Config {
	switch {
	case c.SlotSize == 0 && c.MaxMessage == 0:
		c.SlotSize, c.MaxMessage = DefaultSlotSize, DefaultMaxMessage
	case c.SlotSize == 0 && c.MaxMessage > 0:
		c.SlotSize = SlotSizeFor(min(c.MaxMessage, DefaultMaxSlotPayload))
	case c.MaxMessage == 0 && c.SlotSize > lenSize:
		c.MaxMessage = c.SlotSize - lenSize
	}
	if c.Slots == 0 {
		c.Slots = DefaultSlots
	}
	c.Options = c.Options.withDefaults()
	return c
}

// geometry validates a Config that has its defaults, its sizes and its
// label, naming the field that is wrong and its value.
func (c Config) geometry() (geometry, error) {
	if err := checkLabel(c.Label); err != nil {
		return geometry{}, err
	}
	switch {
	case c.MaxMessage < 0:
		return geometry{}, fmt.Errorf("%w: Config.MaxMessage %d is negative", ErrLayout, c.MaxMessage)
	case c.MaxMessage > MaxMessageLimit:
		return geometry{}, fmt.Errorf("%w: Config.MaxMessage %d: at most %d", ErrLayout, c.MaxMessage, MaxMessageLimit)
	}
	g, err := newGeometry(c.SlotSize, c.Slots)
	if err != nil {
		return geometry{}, err
	}
	if err := g.setMax(uint64(c.MaxMessage)); err != nil {
		return geometry{}, fmt.Errorf("Config.MaxMessage %d with Config.SlotSize %d: %w", c.MaxMessage, c.SlotSize, err)
	}
	return g, nil
}

// Ring is one process's handle on a ring: the mapped memory, and the roles
// this handle holds. Get the sending side with Producer and the receiving
// side with Consumer; one process may hold both (as with New), or one each
// in two processes (Create in one, Open in the other).
//
// Ring's methods are safe for concurrent use, Close included, from any
// goroutine at any time: Close wakes a Producer or Consumer call blocked in
// a wait, waits for every call under way to return, and only then unmaps
// the segment (see Close for slices from Reserve, ReserveBatch and Peek).
type Ring struct {
	buf   []byte
	h     *header
	g     geometry
	opts  Options
	seg   *shmseg.Segment // nil over ordinary memory
	ro    bool
	asym  bool // header flagAsymmetric: publish with fence.Store64, sleep after fence.Heavy
	heavy bool // this process can use fence.Heavy (registered)

	mu     sync.Mutex
	prod   *Producer
	cons   *Consumer
	closed bool
}

// New makes a ring in ordinary memory of its own, for two goroutines of
// one process: the same code as a shared ring, and the way to run it under
// the race detector.
func New(cfg Config) (*Ring, error) {
	cfg = cfg.withDefaults()
	g, err := cfg.geometry()
	if err != nil {
		return nil, err
	}
	// A Go allocation of 8 bytes or more is 8-byte aligned.
	return NewIn(make([]byte, g.segSize), cfg)
}

// NewIn is New in memory the caller provides (SegmentSize says how much),
// for instance a mapping of its own. buf must be 8-byte aligned. Whatever
// buf held is overwritten.
func NewIn(buf []byte, cfg Config) (*Ring, error) {
	cfg = cfg.withDefaults()
	g, err := cfg.geometry()
	if err != nil {
		return nil, err
	}
	if uint64(len(buf)) < g.segSize {
		return nil, fmt.Errorf("%w: memory is %d bytes, %d slots of %d need %d",
			ErrLayout, len(buf), g.slots, g.slotSize, g.segSize)
	}
	h, err := headerOf(buf)
	if err != nil {
		return nil, err
	}
	if !cfg.SymmetricFences && fence.Register() == nil {
		g.flags |= flagAsymmetric
	}
	format(h, g, time.Now().UnixNano(), cfg.Label)
	return &Ring{buf: buf[:g.segSize], h: h, g: g, opts: cfg.Options,
		asym: g.flags&flagAsymmetric != 0, heavy: fence.Register() == nil}, nil
}

// Attach joins a ring that NewIn (or another process) made in buf, after
// validating its header against len(buf). It waits up to
// opts.ReadyTimeout for the creator to publish the header. The zero
// Options are the defaults.
func Attach(buf []byte, opts Options) (*Ring, error) {
	return attach(buf, opts, nil)
}

// attach is Attach. abandoned, nil over ordinary memory, tells whether a
// header without the magic can still become a ring (see waitReady).
func attach(buf []byte, o Options, abandoned func(*header) error) (*Ring, error) {
	o = o.withDefaults()
	h, err := headerOf(buf)
	if err != nil {
		return nil, err
	}
	if err := waitReady(h, o.ReadyTimeout, abandoned); err != nil {
		return nil, err
	}
	g, err := validate(h, len(buf))
	if err != nil {
		return nil, err
	}
	// A read-only handle holds no role and never waits: it need not be
	// interrupted by other processes' barriers.
	return &Ring{buf: buf[:g.segSize], h: h, g: g, opts: o, ro: o.ReadOnly,
		asym: g.flags&flagAsymmetric != 0, heavy: !o.ReadOnly && fence.Register() == nil}, nil
}

// waitReady polls the state word until the creator publishes stateReady. A
// non-zero magic other than ours cannot be a ring being made (the creator
// writes only the right one), so it fails at once. So does a header still
// without the magic that abandoned (if not nil) says nobody will write.
func waitReady(h *header, timeout time.Duration, abandoned func(*header) error) error {
	deadline := time.Now().Add(timeout)
	for sleep := 50 * time.Microsecond; ; sleep = min(2*sleep, 10*time.Millisecond) {
		if h.state.Load()&stateReady != 0 {
			return nil
		}
		switch m := h.loadMagic(); {
		case m == 0 && abandoned != nil:
			if err := abandoned(h); err != nil {
				return err
			}
		case m != 0 && m != Magic:
			return fmt.Errorf("%w: got %#016x, want %#016x", ErrBadMagic, m, Magic)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: state %#x after %v", ErrNotReady, h.state.Load(), timeout)
		}
		time.Sleep(sleep)
	}
}

// Create makes a new SysV segment for key (it must not exist) sized for cfg,
// formats a ring in it and attaches it. The segment outlives the process:
// it is removed when both sides have closed (see Close), or by
// "shmring rm". On error nothing is left behind.
func Create(key shmseg.Key, cfg Config) (r *Ring, err error) {
	return create(key, cfg, false)
}

// CreatePrivate makes a ring in a new segment with no key (IPC_PRIVATE)
// and marks the segment for removal (IPC_RMID) as soon as it has attached
// it, before it writes anything: a process given the segment's id (over a
// socket, say) attaches it with OpenID, which Linux allows for a segment so
// marked, and the kernel frees it when the last process detaches, whether
// by Close, by exiting or by crashing. Nothing is ever left to clean up,
// except from a creator killed between the two system calls (shmget,
// then shmat and IPC_RMID), microseconds apart. Package conn makes its
// rings so. "ipcs -m" shows such a segment with key 0 and status "dest".
func CreatePrivate(cfg Config) (*Ring, error) {
	return create(shmseg.IPCPrivate, cfg, true)
}

func create(key shmseg.Key, cfg Config, private bool) (r *Ring, err error) {
	cfg = cfg.withDefaults()
	g, err := cfg.geometry()
	if err != nil {
		return nil, err
	}
	// Register now, not in New: a creator killed between shmget and
	// READY leaves a segment only "shmring rm -stale" can clean, so
	// nothing slow goes in between.
	_ = fence.Register()
	id, err := shmseg.Create(key, int(g.segSize), &shmseg.CreateOptions{Mode: cfg.Mode, HugePages: cfg.HugePages})
	if err != nil {
		return nil, fmt.Errorf("ring: create %v: %w", key, err)
	}
	if crashPoints {
		crash("create-after-shmget")
	}
	seg, err := shmseg.Attach(id, nil)
	if err != nil {
		_ = shmseg.Remove(id)
		return nil, fmt.Errorf("ring: create %v: %w", key, err)
	}
	defer func() {
		if err != nil {
			if !private {
				_ = seg.Remove()
			}
			_ = seg.Detach()
		}
	}()
	if private {
		if err := seg.Remove(); err != nil {
			return nil, fmt.Errorf("ring: create %v: %w", key, err)
		}
	}
	buf, err := seg.Bytes()
	if err != nil {
		return nil, err
	}
	if crashPoints {
		crash("create-after-attach")
	}
	// The mark first, before anything else is computed or written: from
	// here on the segment is provably a ring being made, which an opener
	// waits for and "shmring rm -stale" removes if this process dies.
	// Until then it is zeros, which nobody can tell from another
	// program's segment.
	h, err := headerOf(buf)
	if err != nil {
		return nil, err
	}
	h.mark()
	if crashPoints {
		crash("create-after-mark")
	}
	r, err = NewIn(buf, cfg)
	if err != nil {
		return nil, err
	}
	r.seg = seg
	return r, nil
}

// Open attaches the existing ring at key, waits for it to be ready, and
// validates it (docs/LAYOUT.md lists every check and its error). The zero
// Options are the defaults. Unless opts.AllowInsecure or opts.ReadOnly, a segment that every
// user may write, or that another user owns, is refused with ErrInsecure.
// A key with no segment gives shmseg.ErrNotExist.
//
// Open waits up to opts.ReadyTimeout for the header only while a creator
// could still be writing it: once the ring's magic is there, or while the
// process that created the segment is alive (ErrNotReady at the end). A
// segment without the magic whose creator is gone, or whose size no ring
// has, fails at once with ErrNotRing.
func Open(key shmseg.Key, opts Options) (*Ring, error) {
	id, err := shmseg.Open(key)
	if err != nil {
		return nil, fmt.Errorf("ring: open %v: %w", key, err)
	}
	r, err := OpenID(id, opts)
	if err != nil {
		return nil, fmt.Errorf("ring: open %v: %w", key, err)
	}
	return r, nil
}

// OpenID is Open by segment id (as "ipcs -m" and shmseg.List show it), for
// a segment whose key is gone: one marked for removal has key IPC_PRIVATE.
func OpenID(id shmseg.ID, opts Options) (r *Ring, err error) {
	o := opts
	seg, err := shmseg.Attach(id, &shmseg.AttachOptions{ReadOnly: o.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = seg.Detach()
		}
	}()
	if !o.AllowInsecure && !o.ReadOnly {
		if err := checkOwner(seg); err != nil {
			return nil, err
		}
	}
	buf, err := seg.Bytes()
	if err != nil {
		return nil, err
	}
	r, err = attach(buf, o, func(h *header) error { return abandoned(seg, h) })
	if err != nil {
		return nil, err
	}
	r.seg = seg
	return r, nil
}

// abandoned returns an ErrNotRing error if seg, whose header h had no
// magic, can no longer become a ring: its creator process is gone (a
// creator writes the magic first, and nobody else writes it), or no ring
// has its size (Create makes none of another size). The header is read
// again after the creator was found gone: it may have finished just
// before it exited. A creator that cannot be judged (pid 0, from another
// PID namespace; a pid reused since) counts as alive, and the wait goes on.
func abandoned(seg *shmseg.Segment, h *header) error {
	info, err := seg.Stat()
	if err != nil {
		return nil // cannot tell: wait, as for a live creator
	}
	sized := IsSegmentSize(info.Size)
	if sized && pidAlive(info.CPID) {
		return nil
	}
	if h.state.Load()&stateReady != 0 || h.loadMagic() != 0 {
		return nil
	}
	why := fmt.Sprintf("its creator (pid %d) is gone", info.CPID)
	if !sized {
		why = fmt.Sprintf("no ring is %d bytes", info.Size)
	}
	return fmt.Errorf("%w: no ring magic, and %s: %d bytes, owner uid %d, mode %#o, creator pid %d",
		ErrNotRing, why, info.Size, info.UID, uint32(info.Mode.Perm()), info.CPID)
}

func checkOwner(seg *shmseg.Segment) error {
	st, err := seg.Stat()
	if err != nil {
		return err
	}
	if st.Mode&0o002 != 0 {
		return fmt.Errorf("%w: mode %#o lets every user write it (set Options.AllowInsecure to accept)", ErrInsecure, st.Mode.Perm())
	}
	if euid := os.Geteuid(); st.UID != uint32(euid) {
		return fmt.Errorf("%w: owned by uid %d, this process is uid %d (set Options.AllowInsecure to accept)", ErrInsecure, st.UID, euid)
	}
	return nil
}

// OpenOrCreate opens the ring at key, or creates it with cfg if there is
// none, whichever process comes first. created reports which. An existing
// ring whose slot size, slot count or MaxMessage differs from cfg's is
// refused with ErrLayout naming both.
func OpenOrCreate(key shmseg.Key, cfg Config) (r *Ring, created bool, err error) {
	cfg = cfg.withDefaults()
	for range 10 {
		r, err = Create(key, cfg)
		if err == nil {
			return r, true, nil
		}
		if !errors.Is(err, shmseg.ErrExist) {
			return nil, false, err
		}
		r, err = Open(key, cfg.Options)
		if errors.Is(err, shmseg.ErrNotExist) {
			continue // removed between our create and open: race again
		}
		if err != nil {
			return nil, false, err
		}
		if r.SlotSize() != cfg.SlotSize || r.Slots() != cfg.Slots || r.MaxMessage() != cfg.MaxMessage {
			have := r.geometryString()
			want := fmt.Sprintf("%d slots of %d bytes, messages of up to %d", cfg.Slots, cfg.SlotSize, cfg.MaxMessage)
			_ = r.Close()
			return nil, false, fmt.Errorf("ring: open %v: %w: existing ring has %s, asked for %s", key, ErrLayout, have, want)
		}
		return r, false, nil
	}
	return nil, false, err
}

func (r *Ring) geometryString() string {
	return fmt.Sprintf("%d slots of %d bytes, messages of up to %d", r.g.slots, r.g.slotSize, r.g.maxMsg)
}

// SlotSize returns the size of a slot in bytes, length prefix included.
func (r *Ring) SlotSize() int { return int(r.g.slotSize) }

// Slots returns the number of slots.
func (r *Ring) Slots() int { return int(r.g.slots) }

// MaxMessage returns the largest message the ring carries, its
// max_message (Config.MaxMessage). Messages longer than a slot's payload,
// SlotSize()-4 bytes, travel in fragments.
func (r *Ring) MaxMessage() int { return int(r.g.maxMsg) }

// Segment returns the SysV segment the ring lives in, or nil for a ring
// over ordinary memory.
func (r *Ring) Segment() *shmseg.Segment { return r.seg }

// Producer claims the producer role and returns the sending side. If a live
// process holds the role, it fails with ErrRoleTaken. If the holder's
// process is dead, this one takes the role over and resumes at the
// committed cursor: what the dead producer had reserved but not committed
// is gone, what it committed is delivered once.
func (r *Ring) Producer() (*Producer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.claimable(stateProducerClosed, "producer"); err != nil {
		return nil, err
	}
	if err := claim(&r.h.prod, "producer"); err != nil {
		return nil, err
	}
	r.prod = newProducer(r)
	return r.prod, nil
}

// Consumer claims the consumer role and returns the receiving side, as
// Producer does. A consumer that takes over from a dead one resumes at the
// released cursor: messages the dead one had peeked but not released are
// delivered again (at least once across a consumer crash).
func (r *Ring) Consumer() (*Consumer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.claimable(stateConsumerClosed, "consumer"); err != nil {
		return nil, err
	}
	if err := claim(&r.h.cons, "consumer"); err != nil {
		return nil, err
	}
	r.cons = newConsumer(r)
	return r.cons, nil
}

func (r *Ring) claimable(closedBit uint32, role string) error {
	switch {
	case r.closed:
		return ErrClosed
	case r.ro:
		return fmt.Errorf("ring: cannot claim the %s role through a read-only attach", role)
	case r.h.state.Load()&closedBit != 0:
		return fmt.Errorf("%w: the %s has closed this ring", ErrRingClosed, role)
	}
	if r.asym {
		// Before the first publication: the peer's membarrier must
		// reach this process.
		if err := fence.Register(); err != nil {
			return fmt.Errorf("ring: claim %s: the ring uses asymmetric fences (created without Config.SymmetricFences) and this process cannot: %w", role, err)
		}
	}
	return nil
}

func claim(s *side, role string) error {
	me, err := self()
	if err != nil {
		return fmt.Errorf("ring: claim %s: own identity: %w", role, err)
	}
	for {
		cur := identity(s.owner.Load())
		switch {
		case cur == 0:
			if s.owner.CompareAndSwap(0, uint64(me)) {
				return nil
			}
		case cur == me:
			return fmt.Errorf("%w: %s is held by this process (pid %d)", ErrRoleTaken, role, me.pid())
		case cur.alive():
			return fmt.Errorf("%w: %s is held by pid %d", ErrRoleTaken, role, cur.pid())
		default: // dead holder: take over
			if s.owner.CompareAndSwap(uint64(cur), uint64(me)) {
				return nil
			}
		}
	}
}

// Close closes the roles this handle holds (as their Close methods do),
// waits for every call of them under way in other goroutines to return, and
// detaches the segment. A call under way finishes (what it sent is sent,
// what it received is the caller's), or, if it had not got far enough to
// touch the ring, returns ErrClosed; a call blocked in a wait is woken and
// returns ErrClosed. Nothing touches the unmapped memory afterwards, so
// Close is safe from any goroutine at any time, as os.File's is. Slices
// from Reserve, ReserveBatch and Peek outlive their calls: if any may
// still be in use (reserved and not committed, peeked and not released),
// or a call has not ended within a second (a RecvBatch callback that takes
// its time; one that calls Close), Close detaches the segment by swapping
// its pages for private memory (shmseg.Segment.DetachPrivate), so a late
// write through such a slice is lost and a late read sees zeros, instead
// of faulting; that mapping lasts until the process exits.
//
// Close also decides whether the segment outlives it; this is the one
// place that does. It removes the segment (IPC_RMID: the kernel frees it
// with the last detach) when nobody will use it again: both sides have
// closed; or this handle held a role, no other process is attached, and
// the peer's role is held by a dead process or was never claimed. A
// producer whose consumer has not come yet, or died, leaves its committed
// messages for the next one (which takes the dead one's role over); a
// handle that claimed no role (a creator or a monitor) removes nothing
// unless both sides have closed. A ring whose peer died while another
// process is still attached stays until "shmring rm -stale" or a new
// process takes the role over. Close returns ErrClosed if called twice.
func (r *Ring) Close() error { return r.close(true) }

// Abandon is Close for a producer that gives up on its messages: where
// Close would leave committed messages for a consumer that has not come
// yet, or for one that takes a dead one's role over, Abandon removes the
// segment (if no other process is attached). For a handle without the
// producer role it is Close.
func (r *Ring) Abandon() error { return r.close(false) }

// close is Close; keep leaves a producer's committed messages for a
// consumer yet to come.
func (r *Ring) close(keep bool) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.closed = true
	p, c := r.prod, r.cons
	r.mu.Unlock()
	// Consumer first: a call blocked on either side then sees a closed
	// side (ErrClosed), never the producer's end of stream (io.EOF).
	var sides []*slots
	if c != nil {
		_ = c.Close()
		sides = append(sides, &c.slots)
	}
	if p != nil {
		_ = p.Close()
		sides = append(sides, &p.slots)
	}
	lent, running := r.waitCalls(sides)
	if r.seg == nil {
		return nil
	}
	err := r.removeIfAbandoned(p != nil, c != nil, keep)
	if lent || running {
		// Unmapping would fault whoever uses a slice: swap the
		// segment's pages for private memory instead (a mapping
		// that stays until the process exits).
		return errors.Join(err, r.seg.DetachPrivate())
	}
	// After this the header and slots are unmapped: nothing may touch them.
	return errors.Join(err, r.seg.Detach())
}

// waitCalls waits for every call of the closed sides under way to end
// (see slots.begin), and their Close calls, up to closeWait each. It
// reports whether the caller may still hold slices into the segment (lent)
// and whether a call has not ended (running). When none is running it
// drops the sides' context registrations, which would otherwise write to
// the futex words when their contexts end (a call still running owns its
// registration).
func (r *Ring) waitCalls(sides []*slots) (lent, running bool) {
	r.barrier()
	for _, s := range sides {
		if !s.idle(true) {
			running = true // a slow RecvBatch callback, say
		}
		lent = lent || s.pending.Load() != 0
	}
	if !running {
		for _, s := range sides {
			s.cw.disarm()
		}
	}
	return lent, running
}

// barrier comes between closing a side (a compare-and-swap, a full fence)
// and looking whether a call of it is under way (slots.idle): after it, a
// call either sees its side closed and touches nothing, or its mark is
// visible.
func (r *Ring) barrier() {
	if !r.heavy || fence.Heavy() != nil {
		// No membarrier here (or, which cannot happen once
		// registered, it failed): a call's release store of its mark
		// sits in its CPU's store buffer for nanoseconds, so a
		// millisecond is a practical bound.
		time.Sleep(time.Millisecond)
	}
}

// idle waits, after the side was closed and the barrier, for a call of it
// under way to end, and with closes for its Close calls too, up to
// closeWait. It reports whether they did.
func (s *slots) idle(closes bool) bool {
	deadline := time.Now().Add(closeWait)
	for s.active.Load() != 0 || closes && s.closes.Load() != 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
	return true
}

// closeWait is how long Ring.Close waits for a call of a side to end
// before it swaps the segment for private memory instead of unmapping it,
// and Producer.Close before it ends the stream all the same.
const closeWait = time.Second

// removeIfAbandoned removes a shared ring's segment (IPC_RMID) when nobody
// will use it again (the policy is in Close's doc). prod and cons say which
// roles this handle held, keep whether a producer leaves its messages for a
// consumer yet to come.
func (r *Ring) removeIfAbandoned(prod, cons, keep bool) error {
	if r.ro || !r.abandoned(prod, cons, keep) {
		return nil
	}
	// The peer may have removed it already: both sides try.
	if err := r.seg.Remove(); !errors.Is(err, shmseg.ErrNotExist) {
		return err
	}
	return nil
}

// abandoned applies Close's policy: true when the segment has no future
// user once this handle, which held the roles prod and cons, detaches.
func (r *Ring) abandoned(prod, cons, keep bool) bool {
	const both = stateProducerClosed | stateConsumerClosed
	st := r.h.state.Load()
	if st&both == both {
		return true
	}
	if prod == cons { // neither role (or both, and then both closed above)
		return false
	}
	peer, peerClosed := &r.h.cons, uint32(stateConsumerClosed)
	if cons {
		peer, peerClosed = &r.h.prod, stateProducerClosed
	}
	id := identity(peer.owner.Load())
	switch {
	case st&peerClosed != 0 || id.alive():
		return false
	case prod && keep && fill(r.h, r.g) > 0:
		// Committed messages wait for a consumer yet to come, or for
		// one that takes the dead one's role over.
		return false
	}
	info, err := r.seg.Stat()
	return err == nil && info.Nattch <= 1
}

// fill is how many messages are published and not yet released, as far as
// a ring of geometry g can hold: none while the consumer is ahead of head
// (it took slots by their lap marks before head was stored).
func fill(h *header, g geometry) uint64 {
	head, tail, _ := cursors(h)
	if tail >= head {
		return 0
	}
	return min(head-tail, g.slots)
}

// closeSide marks one side closed in the shared state, gives up its role and
// wakes everyone who may be waiting on either word.
func (r *Ring) closeSide(bit uint32, s *side) {
	r.h.state.Or(bit)
	s.owner.Store(0)
	r.dataWords().wake()
	r.spaceWords().wake()
}

// SideStats are one side's counters. Messages, Waits and Wakes are exact.
// Bytes and Stalls are kept in the process and copied to the header every
// 64 publications, before the side sleeps, and when a wait ends in an
// error: a busy side's may lag, a sleeping side's are exact.
//
// The JSON names are part of the API (docs/OPERATIONS.md, "Stats as
// JSON"): fields may be added, none renamed or removed.
type SideStats struct {
	PID   int  `json:"pid"`   // holder's pid; 0 if the role is free
	Alive bool `json:"alive"` // the holder's process exists (pid and start time match)
	// Messages is the slots published (producer: the head cursor) or
	// released (consumer: the tail cursor); a message of k fragments
	// counts k. A producer killed between marking slots published and
	// storing head leaves head behind, by at most a ring, until the
	// next producer takes the role: the consumer may have taken those
	// slots, so the consumer's count may pass the producer's meanwhile
	// (and Stats.Fill, from the same cursors, reads 0).
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`  // may lag Messages by up to 64 publications
	Stalls   uint64 `json:"stalls"` // calls that found the ring full (producer) or empty (consumer) and waited, one per call; lags like Bytes
	Waits    uint64 `json:"waits"`  // futex waits
	Wakes    uint64 `json:"wakes"`  // futex wakes issued to the peer
}

// Stats is a snapshot of a ring's header. Fields are read one by one from a
// live ring, so they may come from slightly different instants.
//
// As JSON (encoding/json) the names are snake_case and stable, as
// SideStats'; Created is an RFC 3339 string with nanoseconds, in the zone
// of the process that took the snapshot. [Ring.StatsVar] publishes them
// through expvar.
type Stats struct {
	SlotSize   int       `json:"slot_size"` // bytes per slot, the 4-byte length included
	Slots      int       `json:"slots"`
	Fill       int       `json:"fill"`        // slots published and not yet released
	MaxMessage int       `json:"max_message"` // the longest message (header max_message); longer than SlotSize-4 travels in fragments
	Created    time.Time `json:"created"`
	// Label is the creator's Config.Label (header label, layout 3.1; ""
	// in a 3.0 ring): at most MaxLabel bytes of valid UTF-8, whatever
	// the header holds (see Config.Label).
	Label string `json:"label"`
	Ready bool   `json:"ready"`
	// AsymmetricFences: publications are release stores, and a side
	// calls membarrier(2) before it sleeps (see Config.SymmetricFences).
	AsymmetricFences bool      `json:"asymmetric_fences"`
	ProducerClosed   bool      `json:"producer_closed"`
	ConsumerClosed   bool      `json:"consumer_closed"`
	Producer         SideStats `json:"producer"`
	Consumer         SideStats `json:"consumer"`
}

// Stats reads the counters of both sides and the fill level. It works on a
// read-only attach, from any process, and is safe to call from any
// goroutine at any time; after Ring.Close it returns the zero Stats.
func (r *Ring) Stats() Stats {
	st, _ := r.snapshot()
	return st
}

// snapshot is Stats, and false once Close has begun. It reads under the
// lock, so that Close, which takes it first, cannot unmap the header
// meanwhile.
func (r *Ring) snapshot() (Stats, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Stats{}, false
	}
	return r.stats(), true
}

func (r *Ring) stats() Stats { return statsOf(r.h, r.g) }

// statsOf reads the Stats of header h, whose geometry g was validated.
func statsOf(h *header, g geometry) Stats {
	head, tail, _ := cursors(h)
	st := h.state.Load()
	return Stats{
		SlotSize:         int(g.slotSize),
		Slots:            int(g.slots),
		Fill:             int(fill(h, g)),
		MaxMessage:       int(g.maxMsg),
		Created:          time.Unix(0, h.created),
		Label:            readLabel(h),
		Ready:            st&stateReady != 0,
		AsymmetricFences: g.flags&flagAsymmetric != 0,
		ProducerClosed:   st&stateProducerClosed != 0,
		ConsumerClosed:   st&stateConsumerClosed != 0,
		Producer:         sideStats(&h.prod, head),
		Consumer:         sideStats(&h.cons, tail),
	}
}

func sideStats(s *side, cursor uint64) SideStats {
	id := identity(s.owner.Load())
	return SideStats{
		PID:      id.pid(),
		Alive:    id.alive(),
		Messages: cursor,
		Bytes:    s.bytes.Load(),
		Stalls:   s.stalls.Load(),
		Waits:    s.waits.Load(),
		Wakes:    s.wakes.Load(),
	}
}
