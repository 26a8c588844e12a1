package proc

import (
	"context"
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

	"loom/components/synth"
	"loom/ns"
)

// errExited is the error of a signal or stdin write to a process that has
// exited: Plan 9's.
var errExited = errors.New("process exited")

// A process is one host process started by Start, from its start until
// its directory goes away.
type process struct {
	id      int
	name    string
	user    string
	argv    []string
	env     []string
	wdir    string // the working directory it was started in, as given
	hostPid int
	started time.Time

	dir *synth.Node // its directory in the tree

	stdout, stderr *synth.Stream
	// readers are the read ends of the output pipes, which Close closes
	// to end the copying when something the process left behind keeps
	// the write ends open.
	readers []*os.File

	stdinMu sync.Mutex // serialises writes to stdin, and its closing
	stdin   *os.File   // nil when the caller gave stdin, or after close

	cmd *exec.Cmd // nil when launch started it
	// launch, when not nil, starts the process instead of os/exec, and
	// handle is what it gave.
	launch Launcher
	handle Handle
	done   chan struct{} // closed when the process has been reaped
	// finished is closed when, after that, its output has been copied
	// to the end: nothing of it runs in loom any more.
	finished chan struct{}

	// Set before done is closed.
	state *os.ProcessState
	ended time.Time
	err   error // of Wait, when there is no state
}

// StartOptions say how Start runs a program.
type StartOptions struct {
	// Name is the process's name in status and ps: the program's base
	// name by default.
	Name string
	// Env is the whole environment of the process, NAME=value; the
	// program is looked for in its PATH, or in the host's when it has
	// none.
	Env []string
	// Dir is the host directory the process starts in: loom's own by
	// default.
	Dir string
	// Stdin, when not nil, is the process's standard input instead of
	// the stdin file, which then refuses writes.
	Stdin io.Reader
}

// lookPath finds the program name in the PATH of env, or the host's.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path, ok := "", false
	for _, kv := range env {
		if v, found := strings.CutPrefix(kv, "PATH="); found {
			path, ok = v, true
		}
	}
	if !ok {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s: not found", name)
		}
		return p, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found", name)
}

// start runs the process; the caller has filled in its identity.
// hooks are called as a process goes: started once it runs, exited once
// it has been reaped (before anyone waiting for it learns so), finished
// when nothing of it runs in loom any more.
type hooks struct {
	started, exited, finished func()
}

// start starts the process, whose goroutines wg counts.
func (p *process) start(ctx context.Context, opts StartOptions, ringSize int, wg *sync.WaitGroup, h hooks) error {
	prog := p.argv[0]
	if p.launch == nil {
		// A launcher looks for the program in its own view.
		var err error
		if prog, err = lookPath(p.argv[0], opts.Env); err != nil {
			return err
		}
	}
	cmd := &exec.Cmd{Path: prog, Args: p.argv, Env: p.env, Dir: opts.Dir}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	// A process group of its own: signals reach what it starts too, and
	// the terminal's interrupt, meant for the shell, does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	if opts.Stdin != nil {
		cmd.Stdin = opts.Stdin
		// exec copies a Reader that is not a file; do not wait on it
		// for ever once the process has gone.
		cmd.WaitDelay = time.Second
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		cmd.Stdin = r
		closeAfter = append(closeAfter, r)
		p.stdin = w
	}
	p.stdout, p.stderr = synth.NewStream(ringSize), synth.NewStream(ringSize)
	var copiers []func()
	for _, o := range []struct {
		set *io.Writer
		r   *synth.Stream
	}{{&cmd.Stdout, p.stdout}, {&cmd.Stderr, p.stderr}} {
		r, w, err := os.Pipe()
		if err != nil {
			p.closeFiles()
			return err
		}
		*o.set = w
		closeAfter = append(closeAfter, w)
		p.readers = append(p.readers, r)
		ring := o.r
		copiers = append(copiers, func() {
			io.Copy(ring, r)
			// The stream ends when the process has exited too, so
			// that a reader who saw its end may count on that.
			<-p.done
			ring.Close()
		})
	}
	wait := func() error {
		err := cmd.Wait()
		p.state = cmd.ProcessState
		return err
	}
	if p.launch != nil {
		// The launcher's own plumbing copies what is not a file; cmd
		// only carried the streams this far.
		hd, err := p.launch(ctx, p.argv, cmd.Env, opts.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr)
		if err != nil {
			p.closeFiles()
			return fmt.Errorf("%s: %w", p.argv[0], err)
		}
		p.handle, p.hostPid, p.started = hd, hd.Pid(), time.Now()
		wait = func() error {
			err := hd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				p.state = ee.ProcessState
			}
			return err
		}
	} else {
		if err := cmd.Start(); err != nil {
			p.closeFiles()
			var ee *exec.Error
			if errors.As(err, &ee) {
				return fmt.Errorf("%s: %v", p.argv[0], ee.Err)
			}
			return err
		}
		p.cmd, p.hostPid, p.started = cmd, cmd.Process.Pid, time.Now()
	}
	p.done, p.finished = make(chan struct{}), make(chan struct{})
	h.started()
	var copying sync.WaitGroup
	for _, c := range copiers {
		copying.Add(1)
		go func() {
			defer copying.Done()
			c()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := wait()
		p.ended = time.Now()
		if p.state == nil {
			p.err = err
		}
		h.exited()
		close(p.done)
		copying.Wait()
		close(p.finished)
		h.finished()
	}()
	return nil
}

