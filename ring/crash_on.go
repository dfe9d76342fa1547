//go:build shmring_crashpoints

package ring

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Fault injection, compiled in only with -tags shmring_crashpoints (the
// reliability tests build their children so). The environment variable
// SHMRING_CRASH names a point and, after a colon, on which visit to die
// (default 1): SHMRING_CRASH=send-before-publish:1000 makes the process
// SIGKILL itself the 1000th time it is about to publish. The points:
//
//	send-mid-payload     the producer has written half the payload, not the
//	                     length word (SendBatch: and the messages of the run
//	                     before this one, each marked published)
//	send-before-publish  the messages are written and marked published (the
//	                     consumer may take them), the cursor not yet stored
//	send-before-wake     the cursor is stored, the consumer not yet woken
//	recv-before-release  the messages are read, the cursor not yet stored
//	recv-before-wake     the cursor is stored, the producer not yet woken
//
// inside the send of a message in fragments (large.go):
//
//	send-large-mid-fragment   half a fragment's payload written, the fragments
//	                          before it in full (their words unpublished),
//	                          none of this run published
//	send-large-before-publish the fragments of a run (all of a message that
//	                          fits the ring) written, the cursor not yet stored
//	send-mid-mark             a run of slots written (fragments, or reservations)
//	                          and marked published but its first slot, whose
//	                          mark is stored last: the consumer sees none of it
//	send-large-mid-message    a run of a message longer than the ring
//	                          published, the next not yet written: the
//	                          consumer has the message's beginning
//
// and Create's steps, each with the segment a creator killed there leaves
// (create-before-ready is in New's format too):
//
//	create-after-shmget  the segment exists (zeros), not attached
//	create-after-attach  attached, nothing written (zeros)
//	create-after-mark    the magic written, nothing else (state 0)
//	create-before-ready  every field written but READY (state 0)
const crashPoints = true

// CrashPoints lists the names SHMRING_CRASH accepts.
var CrashPoints = []string{
	"send-mid-payload", "send-before-publish", "send-before-wake",
	"recv-before-release", "recv-before-wake",
	"send-large-mid-fragment", "send-large-before-publish", "send-mid-mark", "send-large-mid-message",
	"create-after-shmget", "create-after-attach", "create-after-mark", "create-before-ready",
}

var crashAt, crashVisit = func() (string, int64) {
	v := os.Getenv("SHMRING_CRASH")
	if v == "" {
		return "", 0
	}
	name, nth, _ := strings.Cut(v, ":")
	n := int64(1)
	if nth != "" {
		var err error
		if n, err = strconv.ParseInt(nth, 10, 64); err != nil || n < 1 {
			panic(fmt.Sprintf("SHMRING_CRASH=%q: visit %q is not a positive number", v, nth))
		}
	}
	for _, p := range CrashPoints {
		if p == name {
			return name, n
		}
	}
	if strings.HasPrefix(name, "conn-") {
		return "", 0 // package conn's (conn/crash_on.go checks them)
	}
	panic(fmt.Sprintf("SHMRING_CRASH=%q: unknown point %q (want one of %v)", v, name, CrashPoints))
}()

var crashVisits atomic.Int64

// crash kills the process, as abruptly as a power cut would, at the
// configured visit of the configured point.
func crash(point string) {
	if point != crashAt || crashVisits.Add(1) != crashVisit {
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL is not delivered synchronously; never run on
}
