//go:build shmring_crashpoints

package conn

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Fault injection, compiled in only with -tags shmring_crashpoints, as in
// package ring: SHMRING_CRASH names a point, and the process SIGKILLs itself
// the first time it reaches it. The points are the handshake's steps
// (wire.go):
//
//	conn-server-accepted  the socket accepted, its credentials not yet read
//	conn-server-hello     the client's hello read, no ring made
//	conn-server-rings     both rings made (their segments marked for
//	                      removal), nothing sent
//	conn-server-welcome   the welcome and the eventfds sent, ready not read
//	conn-server-ready     ready read, the Conn not yet handed to Accept
//	conn-client-connected the socket connected, nothing sent
//	conn-client-hello     hello sent, the welcome not read
//	conn-client-welcome   the welcome and the eventfds read, nothing attached
//	conn-client-attached  both rings attached and their roles claimed, ready
//	                      not sent
//	conn-client-ready     ready sent, Dial not yet returned
//
// Mid-stream, package ring's points (send-before-publish, ...) apply.
const crashPoints = true

// CrashPoints lists the names SHMRING_CRASH accepts here.
var CrashPoints = []string{
	"conn-server-accepted", "conn-server-hello", "conn-server-rings", "conn-server-welcome", "conn-server-ready",
	"conn-client-connected", "conn-client-hello", "conn-client-welcome", "conn-client-attached", "conn-client-ready",
}

// crashAt is the point SHMRING_CRASH names, if it is one of these; package
// ring checks the others.
var crashAt = func() string {
	v := os.Getenv("SHMRING_CRASH")
	if !strings.HasPrefix(v, "conn-") {
		return ""
	}
	if !slices.Contains(CrashPoints, v) {
		panic(fmt.Sprintf("SHMRING_CRASH=%q: unknown point (want one of %v)", v, CrashPoints))
	}
	return v
}()

func crash(point string) {
	if point == crashAt {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
