// Package exec wraps a host program as a loom component in the manner of
// Plan 9's network directories (/net/tcp): each session is one run of the
// program, made by opening the clone file, and talked to through files.
//
//	/clone       open: makes a session and starts the program; the open
//	             file is the new session's ctl, and reads as its number
//	/N/ctl       write commands (see below); reads as "N"
//	/N/data      write: the program's standard input; read: its
//	             standard output
//	/N/err       read: its standard error
//	/N/status    one line: N, host pid, state (running or exited), the
//	             exit string ('' while running or on success), and the
//	             command line: 0 1234 exited 'exit 3' sh -c 'exit 3'
//	/N/wait      read: blocks until the program exits, then its exit line
//
// The program starts when its session is made, as a plain child of loom
// in a process group of its own, to which signals go; or, with a launcher
// (Launch, LaunchFrom), as the launcher starts programs: a sandboxed
// system gives its exec components the launcher of its kernel sandbox,
// so that a program wrapped there sees the system's namespace, not the
// host.
//
// data is a pipe, not a file: offsets are ignored, each byte the program
// writes is read once, by whichever reader asks first, and a read blocks
// until the program writes or closes its standard output (then reads give
// end of file). Writes block while the program does not read, so a fast
// writer or a slow reader never makes loom hold more than the host's pipe
// buffers. err is kept rather than piped, so that a program never blocks
// on error output nobody reads: it reads from the start, like a file, the
// last ErrSize bytes the program wrote to its standard error, and blocks
// at the end for more until the program closes it.
//
// ctl commands, one per line:
//
//	kill          SIGKILL to the program's process group
//	signal NAME   a signal: TERM, SIGTERM, term or 15
//	note NOTE     a Plan 9 note: interrupt, kill, hangup, alarm, term
//	close         close the program's standard input (it reads end of file)
//	hangup        close its standard input and send SIGHUP
//
// A line that does not fit, or a signal that cannot be sent (the program
// has exited), is an error naming the command, and a write holding such a
// line changes nothing.
//
// As with a /net connection, a session lives while any of its files is
// open or, after they are all closed, until its program is gone: closing
// the last one hangs the session up (its program is killed), and the
// session's directory disappears once the program has been reaped. A
// reader of wait should therefore keep another file of the session (the
// ctl that clone became, say) open until it has what it wants. Close
// kills every program and ends every session.
//
// Sessions belong to the user who opened clone: ctl and data are theirs
// to read and write (mode 0660), err and wait to read (0440); status is
// for all to read.
package exec

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"loom/components/proc"
	"loom/components/synth"
	"loom/ns"
)

// Help describes the kind for the shell's help command.
const Help = `exec — a host program as a file server, one session per run

synopsis
	mount exec DIR PROGRAM [ARG...]

files
	clone       open it to start a session: the open file becomes the
	            session's ctl and reads as the session's number N
	N/ctl       write: kill, signal NAME, note NOTE, close, hangup
	N/data      write: the program's stdin; read: its stdout (a pipe:
	            reads block for output, then end of file)
	N/err       read: its stderr (the last 64 KiB, then more as it comes)
	N/status    N, host pid, running or exited, exit string, command
	            line: 0 1234 exited 'exit 3' sh -c 'exit 3'
	N/wait      read: blocks until it exits: N utime stime realtime 'status'

	A session lasts while any of its files is open; closing the last
	one kills the program and the session goes. Many sessions may run
	at once. Programs run as the system's host processes do: in a
	sandboxed system, in its kernel sandbox, seeing its namespace;
	elsewhere, as plain host children.

example
	mount exec /n/tr tr a-z A-Z
	A client opens /n/tr/clone and keeps it open: it reads "0", the
	session's number. It writes "hello" to /n/tr/0/data, writes
	"close" to the open clone (tr reads end of file), and reads
	/n/tr/0/data to its end: "HELLO". /n/tr/0/wait then reads
	"0 0 0 2 ''" (times in ms, success); closing the clone ends
	the session.
`

// DefaultErrSize is how much of a program's standard error a session
// keeps unless the ErrSize option says otherwise.
const DefaultErrSize = 64 << 10

