//go:build !linux || !(amd64 || arm64) || shmring_portable_futex

package futex_test

// kernelFutex: this build's Wait and Wake are the portable ones, whose Wake
// finds only this process's waiters.
const kernelFutex = false
