package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	ninep "loom/9p"
	"loom/ns"
)

// BoxConfig describes a sandbox made once and shared by the programs
// started in it.
type BoxConfig struct {
	Root ns.FS  // the file system the programs see as /
	User string // the user Root is attached as
	// HostDirs are host directories shown read-only at the same path
	// (bound from the host, not served through Root): the programs'
	// binaries and libraries. One that is a symbolic link into another
	// shown directory (Debian's /bin to usr/bin) is that link.
	HostDirs []string
	Network  Network
	Limits   Limits
	// Log, when not nil, gets what the box's init writes to its
	// standard error.
	Log io.Writer
}

// A Box is a set of Linux namespaces (user, mount, pid, IPC, UTS and,
// unless the network is the host's, network) with a root of its own,
// made once: every program started in it shares its processes, /proc,
// network, cgroups and file system. Its init is PID 1 inside; it forks
// and execs what Start asks for, and the box ends with it.
type Box struct {
	cmd     *exec.Cmd
	ctl     *net.UnixConn
	cancel  context.CancelFunc
	served  chan struct{}
	conn    *os.File
	cg      *cgroups
	limits  Limits
	network Network

	sendMu sync.Mutex // one request at a time on ctl

	mu     sync.Mutex
	nextID int
	procs  map[int]*Process
	frozen bool
	closed bool
	dead   chan struct{} // closed when the init has gone
	ready  chan ctlMsg   // the init's first word

	closeOnce sync.Once
	closeErr  error
}

// ctlMsg is one message on the control socket, either way.
type ctlMsg struct {
	Op     string   // go, ready, error; start, started; exit; signalall
	ID     int      `json:",omitempty"`
	Argv   []string `json:",omitempty"`
	Env    []string `json:",omitempty"`
	Dir    string   `json:",omitempty"`
	Sig    int      `json:",omitempty"`
	Pid    int      `json:",omitempty"`
	Status uint32   `json:",omitempty"` // a wait status
	Err    string   `json:",omitempty"`
	Rlimit *Limits  `json:",omitempty"` // with go: the limits the init sets itself
}

// noSeccomp makes boxes without the seccomp filter, so that a test can
// show what the filter changes.
var noSeccomp = false