// FS serves the sessions of one host program. Its methods and those of its
// Files may be called concurrently.
type FS struct {
	srv     *synth.FS
	root    *synth.Node
	argv    []string
	env     []string
	dir     string
	owner   string
	errSize int
	// launcher gives the launcher a session starts its program with;
	// nil, or a nil launcher, means os/exec.
	launcher func() proc.Launcher

	wg sync.WaitGroup // every session's goroutines

	mu     sync.Mutex
	next   int
	sess   map[int]*session
	closed bool
}

// An Option configures an FS.
type Option func(*FS)

// Env sets the programs' environment, as NAME=value strings; without it
// they get loom's.
func Env(env []string) Option { return func(fs *FS) { fs.env = slices.Clone(env) } }

// Dir sets the directory the programs start in; without it, loom's.
func Dir(dir string) Option { return func(fs *FS) { fs.dir = dir } }

// Owner makes user the owner of the root and of clone ("loom" by default).
func Owner(user string) Option { return func(fs *FS) { fs.owner = user } }

// ErrSize sets how many bytes of standard error each session keeps.
func ErrSize(n int) Option { return func(fs *FS) { fs.errSize = n } }

// Launch makes every session start its program with l rather than as a
// plain host child (os/exec): in a sandbox, say. The program's standard
// files go to l as the *os.Files of pipes, the session's pid is the
// handle's, its exit string is made from Wait's error, and ctl's signals
// go through Signal. l looks for the program in its own view of the file
// system, so New does not look for it on the host. A nil l means
// os/exec.
func Launch(l proc.Launcher) Option {
	return LaunchFrom(func() proc.Launcher { return l })
}

// LaunchFrom makes each session start its program with the launcher f
// gives when the session is made, or as a plain host child when f gives
// nil: a component made before its system was put in a sandbox follows
// it there (f is the system's proc.FS.Launcher, say). Sessions running
// already are left where they are.
func LaunchFrom(f func() proc.Launcher) Option { return func(fs *FS) { fs.launcher = f } }

// New returns an FS whose sessions each run argv. The program is looked
// up now, so that a name that is not there fails here rather than at
// every clone: on the host, unless a launcher is in force, whose view
// of the files is its own.
func New(argv []string, opts ...Option) (*FS, error) {
	if len(argv) == 0 {
		return nil, errors.New("exec: no program")
	}
	fs := &FS{argv: slices.Clone(argv), owner: "loom", errSize: DefaultErrSize, sess: map[int]*session{}}
	for _, o := range opts {
		o(fs)
	}
	// A relative path with a slash is the Dir option's to resolve, at
	// each start; a launcher looks in its own view of the files, where
	// the host's may not be.
	relToDir := fs.dir != "" && strings.Contains(argv[0], "/") && !filepath.IsAbs(argv[0])
	if !relToDir && fs.launch() == nil {
		if _, err := osexec.LookPath(argv[0]); err != nil {
			return nil, err
		}
	}
	clone := &synth.Node{Name: "clone", Mode: 0666, Open: fs.openClone}
	fs.root = &synth.Node{Name: "/", Mode: ns.DMDIR | 0555, Children: []*synth.Node{clone}, Gen: fs.list}
	fs.srv = synth.New(fs.root, synth.Owner(fs.owner))
	return fs, nil
}

// Attach returns the root as seen by user.
func (fs *FS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	return fs.srv.Attach(ctx, user, aname)
}

// Close kills every program, ends every session and waits for loom's side
// of them to finish. Files still open read end of file or fail; clone
// fails from then on.
func (fs *FS) Close() error {
	fs.mu.Lock()
	fs.closed = true
	all := make([]*session, 0, len(fs.sess))
	for _, s := range fs.sess {
		all = append(all, s)
	}
	clear(fs.sess)
	fs.mu.Unlock()
	for _, s := range all {
		s.hangup(syscall.SIGKILL)
		// A grandchild in another process group could hold the
		// output pipes open for ever; loom's ends go now.
		s.stdout.close()
		s.errR.Close()
	}
	fs.wg.Wait()
	fs.root.Touch()
	return nil
}

