package app

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

const shmringUsage = `usage: shmring COMMAND [flags] [args]

Commands:
  ls [-a] [-json [-connections]]
                                list rings: key, id, size, slot size and count,
                                fill level, producer and consumer, nattch,
                                label; then connections (package conn): name,
                                server and client, each ring's id and fill
                                (-a: every SysV segment, rings or not;
                                -json: one array of segments; -connections:
                                an object, the segments and the connections)
  stat [-watch] [-json] KEY | -id ID
                                a ring's header and live counters, by key or
                                by segment id (a private ring has no key)
                                (-watch: refresh every -interval until Ctrl-C)
  rm [-force] KEY...            remove rings; one with a live producer or
                                consumer, or a segment that is not a ring,
                                only with -force
  rm -stale [-zeroed] [-dry-run]
                                remove every stale ring: no live producer or
                                consumer and nobody attached (nattch 0); and
                                every ring never initialised (the ring's
                                magic, a half-written header) whose creator
                                is gone and that nobody attached. Other
                                segments are listed, never touched: one
                                that may be a ring whose creator died before
                                its first store (zeros, a ring's size,
                                creator gone) with the command that removes
                                it; -zeroed removes those too
  create [-size N] [-slot-size N] [-slots N] [-mode 0600] KEY
                                create a ring and leave it for a producer and
                                a consumer (-size is the message size, the
                                ring's largest, and -slot-size the slot's, as
                                theirs)

KEY is hex, as ipcs shows it (0x5e7a0001). Exit status: 0 ok, 1 failure,
2 bad usage.
`

// Shmring runs the shmring command with args (without the program name)
// and returns its exit status.
func Shmring(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, shmringUsage)
		return 2
	}
	o := &ops{stdout: stdout, stderr: stderr}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, shmringUsage)
		return 0
	case "ls", "list":
		err = o.ls(rest)
	case "stat":
		err = o.stat(rest)
	case "rm", "remove":
		err = o.rm(rest)
	case "create":
		err = o.create(rest)
	default:
		err = usageErr("unknown command %q (want ls, stat, rm or create; -h for help)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		printErr(stderr, "shmring", err)
	}
	return exitCode(err)
}

type ops struct {
	stdout, stderr io.Writer
}

