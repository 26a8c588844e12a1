// Package sandbox isolates host processes with the kernel's means.
//
// ServeFUSE shows a loom file server to Linux programs through FUSE, so
// that an unmodified program reads and writes a system's namespace as
// its files, with the namespace's read-only and hidden rules as EROFS (or
// EACCES) and ENOENT.
//
// Start runs a program in new user, mount, pid, IPC, UTS and network
// namespaces with such a view as its root. The binary is run again as the
// sandbox's init (see Init), which is PID 1 there: it reaches the file
// server over 9P on a socket to the parent, mounts the view, /proc and
// the host's common device nodes on a new root, pivots into it and starts
// the program without capabilities and with no_new_privs. Limits go to
// cgroup v1 memory and pids controllers made for the sandbox, or to
// rlimits where no cgroup is writable.
//
// Nothing here mounts in the caller's mount namespace except ServeFUSE,
// which mounts where it is called; the init refuses to run (CheckInit)
// unless it is PID 1 in a user namespace of its own.
package sandbox
