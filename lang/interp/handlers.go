package interp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"loom/ns"
)

// IO is the standard input, output and error output of one command.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// An ExecHandler runs a command that is neither a function nor a builtin:
// in loom, a host program. args[0] is the command's name. It returns nil
// on success, an ExitStatus for a failure that has been reported already
// (a program's exit status), or another error, which the shell prints
// after the command's name. A cancelled ctx asks it to stop the command;
// an error wrapping context.Canceled (the program died of an interrupt)
// stops the whole script, as a cancelled ctx does. system is the system
// the shell is in, whose sandbox the program belongs in.
type ExecHandler func(ctx context.Context, io IO, system string, args []string) error

// An ExitStatus is a command's failure as rc's $status holds it: a
// string, empty for success. The shell prints nothing for it.
type ExitStatus string

func (s ExitStatus) Error() string { return "exit status " + string(s) }

// NoExec is the ExecHandler of a shell that runs no host programs.
func NoExec(ctx context.Context, io IO, system string, args []string) error {
	return fmt.Errorf("not found")
}

// Namespace is what the shell sees of the namespace it lives in: files by
// absolute path, and the calls that change the mount table. FromNamespace
// makes one of an *ns.Namespace.
type Namespace interface {
	// Walk returns an unopened File for the absolute path p.
	Walk(ctx context.Context, p string) (ns.File, error)
	// Bind, Mount and Unmount change the mount table as bind(1),
	// mount(1) and unmount(1) do. Mount's src is a kind of file server
	// ("ramfs") or another thing that names one: a 9P address, or the
	// absolute path of a file of the namespace that does (/srv/NAME);
	// args are what follows old on mount's command line.
	Bind(new, old string, flag ns.Flag) error
	Mount(ctx context.Context, src, old string, flag ns.Flag, args []string) error
	Unmount(new, old string) error
	// Text returns the namespace as namespace(6) text.
	Text() ([]byte, error)
}

// A Resolver gives the file server a mount command names, and the aname
// to attach to, from mount's src and extra arguments.
type Resolver func(ctx context.Context, src string, args []string) (fsys ns.FS, aname string, err error)

// FromNamespace makes an *ns.Namespace into the shell's Namespace; mounts
// get their file servers from resolve.
func FromNamespace(n *ns.Namespace, resolve Resolver) Namespace {
	return nsAdapter{n, resolve}
}

type nsAdapter struct {
	n       *ns.Namespace
	resolve Resolver
}

func (a nsAdapter) Walk(ctx context.Context, p string) (ns.File, error) {
	root, err := a.n.Attach(ctx, a.n.User(), "")
	if err != nil {
		return nil, err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if errors.Is(err, ns.ErrNotExist) {
		err = WalkCause(ctx, root, p, err)
	}
	return f, err
}

// WalkCause finds why a walk from root to p that stopped short did,
// err being what the walk said. A walk that reaches some names and not
// the next says only that (File.Walk, like 9P's Rwalk, has no room for
// more), though the next may have failed for a cause of its own: a
// remote import gone away, say. Walked again one name at a time, the
// name that fails is the first of its walk, whose error is the server's;
// WalkCause returns it, or err when it is only that the name does not
// exist. Namespaces use it so that the shell says the cause.
func WalkCause(ctx context.Context, root ns.File, p string, err error) error {
	cur := root
	defer func() {
		if cur != root {
			cur.Clunk()
		}
	}()
	for _, name := range ns.SplitPath(p) {
		_, next, werr := cur.Walk(ctx, []string{name})
		if werr != nil {
			if errors.Is(werr, ns.ErrNotExist) {
				return err
			}
			return werr
		}
		if next == nil {
			return err
		}
		if cur != root {
			cur.Clunk()
		}
		cur = next
	}
	return err
}

func (a nsAdapter) Bind(new, old string, flag ns.Flag) error { return a.n.Bind(new, old, flag) }
func (a nsAdapter) Unmount(new, old string) error            { return a.n.Unmount(new, old) }
func (a nsAdapter) Text() ([]byte, error)                    { return a.n.Text() }

func (a nsAdapter) Mount(ctx context.Context, src, old string, flag ns.Flag, args []string) error {
	if a.resolve == nil {
		return fmt.Errorf("%s: no file servers to mount", src)
	}
	fsys, aname, err := a.resolve(ctx, src, args)
	if err != nil {
		return err
	}
	if nm, ok := fsys.(ns.Namer); !ok || nm.Name() == "" {
		fsys = ns.Named(src, fsys)
	}
	return a.n.Mount(fsys, old, flag, aname)
}

// Systems is the shell's way to the components layer: systems, sandboxes
// and clones. Methods that cannot do their work yet return an error saying
// so (see NoSystems); none of them does nothing silently.
type Systems interface {
	// System makes the system name, or finds it, and returns its
	// namespace, in which the body of system name { ... } then runs.
	System(ctx context.Context, name string) (Namespace, error)
	// Sandbox defines (or redefines) a sandbox policy.
	Sandbox(ctx context.Context, sb *Sandbox) error
	// Clone duplicates the system src as dst, inside the sandbox sandbox
	// when it is not "".
	Clone(ctx context.Context, src, dst, sandbox string) error
	// Use returns the namespace of the system name, for the shell to
	// live in.
	Use(ctx context.Context, name string) (Namespace, error)
	// List returns the names of the systems.
	List(ctx context.Context) ([]string, error)
	// Command runs start, ps, kill or post (args[0]) for the system the
	// shell is in, writing what they print on io.Stdout. post's args are
	// the name and the absolute path to post.
	Command(ctx context.Context, io IO, system string, args []string) error
}

// NoSystems is the Systems of a shell without a components layer: every
// method fails with "NAME: not available yet".
type NoSystems struct{}

func notYet(what string) error { return fmt.Errorf("%s: not available yet", what) }

func (NoSystems) System(context.Context, string) (Namespace, error)   { return nil, notYet("system") }
func (NoSystems) Sandbox(context.Context, *Sandbox) error             { return notYet("sandbox") }
func (NoSystems) Clone(context.Context, string, string, string) error { return notYet("clone") }
func (NoSystems) Use(context.Context, string) (Namespace, error)      { return nil, notYet("use") }
func (NoSystems) List(context.Context) ([]string, error)              { return nil, notYet("systems") }
func (NoSystems) Command(_ context.Context, _ IO, _ string, args []string) error {
	return notYet(args[0])
}

// A Sandbox is a sandbox policy as a sandbox declaration states it, its
// words expanded and checked.
type Sandbox struct {
	Name     string
	Allow    []string         // paths visible; everything else is absent
	ReadOnly []string         // paths that refuse writes
	Devices  []string         // device files granted (cons, null, ...)
	Network  string           // "none", "loopback" or "host"; "" if unsaid
	Limits   map[string]int64 // memory and write in bytes, processes, cpu as a share in percent of the normal one
}

// limitKinds are the limits a sandbox may set, and how their values read.
var limitKinds = map[string]func(string) (int64, error){
	"memory":    parseSize,
	"write":     parseSize,
	"processes": func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) },
	"cpu":       parseShare,
}

// parseShare reads a cpu share: a percentage of the share every process
// has by default (100), from 1 to 10000, with or without a % sign.
func parseShare(s string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSuffix(s, "%"), 10, 64)
	if err != nil || v < 1 || v > 10000 {
		return 0, fmt.Errorf("bad cpu share %q: want 1%% to 10000%%", s)
	}
	return v, nil
}

// parseSize reads 64M, 1G, 512K or a number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