// New makes a box: it starts the box's init, which mounts cfg.Root (served
// to it over 9P) and the host directories on a new root, pivots into it,
// gives up its capabilities, installs the seccomp filter and waits for
// programs to start. The current binary is run again as the init, so it
// must call Init first thing in main.
func New(cfg BoxConfig) (*Box, error) {
	if cfg.Root == nil {
		return nil, errors.New("sandbox: no root")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	cc := childConfig{User: cfg.User, Network: cfg.Network, HostDirs: cfg.HostDirs, NoSeccomp: noSeccomp}
	js, err := json.Marshal(cc)
	if err != nil {
		return nil, err
	}
	nine, err := socketpair(syscall.SOCK_STREAM, "9p")
	if err != nil {
		return nil, err
	}
	ctl, err := socketpair(syscall.SOCK_SEQPACKET, "ctl")
	if err != nil {
		nine[0].Close()
		nine[1].Close()
		return nil, err
	}
	defer nine[1].Close()
	defer ctl[1].Close()
	ctlConn, err := net.FileConn(ctl[0])
	ctl[0].Close()
	if err != nil {
		nine[0].Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}

	flags := syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	if cfg.Network != HostNetwork {
		flags |= syscall.CLONE_NEWNET
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{initEnv + "=init", configEnv + "=" + string(js), noPreempt}
	tail := &tailWriter{}
	cmd.Stderr = tail
	if cfg.Log != nil {
		cmd.Stderr = io.MultiWriter(tail, cfg.Log)
	}
	cmd.ExtraFiles = []*os.File{nine[1], ctl[1]} // fds 3 and 4 in the init
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  uintptr(flags),
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		nine[0].Close()
		ctlConn.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// The init has its ends now; ours would keep the connections from
	// ending when it dies.
	nine[1].Close()
	ctl[1].Close()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Box{
		cmd: cmd, ctl: ctlConn.(*net.UnixConn), cancel: cancel, served: make(chan struct{}), conn: nine[0],
		limits: cfg.Limits, network: cfg.Network,
		procs: map[int]*Process{}, dead: make(chan struct{}), ready: make(chan ctlMsg, 1),
	}
	go func() {
		defer close(b.served)
		ninep.NewServer(cfg.Root).ServeConn(ctx, nine[0])
	}()
	go b.read()

	// The init waits for the word to go, so that it is in its cgroups
	// before anything starts, or knows which limits to set itself.
	b.cg = makeCgroups(cgroupRoot, cmd.Process.Pid, cfg.Limits)
	rl := b.cg.rlimit
	if rl.Processes > 0 && os.Getuid() == 0 {
		// The box's root is the host's root, which the kernel exempts
		// from RLIMIT_NPROC: the limit would not hold.
		b.Close()
		return nil, fmt.Errorf("sandbox: no writable pids cgroup under %s, and RLIMIT_NPROC does not bind the host's root: process limit unavailable", cgroupRoot)
	}
	if err := b.send(ctlMsg{Op: "go", Rlimit: &rl}); err != nil {
		b.Close()
		return nil, fmt.Errorf("sandbox: starting init: %w", err)
	}
	var m ctlMsg
	select {
	case m = <-b.ready:
	case <-b.dead:
		m = ctlMsg{Op: "error", Err: "init exited"}
	}
	if m.Op != "ready" {
		b.Close()
		if t := tail.String(); t != "" {
			m.Err += ": " + t
		}
		return nil, fmt.Errorf("sandbox: init: %s", m.Err)
	}
	if err := b.cg.reserve(cfg.Limits); err != nil {
		b.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return b, nil
}

// tailWriter keeps the end of what the init writes to its standard
// error, for the error of a box that failed to start.
type tailWriter struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// socketpair returns a connected pair of sockets of the type typ; the
// first, ours, is non-blocking so that the runtime's poller has it and
// Close ends a read in progress.
func socketpair(typ int, name string) ([2]*os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return [2]*os.File{}, fmt.Errorf("sandbox: socketpair: %w", err)
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return [2]*os.File{}, fmt.Errorf("sandbox: %w", err)
	}
	return [2]*os.File{os.NewFile(uintptr(fds[0]), name), os.NewFile(uintptr(fds[1]), name)}, nil
}

// send sends m, with the descriptors fds, to the init.
func (b *Box) send(m ctlMsg, fds ...int) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	return sendMsg(b.ctl, m, fds)
}

// sendMsg sends m as one datagram on c, with the descriptors fds.
func sendMsg(c *net.UnixConn, m ctlMsg, fds []int) error {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(js, oob, nil)
	return err
}

// read reads the init's messages until it has gone.
func (b *Box) read() {
	buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := b.ctl.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			break
		}
		fds := recvFds(oob[:oobn])
		var m ctlMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			closeFds(fds)
			continue
		}
		b.mu.Lock()
		p := b.procs[m.ID]
		b.mu.Unlock()
		switch m.Op {
		case "ready", "error":
			select {
			case b.ready <- m:
			default:
			}
		case "started":
			if p == nil {
				closeFds(fds)
				continue
			}
			p.nspid = m.Pid
			if m.Err != "" {
				p.startErr = errors.New(m.Err)
			} else if len(fds) == 1 {
				p.pidfd = fds[0]
				p.pid = pidfdPid(fds[0])
			} else if m.Pid == 0 {
				// It failed to exec; its exit follows.
				closeFds(fds)
			} else {
				closeFds(fds)
				p.startErr = errors.New("init sent no pidfd")
			}
			close(p.started)
		case "exit":
			closeFds(fds)
			b.mu.Lock()
			delete(b.procs, m.ID)
			b.mu.Unlock()
			if p != nil {
				p.finish(unix.WaitStatus(m.Status))
			}
		default:
			closeFds(fds)
		}
	}
	b.mu.Lock()
	close(b.dead)
	procs := b.procs
	b.procs = map[int]*Process{}
	b.mu.Unlock()
	// The init is gone, and by the kernel's rule for a pid namespace
	// every process inside with it.
	for _, p := range procs {
		select {
		case <-p.started:
		default:
			p.startErr = errors.New("sandbox: the box's init has gone")
			close(p.started)
		}
		p.finish(unix.WaitStatus(unix.SIGKILL))
	}
}

