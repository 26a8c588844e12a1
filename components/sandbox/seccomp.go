package sandbox

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deniedCalls are the system calls a sandboxed program is refused with
// EPERM: those that change mounts or namespaces, reach into other
// processes or the kernel, or undo the view. Without capabilities most
// would fail anyway; the filter holds should a capability be regained,
// and closes those that need none (a user namespace of one's own, and
// mounts in it).
var deniedCalls = []uintptr{
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT,
	unix.SYS_SETNS, unix.SYS_UNSHARE,
	unix.SYS_OPEN_TREE, unix.SYS_MOVE_MOUNT, unix.SYS_FSOPEN, unix.SYS_FSCONFIG,
	unix.SYS_FSMOUNT, unix.SYS_FSPICK, unix.SYS_MOUNT_SETATTR,
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_BPF, unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD, unix.SYS_SYSLOG,
	unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_SWAPON, unix.SYS_SWAPOFF,
	unix.SYS_REBOOT, unix.SYS_ACCT, unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME,
}

// newNamespaceFlags are the flags of clone(2) that make namespaces.
// CLONE_NEWTIME is left out: it shares its bit with CSIGNAL in clone's
// flags, and unshare, the only call that takes it, is refused whole.
const newNamespaceFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP

// Offsets into struct seccomp_data.
const (
	seccompNr   = 0
	seccompArch = 4
	seccompArg0 = 16 // the low half, on a little-endian machine
)

// x32Bit marks the x32 system calls, whose numbers the filter would
// otherwise take for x86_64's.
const x32Bit = 0x40000000

// seccompFilter is the BPF program that applies deniedCalls: a system
// call of another architecture, or of x32, kills the process; the
// calls denied, and clone with a namespace flag, fail with EPERM;
// clone3, whose flags sit in memory a filter cannot read, fails with
// ENOSYS, so that the C library falls back to clone.
func seccompFilter() []unix.SockFilter {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
	}
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	// The tail: allow, clone's check, and the answers jumped to.
	//   allow; ld arg0; jset flags -> eperm; allow; eperm; enosys; kill
	var p []unix.SockFilter
	p = append(p, stmt(ld, seccompArch))
	// Filled in below, once the distance to kill is known.
	archAt := len(p)
	p = append(p, unix.SockFilter{})
	p = append(p, stmt(ld, seccompNr))
	x32At := len(p)
	p = append(p, unix.SockFilter{})
	var denyAt []int
	for range deniedCalls {
		denyAt = append(denyAt, len(p))
		p = append(p, unix.SockFilter{})
	}
	clone3At := len(p)
	p = append(p, unix.SockFilter{})
	cloneAt := len(p)
	p = append(p, unix.SockFilter{})
	p = append(p, stmt(ret, unix.SECCOMP_RET_ALLOW))
	p = append(p, stmt(ld, seccompArg0))
	flagsAt := len(p)
	p = append(p, unix.SockFilter{})
	p = append(p, stmt(ret, unix.SECCOMP_RET_ALLOW))
	eperm := len(p)
	p = append(p, stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)))
	enosys := len(p)
	p = append(p, stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
	kill := len(p)
	p = append(p, stmt(ret, unix.SECCOMP_RET_KILL_PROCESS))

	to := func(from, target int) uint8 { return uint8(target - from - 1) }
	p[archAt] = jump(jeq, unix.AUDIT_ARCH_X86_64, 0, to(archAt, kill))
	p[x32At] = jump(jge, x32Bit, to(x32At, kill), 0)
	for i, at := range denyAt {
		p[at] = jump(jeq, uint32(deniedCalls[i]), to(at, eperm), 0)
	}
	p[clone3At] = jump(jeq, unix.SYS_CLONE3, to(clone3At, enosys), 0)
	// Not clone: the next instruction allows; clone: skip it.
	p[cloneAt] = jump(jeq, unix.SYS_CLONE, 1, 0)
	p[flagsAt] = jump(jset, newNamespaceFlags, to(flagsAt, eperm), 0)
	return p
}

// setSeccomp installs seccompFilter on the calling thread, which must
// be locked to its goroutine and have set no_new_privs. The filter is
// inherited by every process forked from the thread and kept across
// execve; it cannot be removed.
func setSeccomp() error {
	f := seccompFilter()
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0)
	runtime.KeepAlive(f)
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}
