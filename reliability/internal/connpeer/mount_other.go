//go:build !linux

package main

import "errors"

func mountProcFS() error { return errors.New("-mount-proc: Linux only") }
