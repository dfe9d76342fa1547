package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// connEntry is a ring entry as probe makes it, of a connection's ring
// named name in direction dir, whose producer and consumer are the pids
// prod and cons (0: closed), made at second made.
func connEntry(id int, name, dir string, prod, cons, made int) entry {
	st := ring.Stats{Slots: 8, Label: conn.RingLabel(name, dir), Created: time.Unix(int64(made), 0),
		Producer: ring.SideStats{PID: prod, Alive: prod != 0}, Consumer: ring.SideStats{PID: cons, Alive: cons != 0},
		ProducerClosed: prod == 0, ConsumerClosed: cons == 0}
	return entry{info: shmseg.Info{ID: shmseg.ID(id)}, isRing: true, st: st}
}

// TestConnectionsPairing: rings pair by name and by crosswise pids,
// whatever order ls found them in; exact agreement goes before agreement
// with a closed role; what is left is a half connection; other rings stay
// bare, in their order.
func TestConnectionsPairing(t *testing.T) {
	bare := entry{info: shmseg.Info{ID: 9}, isRing: true, st: ring.Stats{Slots: 8, Label: "mine"}}
	notRing := entry{info: shmseg.Info{ID: 10}, why: "not a ring"}
	entries := []entry{
		connEntry(1, "kv", conn.ServerToClient, 100, 200, 1),
		bare,
		connEntry(2, "kv", conn.ServerToClient, 100, 300, 2),
		connEntry(3, "kv", conn.ClientToServer, 300, 100, 2), // 300's, made at the same second
		notRing,
		connEntry(4, "kv", conn.ClientToServer, 200, 100, 1),
		// The client (400) has closed its s2c role: 6 agrees with 5
		// exactly, and must not go to 7, which agrees only with a
		// closed role, though 7 was made first.
		connEntry(7, "db", conn.ServerToClient, 100, 0, 5),
		connEntry(5, "db", conn.ServerToClient, 100, 400, 6),
		connEntry(6, "db", conn.ClientToServer, 400, 100, 6),
		// Another server's ring under the same name: no partner.
		connEntry(8, "db", conn.ClientToServer, 500, 600, 7),
	}
	conns, rest := connections(entries)
	require.Equal(t, []entry{bare, notRing}, rest)
	type pair struct {
		name     string
		s2c, c2s int // ids; 0: none
		server   string
		client   string
		half     string
	}
	var got []pair
	for _, c := range conns {
		p := pair{name: c.name, server: party(c.server()), client: party(c.client()), half: c.half()}
		if c.s2c != nil {
			p.s2c = int(c.s2c.info.ID)
		}
		if c.c2s != nil {
			p.c2s = int(c.c2s.info.ID)
		}
		got = append(got, p)
	}
	require.Equal(t, []pair{
		{"db", 7, 0, "100 live", "closed", "half: no c2s ring"},
		{"db", 5, 6, "100 live", "400 live", ""},
		{"db", 0, 8, "600 live", "500 live", "half: no s2c ring"},
		{"kv", 1, 4, "100 live", "200 live", ""},
		{"kv", 2, 3, "100 live", "300 live", ""},
	}, got)

	j := conns[0].json()
	require.True(t, j.Half)
	require.Nil(t, j.C2S)
	require.Equal(t, ConnRingJSON{ID: 7, Fill: 0, Slots: 8}, *j.S2C)
	require.Equal(t, ConnPartyJSON{PID: 100, Alive: true}, j.Server)
	require.Equal(t, ConnPartyJSON{}, j.Client, "a closed client names no process")
}

// TestShown: labels and names print as they are unless they hold
// something that would break a table or a terminal.
func TestShown(t *testing.T) {
	require.Equal(t, "conn:kv/s2c", shown("conn:kv/s2c"))
	require.Equal(t, "my ring é", shown("my ring é"))
	require.Equal(t, `"a\tb"`, shown("a\tb"))
	require.Equal(t, `"\x1b[2J"`, shown("\x1b[2J"))
	require.Equal(t, `"x\ny"`, shown("x\ny"))
}