// closeFiles closes what start opened, when it fails.
func (p *process) closeFiles() {
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
	for _, r := range p.readers {
		r.Close()
	}
}

// exited reports whether the process has been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process's group.
func (p *process) signal(sig syscall.Signal) error {
	if p.exited() {
		return errExited
	}
	if p.handle != nil {
		err := p.handle.Signal(sig)
		if err == syscall.ESRCH || errors.Is(err, os.ErrProcessDone) {
			return errExited
		}
		return err
	}
	// The group id is the process's pid, which Linux does not hand out
	// again while the group has members; once it has none, kill fails.
	if err := syscall.Kill(-p.hostPid, sig); err != nil {
		if err == syscall.ESRCH {
			return errExited
		}
		return err
	}
	return nil
}

// closeStdin closes the process's standard input.
func (p *process) closeStdin() error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin == nil {
		return nil
	}
	err := p.stdin.Close()
	p.stdin = nil
	return err
}

// writeStdin writes to the process's standard input, giving up when ctx
// is done.
func (p *process) writeStdin(ctx context.Context, b []byte) (int, error) {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin == nil {
		return 0, ns.ErrClosed
	}
	w := p.stdin
	// A full pipe blocks the write; a Tflush ends it by a deadline in
	// the past, which the poller turns into an error at once.
	stop := context.AfterFunc(ctx, func() { w.SetWriteDeadline(time.Unix(1, 0)) })
	n, err := w.Write(b)
	if !stop() {
		w.SetWriteDeadline(time.Time{})
	}
	switch {
	case err == nil:
		return n, nil
	case ctx.Err() != nil:
		return n, ns.ErrInterrupt
	case errors.Is(err, syscall.EPIPE):
		return n, ns.ErrClosed
	}
	return n, err
}

// Exit is how a process ended.
type Exit struct {
	Pid      int
	Utime    time.Duration
	Stime    time.Duration
	Realtime time.Duration
	// Msg is Plan 9's exit string: "" for success, otherwise
	// "NAME PID: STATUS" where STATUS is "exit N" or the signal that
	// killed the process ("killed", "interrupt", ...).
	Msg string
}

// String gives the exit as Plan 9's wait file does:
// pid utime stime realtime 'msg', times in milliseconds.
func (e Exit) String() string {
	return fmt.Sprintf("%d %d %d %d %s\n", e.Pid, e.Utime.Milliseconds(), e.Stime.Milliseconds(),
		e.Realtime.Milliseconds(), Quote(e.Msg))
}

// exit gives the exit of a reaped process.
func (p *process) exit() Exit {
	e := Exit{Pid: p.id, Realtime: p.ended.Sub(p.started)}
	st := p.state
	if st == nil && p.err == nil {
		// A launcher's process that succeeded: no state to read.
		return e
	}
	if st == nil {
		e.Msg = fmt.Sprintf("%s %d: %v", p.name, p.id, p.err)
		return e
	}
	e.Utime, e.Stime = st.UserTime(), st.SystemTime()
	if s := exitStatus(st); s != "" {
		e.Msg = fmt.Sprintf("%s %d: %s", p.name, p.id, s)
	}
	return e
}

// exitStatus is the status part of an exit message, "" for success.
func exitStatus(st *os.ProcessState) string {
	ws, ok := st.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		if st.Success() {
			return ""
		}
		return st.String()
	case ws.Signaled():
		return NoteName(ws.Signal())
	case ws.ExitStatus() != 0:
		return "exit " + strconv.Itoa(ws.ExitStatus())
	}
	return ""
}

// NoteName names a signal by the note Plan 9 would post for it where
// there is one, and by its Linux name otherwise.
func NoteName(sig syscall.Signal) string {
	for n, s := range Notes {
		if s == sig {
			return n
		}
	}
	return unix.SignalName(sig)
}