// recvFds are the descriptors of a control message.
func recvFds(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

func closeFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// pidfdPid is the host's pid of the process a pidfd refers to, as
// /proc/self/fdinfo tells: the init, inside, knows only its own.
func pidfdPid(fd int) int {
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "Pid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// Pid is the host's pid of the box's init.
func (b *Box) Pid() int { return b.cmd.Process.Pid }

// Done is closed when the box has ended: closed, or its init gone.
func (b *Box) Done() <-chan struct{} { return b.dead }

// Limits says, one line per limit asked for, the limit and what holds
// it: a cgroup v1 or v2 file, an rlimit, or nice for cpu; and a line
// for freeze, which says how Freeze stops the box.
func (b *Box) Limits() string {
	var s strings.Builder
	line := func(what string, v int64, unit string) {
		if v == 0 {
			return
		}
		how, ok := b.cg.held[what]
		if !ok {
			switch what {
			case "memory":
				how = "rlimit RLIMIT_AS"
			case "processes":
				how = "rlimit RLIMIT_NPROC"
			case "cpu":
				how = "nice " + strconv.Itoa(niceFor(int(v)))
			}
		}
		if what == "processes" && b.cg.reserved > 0 {
			how += fmt.Sprintf(" (+%d for the box's own init and spawner)", b.cg.reserved)
		}
		fmt.Fprintf(&s, "%s %d%s %s\n", what, v, unit, how)
	}
	line("memory", b.limits.Memory, "")
	line("processes", int64(b.limits.Processes), "")
	line("cpu", int64(b.limits.CPU), "")
	switch {
	case b.cg.freezer == "":
		s.WriteString("freeze signal SIGSTOP\n")
	case b.cg.v2:
		s.WriteString("freeze cgroup v2 cgroup.freeze\n")
	default:
		s.WriteString("freeze cgroup v1 freezer.state\n")
	}
	return s.String()
}

// Start runs argv in the box, with the environment env, in the working
// directory dir inside ("/" if empty), reading stdin and writing stdout
// and stderr (the null device where nil). A program named without a
// slash is looked for in env's PATH, in the box. The process is a
// process group of its own.
//
// A frozen box is thawed to start the program and frozen again with it.
func (b *Box) Start(argv, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) (*Process, error) {
	if len(argv) == 0 {
		return nil, errors.New("sandbox: no program")
	}
	var st stdio
	defer st.closeTheirs()
	fds, err := st.files(stdin, stdout, stderr)
	if err != nil {
		st.closeOurs()
		return nil, err
	}
	b.mu.Lock()
	select {
	case <-b.dead:
		// read has finished every process it knew; this one it would
		// never hear of.
		b.mu.Unlock()
		st.closeOurs()
		return nil, errors.New("sandbox: the box's init has gone")
	default:
	}
	if b.closed {
		b.mu.Unlock()
		st.closeOurs()
		return nil, errors.New("sandbox: box closed")
	}
	if b.frozen {
		// The init is frozen with the rest: let it start the program,
		// then stop both again.
		if err := b.cg.freeze(false); err != nil {
			b.mu.Unlock()
			st.closeOurs()
			return nil, fmt.Errorf("sandbox: thaw to start: %w", err)
		}
		defer func() {
			b.mu.Lock()
			if b.frozen {
				b.cg.freeze(true)
			}
			b.mu.Unlock()
		}()
	}
	b.nextID++
	p := &Process{box: b, id: b.nextID, pidfd: -1, started: make(chan struct{}), done: make(chan struct{}), io: &st}
	b.procs[p.id] = p
	b.mu.Unlock()
	if err := b.send(ctlMsg{Op: "start", ID: p.id, Argv: argv, Env: env, Dir: dir}, fds...); err != nil {
		b.forget(p)
		st.closeOurs()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	st.closeTheirs()
	<-p.started
	if p.startErr != nil {
		b.forget(p)
		st.closeOurs()
		return nil, fmt.Errorf("sandbox: %s: %w", argv[0], p.startErr)
	}
	st.run()
	return p, nil
}

func (b *Box) forget(p *Process) {
	b.mu.Lock()
	delete(b.procs, p.id)
	b.mu.Unlock()
}

// SignalAll sends sig to every process of the box but its init.
func (b *Box) SignalAll(sig syscall.Signal) error {
	return b.send(ctlMsg{Op: "signalall", Sig: int(sig)})
}

// Freeze stops every process of the box: with the cgroup freezer (v1's
// freezer.state, v2's cgroup.freeze), which the processes can neither
// see nor undo, or by SIGSTOP to each where no freezer cgroup could be
// made. Freezing twice is freezing once.
func (b *Box) Freeze() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("sandbox: box closed")
	}
	if b.frozen {
		return nil
	}
	var err error
	if b.cg.freezer != "" {
		err = b.cg.freeze(true)
	} else {
		err = b.SignalAll(syscall.SIGSTOP)
	}
	if err == nil {
		b.frozen = true
	}
	return err
}

// Thaw lets the processes Freeze stopped run again.
func (b *Box) Thaw() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.frozen || b.closed {
		return nil
	}
	var err error
	if b.cg.freezer != "" {
		err = b.cg.freeze(false)
	} else {
		err = b.SignalAll(syscall.SIGCONT)
	}
	if err == nil {
		b.frozen = false
	}
	return err
}