// Sessions returns the numbers of the sessions that exist, in order.
func (fs *FS) Sessions() []int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ids := make([]int, 0, len(fs.sess))
	for id := range fs.sess {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// list is the root's generator: the session directories, in order.
func (fs *FS) list(ctx context.Context, r *synth.Req) ([]*synth.Node, error) {
	fs.mu.Lock()
	all := make([]*session, 0, len(fs.sess))
	for _, s := range fs.sess {
		all = append(all, s)
	}
	fs.mu.Unlock()
	slices.SortFunc(all, func(a, b *session) int { return cmp.Compare(a.id, b.id) })
	nodes := make([]*synth.Node, len(all))
	for i, s := range all {
		nodes[i] = s.dir
	}
	return nodes, nil
}

// launch returns the launcher sessions start with now, nil for os/exec.
func (fs *FS) launch() proc.Launcher {
	if fs.launcher == nil {
		return nil
	}
	return fs.launcher()
}

// openClone makes a session for r.User and returns its ctl, open.
func (fs *FS) openClone(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	s, err := fs.start(ctx, r.User)
	if err != nil {
		return nil, err
	}
	// The session was made holding one reference: this open's.
	h, err := s.ctlOpen(ctx, r)
	if err != nil {
		s.release()
		return nil, err
	}
	h.Node = s.ctl
	return h, nil
}

// session is one run of the program and the files that show it.
type session struct {
	fs   *FS
	id   int
	user string
	dir  *synth.Node
	ctl  *synth.Node
	cmd  *osexec.Cmd // the program, when os/exec started it
	h    proc.Handle // the program, when a launcher started it
	pid  int

	stdin   *pipe // loom's end of the program's standard input
	stdout  *pipe // loom's end of its standard output
	errR    *os.File
	stderr  *synth.Stream
	started time.Time

	reaped chan struct{} // closed when the program has been reaped
	cmds   synth.Commands

	mu       sync.Mutex
	refs     int  // open files of the session
	exited   bool // the program has exited (it may not be reaped yet)
	gone     bool // taken out of the table
	exitLine string
	state    string // status's state and exit string: running '', exited 'exit 3'
	cmdline  string // argv, quoted as rc reads it
}

// start makes session and starts the program, holding one reference for
// the clone open that asked for it. ctx bounds the starting only.
func (fs *FS) start(ctx context.Context, user string) (*session, error) {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return nil, ns.ErrClosed
	}
	id := fs.next
	fs.next++
	fs.mu.Unlock()

	s := &session{fs: fs, id: id, user: user, refs: 1, reaped: make(chan struct{}), state: "running " + synth.Quote("")}
	words := make([]string, len(fs.argv))
	for i, a := range fs.argv {
		words[i] = synth.Quote(a)
	}
	s.cmdline = strings.Join(words, " ")
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	if l := fs.launch(); l != nil {
		// The launcher gets the pipes' *os.Files, which a sandbox
		// passes to the program as they are; loom keeps its ends
		// only, as below.
		s.h, err = l(ctx, fs.argv, fs.env, fs.dir, inR, outW, errW)
		if err == nil {
			s.pid = s.h.Pid()
		}
	} else {
		cmd := osexec.Command(fs.argv[0], fs.argv[1:]...)
		cmd.Env, cmd.Dir = fs.env, fs.dir
		// *os.Files go to the child as they are: no copying
		// goroutines, and Wait closes nothing of loom's.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err = cmd.Start(); err == nil {
			s.cmd, s.pid = cmd, cmd.Process.Pid
		}
	}
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	s.started = time.Now()
	s.stdin, s.stdout = newPipe(inW), newPipe(outR)
	s.errR, s.stderr = errR, synth.NewStream(fs.errSize)
	s.makeTree()

	fs.mu.Lock()
	fs.sess[id] = s
	closed := fs.closed
	fs.mu.Unlock()
	fs.root.Touch()
	fs.wg.Add(2)
	go s.drain()
	go s.reap()
	if closed {
		// Close ran while the program started: it did not see this
		// session, so end it here.
		s.hangup(syscall.SIGKILL)
		s.stdout.close()
		s.errR.Close()
	}
	return s, nil
}

// drain keeps the program's standard error in the session's stream.
func (s *session) drain() {
	defer s.fs.wg.Done()
	io.Copy(s.stderr, s.errR)
	s.stderr.Close()
}

