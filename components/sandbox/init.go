package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	ninep "loom/9p"
)

// childConfig is what the init and the exec step are told, as JSON.
type childConfig struct {
	User     string
	Network  Network
	HostDirs []string
	// NoSeccomp leaves the filter out: for a test's control only.
	NoSeccomp bool
	// For the exec step.
	Argv   []string
	Env    []string
	Rlimit Limits // the limits to set with setrlimit: no cgroup took them
}

func readConfig() (childConfig, error) {
	var cc childConfig
	err := json.Unmarshal([]byte(os.Getenv(configEnv)), &cc)
	return cc, err
}

// boxInit is the state of a box's init.
type boxInit struct {
	cc     childConfig
	rlimit Limits
	ctl    *net.UnixConn

	mu    sync.Mutex    // held from fork to recording, and for every send
	procs map[int]int   // the pids of the programs it started, to their ids
	kick  chan struct{} // a child was started: wait for it
	spawn chan spawnReq // to the thread that forks
}

type spawnReq struct {
	m   ctlMsg
	fds []int
}

// runInit is PID 1 of a box: it builds the root from the 9P connection
// on fd 3, pivots into it, then starts the spawner (runSpawner) with the
// control socket (fd 4), serves the view and reaps orphans until the
// spawner, and with it the box, ends.
//
// The init serves the view, so it cannot be the one to fork the
// programs: Go forks with vfork, which holds the forking thread, and
// with it any stop of the world in that process, until the child has
// exec'd, and the child execs a file of the view.
func runInit() error {
	if err := CheckInit(); err != nil {
		return err
	}
	cc, err := readConfig()
	if err != nil {
		return err
	}
	ctlFile := os.NewFile(4, "ctl")
	fc, err := net.FileConn(ctlFile)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	s := &boxInit{cc: cc, ctl: fc.(*net.UnixConn)}
	m, _, err := s.recv()
	if err != nil || m.Op != "go" {
		return fmt.Errorf("waiting for the parent: %v", err)
	}
	if m.Rlimit != nil {
		s.cc.Rlimit = *m.Rlimit
	}
	if err := s.setup(); err != nil {
		s.send(ctlMsg{Op: "error", Err: err.Error()})
		return err
	}
	js, err := json.Marshal(s.cc)
	if err != nil {
		return err
	}
	// The spawner starts before the pivot, while the host's root, where
	// the loader of this binary is, is still the root; pivot_root moves
	// it along. It waits for a byte on the gate to go on.
	gr, gw, err := os.Pipe()
	if err != nil {
		return err
	}
	// And it says when it runs: its loader opens the libraries after
	// the exec, from whatever is the root then.
	ar, aw, err := os.Pipe()
	if err != nil {
		return err
	}
	// The control socket went close-on-exec with the rest in setup;
	// ForkExec's Files are dup'ed without the flag.
	spawner, err := syscall.ForkExec("/proc/self/exe", []string{"spawner"}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{initEnv + "=spawner", configEnv + "=" + string(js), noPreempt},
		Files: []uintptr{0, 1, 2, ctlFile.Fd(), gr.Fd(), aw.Fd()},
	})
	gr.Close()
	aw.Close()
	if err == nil {
		_, err = io.ReadFull(ar, make([]byte, 1))
	}
	ar.Close()
	if err != nil {
		s.send(ctlMsg{Op: "error", Err: "starting the spawner: " + err.Error()})
		return err
	}
	if err := s.pivot(); err != nil {
		s.send(ctlMsg{Op: "error", Err: err.Error()})
		return err
	}
	if _, err := gw.Write([]byte{1}); err != nil {
		return err
	}
	gw.Close()
	// The spawner talks to the parent from now on.
	fc.Close()
	ctlFile.Close()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		if pid == spawner {
			os.Exit(0)
		}
	}
}

