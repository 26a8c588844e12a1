package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"loom/9p"
	"loom/components/kinds"
	"loom/components/system"
	"loom/lang"
	"loom/lang/interp"
	"loom/ns"
)

const usageShell = `usage: loom [-a addr] [-u user] [-c commands | file [args ...]]

With no file and no -c, loom reads commands from standard input: as an
interactive shell when it is a terminal, as a script otherwise.

The shell starts in the default system: a ramfs on / with the system's
devices on /dev, environment on /env, posted servers on /srv, log on
/log, processes on /proc and a ramfs on /tmp (ns prints it; help KIND
describes each kind), named loom. system NAME { ... } makes another,
clone copies one into a sandbox, use moves the shell, systems lists
them and stop ends one (help system, sandbox, clone).

  -a addr   attach to the loom server at addr (unix!/path, tcp!host!port)
            rather than the embedded namespace
  -c cmds   run cmds
  -u user   the user the namespace acts as (default: the host user)
`

// errSilent is the error of a script whose last command failed: the
// failure has been reported, so loom exits 1 without another word.
var errSilent = errors.New("failed")

// shell runs loom's shell: a script, -c commands, or an interactive
// session, in the embedded namespace or in one attached with -a.
func shell(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("loom", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usageShell) }
	addr := fl.String("a", "", "attach to the loom server at `addr`")
	cmds := fl.String("c", "", "run `commands`")
	user := fl.String("u", currentUser(), "act as `user` in the namespace")
	if err := fl.Parse(args); err != nil {
		return err
	}
	ran := false
	fl.Visit(func(f *flag.Flag) { ran = ran || f.Name == "c" })

	// The embedded system's console is the shell's standard input and
	// output.
	env, err := newEnv(*addr, *user, kinds.Console(stdin, stdout))
	if err != nil {
		fmt.Fprintf(stderr, "loom: %v\n", err)
		return err
	}
	defer env.close()

	var src []byte
	name := "-c"
	switch {
	case ran:
		src = []byte(*cmds)
		env.args = fl.Args()
	case fl.NArg() > 0:
		name = fl.Arg(0)
		if src, err = os.ReadFile(name); err != nil {
			fmt.Fprintf(stderr, "loom: %v\n", err)
			return err
		}
		env.args = fl.Args()[1:]
	case isTerminal(stdin) && isTerminal(stdout):
		return interactive(ctx, env)
	default:
		name = "stdin"
		if src, err = io.ReadAll(stdin); err != nil {
			fmt.Fprintf(stderr, "loom: %v\n", err)
			return err
		}
	}
	f, err := lang.Parse(src, name)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errSilent
	}
	r := env.runner(stdin, stdout, stderr, interp.WithVar("0", name))
	defer r.Close()
	if err := r.Run(ctx, f); err != nil {
		fmt.Fprintf(stderr, "loom: %v\n", err)
		return err
	}
	if r.Status() != "" {
		return errSilent
	}
	return nil
}

// env is what a shell runs in: its namespace and its handlers.
type env struct {
	nsp     *ns.Namespace
	def     *kinds.Default  // the embedded system; nil with -a
	reg     *system.Systems // the systems: the embedded one and those made since; nil with -a
	systems interp.Systems
	args    []string

	mu      sync.Mutex
	closers []io.Closer
}

