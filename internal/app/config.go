package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Role is the part a command plays on the ring.
type Role int

const (
	Producer Role = iota
	Consumer
)

func (r Role) String() string {
	if r == Producer {
		return "producer"
	}
	return "consumer"
}

func (r Role) peer() Role { return 1 - r }

// DefaultKey is the ring used when neither -key nor -path is given: "shmr".
const DefaultKey = 0x73686d72

// Liveness is how often a command checks, while it waits, that its peer's
// process is alive (ring.Options.Liveness). It is a quarter of the ring
// package's default, so that a dead peer ends a run within half a second.
// No flag changes it; -h says what it is.
const Liveness = 250 * time.Millisecond

// Defaults of the flags.
const (
	DefaultSize          = 64
	DefaultSlots         = 4096
	DefaultProducerCount = 1_000_000
	DefaultTimeout       = 10 * time.Second
)

// MaxSize bounds -size: 1 GiB, ring.DefaultMaxMessage. The ring carries
// messages up to ring.MaxMessageLimit (1 TiB), but each command holds a
// whole message in memory of its own (the producer builds it, the consumer
// receives it to check its CRC), so -size is what each process allocates;
// past a gibibyte that is a typo more often than a test.
const MaxSize = ring.DefaultMaxMessage

// Config holds the flags of the producer and the consumer. FlagSet binds
// them; Run checks them.
type Config struct {
	Key      string        // -key, hex
	Path     string        // -path: the key is ftok(path, Proj)
	Proj     int           // -proj
	Size     int           // -size: message bytes
	SlotSize int           // -slot-size: bytes per slot; 0 = derived from -size
	Slots    int           // -slots
	Count    uint64        // -count: messages; 0 = no limit
	Duration time.Duration // -duration; 0 = no limit
	Timeout  time.Duration // -timeout: wait for the ring and for the peer
	Wait     string        // -wait
	Batch    int           // -batch; 0 or 1 = one message per call
	JSON     bool          // -json
	Rate     float64       // -rate (producer): messages/s, 0 = unlimited
	// -symmetric-fences: a ring this command creates uses full fences
	// (ring.Config.SymmetricFences)
	SymmetricFences bool
	NoTrail         bool // -no-trail (consumer): ring.WaitStrategy.NoTrail
}

// FlagSet returns the flag set of role's command with cfg bound to it and
// set to the defaults. With flag.ExitOnError, as the commands use it, a bad
// flag exits 2 and -h exits 0 after printing the usage.
func FlagSet(role Role, cfg *Config, handling flag.ErrorHandling) *flag.FlagSet {
	fs := flag.NewFlagSet(role.String(), handling)
	fs.StringVar(&cfg.Key, "key", "", fmt.Sprintf("SysV key of the ring, hex (default %#x unless -path)", DefaultKey))
	fs.StringVar(&cfg.Path, "path", "", "derive the key with ftok(`path`, -proj) instead of -key")
	fs.IntVar(&cfg.Proj, "proj", 1, "ftok project id for -path, 1-255")
	fs.IntVar(&cfg.Size, "size", DefaultSize, fmt.Sprintf("message size in bytes, %d to %d; a message larger than a slot travels in fragments, one per slot", wire.HeaderSize, MaxSize))
	fs.IntVar(&cfg.SlotSize, "slot-size", 0, fmt.Sprintf("bytes per slot, its 4-byte length included, a multiple of 8 (default: -size plus 4, rounded up to 8, at most %d)",
		ring.SlotSizeFor(ring.DefaultMaxSlotPayload)))
	fs.IntVar(&cfg.Slots, "slots", DefaultSlots, "number of slots, a power of two")
	if role == Producer {
		fs.Uint64Var(&cfg.Count, "count", DefaultProducerCount, "messages to send; 0 = until -duration or interrupted")
		fs.DurationVar(&cfg.Duration, "duration", 0, "send for this long (with -count: whichever ends first)")
		fs.Float64Var(&cfg.Rate, "rate", 0, "messages per second; 0 = as fast as possible")
	} else {
		fs.Uint64Var(&cfg.Count, "count", 0, "stop after this many messages; 0 = until the producer closes")
		fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (with -count: whichever ends first)")
	}
	fs.DurationVar(&cfg.Timeout, "timeout", DefaultTimeout, "how long to wait for the ring to be ready and for the "+role.peer().String()+" to show up")
	fs.StringVar(&cfg.Wait, "wait", ring.WaitAdaptive.String(), "how to wait for the peer: spin, yield, futex or adaptive")
	if role == Producer {
		fs.IntVar(&cfg.Batch, "batch", 0, "publish `N` messages at a time, written in place (ReserveBatch, Commit); 0 = Send one by one")
	} else {
		fs.IntVar(&cfg.Batch, "batch", 0, "receive up to `N` messages per call (RecvBatch); 0 = Recv one by one")
		fs.BoolVar(&cfg.NoTrail, "no-trail", false, "never trail a producer that keeps pace: read each message as soon as it is published (lower latency, lower throughput; see ring.WaitStrategy.NoTrail)")
	}
	fs.BoolVar(&cfg.SymmetricFences, "symmetric-fences", false, "if this command creates the ring, publish with full fences instead of relying on membarrier(2), for a peer that cannot call it")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as one JSON object (and no progress line)")
	fs.Usage = func() { usage(fs, role) }
	return fs
}

