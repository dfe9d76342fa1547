//go:build !linux

package bench

// populate does nothing where there is no MADV_POPULATE_*: prefault
// touches every page alone.
func populate([]byte, bool) {}
