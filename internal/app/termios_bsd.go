//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package app

import "golang.org/x/sys/unix"

// ioctlReadTermios reads a terminal's settings (tcgetattr(3)); the BSDs
// and macOS name it TIOCGETA where Linux has TCGETS.
const ioctlReadTermios = unix.TIOCGETA
