//go:build linux && (amd64 || arm64) && !shmring_portable_futex

package futex_test

import (
	"errors"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/futex"
)

// kernelFutex: this build's Wait and Wake are futex(2), which reaches
// waiters in other processes.
const kernelFutex = true

// TestOtherErrnoWrapped: an errno other than EAGAIN, EINTR and ETIMEDOUT
// is returned, wrapped, not looped on. A page the kernel cannot read
// (PROT_NONE) gives EFAULT.
func TestOtherErrnoWrapped(t *testing.T) {
	page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer func() { require.NoError(t, unix.Munmap(page)) }()
	word := (*uint32)(unsafe.Pointer(unsafe.SliceData(page)))

	err = futex.Wait(word, 0, time.Now().Add(5*time.Second))
	require.ErrorIs(t, err, unix.EFAULT)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded))
	require.Contains(t, err.Error(), "futex: wait")

	_, err = futex.Wake(word, 1)
	require.ErrorIs(t, err, unix.EFAULT)
	require.Contains(t, err.Error(), "futex: wake")
}
