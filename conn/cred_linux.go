package conn

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// supported: conn needs eventfd(2) and SO_PEERCRED.
const supported = true

var errUnsupported error // never returned here

// peerCred is the credentials of the process at the other end of sock, as
// the kernel recorded them at connect (SO_PEERCRED).
func peerCred(sock *net.UnixConn) (cred, error) {
	raw, err := sock.SyscallConn()
	if err != nil {
		return cred{}, err
	}
	var uc *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		uc, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return cred{}, err
	}
	if cerr != nil {
		return cred{}, fmt.Errorf("conn: SO_PEERCRED: %w", cerr)
	}
	return cred{pid: uc.Pid, uid: uc.Uid, gid: uc.Gid}, nil
}
