//go:build linux && (amd64 || arm64)

package shmseg_test

import (
	"fmt"
	"log"

	"github.com/shmring/shmring/shmseg"
)

// Segments outlive the processes that use them. Once every process that
// needs a segment has attached it, mark it for removal: the kernel then
// frees it at the last detach, even if every user crashes.
func Example() {
	id, err := shmseg.Create(shmseg.IPCPrivate, 4096, nil)
	if err != nil {
		log.Fatal(err)
	}
	seg, err := shmseg.Attach(id, nil)
	if err != nil {
		_ = shmseg.Remove(id)
		log.Fatal(err)
	}
	defer seg.Detach()
	if err := seg.Remove(); err != nil {
		log.Fatal(err)
	}

	b, err := seg.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	copy(b, "hello")

	info, err := seg.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b[:5]), info.Size, info.Nattch, info.Removed)
	// Output: hello 4096 1 true
}
