// Package model holds wakeup.pml, a Promela model of the ring's futex
// wait/wake protocol (ring/wait.go), and the test that has the Spin model
// checker verify it: that no wake-up is lost, that a side whose peer died
// still ends, and that each of the model's deliberate mutations is caught.
// With BELL the model checks the same protocol with eventfd doorbells in
// place of the futex, as package conn's rings will sleep (ring.Doorbell):
// a ring is sticky, and a survivor ends by its watcher's ring, without
// timeouts. There is no Go code to import. README.md describes the model
// and how to run Spin by hand; `make setup` installs Spin.
package model