// newEnv builds the namespace: by default the embedded default system
// (see kinds.NewDefault), made with opts; with addr, the tree of the 9P
// server there on /.
func newEnv(addr, user string, opts ...kinds.Option) (*env, error) {
	if addr == "" {
		d, err := kinds.NewDefault(user, opts...)
		if err != nil {
			return nil, err
		}
		reg := system.New(system.User(user), system.Kinds(opts...))
		if _, err := reg.Add(defaultSystem, d); err != nil {
			d.Close()
			return nil, err
		}
		return &env{nsp: d.NS, def: d, reg: reg, systems: systems{reg}}, nil
	}
	e := &env{nsp: ns.New(user), systems: interp.NoSystems{}}
	c, err := ninep.Dial(addr, ninep.DialTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, c)
	if err := e.nsp.Mount(ns.Named(addr, c), "/", ns.MREPL|ns.MCREATE, ""); err != nil {
		c.Close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	if e.reg != nil {
		e.reg.Close() // the embedded system with the others
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.closers {
		c.Close()
	}
}

// runner makes a Runner living in the env's namespace.
func (e *env) runner(stdin io.Reader, stdout, stderr io.Writer, opts ...interp.Option) *interp.Runner {
	opts = append([]interp.Option{
		interp.WithNamespace(interp.FromNamespace(e.nsp, e.resolve)),
		interp.WithExec(execHost),
		interp.WithSystems(e.systems),
		interp.WithIO(stdin, stdout, stderr),
		interp.WithArgs(e.args...),
		interp.WithVar("user", e.nsp.User()),
		interp.WithTopics("kinds (mount KIND old [args]; help KIND says more)", kindTopics()...),
	}, opts...)
	return interp.New(opts...)
}

// kindTopics gives help an entry for each kind of component.
func kindTopics() []interp.Topic {
	var ts []interp.Topic
	for _, k := range kinds.All() {
		usage := "mount [-abcC] " + k.Name + " old" + strings.TrimPrefix(k.Synopsis, k.Name)
		ts = append(ts, interp.Topic{Name: k.Name, Synopsis: k.Synopsis, Doc: k.Doc,
			Help: "usage: " + usage + "\n" + k.Help})
	}
	return ts
}

// resolve gives mount its file servers: in the embedded system, the
// system's (see kinds.Default.Resolve); attached to a server with -a, new
// components of every kind, 9P servers by address, and files of the
// namespace that hold an address (/srv/NAME).
func (e *env) resolve(ctx context.Context, src string, args []string) (ns.FS, string, error) {
	if e.def != nil {
		return e.def.Resolve(ctx, src, args)
	}
	if k, ok := kinds.Lookup(src); ok {
		fsys, err := k.New(args, kinds.Env{User: e.nsp.User()})
		return fsys, "", err
	}
	aname := ""
	if len(args) > 0 {
		aname = args[0]
	}
	addr := src
	if strings.HasPrefix(src, "/") {
		text, err := readAddr(ctx, e.nsp, src)
		if err != nil {
			return nil, "", err
		}
		addr = text
	} else if !strings.Contains(src, "!") {
		return nil, "", fmt.Errorf("%s: unknown kind of file server (kinds: %s; or a 9P address: unix!/path, tcp!host!port)",
			src, strings.Join(kinds.Names(), ", "))
	}
	c, err := ninep.Dial(addr, ninep.DialTimeout(10*time.Second))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", src, err)
	}
	e.mu.Lock()
	e.closers = append(e.closers, c)
	e.mu.Unlock()
	return ns.Named(src, c), aname, nil
}

// readAddr reads the 9P address the file p of nsp holds, as /srv/NAME
// holds one.
func readAddr(ctx context.Context, nsp *ns.Namespace, p string) (string, error) {
	root, err := nsp.Attach(ctx, nsp.User(), "")
	if err != nil {
		return "", err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	defer f.Clunk()
	q, err := f.Open(ctx, ns.OREAD)
	if err == nil && q.IsDir() {
		err = ns.ErrIsDir
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	buf := make([]byte, 512)
	n, err := f.Read(ctx, buf, 0)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	text := strings.TrimSpace(string(buf[:n]))
	if _, _, err := ninep.ParseAddr(text); err != nil {
		// "local": a server of the loom at the other end, which only
		// a shell of its own can mount.
		return "", fmt.Errorf("%s: names no server this shell can reach (it holds %q)", p, text)
	}
	return text, nil
}

// execHost runs a host program with the pipeline's input and output. The
// program sees the host's file system: running it inside a system's
// namespace is the sandbox's work.
func execHost(ctx context.Context, sio interp.IO, args []string) error {
	p, err := exec.LookPath(args[0])
	if err != nil {
		return errors.New("not found")
	}
	cmd := exec.CommandContext(ctx, p, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = sio.Stdin, sio.Stdout, sio.Stderr
	// A pipe's other end may stay open after the program exits; do not
	// wait on it for ever.
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success():
		return nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			if ws.Signal() == syscall.SIGINT {
				// The terminal's interrupt reached the program
				// before the shell: the shell stops too.
				return context.Canceled
			}
			return interp.ExitStatus(ws.Signal().String())
		}
		return interp.ExitStatus(strconv.Itoa(ee.ExitCode()))
	}
	return err
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS)
	return err == nil
}
