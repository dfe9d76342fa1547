package app

import "golang.org/x/sys/unix"

// ioctlReadTermios reads a terminal's settings (tcgetattr(3)).
const ioctlReadTermios = unix.TCGETS
