//go:build !shmring_crashpoints

package conn

const crashPoints = false

func crash(string) {}
