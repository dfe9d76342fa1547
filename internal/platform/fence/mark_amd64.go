//go:build amd64 && !race

package fence

// Mark32 stores v at *addr with release ordering, as Store32 does, for a
// word that only this process reads, with atomic loads: on amd64 a plain Go
// store, which the compiler inlines to one MOV (x86 stores are release
// stores). The gc compiler keeps a store in program order with the loads
// and stores around it, atomic ones included (they form one chain of
// memory states; ring's call mark relies on it, and objdump of
// Producer.Send shows the MOV before the load of the closed flag and
// after the last access to the segment). It pairs with Heavy as Store32
// does. Under the race detector it is an atomic store, which the detector
// sees.
func Mark32(addr *uint32, v uint32) { *addr = v }
