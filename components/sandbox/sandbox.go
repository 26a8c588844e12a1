package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	ninep "loom/9p"
	"loom/ns"
)

// Network says what network a sandboxed process has.
type Network int

const (
	// NoNetwork is a network namespace of its own with no interface up.
	NoNetwork Network = iota
	// Loopback is a network namespace of its own with lo up.
	Loopback
	// HostNetwork is the host's network namespace.
	HostNetwork
)

// Limits bounds what a sandboxed process and its descendants may use; a
// zero field is no limit.
type Limits struct {
	Memory    int64 // bytes
	Processes int
}

// Config describes a process to start in a sandbox.
type Config struct {
	Root    ns.FS  // the file system the process sees as /
	User    string // the user Root is attached as
	Argv    []string
	Env     []string
	Dir     string // working directory inside, "/" if empty
	Network Network
	Limits  Limits
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// The environment of the re-executed binary: initEnv selects the step,
// configEnv carries the Config's program part.
const (
	initEnv   = "LOOM_SANDBOX_INIT"
	configEnv = "LOOM_SANDBOX_CONFIG"
)

// noPreempt turns off the runtime's preemption signal in the init and
// the exec step. A signal interrupts a FUSE request in flight, and an
// execve whose loader read is interrupted fails with ELIBBAD instead of
// being restarted.
const noPreempt = "GODEBUG=asyncpreemptoff=1"

// childConfig is the part of a Config the child needs, as JSON.
type childConfig struct {
	User    string
	Argv    []string
	Env     []string
	Dir     string
	Network Network
	Limits  Limits
	Rlimit  bool // limits are to be set with setrlimit: no cgroup took them
}

// Process is a program started by Start.
type Process struct {
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	conn    *os.File
	served  chan struct{}
	cgroups []string
	limits  string

	waitOnce sync.Once
	waitErr  error
}

// Pid is the process id of the sandbox's init as the host sees it.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Limits says how the limits are enforced: "cgroup" (v1 memory and
// pids), "rlimit" (RLIMIT_AS and RLIMIT_NPROC), or "none" when no
// limits were asked for.
func (p *Process) Limits() string { return p.limits }

// Kill kills the sandbox: its init, and with it, by the kernel's rule
// for a pid namespace, every process inside.
func (p *Process) Kill() error { return p.cmd.Process.Kill() }

// Wait waits for the program to exit, then stops serving its file
// system and removes its cgroups.
func (p *Process) Wait() error {
	p.waitOnce.Do(func() {
		p.waitErr = p.cmd.Wait()
		p.cancel()
		p.conn.Close()
		<-p.served
		for _, cg := range p.cgroups {
			removeCgroup(cg)
		}
	})
	return p.waitErr
}

// Start starts cfg.Argv in new user, mount, pid, IPC, UTS and (unless
// the network is the host's) network namespaces, with cfg.Root as its
// file system. The current binary is run again as the sandbox's init,
// so it must call Init first thing in main.
func Start(cfg Config) (*Process, error) {
	if len(cfg.Argv) == 0 {
		return nil, errors.New("sandbox: no program")
	}
	if cfg.Root == nil {
		return nil, errors.New("sandbox: no root")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	cc := childConfig{User: cfg.User, Argv: cfg.Argv, Env: cfg.Env, Dir: cfg.Dir, Network: cfg.Network, Limits: cfg.Limits}
	js, err := json.Marshal(cc)
	if err != nil {
		return nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: socketpair: %w", err)
	}
	// Our end is non-blocking so that the runtime's poller has it and
	// Close ends a read in progress.
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "9p"), os.NewFile(uintptr(fds[1]), "9p")
	defer theirs.Close()
	gor, gow, err := os.Pipe()
	if err != nil {
		mine.Close()
		return nil, err
	}
	defer gor.Close()
	defer gow.Close()

	flags := syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	if cfg.Network != HostNetwork {
		flags |= syscall.CLONE_NEWNET
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{initEnv + "=init", configEnv + "=" + string(js), noPreempt}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cfg.Stdin, cfg.Stdout, cfg.Stderr
	cmd.ExtraFiles = []*os.File{theirs, gor} // fds 3 and 4 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  uintptr(flags),
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		mine.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// The child has its ends now; ours would keep the connection from
	// ending when it dies.
	theirs.Close()
	gor.Close()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Process{cmd: cmd, cancel: cancel, conn: mine, served: make(chan struct{}), limits: "none"}
	go func() {
		defer close(p.served)
		ninep.NewServer(cfg.Root).ServeConn(ctx, mine)
	}()

	// The program waits for this byte, so that it starts inside its
	// cgroups, or knows to set rlimits.
	rl := false
	if cfg.Limits != (Limits{}) {
		p.cgroups, err = joinCgroups(cmd.Process.Pid, cfg.Limits)
		if err == nil {
			p.limits = "cgroup"
		} else {
			for _, cg := range p.cgroups {
				removeCgroup(cg)
			}
			p.cgroups = nil
			p.limits, rl = "rlimit", true
		}
	}
	if rl && cfg.Limits.Processes > 0 && os.Getuid() == 0 {
		// The sandbox's root is the host's root, which the kernel
		// exempts from RLIMIT_NPROC: the limit would not hold.
		p.Kill()
		p.Wait()
		return nil, fmt.Errorf("sandbox: no writable pids cgroup under %s, and RLIMIT_NPROC does not bind the host's root: process limit unavailable", cgroupRoot)
	}
	b := []byte{'c'}
	if rl {
		b[0] = 'r'
	}
	if _, err := gow.Write(b); err != nil {
		p.Kill()
		p.Wait()
		return nil, fmt.Errorf("sandbox: starting init: %w", err)
	}
	return p, nil
}

// cgroupRoot is where the cgroup v1 hierarchies are mounted; a variable
// so that a test can make every cgroup unwritable.
var cgroupRoot = "/sys/fs/cgroup"

// joinCgroups makes a memory and a pids cgroup v1 for pid, sets the
// limits and moves pid into them. It returns the cgroups it made, to be
// removed whether or not it succeeded.
func joinCgroups(pid int, l Limits) ([]string, error) {
	var made []string
	set := []struct {
		ctl, file string
		v         int64
	}{
		{"memory", "memory.limit_in_bytes", l.Memory},
		{"pids", "pids.max", int64(l.Processes)},
	}
	for _, s := range set {
		if s.v == 0 {
			continue
		}
		dir := filepath.Join(cgroupRoot, s.ctl, "loom-"+strconv.Itoa(pid))
		if err := os.Mkdir(dir, 0755); err != nil {
			return made, err
		}
		made = append(made, dir)
		if err := os.WriteFile(filepath.Join(dir, s.file), []byte(strconv.FormatInt(s.v, 10)), 0); err != nil {
			return made, err
		}
		if s.ctl == "memory" {
			// Without this the kernel swaps instead of refusing; it is
			// absent when swap accounting is off.
			os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(s.v, 10)), 0)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return made, err
		}
	}
	return made, nil
}