// reap waits for the program to exit and records how it did.
func (s *session) reap() {
	defer s.fs.wg.Done()
	if s.h != nil {
		// The handle's Signal, not a pid, reaches the program: it
		// is the launcher's to send no signal to a pid reused.
		err := s.h.Wait()
		s.mu.Lock()
		s.exited = true
		s.mu.Unlock()
		msg, st := launchedStatus(err)
		var user, sys time.Duration
		if st != nil {
			user, sys = st.UserTime(), st.SystemTime()
		}
		s.exit(msg, user, sys)
		return
	}
	// Wait without reaping first: while the program is a zombie its
	// pid, and so its process group, cannot be reused, so a signal
	// sent under s.mu before exited is set reaches the right processes.
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, s.pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	s.mu.Lock()
	s.exited = true
	s.mu.Unlock()
	s.cmd.Wait()
	st := s.cmd.ProcessState
	s.exit(exitStatus(st), st.UserTime(), st.SystemTime())
}

// exit records the program's exit, reaped: its exit string msg and the
// CPU time it used.
func (s *session) exit(msg string, user, sys time.Duration) {
	line := fmt.Sprintf("%d %d %d %d %s\n", s.id, user.Milliseconds(), sys.Milliseconds(),
		time.Since(s.started).Milliseconds(), synth.Quote(plan9Msg(s.fs.argv[0], s.id, msg)))
	s.mu.Lock()
	s.exitLine = line
	s.state = "exited " + synth.Quote(msg)
	s.mu.Unlock()
	close(s.reaped)
	s.dir.Touch()
	s.maybeGo()
}

// plan9Msg is Plan 9's exit string: "" for success, else "NAME N: STATUS".
func plan9Msg(prog string, id int, status string) string {
	if status == "" {
		return ""
	}
	return fmt.Sprintf("%s %d: %s", filepath.Base(prog), id, status)
}

// exitStatus says how a program ended: "" for success, "exit N", or the
// note or signal that killed it.
func exitStatus(st *os.ProcessState) string {
	ws, ok := st.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		if st.Success() {
			return ""
		}
		return st.String()
	case ws.Signaled():
		return proc.NoteName(ws.Signal())
	case ws.ExitStatus() != 0:
		return "exit " + strconv.Itoa(ws.ExitStatus())
	}
	return ""
}

// launchedStatus says how a program a launcher started ended, from its
// handle's Wait: as exitStatus does when the error is os/exec's (whose
// state, with the CPU times, it returns too), else the error's text,
// which a launcher makes "exit N" or a note as proc's handles do.
func launchedStatus(err error) (string, *os.ProcessState) {
	var ee *osexec.ExitError
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &ee) && ee.ProcessState != nil:
		return exitStatus(ee.ProcessState), ee.ProcessState
	}
	return err.Error(), nil
}

// acquire takes a reference for an open of one of the session's files.
func (s *session) acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone || s.refs == 0 {
		// refs == 0: hung up, about to go.
		return ns.ErrNotExist
	}
	s.refs++
	return nil
}

// release drops a reference; the last hangs the session up.
func (s *session) release() error {
	s.mu.Lock()
	s.refs--
	last := s.refs == 0
	s.mu.Unlock()
	if last {
		s.hangup(syscall.SIGKILL)
		s.maybeGo()
	}
	return nil
}

// maybeGo takes the session out of the table once nothing holds it and
// its program is reaped, and closes loom's ends of its pipes.
func (s *session) maybeGo() {
	s.mu.Lock()
	if s.gone || s.refs > 0 || !s.isReaped() {
		s.mu.Unlock()
		return
	}
	s.gone = true
	s.mu.Unlock()
	s.fs.mu.Lock()
	if s.fs.sess[s.id] == s {
		delete(s.fs.sess, s.id)
	}
	s.fs.mu.Unlock()
	s.fs.root.Touch()
	s.stdin.close()
	s.stdout.close()
	s.errR.Close()
}

func (s *session) isReaped() bool {
	select {
	case <-s.reaped:
		return true
	default:
		return false
	}
}

// signal sends sig to the program's process group, unless it has exited.
func (s *session) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		return errors.New("program has exited")
	}
	if s.h != nil {
		err := s.h.Signal(sig)
		if errors.Is(err, os.ErrProcessDone) {
			return errors.New("program has exited")
		}
		return err
	}
	return unix.Kill(-s.pid, sig)
}

// hangup closes the program's standard input and, if it still runs,
// sends it sig.
func (s *session) hangup(sig syscall.Signal) {
	s.stdin.close()
	s.signal(sig)
}