// runSpawner forks and execs the programs of a box as its parent asks
// on the control socket (fd 3), tells it their pids and exits, and
// reaps them. It is PID 2; when it ends, the init ends, and the box.
func runSpawner() error {
	if os.Getpid() == 1 {
		return errors.New("spawner run as pid 1")
	}
	if m, err := os.ReadFile("/proc/self/uid_map"); err != nil || strings.Join(strings.Fields(string(m)), " ") == "0 0 4294967295" {
		return errors.New("spawner refuses to run in the host's user namespace")
	}
	cc, err := readConfig()
	if err != nil {
		return err
	}
	alive := os.NewFile(5, "alive")
	alive.Write([]byte{1})
	alive.Close()
	gate := os.NewFile(4, "gate")
	if _, err := io.ReadFull(gate, make([]byte, 1)); err != nil {
		return fmt.Errorf("waiting for the init: %w", err)
	}
	gate.Close()
	ctlFile := os.NewFile(3, "ctl")
	fc, err := net.FileConn(ctlFile)
	ctlFile.Close()
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	s := &boxInit{cc: cc, rlimit: cc.Rlimit, ctl: fc.(*net.UnixConn), procs: map[int]int{}, kick: make(chan struct{}, 1), spawn: make(chan spawnReq)}
	ready := make(chan error)
	go s.spawner(ready)
	if err := <-ready; err != nil {
		s.send(ctlMsg{Op: "error", Err: err.Error()})
		return err
	}
	go s.serve()
	if err := s.send(ctlMsg{Op: "ready"}); err != nil {
		return err
	}
	s.reap()
	return nil
}

// recv reads one message and the descriptors it carries.
func (s *boxInit) recv() (ctlMsg, []int, error) {
	buf, oob := make([]byte, 1<<20), make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := s.ctl.ReadMsgUnix(buf, oob)
	if err != nil {
		return ctlMsg{}, nil, err
	}
	if n == 0 {
		return ctlMsg{}, nil, errors.New("parent gone")
	}
	fds := recvFds(oob[:oobn])
	var m ctlMsg
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeFds(fds)
		return ctlMsg{}, nil, err
	}
	return m, fds, nil
}

// send sends m, and the descriptors fds, to the parent.
func (s *boxInit) send(m ctlMsg, fds ...int) error { return sendMsg(s.ctl, m, fds) }

// serve answers the parent until it goes, which ends the box.
func (s *boxInit) serve() {
	for {
		m, fds, err := s.recv()
		if err != nil {
			// The parent has gone or closed the box: so does the box.
			os.Exit(1)
		}
		switch m.Op {
		case "start":
			s.spawn <- spawnReq{m, fds}
		case "signalall":
			// kill(-1) reaches every process of the pid namespace
			// but the init and the caller.
			closeFds(fds)
			unix.Kill(-1, syscall.Signal(m.Sig))
		default:
			closeFds(fds)
		}
	}
}

// spawner is the one thread that forks the programs. It gives up, for
// itself and so for everything forked from it, every capability, sets
// no_new_privs and installs the seccomp filter: credentials, like the
// filter set with prctl, belong to a thread, and a child has those of
// the thread that forked it. The process's other threads keep what
// they had; they talk to the parent and reap, and never exec.
func (s *boxInit) spawner(ready chan<- error) {
	runtime.LockOSThread() // for good: the thread dies with the init
	if err := dropCapabilities(); err != nil {
		ready <- err
		return
	}
	if !s.cc.NoSeccomp {
		if err := setSeccomp(); err != nil {
			ready <- err
			return
		}
	}
	if s.rlimit.CPU > 0 {
		if n := niceFor(s.rlimit.CPU); n > 0 {
			unix.Setpriority(unix.PRIO_PROCESS, 0, n)
		}
	}
	close(ready)
	for r := range s.spawn {
		s.start(r.m, r.fds)
	}
}