// removeCgroup removes a cgroup once its last process, which may still
// be dying, has left it.
func removeCgroup(dir string) {
	for i := 0; i < 100; i++ {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Init runs the sandbox's steps when the binary was started by Start,
// and never returns then; otherwise it returns at once. Call it first
// thing in main (or TestMain).
func Init() {
	var err error
	switch os.Getenv(initEnv) {
	case "":
		return
	case "init":
		err = runInit()
	case "exec":
		err = runExec()
	default:
		err = errors.New("unknown step")
	}
	fmt.Fprintf(os.Stderr, "sandbox: %s: %v\n", os.Getenv(initEnv), err)
	os.Exit(127)
}

// CheckInit returns an error unless the process is PID 1 in a user
// namespace other than the host's: the only place where the init may
// mount and pivot without touching the host.
func CheckInit() error {
	if os.Getpid() != 1 {
		return fmt.Errorf("sandbox: init refuses to run as pid %d, not 1", os.Getpid())
	}
	m, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return fmt.Errorf("sandbox: init cannot tell its user namespace: %w", err)
	}
	if strings.Join(strings.Fields(string(m)), " ") == "0 0 4294967295" {
		return errors.New("sandbox: init refuses to run in the host's user namespace")
	}
	return nil
}

func readConfig() (childConfig, error) {
	var cc childConfig
	err := json.Unmarshal([]byte(os.Getenv(configEnv)), &cc)
	return cc, err
}

// runInit is PID 1 of the sandbox: it builds the root from the 9P
// connection on fd 3, pivots into it, starts the program as runExec and
// reaps until the program exits.
func runInit() error {
	if err := CheckInit(); err != nil {
		return err
	}
	cc, err := readConfig()
	if err != nil {
		return err
	}
	conn, gate := os.NewFile(3, "9p"), os.NewFile(4, "gate")
	b := make([]byte, 1)
	if _, err := io.ReadFull(gate, b); err != nil {
		return fmt.Errorf("waiting for the parent: %w", err)
	}
	gate.Close()
	cc.Rlimit = b[0] == 'r'

	// From here on every mount is in the sandbox's own mount namespace;
	// making it private keeps even propagation from reaching the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	c, err := ninep.NewClient(conn)
	if err != nil {
		return fmt.Errorf("9p: %w", err)
	}
	base := "/tmp"
	if err := unix.Mount("loom", base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		return fmt.Errorf("tmpfs: %w", err)
	}
	view, root := filepath.Join(base, "view"), filepath.Join(base, "root")
	for _, d := range []string{view, root} {
		if err := os.Mkdir(d, 0755); err != nil {
			return err
		}
	}
	if _, err := ServeFUSE(view, c, cc.User, FSName("loom")); err != nil {
		return fmt.Errorf("fuse: %w", err)
	}
	if err := unix.Mount("loom", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("tmpfs root: %w", err)
	}
	if err := bindEntries(view, root, map[string]bool{"proc": true, "dev": true}); err != nil {
		return err
	}
	if err := makeDev(view, root); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(root, "proc"), 0555); err != nil {
		return err
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("proc: %w", err)
	}
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting the old root: %w", err)
	}
	os.Remove("/.old")
	// The top of the tree is the init's scaffolding: nobody writes there.
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remounting / read-only: %w", err)
	}
	unix.Sethostname([]byte("loom"))
	if cc.Network == Loopback {
		if err := loopbackUp(); err != nil {
			return err
		}
	}

	js, err := json.Marshal(cc)
	if err != nil {
		return err
	}
	dir := cc.Dir
	if dir == "" {
		dir = "/"
	}
	// Nothing of the init but the standard files reaches the program:
	// above all not the FUSE device, which would keep the view's
	// connection alive after the init is gone.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	proc, err := os.StartProcess("/proc/self/exe", []string{"init"}, &os.ProcAttr{
		Dir:   dir,
		Env:   []string{initEnv + "=exec", configEnv + "=" + string(js), noPreempt},
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return fmt.Errorf("starting %s: %w", cc.Argv[0], err)
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		if pid != proc.Pid {
			continue
		}
		// The program is done: end what it left while the view still
		// answers, so that nothing waits on it when the init is gone.
		unix.Kill(-1, unix.SIGKILL)
		switch {
		case ws.Exited():
			os.Exit(ws.ExitStatus())
		case ws.Signaled():
			os.Exit(128 + int(ws.Signal()))
		}
	}
}