// Info describes a process, as ps shows it.
type Info struct {
	Pid     int    // loom's number for it
	HostPid int    // Linux's
	Name    string // as StartOptions.Name
	User    string
	Args    []string
	// State is Plan 9's name for what the process is doing: Running,
	// Wakeme (sleeping), Stopped, Moribund (exited, not yet waited for).
	State    string
	Utime    time.Duration
	Stime    time.Duration
	Realtime time.Duration
	Memory   int64 // virtual size, in KiB
	BasePri  int
	Pri      int
}

// info gives what is known of p now.
func (p *process) info() Info {
	in := Info{Pid: p.id, HostPid: p.hostPid, Name: p.name, User: p.user, Args: p.argv, BasePri: 10, Pri: 10}
	if p.exited() {
		e := p.exit()
		in.State = "Moribund"
		in.Utime, in.Stime, in.Realtime = e.Utime, e.Stime, e.Realtime
		return in
	}
	in.Realtime = time.Since(p.started)
	in.State = "Running"
	if st, ok := hostStat(p.hostPid); ok {
		in.State = st.state
		in.Utime, in.Stime = st.utime, st.stime
		in.Memory = st.vsize >> 10
		in.Pri = max(0, min(19, 10-st.nice/2))
	}
	if in.State == "Moribund" {
		// Exited, not reaped yet: no memory to speak of.
		in.Memory = 0
	}
	return in
}

// hostStatus is what Linux's /proc/PID/stat says of a process.
type hostStatus struct {
	state        string
	utime, stime time.Duration
	nice         int
	vsize        int64
}

// clockTick is the unit of times in /proc/PID/stat: 1/USER_HZ, which is
// 1/100 s on every Linux port.
const clockTick = 10 * time.Millisecond

// hostStat reads /proc/PID/stat.
func hostStat(pid int) (hostStatus, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return hostStatus{}, false
	}
	// The command name, in parentheses, may itself hold ") ": the
	// fields start after the last one.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return hostStatus{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15, nice 19,
	// vsize 23.
	if len(f) < 21 {
		return hostStatus{}, false
	}
	num := func(i int) int64 {
		n, _ := strconv.ParseInt(f[i-3], 10, 64)
		return n
	}
	return hostStatus{
		state: stateName(f[0]),
		utime: time.Duration(num(14)) * clockTick,
		stime: time.Duration(num(15)) * clockTick,
		nice:  int(num(19)),
		vsize: num(23),
	}, true
}

// stateName gives Plan 9's name for a Linux process state letter.
func stateName(s string) string {
	switch s {
	case "R":
		return "Running"
	case "S", "D", "I":
		return "Wakeme"
	case "T", "t":
		return "Stopped"
	case "Z":
		return "Moribund"
	case "X", "x":
		return "Dead"
	}
	return "Running"
}

// Status formats an Info as Plan 9's /proc/n/status: name, user and
// state in fields of 28, 28 and 12 characters, then the user, system and
// real times and the same three for children (milliseconds; loom keeps no
// children's times, so they are 0), the memory in KiB, the base and
// current priority, each in a field of 12; and then, loom's addition, the
// host pid in one more. A newline ends it.
func (in Info) Status() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-28.27s%-28.27s%-12.11s", in.Name, in.User, in.State)
	for _, n := range []int64{
		in.Utime.Milliseconds(), in.Stime.Milliseconds(), in.Realtime.Milliseconds(),
		0, 0, 0,
		in.Memory, int64(in.BasePri), int64(in.Pri), int64(in.HostPid),
	} {
		fmt.Fprintf(&b, "%11d ", n)
	}
	b.WriteByte('\n')
	return b.String()
}

// PS formats an Info as a line of Plan 9's ps(1): user, pid, user and
// system time in minutes:seconds, memory, state, and the name or, with
// args, the command line.
func (in Info) PS(args bool) string {
	ut, st := int64(in.Utime.Seconds()), int64(in.Stime.Seconds())
	what := in.Name
	if args {
		what = JoinArgs(in.Args)
	}
	return fmt.Sprintf("%-10s %8d %4d:%.2d %3d:%.2d %7dK %-8.8s %s\n",
		in.User, in.Pid, ut/60, ut%60, st/60, st%60, in.Memory, in.State, what)
}

// Quote quotes s as Plan 9's %q does (and rc reads): in single quotes,
// with quotes doubled, when it is empty or holds blanks or characters rc
// treats specially; as it is otherwise.
func Quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\r'`^#*[]?=|&;<>(){}$\\\"") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// JoinArgs gives a command line as the args file holds it: each argument
// quoted as Quote does, separated by blanks.
func JoinArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