// start forks and execs the program of m with fds as its standard
// files, and tells the parent its pid and a pidfd for it.
func (s *boxInit) start(m ctlMsg, fds []int) {
	defer closeFds(fds)
	fail := func(err error) {
		s.mu.Lock()
		s.send(ctlMsg{Op: "started", ID: m.ID, Err: err.Error()})
		s.mu.Unlock()
	}
	if len(fds) != 3 || len(m.Argv) == 0 {
		fail(errors.New("bad start request"))
		return
	}
	dir := m.Dir
	if dir == "" {
		dir = "/"
	}
	prog, argv, env := lookPath(m.Argv[0], m.Env), m.Argv, m.Env
	if s.rlimit.Memory > 0 || s.rlimit.Processes > 0 {
		// setrlimit must come between fork and exec, which the fork
		// here does not offer: the exec step sets them, then execs.
		cc := childConfig{Argv: append([]string{prog}, argv[1:]...), Env: env, Rlimit: s.rlimit}
		cc.Argv = append(cc.Argv, argv[0]) // argv[0] as given, last
		js, err := json.Marshal(cc)
		if err != nil {
			fail(err)
			return
		}
		prog, argv, env = "/proc/self/exe", []string{"init"}, []string{initEnv + "=exec", configEnv + "=" + string(js), noPreempt}
	}
	pidfd := -1
	attr := &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])},
		Sys:   &syscall.SysProcAttr{Setpgid: true, PidFD: &pidfd},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var pid int
	err := eintr(func() error {
		var err error
		pid, err = syscall.ForkExec(prog, argv, attr)
		return err
	})
	if err != nil {
		// As a program that fails to exec on the host would: the start
		// succeeds, the process says why on its standard error and
		// exits 127. A system's processes restarted in a sandbox that
		// lacks their program are so, not a failed clone.
		unix.Write(fds[2], []byte(fmt.Sprintf("sandbox: %s: %v\n", m.Argv[0], err)))
		s.send(ctlMsg{Op: "started", ID: m.ID})
		s.send(ctlMsg{Op: "exit", ID: m.ID, Status: 127 << 8})
		return
	}
	s.procs[pid] = m.ID
	select {
	case s.kick <- struct{}{}:
	default:
	}
	s.send(ctlMsg{Op: "started", ID: m.ID, Pid: pid}, pidfd)
	unix.Close(pidfd)
}

// lookPath finds name in the PATH of env ("/bin:/usr/bin" without one),
// in the box's file system.
func lookPath(name string, env []string) string {
	if strings.Contains(name, "/") {
		return name
	}
	path := "/bin:/usr/bin"
	for _, e := range env {
		if p, ok := strings.CutPrefix(e, "PATH="); ok {
			path = p
		}
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return name
}

// reap reaps every process that ends in the box, orphans included, and
// tells the parent of the programs it started.
func (s *boxInit) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.ECHILD:
			<-s.kick
			continue
		default:
			return
		}
		s.mu.Lock()
		if id, ok := s.procs[pid]; ok {
			delete(s.procs, pid)
			s.send(ctlMsg{Op: "exit", ID: id, Status: uint32(ws)})
		}
		s.mu.Unlock()
	}
}