// bindEntries binds each entry of from (but skip) onto a new entry of
// the same name in to.
func bindEntries(from, to string, skip map[string]bool) error {
	ents, err := os.ReadDir(from)
	if err != nil {
		return fmt.Errorf("reading the root: %w", err)
	}
	for _, e := range ents {
		if skip[e.Name()] {
			continue
		}
		src, dst := filepath.Join(from, e.Name()), filepath.Join(to, e.Name())
		if err := bindOnto(src, dst, e.IsDir()); err != nil {
			return err
		}
	}
	return nil
}

// bindOnto makes dst, a directory or a file, and binds src onto it.
func bindOnto(src, dst string, dir bool) error {
	var err error
	if dir {
		err = os.Mkdir(dst, 0755)
	} else {
		err = os.WriteFile(dst, nil, 0644)
	}
	if err != nil {
		return err
	}
	if err := eintr(func() error { return unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, "") }); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return nil
}

// hostDevices are the device nodes that Linux programs expect. Inside a
// user namespace mknod is refused, so the host's are bound instead.
var hostDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// makeDev makes root/dev: the host's common devices and whatever the
// namespace has in its /dev.
func makeDev(view, root string) error {
	dev := filepath.Join(root, "dev")
	if err := os.Mkdir(dev, 0755); err != nil {
		return err
	}
	for _, d := range hostDevices {
		if err := bindOnto("/dev/"+d, filepath.Join(dev, d), false); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(filepath.Join(view, "dev"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if _, err := os.Lstat(filepath.Join(dev, e.Name())); err == nil {
			continue
		}
		if err := bindOnto(filepath.Join(view, "dev", e.Name()), filepath.Join(dev, e.Name()), e.IsDir()); err != nil {
			return err
		}
	}
	return nil
}

// loopbackUp sets lo up in the sandbox's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

// runExec is the last step before the program: it sets rlimits if no
// cgroup took the limits, gives up every capability for good, sets
// no_new_privs and execs the program.
func runExec() error {
	if os.Getpid() == 1 {
		return errors.New("exec step run as pid 1")
	}
	cc, err := readConfig()
	if err != nil {
		return err
	}
	if cc.Rlimit {
		if cc.Limits.Memory > 0 {
			lim := &unix.Rlimit{Cur: uint64(cc.Limits.Memory), Max: uint64(cc.Limits.Memory)}
			if err := unix.Setrlimit(unix.RLIMIT_AS, lim); err != nil {
				return fmt.Errorf("RLIMIT_AS: %w", err)
			}
		}
		if cc.Limits.Processes > 0 {
			lim := &unix.Rlimit{Cur: uint64(cc.Limits.Processes), Max: uint64(cc.Limits.Processes)}
			if err := unix.Setrlimit(unix.RLIMIT_NPROC, lim); err != nil {
				return fmt.Errorf("RLIMIT_NPROC: %w", err)
			}
		}
	}
	if err := dropCapabilities(); err != nil {
		return err
	}
	argv0 := cc.Argv[0]
	if !strings.Contains(argv0, "/") {
		path := "/bin:/usr/bin"
		for _, e := range cc.Env {
			if p, ok := strings.CutPrefix(e, "PATH="); ok {
				path = p
			}
		}
		for _, d := range filepath.SplitList(path) {
			if st, err := os.Stat(filepath.Join(d, argv0)); err == nil && st.Mode().IsRegular() {
				argv0 = filepath.Join(d, argv0)
				break
			}
		}
	}
	return eintr(func() error { return syscall.Exec(argv0, cc.Argv, cc.Env) })
}

// eintr calls f until it is not interrupted. Calls that reach the FUSE
// view are interrupted by any signal, the runtime's preemption signal
// among them, and the os package retries only its own.
func eintr(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

// The securebits that make uid 0 an ordinary user across exec, locked.
const secureNoRoot = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<5

// dropCapabilities empties the bounding and ambient sets, locks uid 0
// out of regaining capabilities on exec, clears the rest and sets
// no_new_privs: the program can neither undo its mounts nor leave its
// namespaces.
func dropCapabilities() error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("ambient capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, secureNoRoot, 0, 0, 0); err != nil {
		return fmt.Errorf("securebits: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}