// commands is the ctl file's table.
func (s *session) commands() synth.Commands {
	return synth.Commands{
		{Name: "kill", Run: func([]string) error { return s.signal(syscall.SIGKILL) }},
		{Name: "signal", Args: 1, Run: func(a []string) error {
			sig, err := proc.ParseSignal(a[0])
			if err != nil {
				return err
			}
			return s.signal(sig)
		}},
		{Name: "note", Args: 1, Run: func(a []string) error {
			sig, ok := proc.Notes[a[0]]
			if !ok {
				return fmt.Errorf("unknown note %q", a[0])
			}
			return s.signal(sig)
		}},
		{Name: "close", Run: func([]string) error { s.stdin.close(); return nil }},
		{Name: "hangup", Run: func([]string) error {
			// The signal first: if it cannot be sent, nothing is
			// done.
			if err := s.signal(syscall.SIGHUP); err != nil {
				return err
			}
			s.stdin.close()
			return nil
		}},
	}
}

// makeTree makes the session's directory.
func (s *session) makeTree() {
	name := strconv.Itoa(s.id)
	s.cmds = s.commands()
	cmds := s.cmds
	ctlText := func(r *synth.Req) string { return name }
	s.ctl = &synth.Node{Name: "ctl", Mode: 0660, Uid: s.user, Open: s.held(synth.Ctl(cmds, ctlText)),
		Length: func(*synth.Req) int64 { return int64(len(name)) }}
	status := func() []byte {
		s.mu.Lock()
		defer s.mu.Unlock()
		return fmt.Appendf(nil, "%s %d %s %s\n", name, s.pid, s.state, s.cmdline)
	}
	s.dir = &synth.Node{Name: name, Mode: ns.DMDIR | 0555, Uid: s.user, Children: []*synth.Node{
		s.ctl,
		{Name: "data", Mode: 0660, Uid: s.user, Open: s.held(s.dataOpen)},
		{Name: "err", Mode: 0440, Uid: s.user, Open: s.held(s.stderr.Open)},
		{Name: "status", Mode: 0444, Uid: s.user,
			Open:   s.held(synth.Text(func(ctx context.Context, r *synth.Req) ([]byte, error) { return status(), nil })),
			Length: func(*synth.Req) int64 { return int64(len(status())) }},
		{Name: "wait", Mode: 0440, Uid: s.user, Open: s.held(s.waitOpen)},
	}}
}

// ctlOpen opens the ctl file for a clone, which already holds the
// session's reference.
func (s *session) ctlOpen(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	name := strconv.Itoa(s.id)
	h, err := synth.Ctl(s.cmds, func(*synth.Req) string { return name })(ctx, r)
	if err != nil {
		return nil, err
	}
	h.Clunk = s.release
	return h, nil
}

// held wraps open so that each open holds a reference on the session
// until it is clunked.
func (s *session) held(open synth.OpenFunc) synth.OpenFunc {
	return func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
		if err := s.acquire(); err != nil {
			return nil, err
		}
		h, err := open(ctx, r)
		if err != nil {
			s.release()
			return nil, err
		}
		if inner := h.Clunk; inner != nil {
			h.Clunk = func() error {
				err := inner()
				s.release()
				return err
			}
		} else {
			h.Clunk = s.release
		}
		return h, nil
	}
}

// dataOpen opens the data file: reads from the program's standard output,
// writes to its standard input.
func (s *session) dataOpen(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	return &synth.Handle{
		Read: func(ctx context.Context, p []byte, off int64) (int, error) {
			return s.stdout.read(ctx, p)
		},
		Write: func(ctx context.Context, p []byte, off int64) (int, error) {
			return s.stdin.write(ctx, p)
		},
	}, nil
}

// waitOpen opens the wait file: reads block until the program is reaped.
func (s *session) waitOpen(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	return &synth.Handle{Read: func(ctx context.Context, p []byte, off int64) (int, error) {
		select {
		case <-s.reaped:
		case <-ctx.Done():
			return 0, ns.ErrInterrupt
		}
		s.mu.Lock()
		line := s.exitLine
		s.mu.Unlock()
		return synth.ReadAt([]byte(line), p, off), nil
	}}, nil
}
