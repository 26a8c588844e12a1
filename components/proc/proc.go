// Package proc is loom's proc component, after Plan 9's proc(3): the host
// processes of a system as files, one directory per process, named by
// loom's number for it (1, 2, ...; never the host pid, which the status
// file gives):
//
//	/N/args    the command line, each argument quoted as rc reads it
//	/N/ctl     write commands: kill, stop, start, close, signal NAME
//	/N/env     the environment it was started with, NAME=value lines
//	/N/note    write a note: interrupt, kill, hangup, alarm, term
//	/N/ns      the namespace of its system, in namespace(6) text
//	/N/status  Plan 9's fixed-width status line, with the host pid
//	/N/stdin   write: its standard input
//	/N/stdout  read: what it printed, from its start, then more as it
//	/N/stderr  prints, until it has exited and nothing holds the stream
//	/N/wait    read: blocks until it exits, then Plan 9's wait line
//
// A process's directory stays after it exits, so that its output and its
// exit can still be read, until its wait line has been read or the
// directory is removed (which kills a running process first).
//
// Beside the directories, /ctl starts processes for clients that have no
// Go API to call: write "start [-n name] program [args ...]" to it, then
// read the same open for the new process's number.
//
// Beyond Plan 9: a process here is a Linux process, started by Start (the
// shell's start builtin) as a plain child of loom in a process group of
// its own; signals and notes go to the group. Output is kept in a ring of
// OutputSize bytes per stream (1 MiB by default): past it the oldest
// bytes are dropped, and a reader that falls behind them goes on from the
// oldest byte kept. A system in a sandbox gives its proc a Launcher
// (SetLauncher) that starts them isolated by the kernel, in the system's
// namespace; proc itself only keeps the table.
//
// Each process's definition is kept whole (Def: name, arguments, the
// environment it was started with, its working directory), so that a
// clone, a rollback or a load starts it again as it was started, not
// with its system's environment of the moment.
package proc

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"loom/components/synth"
	"loom/ns"
)

// Help describes the proc kind for the shell's help.
const Help = `proc: the processes of the system, after Plan 9's proc(3).
ctl: write "start [-n name] program [args ...]", then read the same open
for the new process's number. One directory per process, by that number:
  args     the command line
  ctl      write: kill, stop, start (continue), close (its stdin),
           signal NAME (TERM, USR1, ... or a number)
  env      its environment, NAME=value lines
  note     write a note: interrupt, kill, hangup, alarm, term
  ns       the namespace of its system
  status   name, user, state, times (ms), memory (KiB), priorities, host pid
  stdin    write: its standard input
  stdout   read: all it printed (last 1 MiB), then more until it exits
  stderr   the same for its error output
  wait     read: blocks until it exits: pid utime stime realtime 'status'
A directory stays until its wait line is read or it is removed (rm kills).
Processes are plain host children, or, in a system in a sandbox, run
by the kernel's sandbox in the system's namespace. They are killed when the
system ends (the shell or server exits). Mounted anywhere, proc shows the
system's own processes.`

// DefaultOutputSize is how much of each output stream a process keeps.
const DefaultOutputSize = 1 << 20

// FS is a proc file server: a table of processes and the tree that shows
// them. Its methods may be called concurrently.
type FS struct {
	srv     *synth.FS
	owner   string
	nsText  func() ([]byte, error)
	environ func() []string
	outSize int
	log     io.Writer
	ctl     *synth.Node
	launch  Launcher // nil: plain host children

	mu    sync.Mutex
	next  int
	procs map[int]*process // the table: what the tree shows
	// live are the processes that have goroutines in loom, in the table
	// or not, for Close to end.
	live   map[int]*process
	closed bool
	paused bool // by Pause: processes are frozen as they start

	wg sync.WaitGroup // the goroutines of every process
}

var _ ns.FS = (*FS)(nil)

// An Option configures an FS.
type Option func(*FS)

// Owner makes user the owner of the tree and the user processes run as in
// their status ("loom" by default).
func Owner(user string) Option { return func(fs *FS) { fs.owner = user } }