// Close kills every process of the box (its init, and with it, by the
// kernel's rule for a pid namespace, everything inside), waits until
// they are gone, stops serving the root and removes the cgroups.
func (b *Box) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		if b.frozen && b.cg != nil && b.cg.freezer != "" {
			// A frozen task does not die until thawed.
			b.cg.freeze(false)
		}
		b.mu.Unlock()
		b.cmd.Process.Kill()
		// The kernel reaps every process of the pid namespace before
		// the init's exit is reported.
		b.cmd.Wait()
		b.ctl.Close()
		<-b.dead
		b.cancel()
		b.conn.Close()
		<-b.served
		if b.cg != nil {
			b.closeErr = b.cg.remove()
		}
	})
	return b.closeErr
}

// Process is a program started in a box.
type Process struct {
	box   *Box
	id    int
	pid   int // as the host sees it
	nspid int // as the box sees it
	pidfd int
	io    *stdio
	// own is set for a process of Start: its box is its alone and
	// closes when it has exited.
	own bool

	started  chan struct{}
	startErr error

	doneOnce sync.Once
	done     chan struct{}
	status   unix.WaitStatus

	waitOnce sync.Once
	waitErr  error
}

// finish records the process's exit.
func (p *Process) finish(ws unix.WaitStatus) {
	p.doneOnce.Do(func() {
		p.status = ws
		close(p.done)
	})
}

// Pid is the process's id as the host sees it.
func (p *Process) Pid() int { return p.pid }

// BoxPid is the process's id inside its box.
func (p *Process) BoxPid() int { return p.nspid }

// Box is the box the process runs in.
func (p *Process) Box() *Box { return p.box }

// Limits is its box's Limits.
func (p *Process) Limits() string { return p.box.Limits() }

// Signal sends sig to the process's group, which is the process and what
// it started unless they left it; to the process alone when the group
// has gone. The signal goes from here, not through the init, by the
// process's pidfd where the group is not there: no pid is taken for
// another.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	if p.pid <= 0 {
		// It never ran; kill(0) would be our own group.
		return os.ErrProcessDone
	}
	// The group id is the process's pid, which Linux does not hand out
	// again while the group has members.
	if err := syscall.Kill(-p.pid, sig); err == nil {
		return nil
	}
	if err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0); err != nil {
		if err == unix.ESRCH {
			return os.ErrProcessDone
		}
		return err
	}
	return nil
}

