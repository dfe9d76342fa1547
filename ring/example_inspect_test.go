package ring_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// Inspect reads a segment's header without joining the ring: what a
// monitoring tool does with the bytes of a read-only attach. Here the
// segment is ordinary memory.
func ExampleInspect() {
	size, err := ring.SegmentSize(72, 8)
	if err != nil {
		panic(err)
	}
	buf := make([]byte, size)
	r, err := ring.NewIn(buf, ring.Config{SlotSize: 72, Slots: 8, Label: "demo"})
	if err != nil {
		panic(err)
	}
	p, err := r.Producer()
	if err != nil {
		panic(err)
	}
	if err := p.Send(context.Background(), []byte("hello")); err != nil {
		panic(err)
	}

	info, err := ring.Inspect(buf)
	if err != nil {
		panic(err)
	}
	fmt.Printf("layout %d.%d, %q, %d slots of %d bytes, %d message waiting\n",
		info.Major, info.Minor, info.Label, info.Slots, info.SlotSize, info.Fill)
	fmt.Println("tail at byte", ring.FieldOffset("tail"))
	// Output:
	// layout 4.0, "demo", 8 slots of 72 bytes, 1 message waiting
	// tail at byte 256
}

// TestInspectSegment reads a shared ring's header through the segment's
// bytes, as the shmring command does: the owner's pid and liveness come
// from /proc.
func TestInspectSegment(t *testing.T) {
	shmtest.NoLeaks(t)
	r, _ := shmRing(t, ring.Config{SlotSize: 64, Slots: 16})
	_, err := r.Consumer()
	require.NoError(t, err)
	seg, err := r.Segment().Bytes()
	require.NoError(t, err)
	info, err := ring.Inspect(seg)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), info.Consumer.PID)
	require.True(t, info.Consumer.Alive)
	require.Zero(t, info.Producer.PID)
}
