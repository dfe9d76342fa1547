//go:build !linux

package conn

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
)

// supported: conn needs eventfd(2) and SO_PEERCRED, which are Linux's.
const supported = false

var errUnsupported = fmt.Errorf("conn: %w on %s/%s (needs Linux: eventfd, SO_PEERCRED)", errors.ErrUnsupported, runtime.GOOS, runtime.GOARCH)

func newBell(*atomic.Pointer[error]) (*bell, error)       { return nil, errUnsupported }
func bellFrom(int, *atomic.Pointer[error]) (*bell, error) { return nil, errUnsupported }
func peerCred(*net.UnixConn) (cred, error)                { return cred{}, errUnsupported }

func lockDir(string) (func(), error) { return nil, errUnsupported }
