package sandbox

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runFilter runs a classic BPF program over a struct seccomp_data, as
// the kernel would: the instructions seccompFilter uses, nothing more.
func runFilter(t *testing.T, prog []unix.SockFilter, arch uint32, nr int32, arg0 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[seccompNr:], uint32(nr))
	binary.LittleEndian.PutUint32(data[seccompArch:], arch)
	binary.LittleEndian.PutUint64(data[seccompArg0:], arg0)
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += int(map[bool]uint8{true: in.Jt, false: in.Jf}[a == in.K])
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += int(map[bool]uint8{true: in.Jt, false: in.Jf}[a >= in.K])
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += int(map[bool]uint8{true: in.Jt, false: in.Jf}[a&in.K != 0])
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: code %#x not simulated", pc, in.Code)
		}
	}
	t.Fatalf("the program ran off its end")
	return 0
}

// TestSeccompFilter runs the filter over calls a program inside could
// make, including those no live test can: another architecture's, x32's.
func TestSeccompFilter(t *testing.T) {
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		kill   = unix.SECCOMP_RET_KILL_PROCESS
	)
	x86 := uint32(unix.AUDIT_ARCH_X86_64)
	tests := []struct {
		what string
		arch uint32
		nr   int32
		arg0 uint64
		want uint32
	}{
		{"read", x86, unix.SYS_READ, 0, allow},
		{"getpid", x86, unix.SYS_GETPID, 0, allow},
		{"mount", x86, unix.SYS_MOUNT, 0, eperm},
		{"umount2", x86, unix.SYS_UMOUNT2, 0, eperm},
		{"pivot_root", x86, unix.SYS_PIVOT_ROOT, 0, eperm},
		{"setns", x86, unix.SYS_SETNS, 0, eperm},
		{"unshare", x86, unix.SYS_UNSHARE, 0, eperm},
		{"ptrace", x86, unix.SYS_PTRACE, 0, eperm},
		{"process_vm_readv", x86, unix.SYS_PROCESS_VM_READV, 0, eperm},
		{"bpf", x86, unix.SYS_BPF, 0, eperm},
		{"keyctl", x86, unix.SYS_KEYCTL, 0, eperm},
		{"open_by_handle_at", x86, unix.SYS_OPEN_BY_HANDLE_AT, 0, eperm},
		{"userfaultfd", x86, unix.SYS_USERFAULTFD, 0, eperm},
		{"init_module", x86, unix.SYS_INIT_MODULE, 0, eperm},
		{"clone, a thread", x86, unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND, allow},
		{"clone, fork", x86, unix.SYS_CLONE, uint64(unix.SIGCHLD), allow},
		{"clone, new user namespace", x86, unix.SYS_CLONE, unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), eperm},
		{"clone, new mount namespace", x86, unix.SYS_CLONE, unix.CLONE_NEWNS, eperm},
		{"clone, new net namespace", x86, unix.SYS_CLONE, unix.CLONE_NEWNET, eperm},
		{"clone3", x86, unix.SYS_CLONE3, 0, enosys},
		{"i386", unix.AUDIT_ARCH_I386, unix.SYS_READ, 0, kill},
		{"x32", x86, x32Bit | unix.SYS_READ, 0, kill},
	}
	prog := seccompFilter()
	if len(prog) > 255 {
		t.Fatalf("filter of %d instructions: jumps of a byte cannot span it", len(prog))
	}
	for _, tt := range tests {
		if got := runFilter(t, prog, tt.arch, tt.nr, tt.arg0); got != tt.want {
			t.Errorf("filter(%s) = %#x; want %#x", tt.what, got, tt.want)
		}
	}
}
