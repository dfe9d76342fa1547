package app

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"unicode"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/ring"
)

// connection is a conn connection put back together from its rings'
// labels (conn.RingLabel): s2c, the server's sending ring, and c2s, the
// client's. One of the two is nil in a half connection: its other ring is
// gone (its last process detached, conn's rings being marked for removal
// from the start), as while a side that closes or dies lets go of them.
type connection struct {
	name     string
	s2c, c2s *entry
}

// role is one role of a ring, for party.
type role struct {
	s      ring.SideStats
	closed bool
}

// roles are the roles of one of the connection's two processes, the
// server's or the client's: the server produces on s2c and consumes on
// c2s, the client the other way round.
func (c connection) roles(server bool) []role {
	var rs []role
	if c.s2c != nil {
		rs = append(rs, c.s2c.role(server))
	}
	if c.c2s != nil {
		rs = append(rs, c.c2s.role(!server))
	}
	return rs
}

func (c connection) server() []role { return c.roles(true) }
func (c connection) client() []role { return c.roles(false) }

// role is the producer's role of the ring of e, or the consumer's.
func (e *entry) role(producer bool) role {
	if producer {
		return role{e.st.Producer, e.st.ProducerClosed}
	}
	return role{e.st.Consumer, e.st.ConsumerClosed}
}

// holder is the process a party's roles name: the first that names one
// (a closed role names none), or the zero SideStats.
func holder(rs []role) ring.SideStats {
	for _, r := range rs {
		if r.s.PID != 0 {
			return r.s
		}
	}
	return ring.SideStats{}
}

// party describes one end of a connection for humans, as side does a
// role: "PID live", "PID dead", "closed" (every role it had is closed),
// or "-".
func party(rs []role) string {
	if h := holder(rs); h.PID != 0 {
		return side(h, false)
	}
	for _, r := range rs {
		if !r.closed {
			return "-"
		}
	}
	return "closed"
}

// half says which ring a half connection lacks, or "".
func (c connection) half() string {
	switch {
	case c.s2c == nil:
		return "half: no s2c ring"
	case c.c2s == nil:
		return "half: no c2s ring"
	}
	return ""
}

// connections sorts the ring entries into the rings of conn connections,
// paired, and the others (bare rings and, with ls -a, segments that are
// not rings), in their order.
//
// A server makes a connection's two rings one after the other, with the
// same name in their labels: the s2c ring's producer is the server and its
// consumer the client, and c2s has them crosswise. A server has as many
// pairs under its name as it has clients, so rings pair only where those
// pids agree: exactly first, then with a role that names no process (a
// closed one) taken to agree with any, for a connection one of whose
// sides is closing. Among rings that agree, each s2c takes the first c2s
// made after it, in order of creation. Two connections between the same
// two processes under one name have nothing else that tells them apart
// in their headers; their rings may be paired across, which changes no
// name or pid shown, only which ring's fill stands beside which. A ring
// left without a partner is a half connection.
func connections(entries []entry) ([]connection, []entry) {
	type dirs struct{ s2c, c2s []*entry }
	byName := map[string]*dirs{}
	var rest []entry
	for i := range entries {
		e := &entries[i]
		name, dir, ok := "", "", false
		if e.isRing {
			name, dir, ok = conn.ParseRingLabel(e.st.Label)
		}
		if !ok {
			rest = append(rest, *e)
			continue
		}
		d := byName[name]
		if d == nil {
			d = &dirs{}
			byName[name] = d
		}
		if dir == conn.ServerToClient {
			d.s2c = append(d.s2c, e)
		} else {
			d.c2s = append(d.c2s, e)
		}
	}
	var out []connection
	for name, d := range byName {
		made := func(a, b *entry) int {
			return cmp.Or(a.st.Created.Compare(b.st.Created), cmp.Compare(a.info.ID, b.info.ID))
		}
		slices.SortFunc(d.s2c, made)
		slices.SortFunc(d.c2s, made)
		used := make([]bool, len(d.c2s))
		paired := make([]bool, len(d.s2c))
		for _, agree := range []func(a, b int) bool{
			func(a, b int) bool { return a == b },
			func(a, b int) bool { return a == b || a == 0 || b == 0 },
		} {
			for i, s := range d.s2c {
				if paired[i] {
					continue
				}
				for j, c := range d.c2s {
					if used[j] || !agree(s.st.Producer.PID, c.st.Consumer.PID) || !agree(s.st.Consumer.PID, c.st.Producer.PID) {
						continue
					}
					used[j], paired[i] = true, true
					out = append(out, connection{name: name, s2c: s, c2s: c})
					break
				}
			}
		}
		for i, s := range d.s2c {
			if !paired[i] {
				out = append(out, connection{name: name, s2c: s})
			}
		}
		for j, c := range d.c2s {
			if !used[j] {
				out = append(out, connection{name: name, c2s: c})
			}
		}
	}
	first := func(c connection) *entry { return cmp.Or(c.s2c, c.c2s) }
	slices.SortFunc(out, func(a, b connection) int {
		x, y := first(a), first(b)
		return cmp.Or(cmp.Compare(a.name, b.name), x.st.Created.Compare(y.st.Created), cmp.Compare(x.info.ID, y.info.ID))
	})
	return out, rest
}

