// Package sandbox isolates host processes with the kernel's means.
//
// ServeFUSE shows a loom file server to Linux programs through FUSE, so
// that an unmodified program reads and writes a system's namespace as
// its files, with the namespace's read-only and hidden rules as EROFS (or
// EACCES) and ENOENT.
//
// New makes a Box: new user, mount, pid, IPC, UTS and network namespaces
// made once, for every program a system starts (Box.Start), so that
// they see one another in /proc and share one loopback. The binary is
// run again as the box's init (see Init), PID 1 there: it reaches the
// file server over 9P on a socket to the parent, mounts the view, the
// host directories the programs need (read-only, /bin, /lib and /lib64
// as the host has them), /proc and the host's common device nodes on a
// new root, and pivots into it. Its second process, the spawner, forks
// and execs the programs as the parent asks on a control socket, from a
// thread that has given up every capability, set no_new_privs and
// installed a seccomp filter (the calls that change mounts or
// namespaces, reach into other processes or load kernel code fail with
// EPERM). The parent gets a pidfd for each program, through which its
// signals go to the program itself, and its exit status.
//
// Limits go to cgroups made for the box, v1 (memory, pids, cpu) or v2,
// or to rlimits and nice where none is writable; Box.Limits says which
// holds each. Freeze and Thaw stop the whole box with the cgroup
// freezer, or SIGSTOP where there is none. Close kills the init, and
// with it everything in the box, and removes the cgroups. Start runs one
// program in a box of its own.
//
// Nothing here mounts in the caller's mount namespace except ServeFUSE,
// which mounts where it is called; the init refuses to run (CheckInit)
// unless it is PID 1 in a user namespace of its own, and the spawner
// unless it is in one.
package sandbox