// Namespace gives the text of the system's namespace, which each
// process's ns file shows.
func Namespace(text func() ([]byte, error)) Option {
	return func(fs *FS) { fs.nsText = text }
}

// Environ gives the environment of the processes started by writing the
// ctl file (none unless given).
func Environ(env func() []string) Option { return func(fs *FS) { fs.environ = env } }

// Log makes the server log each process's start and exit to w, a line
// each: "start 3: sleep 10", "exit 3: 'sleep 3: kill'". w's Write is
// called with whole lines, possibly concurrently.
func Log(w io.Writer) Option { return func(fs *FS) { fs.log = w } }

// OutputSize sets how many bytes of each output stream a process keeps
// (DefaultOutputSize unless told).
func OutputSize(n int) Option { return func(fs *FS) { fs.outSize = max(n, 1) } }

// New returns a proc server with no processes.
func New(opts ...Option) *FS {
	fs := &FS{owner: "loom", outSize: DefaultOutputSize, next: 1, procs: map[int]*process{}, live: map[int]*process{}}
	for _, o := range opts {
		o(fs)
	}
	fs.ctl = &synth.Node{Name: "ctl", Mode: 0o660, Open: fs.openCtl}
	root := &synth.Node{
		Mode:     ns.DMDIR | 0o775,
		Children: []*synth.Node{fs.ctl},
		Gen:      fs.gen,
		Lookup:   fs.lookup,
	}
	fs.srv = synth.New(root, synth.Owner(fs.owner))
	return fs
}

// Attach implements ns.FS.
func (fs *FS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	return fs.srv.Attach(ctx, user, aname)
}

// Start starts the program argv[0] with arguments argv[1:] and returns
// loom's number for the new process.
func (fs *FS) Start(ctx context.Context, argv []string, opts StartOptions) (int, error) {
	if len(argv) == 0 || argv[0] == "" {
		return 0, fmt.Errorf("start: no program")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return 0, ns.ErrClosed
	}
	id := fs.next
	fs.next++
	fs.mu.Unlock()

	name := opts.Name
	if name == "" {
		name = filepath.Base(argv[0])
	}
	p := &process{id: id, name: name, user: fs.owner, argv: slices.Clone(argv), env: slices.Clone(opts.Env), wdir: opts.Dir}
	h := hooks{
		started: func() { fs.logf("start %d: %s", id, JoinArgs(p.argv)) },
		exited:  func() { fs.logf("exit %d: %s", id, Quote(p.exit().Msg)) },
		finished: func() {
			fs.mu.Lock()
			delete(fs.live, id)
			fs.mu.Unlock()
		},
	}
	p.launch = fs.launcher()
	if err := p.start(ctx, opts, fs.outSize, &fs.wg, h); err != nil {
		return 0, err
	}
	p.dir = fs.procDir(p)

	fs.mu.Lock()
	if fs.closed {
		// Close ran while the process started: it is not in the
		// table, so end it here.
		fs.mu.Unlock()
		fs.end(p)
		return 0, ns.ErrClosed
	}
	fs.procs[id] = p
	select {
	case <-p.finished:
		// Gone already; finished ran, or waits for the lock and
		// finds nothing to delete.
	default:
		fs.live[id] = p
		if fs.paused {
			p.freeze()
		}
	}
	fs.mu.Unlock()
	return id, nil
}

// List describes the processes in the table, by number.
func (fs *FS) List() []Info {
	fs.mu.Lock()
	ps := make([]*process, 0, len(fs.procs))
	for _, p := range fs.procs {
		ps = append(ps, p)
	}
	fs.mu.Unlock()
	slices.SortFunc(ps, func(a, b *process) int { return a.id - b.id })
	out := make([]Info, len(ps))
	for i, p := range ps {
		out[i] = p.info()
	}
	return out
}

// Wait waits for the process pid to exit and returns how it did, leaving
// it in the table: its wait file is still to be read.
func (fs *FS) Wait(ctx context.Context, pid int) (Exit, error) {
	p := fs.get(pid)
	if p == nil {
		return Exit{}, ns.ErrNotExist
	}
	select {
	case <-p.done:
		return p.exit(), nil
	case <-ctx.Done():
		return Exit{}, ns.ErrInterrupt
	}
}