// writeConnections prints the Connections section of ls.
func writeConnections(w io.Writer, conns []connection) error {
	if len(conns) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nConnections:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVER\tCLIENT\tS2C-ID\tS2C-FILL\tC2S-ID\tC2S-FILL\tNOTE")
	cols := func(e *entry) (id, fill string) {
		if e == nil {
			return "-", "-"
		}
		return strconv.Itoa(int(e.info.ID)), fmt.Sprintf("%d (%d%%)", e.st.Fill, e.st.Fill*100/e.st.Slots)
	}
	for _, c := range conns {
		sid, sfill := cols(c.s2c)
		cid, cfill := cols(c.c2s)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shown(c.name), party(c.server()), party(c.client()),
			sid, sfill, cid, cfill, c.half())
	}
	return tw.Flush()
}

// shown is a label or name as ls and stat print it: as it is, or quoted
// (Go syntax) if it holds anything but printable characters and spaces,
// so that a tab, a newline or an escape sequence in a header, which any
// process that could write the segment may have put there, cannot break
// a table or the terminal.
func shown(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// ConnectionJSON is one element of the "connections" array of
// "shmring ls -json -connections" (docs/OPERATIONS.md, "Stats as JSON").
type ConnectionJSON struct {
	Name   string        `json:"name"` // as its rings' labels have it (conn.RingLabel)
	Server ConnPartyJSON `json:"server"`
	Client ConnPartyJSON `json:"client"`
	S2C    *ConnRingJSON `json:"s2c"`  // server to client; null in a half connection without it
	C2S    *ConnRingJSON `json:"c2s"`  // client to server; likewise
	Half   bool          `json:"half"` // one of the two rings is gone
}

// ConnPartyJSON is one end of a connection: the process its roles name
// (pid 0 once they are closed), and whether it exists.
type ConnPartyJSON struct {
	PID   int  `json:"pid"`
	Alive bool `json:"alive"`
}

// ConnRingJSON is one of a connection's rings, by segment id (its element
// in "segments" has the rest).
type ConnRingJSON struct {
	ID    int `json:"id"`
	Fill  int `json:"fill"`
	Slots int `json:"slots"`
}

func (c connection) json() ConnectionJSON {
	r := func(e *entry) *ConnRingJSON {
		if e == nil {
			return nil
		}
		return &ConnRingJSON{ID: int(e.info.ID), Fill: e.st.Fill, Slots: e.st.Slots}
	}
	p := func(rs []role) ConnPartyJSON {
		h := holder(rs)
		return ConnPartyJSON{PID: h.PID, Alive: h.Alive}
	}
	return ConnectionJSON{Name: c.name, Server: p(c.server()), Client: p(c.client()),
		S2C: r(c.s2c), C2S: r(c.c2s), Half: c.s2c == nil || c.c2s == nil}
}
