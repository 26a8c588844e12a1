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
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"loom/9p"
	"loom/components/ramfs"
	"loom/lang"
	"loom/lang/interp"
	"loom/ns"
)

const usageShell = `usage: loom [-a addr] [-u user] [-c commands | file [args ...]]

With no file and no -c, loom reads commands from standard input: as an
interactive shell when it is a terminal, as a script otherwise.

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

	env, err := newEnv(*addr, *user)
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
	systems interp.Systems
	args    []string
	closers []io.Closer
}

// newEnv builds the namespace: by default a ramfs on / (creation allowed)
// and another on /tmp; with addr, the tree of the 9P server there on /.
func newEnv(addr, user string) (*env, error) {
	e := &env{nsp: ns.New(user), systems: interp.NoSystems{}}
	if addr != "" {
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
	if err := e.nsp.Mount(ns.Named("ramfs", ramfs.New()), "/", ns.MREPL|ns.MCREATE, ""); err != nil {
		return nil, err
	}
	ctx := context.Background()
	root, err := e.nsp.Attach(ctx, user, "")
	if err != nil {
		return nil, err
	}
	defer root.Clunk()
	tmp, _, err := root.(ns.Creater).Create(ctx, "tmp", ns.DMDIR|0o777, ns.OREAD)
	if err != nil {
		return nil, err
	}
	tmp.Clunk()
	if err := e.nsp.Mount(ns.Named("ramfs", ramfs.New()), "/tmp", ns.MREPL|ns.MCREATE, ""); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
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
	}, opts...)
	return interp.New(opts...)
}

// resolve gives mount its file servers: the kinds loom has, and 9P
// servers by address.
func (e *env) resolve(ctx context.Context, src string, args []string) (ns.FS, string, error) {
	switch {
	case src == "ramfs":
		if len(args) > 0 {
			return nil, "", fmt.Errorf("ramfs: takes no arguments")
		}
		return ns.Named("ramfs", ramfs.New()), "", nil
	case strings.Contains(src, "!"):
		c, err := ninep.Dial(src, ninep.DialTimeout(10*time.Second))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", src, err)
		}
		e.closers = append(e.closers, c)
		aname := ""
		if len(args) > 0 {
			aname = args[0]
		}
		return ns.Named(src, c), aname, nil
	}
	return nil, "", fmt.Errorf("%s: unknown kind of file server (kinds: ramfs; or a 9P address: unix!/path, tcp!host!port)", src)
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