// Close kills every process in the table, waits for them, and ends the
// table: Start fails afterwards.
func (fs *FS) Close() error {
	fs.mu.Lock()
	fs.closed = true
	ps := fs.live
	fs.procs, fs.live = map[int]*process{}, map[int]*process{}
	fs.mu.Unlock()
	for _, p := range ps {
		fs.end(p)
	}
	fs.wg.Wait()
	return nil
}

// end kills p and its group, and ends the copying of its output once it
// has been reaped.
func (fs *FS) end(p *process) {
	p.signal(syscall.SIGKILL)
	p.closeStdin()
	<-p.done
	select {
	case <-p.finished:
		return
	default:
	}
	// What the process started and left in its group may hold its
	// output open; with the reading ends closed the copying stops
	// anyway. A launched program that never ran (a sandbox lacking it)
	// has no pid, and kill(0) would be loom's own group.
	if p.hostPid > 0 {
		syscall.Kill(-p.hostPid, syscall.SIGKILL)
	}
	for _, r := range p.readers {
		r.Close()
	}
}

// logf writes a line to the log, if there is one.
func (fs *FS) logf(format string, args ...any) {
	if fs.log != nil {
		fmt.Fprintf(fs.log, format+"\n", args...)
	}
}

func (fs *FS) get(pid int) *process {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.procs[pid]
}

// drop takes p out of the table, if it is still there.
func (fs *FS) drop(p *process) {
	fs.mu.Lock()
	if fs.procs[p.id] == p {
		delete(fs.procs, p.id)
	}
	fs.mu.Unlock()
}

func (fs *FS) gen(ctx context.Context, r *synth.Req) ([]*synth.Node, error) {
	fs.mu.Lock()
	ids := make([]int, 0, len(fs.procs))
	for id := range fs.procs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*synth.Node, len(ids))
	for i, id := range ids {
		out[i] = fs.procs[id].dir
	}
	fs.mu.Unlock()
	return out, nil
}

func (fs *FS) lookup(ctx context.Context, r *synth.Req, name string) (*synth.Node, error) {
	if name == "ctl" {
		return fs.ctl, nil
	}
	id, err := strconv.Atoi(name)
	if err != nil || strconv.Itoa(id) != name {
		return nil, ns.ErrNotExist
	}
	p := fs.get(id)
	if p == nil {
		return nil, ns.ErrNotExist
	}
	return p.dir, nil
}

// openCtl opens the root's ctl file, through which a client starts
// processes: each line written is "start [-n name] program [args ...]",
// its words quoted as rc quotes them, and a read of the same open then
// gives the number of the process it started last.
func (fs *FS) openCtl(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	var (
		mu   sync.Mutex
		last string
	)
	cmds := func(ctx context.Context) synth.Commands {
		return synth.Commands{{Name: "start", MinArgs: 1, MaxArgs: -1, Run: func(args []string) error {
			var name string
			if args[0] == "-n" {
				if len(args) < 3 {
					return fmt.Errorf("usage: start [-n name] program [args ...]")
				}
				name, args = args[1], args[2:]
			}
			var env []string
			if fs.environ != nil {
				env = fs.environ()
			}
			pid, err := fs.Start(ctx, args, StartOptions{Name: name, Env: env})
			if err != nil {
				return err
			}
			mu.Lock()
			last = strconv.Itoa(pid) + "\n"
			mu.Unlock()
			return nil
		}}}
	}
	return &synth.Handle{
		Read: func(ctx context.Context, p []byte, off int64) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return synth.ReadAt([]byte(last), p, off), nil
		},
		Write: func(ctx context.Context, p []byte, off int64) (int, error) {
			if err := cmds(ctx).Run(string(p)); err != nil {
				return 0, err
			}
			return len(p), nil
		},
	}, nil
}