// connName is a conn name of this test alone: the abstract socket
// namespace and the IPC namespace are the machine's, shared with other
// tests.
func connName(t *testing.T) string {
	return fmt.Sprintf("shmring-app-test-%d-%d", os.Getpid(), shmtest.Key(t))
}

// TestLsConnection: a real connection (conn.Listen and conn.Dial in this
// process, so server and client pids are both this one's) is listed by
// ls under its name in the Connections section, with both rings' ids and
// fills, and not among the bare rings; ls -json keeps its bare array,
// whose elements carry the labels, and -json -connections adds the
// connection beside it; stat -id shows one of its rings, label included.
// A ring left alone with a connection's label shows as a half connection.
func TestLsConnection(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := connName(t)
	cfg := conn.Config{SlotSize: 64, Slots: 8}
	l, err := conn.Listen(name, cfg)
	require.NoError(t, err)
	defer l.Close()
	client, err := conn.Dial(ctx, name, cfg)
	require.NoError(t, err)
	defer client.Close()
	server, err := l.AcceptContext(ctx)
	require.NoError(t, err)
	defer server.Close()
	require.NoError(t, client.Send(ctx, []byte("hello"))) // one slot waits in c2s

	s2cRing, _ := server.Rings()
	c2sRing, _ := client.Rings()
	s2c, c2s := int(s2cRing.Segment().ID()), int(c2sRing.Segment().ID())
	require.Equal(t, conn.RingLabel(name, conn.ServerToClient), s2cRing.Stats().Label)
	require.Equal(t, conn.RingLabel(name, conn.ClientToServer), c2sRing.Stats().Label)
	pid := os.Getpid()

	// A ring alone with a connection's label: a half connection.
	halfName := name + "-half"
	half, err := ring.CreatePrivate(ring.Config{SlotSize: 64, Slots: 8, Label: conn.RingLabel(halfName, conn.ClientToServer)})
	require.NoError(t, err)
	defer half.Close()
	_, err = half.Producer()
	require.NoError(t, err)
	halfID := int(half.Segment().ID())

	code, out, errOut := shmring(t, "ls")
	require.Equal(t, 0, code, errOut)
	bareTable, connTable, ok := strings.Cut(out, "\nConnections:\n")
	require.True(t, ok, "no Connections section:\n%s", out)
	require.Regexp(t, fmt.Sprintf(`(?m)^%s +%d live +%d live +%d +0 \(0%%\) +%d +1 \(12%%\) *$`,
		regexp.QuoteMeta(name), pid, pid, s2c, c2s), connTable)
	require.Regexp(t, fmt.Sprintf(`(?m)^%s +- +%d live +- +- +%d +0 \(0%%\) +half: no s2c ring$`,
		regexp.QuoteMeta(halfName), pid, halfID), connTable)
	require.Regexp(t, `^NAME +SERVER +CLIENT +S2C-ID +S2C-FILL +C2S-ID +C2S-FILL +NOTE\n`, connTable)
	for _, id := range []int{s2c, c2s, halfID} {
		require.NotRegexp(t, fmt.Sprintf(`(?m)^0x[0-9a-f]+ +%d `, id), bareTable, "a connection's ring is not listed as bare")
	}

	// -json: the array of segments, as before; each ring has its label.
	code, out, errOut = shmring(t, "ls", "-json")
	require.Equal(t, 0, code, errOut)
	var segs []SegmentJSON
	require.NoError(t, json.Unmarshal([]byte(out), &segs), out)
	labels := map[int]string{}
	for _, s := range segs {
		if s.Stats != nil {
			labels[s.ID] = s.Label
		}
	}
	require.Equal(t, "conn:"+name+"/s2c", labels[s2c])
	require.Equal(t, "conn:"+name+"/c2s", labels[c2s])

	// -json -connections: the same array under "segments", and the
	// connections beside it.
	code, out, errOut = shmring(t, "ls", "-json", "-connections")
	require.Equal(t, 0, code, errOut)
	var both LsJSON
	require.NoError(t, json.Unmarshal([]byte(out), &both), out)
	require.NotEmpty(t, both.Segments)
	byName := map[string]ConnectionJSON{}
	for _, c := range both.Connections {
		byName[c.Name] = c
	}
	require.Equal(t, ConnectionJSON{Name: name,
		Server: ConnPartyJSON{PID: pid, Alive: true}, Client: ConnPartyJSON{PID: pid, Alive: true},
		S2C: &ConnRingJSON{ID: s2c, Fill: 0, Slots: 8}, C2S: &ConnRingJSON{ID: c2s, Fill: 1, Slots: 8}}, byName[name])
	require.Equal(t, ConnectionJSON{Name: halfName, Client: ConnPartyJSON{PID: pid, Alive: true},
		C2S: &ConnRingJSON{ID: halfID, Slots: 8}, Half: true}, byName[halfName])
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &raw))
	require.Len(t, raw, 2, "segments and connections, nothing else: %s", out)

	code, _, errOut = shmring(t, "ls", "-connections")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "-connections goes with -json")

	// stat -id: a ring without a key, by its id.
	code, out, errOut = shmring(t, "stat", "-id", strconv.Itoa(s2c))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, fmt.Sprintf("ring 0x00000000 (id %d)\n", s2c))
	require.Contains(t, out, fmt.Sprintf("  label     conn:%s/s2c (connection %s, server to client)\n", name, name))
	require.Contains(t, out, "removed (goes at the last detach)")
	code, out, errOut = shmring(t, "stat", "-json", "-id", strconv.Itoa(c2s))
	require.Equal(t, 0, code, errOut)
	var one SegmentJSON
	require.NoError(t, json.Unmarshal([]byte(out), &one), out)
	require.Equal(t, "conn:"+name+"/c2s", one.Label)
	require.Equal(t, 1, one.Fill)
}

