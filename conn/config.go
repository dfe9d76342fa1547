package conn

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shmring/shmring/ring"
)

// Defaults of a Config's zero fields.
const (
	// DefaultSlots and DefaultSlotSize make each direction's ring 512 KiB:
	// messages up to about 1 KiB in one slot, longer ones in fragments
	// (up to MaxMessage), and a thousand connections still a modest sum.
	DefaultSlots    = 512
	DefaultSlotSize = 1024
	// DefaultLiveness bounds each sleep of a side: a dead peer is noticed
	// at once through the socket, so the check is only the fallback for a
	// stopped one (ErrPeerUnresponsive after two intervals; never for a
	// peer in another PID namespace, whose pid /proc cannot judge). Each check
	// wakes a sleeping side, for about 100 µs of CPU on the project's VM
	// (poll, /proc, membarrier, sleep again): at 5 s a server with a
	// thousand idle clients spent 2% of a core on them (bench/peers,
	// BenchmarkIdleClients); at 30 s it is a sixth of that.
	DefaultLiveness = 30 * time.Second
	// DefaultHandshakeTimeout: see Config.HandshakeTimeout.
	DefaultHandshakeTimeout = 5 * time.Second
)

// Config is the settings of a Listener (the rings it makes, whom it lets
// in) or of a Dial. The zero Config is the defaults.
type Config struct {
	// MaxMessage, SlotSize and Slots shape each of the connection's two
	// rings, as in ring.Config; the server's apply (a client's are
	// ignored). Zero MaxMessage means ring.DefaultMaxMessage.
	MaxMessage, SlotSize, Slots int
	// Wait is how this side waits (ring.WaitStrategy): by default it
	// polls for tens of microseconds, then sleeps on an eventfd through
	// Go's netpoller, which holds no thread.
	Wait ring.WaitStrategy
	// Liveness bounds each sleep (ring.Options.Liveness); zero means
	// DefaultLiveness.
	Liveness time.Duration
	// HandshakeTimeout bounds the handshake: the server's whole half of
	// it, from accept to the client's ready (a client that connects and
	// then stalls is dropped after it), and each step of the client's
	// half. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// AllowUIDs are the users, besides this process's own (and root's,
	// for a client judging its server), whose processes may be at the
	// other end. A server refuses any other client (ErrRefused on the
	// client's side); a client refuses a server under any other uid
	// (ErrUntrusted), which keeps it from talking to a process that took
	// the name first. A server hands each segment of an allowed client of
	// another uid over to that uid (shmseg.SetOwner; mode 0600 stays, and
	// the server, its creator, keeps access).
	AllowUIDs []int
}

func (c Config) withDefaults() Config {
	if c.Slots == 0 {
		c.Slots = DefaultSlots
	}
	if c.SlotSize == 0 {
		c.SlotSize = DefaultSlotSize
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = ring.DefaultMaxMessage
	}
	if c.Liveness <= 0 {
		c.Liveness = DefaultLiveness
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return c
}

// allowed reports whether uid may be at the other end; root counts for a
// client judging its server (root can read any process's memory anyway).
func (c Config) allowed(uid int, rootToo bool) bool {
	return uid == os.Geteuid() || rootToo && uid == 0 || slices.Contains(c.AllowUIDs, uid)
}

// Name rules: a name with a slash is a path in the file system, where the
// socket file lives while the server listens; any other is a name in the
// abstract namespace of Unix sockets (unix(7)), "@shmring/" and the name,
// which no file backs, so nothing is left behind whatever happens to the
// server. Abstract names belong to the network namespace; a path can be
// bind-mounted into a container.
const abstractPrefix = "@shmring/"

// maxAddr is the longest sun_path (108 bytes, less the NUL a path needs).
const maxAddr = 107

// address is the socket address of name.
func address(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("conn: empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("conn: name %q holds a NUL byte", name)
	}
	addr := name
	if !strings.Contains(name, "/") {
		addr = abstractPrefix + name
	}
	if len(addr) > maxAddr {
		return "", fmt.Errorf("conn: name %q: socket address %d bytes long, at most %d", name, len(addr), maxAddr)
	}
	return addr, nil
}