// flags makes a subcommand's flag set; parse then accepts flags before,
// between and after the positional arguments.
func (o *ops) flags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("shmring "+name, flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	fs.Usage = func() {
		fmt.Fprintf(o.stderr, "usage: shmring %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// entry is one segment and, if it holds a ring, the ring's state.
type entry struct {
	info   shmseg.Info
	isRing bool
	why    string // why it is not a ring
	err    error  // and the error that said so
	st     ring.Stats
}

// probe attaches a segment read-only and reads its ring header. A segment
// that is not a ring (or cannot be read) comes back with why set. The probe
// detaches before it returns, so nattch is as it was.
func probe(info shmseg.Info, ready time.Duration) entry {
	e := entry{info: info}
	r, err := ring.OpenID(info.ID, ring.Options{ReadOnly: true, ReadyTimeout: ready})
	if err != nil {
		e.why, e.err = notRing(err), err
		return e
	}
	e.isRing, e.st = true, r.Stats()
	_ = r.Close()
	return e
}

func notRing(err error) string {
	switch {
	case errors.Is(err, shmseg.ErrPermission):
		return "no read permission"
	case errors.Is(err, shmseg.ErrNotExist):
		return "gone"
	case errors.Is(err, ring.ErrVersion):
		return "ring of another layout version"
	case errors.Is(err, ring.ErrCorrupt):
		return "corrupt ring"
	case errors.Is(err, ring.ErrNotRing):
		return "not a ring (no ring magic)"
	case errors.Is(err, ring.ErrNotReady):
		return "not a ring (never initialised)"
	}
	return "not a ring"
}

// side describes one role for humans: "-" never claimed, "closed", or
// "PID live" / "PID dead".
func side(s ring.SideStats, closed bool) string {
	switch {
	case closed:
		return "closed"
	case s.PID == 0:
		return "-"
	case s.Alive:
		return strconv.Itoa(s.PID) + " live"
	}
	return strconv.Itoa(s.PID) + " dead"
}

// SegmentJSON is one element of "shmring ls -json" and the object of
// "shmring stat -json": the segment's fields and, for a ring, ring.Stats
// beside them under its own JSON names (docs/OPERATIONS.md, "Stats as
// JSON"). Stats is nil, and none of its fields printed, for a segment that
// is not a ring.
type SegmentJSON struct {
	Key         string `json:"key"`
	ID          int    `json:"id"`
	Size        uint64 `json:"size"`
	Nattch      uint64 `json:"nattch"`
	Ring        bool   `json:"ring"`
	NotRing     string `json:"not_ring,omitempty"`
	*ring.Stats        // its fields are promoted into this object
}

func (e entry) json() SegmentJSON {
	j := SegmentJSON{Key: e.info.Key.String(), ID: int(e.info.ID), Size: e.info.Size,
		Nattch: e.info.Nattch, Ring: e.isRing, NotRing: e.why}
	if e.isRing {
		st := e.st
		// The same string whatever the zone of the machine that runs
		// the command.
		st.Created = st.Created.UTC()
		j.Stats = &st
	}
	return j
}

// probeTimeout is how long ls and rm -stale wait for a segment to show a
// ring header: a ring being created shows it within microseconds, and every
// other segment costs this much.
const probeTimeout = 20 * time.Millisecond

func (o *ops) ls(args []string) error {
	fs := o.flags("ls", "[-a] [-json [-connections]]")
	all := fs.Bool("a", false, "list every SysV segment, not only rings")
	asJSON := fs.Bool("json", false, "print one JSON array, of the segments")
	withConns := fs.Bool("connections", false, `with -json: print an object instead, the array under "segments" and the connections beside it, under "connections"`)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("ls: unexpected argument %q", pos[0])
	}
	if *withConns && !*asJSON {
		return usageErr("ls: -connections goes with -json (the text lists connections anyway)")
	}
	infos, err := shmseg.List()
	if err != nil {
		return err
	}
	var entries []entry
	for _, info := range infos {
		if e := probe(info, probeTimeout); e.isRing || *all {
			entries = append(entries, e)
		}
	}
	conns, bare := connections(entries)
	if *asJSON {
		out := make([]SegmentJSON, 0, len(entries))
		for _, e := range entries {
			out = append(out, e.json())
		}
		if !*withConns {
			// The array alone, as before connections were listed:
			// scripts that read it go on working.
			return printJSON(o.stdout, out)
		}
		cs := make([]ConnectionJSON, 0, len(conns))
		for _, c := range conns {
			cs = append(cs, c.json())
		}
		return printJSON(o.stdout, LsJSON{Segments: out, Connections: cs})
	}
	if err := writeBare(o.stdout, bare, *all); err != nil {
		return err
	}
	return writeConnections(o.stdout, conns)
}

// LsJSON is the object "shmring ls -json -connections" prints: the array
// that ls -json prints alone, and the connections made of its rings.
type LsJSON struct {
	Segments    []SegmentJSON    `json:"segments"`
	Connections []ConnectionJSON `json:"connections"`
}

// writeBare prints the table of ls: the rings that are no connection's,
// and with all the segments that are not rings. The LABEL column is there
// only if a ring in it has a label.
func writeBare(w io.Writer, entries []entry, all bool) error {
	labels := slices.ContainsFunc(entries, func(e entry) bool { return e.isRing && e.st.Label != "" })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "KEY\tID\tSIZE\tSLOT\tSLOTS\tFILL\tPRODUCER\tCONSUMER\tNATTCH"
	if labels {
		head += "\tLABEL"
	}
	if all {
		head += "\tNOTE"
	}
	fmt.Fprintln(tw, head)
	for _, e := range entries {
		if !e.isRing {
			fmt.Fprintf(tw, "%v\t%d\t%d\t-\t-\t-\t-\t-\t%d", e.info.Key, e.info.ID, e.info.Size, e.info.Nattch)
			if labels {
				fmt.Fprint(tw, "\t-")
			}
			fmt.Fprintf(tw, "\t%s\n", e.why)
			continue
		}
		st := e.st
		fmt.Fprintf(tw, "%v\t%d\t%d\t%d\t%d\t%d (%d%%)\t%s\t%s\t%d", e.info.Key, e.info.ID, e.info.Size,
			st.SlotSize, st.Slots, st.Fill, st.Fill*100/st.Slots,
			side(st.Producer, st.ProducerClosed), side(st.Consumer, st.ConsumerClosed), e.info.Nattch)
		if labels {
			fmt.Fprintf(tw, "\t%s", cmp.Or(shown(st.Label), "-"))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// messagesUpTo describes a ring's largest message, max bytes, in slots of
// slotSize bytes: "messages up to 100 bytes", or "messages up to 1048576
// bytes (65 slots)" when it travels in fragments.
func messagesUpTo(max, slotSize int) string {
	s := fmt.Sprintf("messages up to %d bytes", max)
	if n := slotsPerMessage(max, slotSize); n > 1 {
		s += fmt.Sprintf(" (%d slots)", n)
	}
	return s
}

// keyArg parses the one KEY argument of a subcommand.
func keyArg(cmd string, pos []string) (shmseg.Key, error) {
	if len(pos) != 1 {
		return 0, usageErr("%s: want one KEY, got %d arguments", cmd, len(pos))
	}
	k, err := ParseKey(pos[0])
	if err != nil {
		return 0, usageErr("%s: %v", cmd, err)
	}
	return k, nil
}

func (o *ops) stat(args []string) error {
	fs := o.flags("stat", "[-watch] [-interval 1s] [-json] KEY | -id ID")
	watch := fs.Bool("watch", false, "refresh every -interval until Ctrl-C")
	interval := fs.Duration("interval", time.Second, "refresh period of -watch")
	n := fs.Int("n", 0, "with -watch: stop after `N` refreshes (0: until Ctrl-C)")
	asJSON := fs.Bool("json", false, "print a JSON object (one per refresh)")
	byID := fs.Int("id", -1, "the segment `ID` (as ls and ipcs -m show it) instead of a KEY: for a ring without a key, "+
		"private or marked for removal, such as a connection's")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *interval <= 0 {
		return usageErr("stat: -interval %v: want a positive duration", *interval)
	}
	var id shmseg.ID
	name := ""
	switch {
	case *byID >= 0 && len(pos) > 0:
		return usageErr("stat: want a KEY or -id, not both")
	case *byID >= 0:
		id, name = shmseg.ID(*byID), fmt.Sprintf("id %d", *byID)
	case *byID != -1:
		return usageErr("stat: -id %d: want a segment id, 0 or more", *byID)
	default:
		key, err := keyArg("stat", pos)
		if err != nil {
			return err
		}
		if id, err = shmseg.Open(key); err != nil {
			return err
		}
		name = fmt.Sprintf("%v (id %d)", key, id)
	}
	r, err := ring.OpenID(id, ring.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("segment %s is %s: %w", name, notRing(err), err)
	}
	defer r.Close()
	if !*watch {
		_, err := o.show(r, nil, 0, *asJSON, false)
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	clear := !*asJSON && isTerminal(o.stdout)
	var prev *ring.Stats
	var prevAt time.Time
	t := time.NewTicker(*interval)
	defer t.Stop()
	for i := 1; ; i++ {
		now := time.Now()
		st, err := o.show(r, prev, now.Sub(prevAt), *asJSON, clear)
		if err != nil || st == nil {
			return err
		}
		prev, prevAt = st, now
		if *n > 0 && i >= *n {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// show prints r's state; with prev (from dt ago), rates too. It returns
// nil stats when the segment has been removed (the watch ends).
func (o *ops) show(r *ring.Ring, prev *ring.Stats, dt time.Duration, asJSON, clear bool) (*ring.Stats, error) {
	info, err := r.Segment().Stat()
	if err != nil {
		return nil, err
	}
	if info.Nattch > 0 {
		info.Nattch-- // not counting this process's own attach
	}
	st := r.Stats()
	e := entry{info: *info, isRing: true, st: st}
	if asJSON {
		if err := printJSON(o.stdout, e.json()); err != nil {
			return nil, err
		}
	} else {
		var b strings.Builder
		if clear {
			b.WriteString("\033[H\033[2J")
		}
		writeStat(&b, e, prev, dt)
		if _, err := io.WriteString(o.stdout, b.String()); err != nil {
			return nil, err
		}
	}
	if info.Removed {
		return nil, nil
	}
	return &st, nil
}

func writeStat(b *strings.Builder, e entry, prev *ring.Stats, dt time.Duration) {
	st, info := e.st, e.info
	fmt.Fprintf(b, "ring %v (id %d)\n", info.Key, info.ID)
	state := "ready"
	if !st.Ready {
		state = "initialising"
	}
	if info.Removed {
		state += ", removed (goes at the last detach)"
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  segment\t%d bytes, mode %#o, uid %d, nattch %d, creator pid %d, last pid %d\n",
		info.Size, uint32(info.Mode.Perm()), info.UID, info.Nattch, info.CPID, info.LPID)
	fmt.Fprintf(tw, "  layout\t%d slots of %d bytes, %s, %s fences\n",
		st.Slots, st.SlotSize, messagesUpTo(st.MaxMessage, st.SlotSize), fencesName(st.AsymmetricFences))
	if st.Label != "" {
		fmt.Fprintf(tw, "  label\t%s", shown(st.Label))
		if name, dir, ok := conn.ParseRingLabel(st.Label); ok {
			what := map[string]string{conn.ServerToClient: "server to client", conn.ClientToServer: "client to server"}[dir]
			fmt.Fprintf(tw, " (connection %s, %s)", shown(name), what)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "  created\t%s (%s ago)\n", st.Created.Format(time.RFC3339), time.Since(st.Created).Round(time.Second))
	fmt.Fprintf(tw, "  state\t%s\n", state)
	fmt.Fprintf(tw, "  fill\t%d of %d slots (%.1f%%)\n", st.Fill, st.Slots, float64(st.Fill)*100/float64(st.Slots))
	sides := []struct {
		name   string
		s      ring.SideStats
		closed bool
		prev   uint64
		event  string
	}{
		{"producer", st.Producer, st.ProducerClosed, 0, "full"},
		{"consumer", st.Consumer, st.ConsumerClosed, 0, "empty"},
	}
	if prev != nil {
		sides[0].prev, sides[1].prev = prev.Producer.Messages, prev.Consumer.Messages
	}
	for _, sd := range sides {
		// The cursors count slots: a message in fragments takes several.
		fmt.Fprintf(tw, "  %s\t%s, %d slots, %d bytes, %s %d times, %d futex sleeps, %d wakes sent",
			sd.name, side(sd.s, sd.closed), sd.s.Messages, sd.s.Bytes, sd.event, sd.s.Stalls, sd.s.Waits, sd.s.Wakes)
		if prev != nil && dt > 0 {
			fmt.Fprintf(tw, ", %s slots/s", si(float64(sd.s.Messages-sd.prev)/dt.Seconds()))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}

func (o *ops) rm(args []string) error {
	fs := o.flags("rm", "[-force] KEY... | -stale [-zeroed] [-dry-run]")
	force := fs.Bool("force", false, "remove a ring even if a producer or consumer is alive, or a segment that is not a ring")
	stale := fs.Bool("stale", false, "remove every ring with no live producer or consumer and nattch 0, "+
		"and every ring whose creator died while writing its header (magic, never ready) and nattch 0")
	zeroed := fs.Bool("zeroed", false, "with -stale: also remove segments of all zeros and of a ring's size whose creator "+
		"is gone and nattch 0 (a ring whose creator died before its first store, or another program's segment)")
	dry := fs.Bool("dry-run", false, "with -stale: say what would be removed, remove nothing")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *stale && len(pos) > 0:
		return usageErr("rm: -stale takes no KEY")
	case *stale && *force:
		return usageErr("rm: -stale never removes a ring in use, so -force cannot go with it")
	case *stale:
		return o.rmStale(*dry, *zeroed)
	case *dry:
		return usageErr("rm: -dry-run goes with -stale")
	case *zeroed:
		return usageErr("rm: -zeroed goes with -stale (to remove one segment: rm -force KEY)")
	case len(pos) == 0:
		return usageErr("rm: want KEY... or -stale")
	}
	var errs []error
	for _, a := range pos {
		key, err := ParseKey(a)
		if err != nil {
			return usageErr("rm: %v", err)
		}
		if err := o.rmKey(key, *force); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *ops) rmKey(key shmseg.Key, force bool) error {
	id, err := shmseg.Open(key)
	if err != nil {
		return err
	}
	info, err := shmseg.Stat(id)
	if err != nil {
		return err
	}
	e := probe(*info, time.Second)
	switch {
	case !e.isRing && !force:
		return fmt.Errorf("segment %v (id %d) is %s: not removed (-force removes it anyway)", key, id, e.why)
	case e.isRing && !force && (e.st.Producer.Alive || e.st.Consumer.Alive):
		return fmt.Errorf("ring %v (id %d) is in use (producer %s, consumer %s): not removed (-force removes it anyway)",
			key, id, side(e.st.Producer, e.st.ProducerClosed), side(e.st.Consumer, e.st.ConsumerClosed))
	}
	if err := shmseg.Remove(id); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "removed %v (id %d)\n", key, id)
	return nil
}

// rmStale removes the rings nobody uses. A ring is stale when neither role
// is held by a live process and no process has it attached; the second
// condition keeps a ring that a process has opened and not yet claimed a
// role in. nattch is read again after the probe's own attach is gone, just
// before the removal. It also removes what a creator killed after its
// first store and before it published the header leaves (see
// rmUnfinished).
//
// It removes only what it can prove is a ring: the ring's magic at offset
// 0. A creator killed between shmget and that first store leaves zeros,
// which nobody can tell from another program's segment; those it lists
// with the command that removes one, and removes with zeroed only.
func (o *ops) rmStale(dry, zeroed bool) error {
	infos, err := shmseg.List()
	if err != nil {
		return err
	}
	return o.rmStaleOf(infos, dry, zeroed)
}

// rmStaleOf is rmStale over the segments infos (the tests pass their own).
func (o *ops) rmStaleOf(infos []shmseg.Info, dry, zeroed bool) error {
	var errs []error
	for _, info := range infos {
		if info.Removed {
			continue // going already
		}
		e := probe(info, probeTimeout)
		name := fmt.Sprintf("%v (id %d)", info.Key, info.ID)
		if !e.isRing {
			if errors.Is(e.err, ring.ErrNotReady) || errors.Is(e.err, ring.ErrNotRing) {
				if err := o.rmUnfinished(info, name, dry, zeroed); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			fmt.Fprintf(o.stdout, "skip   %s: %s\n", name, e.why)
			continue
		}
		st := e.st
		if st.Producer.Alive || st.Consumer.Alive {
			fmt.Fprintf(o.stdout, "keep   %s: producer %s, consumer %s\n", name,
				side(st.Producer, st.ProducerClosed), side(st.Consumer, st.ConsumerClosed))
			continue
		}
		now, err := shmseg.Stat(info.ID)
		if err != nil || now.Key != info.Key || now.Removed {
			continue // gone or replaced meanwhile
		}
		if now.Nattch > 0 {
			fmt.Fprintf(o.stdout, "keep   %s: no live producer or consumer, but attached %d times\n", name, now.Nattch)
			continue
		}
		if dry {
			fmt.Fprintf(o.stdout, "stale  %s: would remove\n", name)
			continue
		}
		if err := shmseg.Remove(info.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.stdout, "removed %s: producer %s, consumer %s\n", name,
			side(st.Producer, st.ProducerClosed), side(st.Consumer, st.ConsumerClosed))
	}
	return errors.Join(errs...)
}

// rmUnfinished decides about a segment whose probe found no ready header
// (ring.ErrNotReady, ring.ErrNotRing). ring.Create makes the segment
// (shmget), attaches it, writes the magic first, the rest of the header
// next and publishes READY last; a creator killed in between leaves a
// segment that nobody will ever finish: a header with the magic and state
// 0, or, killed before its first store, zeros. The first is removed when
// all of these hold, each checked as late as it can be:
//
//   - its size is one ring.SegmentSize gives;
//   - its header holds the magic and state 0;
//   - its creator (shm_cpid) is not a live process: a live one may still
//     be initialising it (between shmget and shmat nattch is 0). A reused
//     pid only makes us keep the segment;
//   - nobody has it attached (nattch 0, read again just before IPC_RMID).
//
// Zeros are what any program's new segment holds, so a segment of zeros
// that passes the other checks is only listed, with the command that
// removes it, unless zeroed asks for it: then every byte of it must be
// zero too. Every other segment is skipped as not a ring, and never
// touched.
func (o *ops) rmUnfinished(info shmseg.Info, name string, dry, zeroed bool) error {
	kind, why := unfinished(info)
	if kind == notUnfinished {
		fmt.Fprintf(o.stdout, "skip   %s: %s\n", name, why)
		return nil
	}
	if gone, why := creatorGone(info.CPID); !gone {
		fmt.Fprintf(o.stdout, "keep   %s: never initialised, but %s\n", name, why)
		return nil
	}
	what := "never initialised"
	if kind == zeroHeader {
		if !zeroed {
			fmt.Fprintf(o.stdout, "skip   %s: no ring magic (its header is zeros), creator pid %d gone: "+
				"a ring never initialised, or another program's segment; to remove it: %s\n", name, info.CPID, removeCommand(info))
			return nil
		}
		if why := allZeros(info); why != "" {
			fmt.Fprintf(o.stdout, "skip   %s: %s\n", name, why)
			return nil
		}
		what = "all zeros"
	}
	now, err := shmseg.Stat(info.ID)
	if err != nil || now.Key != info.Key || now.Removed || now.CPID != info.CPID {
		return nil // gone or replaced meanwhile
	}
	if now.Nattch > 0 {
		fmt.Fprintf(o.stdout, "keep   %s: %s, creator pid %d gone, but attached %d times\n",
			name, what, info.CPID, now.Nattch)
		return nil
	}
	if dry {
		fmt.Fprintf(o.stdout, "stale  %s: would remove (%s, creator pid %d gone)\n", name, what, info.CPID)
		return nil
	}
	if err := shmseg.Remove(info.ID); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "removed %s: %s, creator pid %d gone\n", name, what, info.CPID)
	return nil
}

// removeCommand is the command that removes the one segment of info.
func removeCommand(info shmseg.Info) string {
	if info.Key == shmseg.IPCPrivate {
		return fmt.Sprintf("ipcrm -m %d", info.ID)
	}
	return fmt.Sprintf("shmring rm -force %v", info.Key)
}

// What the header of a segment without a ready ring says (unfinished).
type unfinishedKind int

const (
	notUnfinished unfinishedKind = iota // neither below: not a ring
	halfWritten                         // the magic and state 0: a ring being made
	zeroHeader                          // zeros: a ring not begun, or another program's segment
)

// unfinished tells whether the segment of info may be a ring whose
// creator has not finished it: a ring's size, and a header with the magic
// (the creator's first store) and state 0 (READY is its last), or all
// zeros. Otherwise it says why not, as the note of a segment that is not a
// ring. It reads the header through a read-only attach of its own
// (ring.Inspect) and detaches before it judges.
func unfinished(info shmseg.Info) (unfinishedKind, string) {
	if !ring.IsSegmentSize(info.Size) {
		return notUnfinished, fmt.Sprintf("not a ring (never initialised, and %d bytes is no ring's size)", info.Size)
	}
	// Inspect's error is not needed: a header that is no ring's is
	// judged by its words, which Inspect reports whatever it found.
	var hdr ring.HeaderInfo
	if err := readSegment(info, func(b []byte) { hdr, _ = ring.Inspect(b) }); err != nil {
		return notUnfinished, "not a ring (header unreadable: " + err.Error() + ")"
	}
	switch {
	case hdr.Zero:
		return zeroHeader, ""
	case hdr.Magic == ring.Magic && hdr.State == 0:
		return halfWritten, ""
	}
	return notUnfinished, fmt.Sprintf("not a ring (never ready, and its header is neither zeros nor a ring's being made: magic %#x, state %#x)",
		hdr.Magic, hdr.State)
}

// allZeros returns "" if every byte of the segment of info is zero, or
// else why it is not a ring. It reads the whole segment: pages never
// written are allocated as it reads them, until it is removed.
func allZeros(info shmseg.Info) string {
	zero := true
	err := readSegment(info, func(b []byte) {
		var z [4096]byte
		for len(b) > 0 && zero {
			n := min(len(b), len(z))
			zero, b = bytes.Equal(b[:n], z[:n]), b[n:]
		}
	})
	switch {
	case err != nil:
		return "not a ring (unreadable: " + err.Error() + ")"
	case !zero:
		return "not a ring (zeros in the header, data after it)"
	}
	return ""
}

// readSegment attaches the segment of info read-only, hands its bytes to
// read, and detaches.
func readSegment(info shmseg.Info, read func([]byte)) error {
	seg, err := shmseg.Attach(info.ID, &shmseg.AttachOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	b, err := seg.Bytes()
	if err == nil {
		read(b)
	}
	if derr := seg.Detach(); err == nil {
		err = derr
	}
	return err
}

// creatorGone reports whether the process pid (a segment's creator) no
// longer exists, and describes it. kill(pid, 0) failing with ESRCH is the
// only answer taken for gone: EPERM means a process of another user has
// the pid, and pid 0 a creator outside this PID namespace. If the pid was
// reused, the segment is kept: the safe mistake.
func creatorGone(pid int) (bool, string) {
	if pid <= 0 {
		return false, "its creator is unknown (not in this PID namespace)"
	}
	switch err := syscall.Kill(pid, 0); {
	case errors.Is(err, syscall.ESRCH):
		return true, fmt.Sprintf("creator pid %d gone", pid)
	case err == nil || errors.Is(err, syscall.EPERM):
		return false, fmt.Sprintf("creator pid %d is alive and may still be initialising it", pid)
	default:
		return false, fmt.Sprintf("creator pid %d: %v", pid, err)
	}
}

func (o *ops) create(args []string) error {
	fs := o.flags("create", "[-size N] [-slot-size N] [-slots N] [-mode 0600] [-symmetric-fences] KEY")
	size := fs.Int("size", DefaultSize, "message size in bytes (the producer's and consumer's -size): the largest the ring carries")
	slotSize := fs.Int("slot-size", 0, "bytes per slot, a multiple of 8 (the producer's and consumer's -slot-size); 0: derived from -size")
	slots := fs.Int("slots", DefaultSlots, "number of slots, a power of two")
	mode := fs.String("mode", "0600", "permission bits, octal")
	symmetric := fs.Bool("symmetric-fences", false, "publish with full fences instead of relying on membarrier(2), for a peer that cannot call it")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	key, err := keyArg("create", pos)
	if err != nil {
		return err
	}
	m, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil || m&^0o777 != 0 {
		return usageErr("create: -mode %q: want octal permission bits like 0600", *mode)
	}
	// The commands' bound (MaxSize), not the ring's (ring.MaxMessageLimit):
	// a ring made for them is no use to them with messages they cannot hold.
	if *size < 1 || *size > MaxSize {
		return usageErr("create: -size %d: want 1 to %d", *size, MaxSize)
	}
	ss, err := checkSlotSize(*size, *slotSize)
	if err != nil {
		return usageErr("create: %v", err)
	}
	cfg := ring.Config{MaxMessage: *size, SlotSize: ss, Slots: *slots, Mode: os.FileMode(m), SymmetricFences: *symmetric}
	if _, err := ring.SegmentSize(cfg.SlotSize, cfg.Slots); err != nil {
		return usageErr("create: %v", err)
	}
	r, err := ring.Create(key, cfg)
	if err != nil {
		return err
	}
	id, fences := r.Segment().ID(), fencesName(r.Stats().AsymmetricFences)
	if err := r.Close(); err != nil { // detaches; the ring stays
		return err
	}
	fmt.Fprintf(o.stdout, "created ring %v (id %d): %d slots of %d bytes, %s, %s fences\n",
		key, id, cfg.Slots, cfg.SlotSize, messagesUpTo(cfg.MaxMessage, cfg.SlotSize), fences)
	return nil
}
