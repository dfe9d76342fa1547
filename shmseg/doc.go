// Package shmseg creates, attaches and removes System V shared memory
// segments (shmget(2), shmat(2), shmdt(2), shmctl(2)) on 64-bit Linux.
//
// A segment is named by a [Key] (from [Ftok], a constant, or [IPCPrivate])
// and, once it exists, identified by an [ID]. [Create] makes a segment,
// [Open] finds an existing one by key, and [Attach] maps it into this
// process as a [Segment] whose [Segment.Bytes] is the shared memory.
// [Stat] and [List] describe segments ([Info]); [Remove] removes one.
//
// Keys and IDs belong to the caller's IPC namespace: processes in different
// namespaces (containers, unless configured to share one) never see each
// other's segments. The kernel limits the size of one segment, the total
// size and the number of segments (kernel.shmmax, kernel.shmall in pages,
// kernel.shmmni); docs/OPERATIONS.md shows how to read and raise them.
//
// # Segments outlive processes
//
// A segment belongs to the kernel, not to the process that created it. It
// stays, with its contents, after every process has detached and exited,
// until someone removes it with [Remove] or [Segment.Remove] (IPC_RMID), its
// IPC namespace ends, or the machine reboots. A program that creates
// segments must arrange to remove them; `ipcs -m` and [List] show what
// exists and `ipcrm -m ID` removes one by hand. (With the sysctl
// kernel.shm_rmid_forced set to 1, the kernel instead removes every segment
// as soon as no process has it attached.)
//
// # Removal
//
// IPC_RMID removes a segment that nobody has attached at once. A segment that
// is still attached is only marked for removal (SHM_DEST, [Info.Removed]):
// its key is released at once, so [Open] no longer finds it and [Create] may
// make a new segment with the same key, but the memory stays valid for the
// processes attached to it. The kernel frees it when the last of them
// detaches, whether by [Segment.Detach], by exiting, or by crashing. So the
// robust way to avoid leaks is to remove a segment as soon as every process
// that needs it has attached: from then on the kernel cleans up even after
// a crash. Removing a segment that is already marked reports [ErrNotExist].
//
// # The slice
//
// [Segment.Bytes] returns the mapping itself, not a copy. It stays valid
// until [Segment.Detach]: after Detach the memory is unmapped, and using the
// slice, or any slice or pointer taken from it, faults or, worse, reads and
// writes whatever is mapped there later. Detach does not know about slices
// handed out earlier; the caller must make sure no goroutine still uses them.
// The race detector cannot see accesses made by other processes.
//
// A segment attached with [AttachOptions.ReadOnly] is mapped without write
// permission: writing to its slice faults.
//
// A fault on the mapping is not a Go panic: the runtime stops the program
// with "unexpected fault address" (exit status 2), unless the goroutine
// has called [runtime/debug.SetPanicOnFault].
//
// # Errors
//
// Failed system calls return an [*Error] naming the operation, the key or id
// and the size. It wraps both a sentinel of this package (when the errno has
// one; see [Error.Err]) and the [golang.org/x/sys/unix.Errno] the kernel
// returned, so errors.Is works with either:
//
//	errors.Is(err, shmseg.ErrNotExist) // the portable question
//	errors.Is(err, unix.EIDRM)         // the exact kernel answer
//
// The sentinels are [ErrExist], [ErrNotExist], [ErrPermission],
// [ErrTooLarge], [ErrNoSpace], [ErrHugePages], [ErrDetached] and
// [ErrInvalid]; each one's doc says which errno values it covers. Arguments
// found invalid before any system call also give an [*Error], wrapping
// [ErrInvalid]. [Ftok] and [List] return plain wrapped errors: Ftok's wrap
// [ErrInvalid] or the error of stat(2) on the path, List's the error of
// reading /proc/sysvipc/shm.
//
// Functions are safe for concurrent use, and so are the methods of
// [Segment].
//
// # Other platforms
//
// The package builds everywhere, so that a program that imports it (or the
// ring package, whose rings in ordinary memory work everywhere) compiles on
// macOS and Windows too. It makes the System V calls on 64-bit Linux
// (amd64, arm64) only: elsewhere Create, Open, Attach, Stat, Remove, List
// and Ftok fail with an error that wraps [errors.ErrUnsupported] and names
// the platform ("shmseg: open key 0x5e7a0001: unsupported on darwin/arm64
// ..."), so errors.Is(err, errors.ErrUnsupported) tells a program to fall
// back.
package shmseg