// TestStatArgs: stat takes a KEY or -id, not both and not neither, and
// names the id of a segment that is not there.
func TestStatArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"stat"}, 2, "want one KEY, got 0 arguments"},
		{[]string{"stat", "-id", "5", "0x5e7a0001"}, 2, "want a KEY or -id, not both"},
		{[]string{"stat", "-id", "-2"}, 2, "-id -2: want a segment id, 0 or more"},
		{[]string{"stat", "-id", "2147483646"}, 1, "segment id 2147483646 is gone"},
	} {
		code, _, errOut := shmring(t, tc.args...)
		require.Equal(t, tc.code, code, "%q: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.says, "%q", tc.args)
	}
}

// TestLsLabelColumn: a bare ring's label is listed in a LABEL column,
// which is there only when some listed ring has a label.
func TestLsLabelColumn(t *testing.T) {
	e := func(id int, label string) entry {
		return entry{info: shmseg.Info{Key: 0x5e7a0001, ID: shmseg.ID(id)}, isRing: true, st: ring.Stats{SlotSize: 64, Slots: 8, Label: label}}
	}
	var b bytes.Buffer
	require.NoError(t, writeBare(&b, []entry{e(1, ""), e(2, "demo ring"), e(3, "a\tb")}, false))
	require.Equal(t, "KEY         ID  SIZE  SLOT  SLOTS  FILL    PRODUCER  CONSUMER  NATTCH  LABEL\n"+
		"0x5e7a0001  1   0     64    8      0 (0%)  -         -         0       -\n"+
		"0x5e7a0001  2   0     64    8      0 (0%)  -         -         0       demo ring\n"+
		"0x5e7a0001  3   0     64    8      0 (0%)  -         -         0       \"a\\tb\"\n", b.String())
	b.Reset()
	require.NoError(t, writeBare(&b, []entry{e(1, "")}, false))
	require.NotContains(t, b.String(), "LABEL")
}
