//go:build !unix

package proc

// ByPid cannot tell on this platform (there is no kill(pid, 0)): every
// process counts as running, so a waiting side never reports its peer dead
// and a dead side's role is never taken over.
func ByPid(pid int) Status { return Running }
