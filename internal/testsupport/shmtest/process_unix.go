//go:build unix

package shmtest

import (
	"syscall"
	"testing"
)

// WithoutFiles runs f with the soft limit of open files at 3, so that
// every open fails with EMFILE (descriptors 0, 1 and 2 are taken, and more
// besides), and restores the limit before it returns. Nothing else of the
// test may run meanwhile: no parallel test, no t.Fatal in f.
func WithoutFiles(t testing.TB, f func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 3
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
	}()
	f()
}
