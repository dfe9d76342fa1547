package ring

import "sync/atomic"

// SetTestHooks sets the hooks of hooks.go; nil clears one. Call it only
// while no Producer or Consumer call runs.
func SetTestHooks(snapshot func(seq *atomic.Uint32), waited func()) {
	hookSnapshot, hookWaited = snapshot, waited
}
