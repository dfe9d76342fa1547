package conn

import (
	"strings"
	"unicode/utf8"

	"github.com/shmring/shmring/ring"
)

// The directions of a connection's two rings, as their labels name them.
const (
	ServerToClient = "s2c" // the server sends, the client receives
	ClientToServer = "c2s" // the client sends, the server receives
)

// labelPrefix starts the label of every ring package conn makes.
const labelPrefix = "conn:"

// cut marks a name that RingLabel shortened.
const cut = "…"

// RingLabel returns the label (ring.Config.Label) of the ring that carries
// the connection named name in direction dir (ServerToClient or
// ClientToServer): "conn:" + name + "/" + dir. "shmring ls" reads it back
// (ParseRingLabel) to show a server's connections by name.
//
// A label holds ring.MaxLabel (63) bytes, and a name may be longer (a
// socket path): such a name keeps its last bytes, the ones that tell
// paths apart, after "…", cut at a character boundary. Invalid UTF-8 in
// name is replaced by U+FFFD and NUL bytes are dropped (a label is UTF-8
// without NUL; Listen refuses such names anyway). The result is always a
// label ring.Config accepts.
func RingLabel(name, dir string) string {
	name = strings.ToValidUTF8(strings.ReplaceAll(name, "\x00", ""), string(utf8.RuneError))
	room := ring.MaxLabel - len(labelPrefix) - len("/") - len(dir)
	if len(name) > room {
		i := len(name) - (room - len(cut))
		for i < len(name) && !utf8.RuneStart(name[i]) {
			i++
		}
		name = cut + name[i:]
	}
	return labelPrefix + name + "/" + dir
}

// ParseRingLabel splits a label that RingLabel made into the connection's
// name (as RingLabel shortened it) and the ring's direction. ok is false
// for any other label: a bare ring's, or none.
func ParseRingLabel(label string) (name, dir string, ok bool) {
	rest, ok := strings.CutPrefix(label, labelPrefix)
	i := strings.LastIndexByte(rest, '/')
	if !ok || i <= 0 {
		return "", "", false
	}
	name, dir = rest[:i], rest[i+1:]
	if dir != ServerToClient && dir != ClientToServer {
		return "", "", false
	}
	return name, dir, true
}
