package bench

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// newFDs makes a transport of kind and returns the parent's end and the
// child's, as files to hand over: the child reads fd 3 and writes fd 4.
// One-way transports leave the parent's read end (and the child's write
// end) unused.
func newFDs(h testing.TB, kind string) (*fds, []*os.File) {
	h.Helper()
	switch kind {
	case fdPipe:
		var down, up [2]int
		if err := unix.Pipe2(down[:], unix.O_CLOEXEC); err != nil {
			h.Fatal(err)
		}
		if err := unix.Pipe2(up[:], unix.O_CLOEXEC); err != nil {
			h.Fatal(err)
		}
		f := &fds{rd: up[0], wr: down[1]}
		h.Cleanup(f.close)
		return f, []*os.File{os.NewFile(uintptr(down[0]), "pipe-in"), os.NewFile(uintptr(up[1]), "pipe-out")}
	case fdSocket:
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			h.Fatal(err)
		}
		dup, err := unix.Dup(sp[1])
		if err != nil {
			h.Fatal(err)
		}
		f := &fds{rd: sp[0], wr: sp[0]}
		h.Cleanup(f.close)
		return f, []*os.File{os.NewFile(uintptr(sp[1]), "socket"), os.NewFile(uintptr(dup), "socket")}
	}
	h.Fatalf("unknown transport %q", kind)
	return nil, nil
}
