package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"loom/9p"
	"loom/components/kinds"
	"loom/components/system"
	"loom/lang"
	"loom/lang/interp"
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

  -a addr   use the systems of the loom server at addr (unix!/path,
            tcp!host!port) rather than embedded ones; either way the shell
            works through the server's tree (/systems/NAME/root, ctl, ...)
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

// env is what a shell runs in: a loom tree, its own or a server's, and
// the client that drives it.
type env struct {
	reg     *system.Systems // the embedded tree's systems; nil with -a
	client  *treeClient
	user    string
	args    []string
	closers []io.Closer
}

// newEnv makes the shell's tree: by default an embedded one whose system
// loom is the default system (see kinds.NewDefault) made with opts; with
// addr, the tree of the loom server there. Either way the shell reaches
// it only through its files.
func newEnv(addr, user string, opts ...kinds.Option) (*env, error) {
	if addr == "" {
		reg, tree, err := newTree(user, nil, opts...)
		if err != nil {
			return nil, err
		}
		return &env{reg: reg, client: &treeClient{fsys: tree, user: user}, user: user}, nil
	}
	c, err := ninep.Dial(addr, ninep.DialTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	e := &env{client: &treeClient{fsys: c, user: user}, user: user, closers: []io.Closer{c}}
	// Say now, rather than at every command, when the server is not
	// a loom's.
	f, err := e.client.walk(context.Background(), "/systems/"+defaultSystem)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("%s: no /systems/%s: not a loom server's tree (%w)", addr, defaultSystem, err)
	}
	f.Clunk()
	return e, nil
}

// newTree makes a registry whose system loom is the default system, and
// its tree, whose ctl files run scripts with the language. The registry
// exports and imports with keys, or with the environment's when keys is
// nil.
func newTree(user string, keys *ninep.Keys, opts ...kinds.Option) (*system.Systems, *system.Tree, error) {
	d, err := kinds.NewDefault(user, opts...)
	if err != nil {
		return nil, nil, err
	}
	sopts := []system.Option{system.User(user), system.Kinds(opts...)}
	if keys != nil {
		sopts = append(sopts, system.Keys(keys))
	}
	reg := system.New(sopts...)
	if _, err := reg.Add(defaultSystem, d); err != nil {
		d.Close()
		return nil, nil, err
	}
	tree := system.NewTree(reg, system.WithScript(ctlScript(reg, d)),
		system.WithSessions(ctlSessions(reg, d)), system.DefaultSystem(defaultSystem))
	return reg, tree, nil
}

func (e *env) close() {
	e.client.close()
	if e.reg != nil {
		e.reg.Close() // the embedded system with the others
	}
	for _, c := range e.closers {
		c.Close()
	}
}

// runner makes a Runner living in the system loom of the env's tree.
func (e *env) runner(stdin io.Reader, stdout, stderr io.Writer, opts ...interp.Option) *interp.Runner {
	opts = append([]interp.Option{
		interp.WithNamespace(&treeNS{e.client, defaultSystem}),
		interp.WithSystemName(defaultSystem),
		interp.WithExec(e.exec),
		interp.WithSystems(e.client),
		interp.WithIO(stdin, stdout, stderr),
		interp.WithArgs(e.args...),
		interp.WithVar("user", e.user),
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

// exec runs a host program with the pipeline's input and output. In a
// sandboxed system of the embedded tree it runs in the system's kernel
// sandbox, on the system's namespace and environment; elsewhere it is a
// plain host program that sees the host's file system, as the programs
// of an unsandboxed system do (and, with -a, those of the shell's own
// machine).
func (e *env) exec(ctx context.Context, sio interp.IO, sysName string, args []string) error {
	if e.reg != nil {
		if sys, err := e.reg.Get(sysName); err == nil && sys.Sandboxed() {
			return runSandboxed(ctx, sys, sio, args)
		}
	}
	return execHost(ctx, sio, args)
}

// runSandboxed runs args in sys's kernel sandbox.
func runSandboxed(ctx context.Context, sys *system.System, sio interp.IO, args []string) error {
	env := sys.Def.Env.Environ()
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env = append(env, "PATH=/usr/bin:/bin")
	}
	err := sys.Run(ctx, args, env, sio.Stdin, sio.Stdout, sio.Stderr)
	var ee *system.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Canceled
	case errors.As(err, &ee):
		return interp.ExitStatus(strings.TrimPrefix(ee.Status, "exit "))
	}
	return err
}

// execHost runs a plain host program.
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