// Notes are the notes a host process may be sent (Plan 9's names), and
// the signals they become.
var Notes = map[string]syscall.Signal{
	"interrupt": syscall.SIGINT,
	"kill":      syscall.SIGKILL,
	"hangup":    syscall.SIGHUP,
	"alarm":     syscall.SIGALRM,
	"term":      syscall.SIGTERM,
}

// ParseSignal reads a signal as a user writes it: TERM, SIGTERM, term
// or 15.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("bad signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("bad signal %q", s)
}

// procDir makes the directory of p.
func (fs *FS) procDir(p *process) *synth.Node {
	// The text files have their length, so that readers who seek from
	// the end (io/fs's) find it; status's is fixed however it changes.
	text := func(name string, gen func() []byte) *synth.Node {
		return &synth.Node{Name: name, Mode: 0o444, Uid: p.user,
			Open:   synth.Text(func(ctx context.Context, r *synth.Req) ([]byte, error) { return gen(), nil }),
			Length: func(*synth.Req) int64 { return int64(len(gen())) }}
	}
	nsText := func() []byte {
		if fs.nsText == nil {
			return nil
		}
		b, err := fs.nsText()
		if err != nil {
			return []byte("# " + err.Error() + "\n")
		}
		return b
	}
	ctl := synth.Commands{
		{Name: "kill", Run: func([]string) error { return p.signal(syscall.SIGKILL) }},
		{Name: "stop", Run: func([]string) error { return p.signal(syscall.SIGSTOP) }},
		{Name: "start", Run: func([]string) error { return p.signal(syscall.SIGCONT) }},
		{Name: "close", Run: func([]string) error { return p.closeStdin() }},
		{Name: "signal", Args: 1, Run: func(args []string) error {
			sig, err := ParseSignal(args[0])
			if err != nil {
				return err
			}
			return p.signal(sig)
		}},
	}
	d := &synth.Node{
		Name: strconv.Itoa(p.id),
		Mode: ns.DMDIR | 0o555,
		Uid:  p.user,
		Remove: func(ctx context.Context, r *synth.Req) error {
			fs.drop(p)
			p.signal(syscall.SIGKILL)
			p.closeStdin()
			return nil
		},
	}
	d.Children = []*synth.Node{
		text("args", func() []byte { return []byte(JoinArgs(p.argv) + "\n") }),
		{Name: "ctl", Mode: 0o200, Uid: p.user, Open: synth.Ctl(ctl, nil)},
		text("env", func() []byte {
			var b strings.Builder
			for _, kv := range p.env {
				b.WriteString(kv + "\n")
			}
			return []byte(b.String())
		}),
		{Name: "note", Mode: 0o200, Uid: p.user, Open: func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
			return &synth.Handle{Write: func(ctx context.Context, b []byte, off int64) (int, error) {
				note := strings.TrimRight(string(b), "\n")
				sig, ok := Notes[note]
				if !ok {
					return 0, fmt.Errorf("unknown note %q: want alarm, hangup, interrupt, kill or term", note)
				}
				if err := p.signal(sig); err != nil {
					return 0, err
				}
				return len(b), nil
			}}, nil
		}},
		text("ns", nsText),
		text("status", func() []byte { return []byte(p.info().Status()) }),
		{Name: "stdin", Mode: 0o200, Uid: p.user, Open: func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
			return &synth.Handle{Write: func(ctx context.Context, b []byte, off int64) (int, error) {
				return p.writeStdin(ctx, b)
			}}, nil
		}},
		{Name: "stdout", Mode: 0o400, Uid: p.user, Open: p.stdout.Open},
		{Name: "stderr", Mode: 0o400, Uid: p.user, Open: p.stderr.Open},
		{Name: "wait", Mode: 0o400, Uid: p.user, Open: func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
			return &synth.Handle{Read: func(ctx context.Context, b []byte, off int64) (int, error) {
				select {
				case <-p.done:
				case <-ctx.Done():
					return 0, ns.ErrInterrupt
				}
				n := synth.ReadAt([]byte(p.exit().String()), b, off)
				if n > 0 {
					// The exit has been read: the process leaves
					// the table, as Plan 9's does once waited for.
					fs.drop(p)
				}
				return n, nil
			}}, nil
		}},
	}
	return d
}
