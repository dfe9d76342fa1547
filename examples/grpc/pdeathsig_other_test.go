//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing where Pdeathsig does not exist.
func dieWithParent(*exec.Cmd) {}