// setup builds the box's root in /tmp/root: the view of the file
// server, the host directories asked for, /dev and /proc.
func (s *boxInit) setup() error {
	// From here on every mount is in the box's own mount namespace;
	// making it private keeps even propagation from reaching the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	c, err := ninep.NewClient(os.NewFile(3, "9p"))
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
	if _, err := ServeFUSE(view, c, s.cc.User, FSName("loom")); err != nil {
		return fmt.Errorf("fuse: %w", err)
	}
	if err := unix.Mount("loom", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("tmpfs root: %w", err)
	}
	if err := bindEntries(view, root, map[string]bool{"proc": true, "dev": true}); err != nil {
		return err
	}
	if err := hostDirs(root, s.cc.HostDirs); err != nil {
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
	// Nothing of the init but the standard files reaches a program:
	// above all not the FUSE device, which would keep the view's
	// connection alive after the init is gone.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	return nil
}

// pivot makes the root built by setup the root of the box's mount
// namespace, for every process in it.
func (s *boxInit) pivot() error {
	root := "/tmp/root"
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
	if err := os.Remove("/.old"); err != nil {
		return fmt.Errorf("removing the old root's mount point: %w", err)
	}
	// The top of the tree is the init's scaffolding: nobody writes there.
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remounting / read-only: %w", err)
	}
	unix.Sethostname([]byte("loom"))
	if s.cc.Network == Loopback {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	return nil
}

// hostDirs shows the host directories dirs in root, read-only. A
// directory that is a symbolic link to within another of dirs (Debian's
// /bin, /lib and /lib64 into /usr) is the same link, so that the root
// has the host's shape; one to elsewhere is a bind of what it names.
// A name the view has already is left to the view.
func hostDirs(root string, dirs []string) error {
	shown := func(p string) bool {
		for _, d := range dirs {
			if p == d || strings.HasPrefix(p, d+"/") {
				if st, err := os.Lstat(d); err == nil && st.Mode().IsDir() {
					return true
				}
			}
		}
		return false
	}
	for _, d := range dirs {
		dst := filepath.Join(root, d)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		st, err := os.Lstat(d)
		if err != nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0755); err != nil {
			return err
		}
		src := d
		if st.Mode()&os.ModeSymlink != 0 {
			link, err := os.Readlink(d)
			if err != nil {
				return err
			}
			real, err := filepath.EvalSymlinks(d)
			if err != nil {
				continue
			}
			if shown(real) {
				if err := os.Symlink(link, dst); err != nil {
					return err
				}
				continue
			}
			src = real
		}
		if err := bindReadOnly(src, dst); err != nil {
			return err
		}
	}
	return nil
}

// bindReadOnly binds the host directory src onto a new directory dst,
// read-only. The remount keeps the flags the kernel locks for a mount
// that came from a more privileged namespace, which it would refuse to
// drop.
func bindReadOnly(src, dst string) error {
	if err := bindOnto(src, dst, true); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return err
	}
	keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|keep, ""); err != nil {
		return fmt.Errorf("read-only %s: %w", src, err)
	}
	return nil
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

// loopbackUp sets lo up in the box's network namespace.
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

// runExec is the step between fork and the program where limits are
// set with setrlimit: it sets them and execs the program. It runs
// without capabilities, under no_new_privs and the seccomp filter, all
// inherited from the thread of the init that forked it.
func runExec() error {
	if os.Getpid() == 1 {
		return errors.New("exec step run as pid 1")
	}
	cc, err := readConfig()
	if err != nil {
		return err
	}
	if len(cc.Argv) < 2 {
		return errors.New("no program")
	}
	if cc.Rlimit.Memory > 0 {
		lim := &unix.Rlimit{Cur: uint64(cc.Rlimit.Memory), Max: uint64(cc.Rlimit.Memory)}
		if err := unix.Setrlimit(unix.RLIMIT_AS, lim); err != nil {
			return fmt.Errorf("RLIMIT_AS: %w", err)
		}
	}
	if cc.Rlimit.Processes > 0 {
		lim := &unix.Rlimit{Cur: uint64(cc.Rlimit.Processes), Max: uint64(cc.Rlimit.Processes)}
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, lim); err != nil {
			return fmt.Errorf("RLIMIT_NPROC: %w", err)
		}
	}
	// The path found, then the arguments, then argv[0] as given.
	prog, argv := cc.Argv[0], cc.Argv[:len(cc.Argv)-1]
	argv[0] = cc.Argv[len(cc.Argv)-1]
	return eintr(func() error { return syscall.Exec(prog, argv, cc.Env) })
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

// dropCapabilities empties the calling thread's bounding and ambient
// sets, locks uid 0 out of regaining capabilities on exec, clears the
// rest and sets no_new_privs: what it starts can neither undo its mounts
// nor leave its namespaces. The caller must be locked to its thread.
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
