//go:build !linux

package reliability_test

import "os/exec"

// dieWithParent does nothing where Pdeathsig does not exist.
func dieWithParent(*exec.Cmd) {}