func usage(fs *flag.FlagSet, role Role) {
	w := fs.Output()
	if role == Producer {
		fmt.Fprint(w, `usage: producer [flags]

Sends numbered, timestamped, checksummed messages into the shmring ring at a
SysV key, creating the ring if no consumer has yet. Stops after -count
messages or -duration, or at Ctrl-C, and prints its throughput.
`)
	} else {
		fmt.Fprint(w, `usage: consumer [flags]

Receives and checks the messages of a producer through the shmring ring at a
SysV key, creating the ring if no producer has yet. Stops when the producer
closes, after -count messages or -duration, or at Ctrl-C, and prints
throughput, one-way latency percentiles and the number of messages lost,
duplicated, reordered or corrupt.
`)
	}
	peer := role.peer()
	fmt.Fprintf(w, `
While it waits for the %s, it checks every %v that the %s's
process is alive (no flag changes this; the ring package's default is %v).
A %s that died ends the run with exit status 1; one found stopped
(SIGSTOP, a debugger) at two checks in a row is noted on stderr and waited
for.
`, peer, Liveness, peer, ring.DefaultLiveness, peer)
	fmt.Fprint(w, "\nflags:\n")
	fs.PrintDefaults()
	fmt.Fprint(w, `
exit status: 0 ok, 1 failure`)
	if role == Consumer {
		fmt.Fprint(w, " (including any message lost, duplicated, reordered or corrupt)")
	}
	fmt.Fprint(w, ", 2 bad usage\n")
}

// settings are a checked Config.
type settings struct {
	role            Role
	key             shmseg.Key
	size            int
	slotSize        int
	slots           int
	perMessage      uint64 // slots a message of size bytes takes (slotsPerMessage)
	count           uint64
	duration        time.Duration
	timeout         time.Duration
	wait            ring.WaitMode
	batch           int
	json            bool
	rate            float64
	symmetricFences bool
	noTrail         bool
}

