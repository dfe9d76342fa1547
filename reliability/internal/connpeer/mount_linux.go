package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mountProcFS mounts a /proc of this process's PID namespace, in a mount
// namespace of its own (made private first, so that the host's /proc is
// untouched).
func mountProcFS() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}
