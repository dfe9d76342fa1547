//go:build !unix

package ring

// pidGone cannot tell on this platform (there is no kill(pid, 0)): it never
// reports a pid free. Every peer counts as alive, so a waiting side never
// reports ErrPeerDead and a dead side's role is never taken over.
func pidGone(pid int) bool { return false }
