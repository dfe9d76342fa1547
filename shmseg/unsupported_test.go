//go:build !linux || !(amd64 || arm64)

package shmseg_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/shmseg"
)

// TestUnsupported: off 64-bit Linux every call that would need System V
// shared memory fails, with an error that errors.Is matches with
// errors.ErrUnsupported and that names the platform. (Linux on arm builds
// this file too, so it runs on a Linux machine with qemu:
// GOARCH=arm go test -exec qemu-arm-static ./shmseg/.)
func TestUnsupported(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	var seg shmseg.Segment
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Create", func() error { _, err := shmseg.Create(0x5e7a0001, 4096, nil); return err }},
		{"Open", func() error { _, err := shmseg.Open(0x5e7a0001); return err }},
		{"Attach", func() error { _, err := shmseg.Attach(1, nil); return err }},
		{"Stat", func() error { _, err := shmseg.Stat(1); return err }},
		{"Remove", func() error { return shmseg.Remove(1) }},
		{"List", func() error { _, err := shmseg.List(); return err }},
		{"Ftok", func() error { _, err := shmseg.Ftok(".", 1); return err }},
		{"Segment.Remove", seg.Remove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, errors.ErrUnsupported)
			require.Contains(t, err.Error(), "unsupported on "+platform)
			require.Contains(t, err.Error(), "shmseg: ")
		})
	}
	_, err := seg.Stat()
	require.ErrorIs(t, err, shmseg.ErrDetached, "a Segment is never attached here")
	require.ErrorIs(t, seg.Detach(), shmseg.ErrDetached)
	require.ErrorIs(t, seg.DetachPrivate(), shmseg.ErrDetached)
}
