//go:build race

package peers

// raceBuild: this test binary has the race detector.
const raceBuild = true