// Kill kills the process. A process of Start takes its box with it.
func (p *Process) Kill() error {
	if p.own {
		return p.box.Close()
	}
	return p.Signal(syscall.SIGKILL)
}

// Wait waits for the process to exit and its output to be copied: nil
// when it succeeded, an *ExitError otherwise.
func (p *Process) Wait() error {
	p.waitOnce.Do(func() {
		<-p.done
		p.io.wait()
		if p.pidfd >= 0 {
			unix.Close(p.pidfd)
		}
		if p.own {
			p.box.Close()
		}
		if p.status != 0 {
			p.waitErr = &ExitError{Status: p.status}
		}
	})
	return p.waitErr
}

// An ExitError is the failure of a process: a status, or the signal
// that killed it.
type ExitError struct{ Status unix.WaitStatus }

func (e *ExitError) Error() string {
	if e.Status.Signaled() {
		return "signal: " + unix.SignalName(e.Status.Signal())
	}
	return "exit status " + strconv.Itoa(e.Status.ExitStatus())
}

// stdio are the standard files of a process being started: theirs go to
// the init, ours are copied from or to the caller's readers and writers
// when those are not files.
type stdio struct {
	theirs  []*os.File // to close once sent
	ours    []*os.File // our ends of pipes
	copiers []func()
	copying sync.WaitGroup
	stdin   *os.File // our end of the stdin pipe, closed when the process exits
}

// files gives the descriptors of the process's standard files.
func (s *stdio) files(stdin io.Reader, stdout, stderr io.Writer) ([]int, error) {
	var fds []int
	null := func(flag int) (int, error) {
		f, err := os.OpenFile(os.DevNull, flag, 0)
		if err != nil {
			return -1, err
		}
		s.theirs = append(s.theirs, f)
		return int(f.Fd()), nil
	}
	switch r := stdin.(type) {
	case nil:
		fd, err := null(os.O_RDONLY)
		if err != nil {
			return nil, err
		}
		fds = append(fds, fd)
	case *os.File:
		fds = append(fds, int(r.Fd()))
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.theirs, s.ours, s.stdin = append(s.theirs, pr), append(s.ours, pw), pw
		s.copiers = append(s.copiers, func() {
			io.Copy(pw, r)
			pw.Close()
		})
		fds = append(fds, int(pr.Fd()))
	}
	var outFd int = -1
	for i, w := range []io.Writer{stdout, stderr} {
		if i == 1 && w == stdout && outFd >= 0 {
			// One pipe for both, as exec does: the caller's writer is
			// then written by one copier only.
			fds = append(fds, outFd)
			continue
		}
		switch w := w.(type) {
		case nil:
			fd, err := null(os.O_WRONLY)
			if err != nil {
				return nil, err
			}
			fds = append(fds, fd)
		case *os.File:
			fds = append(fds, int(w.Fd()))
		default:
			pr, pw, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			s.theirs, s.ours = append(s.theirs, pw), append(s.ours, pr)
			s.copying.Add(1)
			s.copiers = append(s.copiers, func() {
				defer s.copying.Done()
				io.Copy(w, pr)
			})
			fds = append(fds, int(pw.Fd()))
			if i == 0 {
				outFd = int(pw.Fd())
			}
		}
	}
	return fds, nil
}

// run starts the copying.
func (s *stdio) run() {
	for _, c := range s.copiers {
		go c()
	}
}

func (s *stdio) closeTheirs() {
	for _, f := range s.theirs {
		f.Close()
	}
	s.theirs = nil
}

func (s *stdio) closeOurs() {
	for _, f := range s.ours {
		f.Close()
	}
}

// waitDelay is how long output is copied after the process has exited,
// when something it left behind holds its standard files open.
const waitDelay = time.Second

// wait waits for the output to be copied, once the process has exited.
func (s *stdio) wait() {
	if s.stdin != nil {
		s.stdin.Close()
	}
	done := make(chan struct{})
	go func() {
		s.copying.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitDelay):
		s.closeOurs()
		<-done
	}
	s.closeOurs()
}