// errUsage marks errors that are the user's: exit status 2.
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func (c Config) check(role Role, args []string) (settings, error) {
	s := settings{role: role, size: c.Size, slots: c.Slots, count: c.Count,
		duration: c.Duration, timeout: c.Timeout, batch: c.Batch, json: c.JSON, rate: c.Rate,
		symmetricFences: c.SymmetricFences, noTrail: c.NoTrail}
	if len(args) > 0 {
		return s, usageErr("unexpected argument %q (flags only)", args[0])
	}
	switch {
	case c.Key != "" && c.Path != "":
		return s, usageErr("-key and -path both given: choose one")
	case c.Path != "":
		if c.Proj < 1 || c.Proj > 255 {
			return s, usageErr("-proj %d: want 1 to 255", c.Proj)
		}
		k, err := shmseg.Ftok(c.Path, c.Proj)
		if err != nil {
			return s, usageErr("-path: %v", err)
		}
		s.key = k
	case c.Key != "":
		k, err := ParseKey(c.Key)
		if err != nil {
			return s, usageErr("-key: %v", err)
		}
		s.key = k
	default:
		s.key = DefaultKey
	}
	switch {
	case c.Size < wire.HeaderSize:
		return s, usageErr("-size %d: the minimum is %d bytes (sequence number, timestamp and CRC32C)", c.Size, wire.HeaderSize)
	case c.Size > MaxSize:
		return s, usageErr("-size %d: the maximum is %d bytes (each command holds a whole message in memory)", c.Size, MaxSize)
	}
	slotSize, err := checkSlotSize(c.Size, c.SlotSize)
	if err != nil {
		return s, usageErr("%v", err)
	}
	s.slotSize, s.perMessage = slotSize, slotsPerMessage(c.Size, slotSize)
	if _, err := ring.SegmentSize(s.slotSize, c.Slots); err != nil {
		return s, usageErr("-slots %d: want a power of two from 2 to %d", c.Slots, ring.MaxSlots)
	}
	w, err := ring.ParseWaitMode(c.Wait)
	if err != nil {
		return s, usageErr("-wait %q: want spin, yield, futex or adaptive", c.Wait)
	}
	s.wait = w
	switch {
	case c.Duration < 0:
		return s, usageErr("-duration %v is negative", c.Duration)
	case c.Timeout <= 0:
		return s, usageErr("-timeout %v: want a positive duration", c.Timeout)
	case c.Batch < 0:
		return s, usageErr("-batch %d is negative", c.Batch)
	case c.Batch > 1 && s.perMessage > 1:
		// ReserveBatch and RecvBatch hand out one slot per message.
		return s, usageErr("-batch %d: batches hold one slot per message, and -size %d takes %d slots of %d bytes; use -batch 0",
			c.Batch, c.Size, s.perMessage, s.slotSize)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return s, usageErr("-rate %v: want messages per second, 0 for no limit", c.Rate)
	}
	s.batch = max(s.batch, 1)
	return s, nil
}

// checkSlotSize returns the slot for messages of size bytes (-size): slotSize (-slot-size) if
// set (a valid slot, and one that can carry fragments if size does not
// fit it), else the one ring.Config derives: size plus the 4-byte length,
// rounded up to 8, with a payload of at most ring.DefaultMaxSlotPayload.
func checkSlotSize(size, slotSize int) (int, error) {
	if slotSize == 0 {
		return ring.SlotSizeFor(min(size, ring.DefaultMaxSlotPayload)), nil
	}
	if slotSize < ring.MinSlotSize || slotSize > ring.MaxSlotSize || slotSize%8 != 0 {
		return 0, fmt.Errorf("-slot-size %d: want a multiple of 8 from %d to %d", slotSize, ring.MinSlotSize, ring.MaxSlotSize)
	}
	if size > slotSize-4 && slotSize < ring.MinFragmentSlot {
		return 0, fmt.Errorf("-slot-size %d: -size %d does not fit, and fragments need slots of %d bytes or more",
			slotSize, size, ring.MinFragmentSlot)
	}
	return slotSize, nil
}

// slotsPerMessage is the number of slots a message of size bytes takes in
// slots of slotSize bytes (docs/LAYOUT.md, "Fragments"): one if it fits a
// slot's payload (slotSize-4), else a first fragment of slotSize-12 bytes
// (after the length word and the message's total) and as many of
// slotSize-4 as the rest needs. The ring's cursors count slots, so this
// turns its counters into messages of this size.
func slotsPerMessage(size, slotSize int) uint64 {
	if size <= slotSize-4 {
		return 1
	}
	rest, per := uint64(size-(slotSize-12)), uint64(slotSize-4)
	return 1 + (rest+per-1)/per
}

// ParseKey parses a SysV key as ipcs shows it: hex, with or without 0x.
// IPC_PRIVATE (0) is refused: no other process could find that ring.
func ParseKey(s string) (shmseg.Key, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("key %q: want up to 8 hex digits, as ipcs shows it (0x5e7a0001)", s)
	}
	if v == 0 {
		return 0, fmt.Errorf("key %q is IPC_PRIVATE, which no other process can open", s)
	}
	return shmseg.Key(int32(uint32(v))), nil
}

// exitCode maps an error to the process's exit status.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

// printErr prints err to w as "prog: message", without the errUsage tag.
func printErr(w io.Writer, prog string, err error) {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, errUsage.Error()+": ")
	fmt.Fprintf(w, "%s: %s\n", prog, msg)
}
