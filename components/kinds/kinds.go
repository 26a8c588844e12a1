// Package kinds is loom's registry of component kinds: the names that
// mount KIND DIR [args] understands, each with its help and a
// constructor that reads its arguments; and the default system that
// loom's shell and loom serve start in (see NewDefault).
//
// A kind makes a file server from its mount arguments and from what the
// system it is mounted in has (an Env): some kinds make a new server at
// every mount (ramfs, hostfs, pipe, exec), while dev, env, log, srv and
// proc give the system's own, as Plan 9's #c, #e, #s and #p are the
// machine's, so that what is set, logged, posted or started in a system
// shows wherever it is mounted. In a system, each server a mount makes
// is a component named KIND.N, with its kind and arguments kept (see
// Component), so that its namespace text says what to make again.
package kinds

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"loom/components/dev"
	"loom/components/env"
	"loom/components/exec"
	"loom/components/hostfs"
	"loom/components/log"
	"loom/components/pipe"
	"loom/components/proc"
	"loom/components/ramfs"
	"loom/components/srv"
	"loom/ns"
)

// Env is what a kind may take from the system it is mounted in. Fields
// left nil mean the system has no such part: kinds that share one then
// make their own.
type Env struct {
	// User is the system's user, owner of what its components make.
	User string
	// ConsIn and ConsOut are the system's console, dev's cons: what the
	// shell or server connects to it.
	ConsIn  io.Reader
	ConsOut io.Writer
	// Dev is the system's devices, whose cons is the console above.
	Dev *dev.Dev
	// Vars is the system's environment, which its host processes get.
	Vars *env.Env
	// Log is the system's log, which its components write to.
	Log *log.Log
	// Srv is the system's registry of posted servers.
	Srv *srv.FS
	// Proc is the system's process table.
	Proc *proc.FS
}

// Environ is the environment of a host process started in the system:
// its env's variables, or loom's own when it has no env.
func (e Env) Environ() []string {
	if e.Vars != nil {
		return e.Vars.Environ()
	}
	return os.Environ()
}

// A Kind is a kind of component.
type Kind struct {
	Name string
	// Synopsis is the kind and its mount arguments: "hostfs dir [-ro]".
	Synopsis string
	// Doc says in one line what the kind is.
	Doc string
	// Help is the kind's package's Help: its files and their use.
	Help string
	// Shared says that the kind gives the system's own server, the
	// same at every mount (dev, env, log, srv, proc), rather than a new
	// one.
	Shared bool
	// New makes a file server of the kind from mount's arguments after
	// the mount point, or says what is wrong with them.
	New func(args []string, e Env) (ns.FS, error)
}

// ramfsHelp describes ramfs, whose package predates kinds' help.
const ramfsHelp = `ramfs: an empty in-memory tree of files and directories, as Plan 9's
ramfs(4). Any user may make files in its root; what is made lives as long
as something has the tree mounted. Mount it with -c to create files in it:
  mount -c ramfs /n/scratch`

// registry holds the kinds, sorted by name.
var registry = []Kind{
	{
		Name: "dev", Synopsis: "dev", Shared: true,
		Doc:  "the system's devices: cons, null, zero, random, time, sysname, user",
		Help: dev.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			if err := noArgs("dev", args); err != nil {
				return nil, err
			}
			if e.Dev != nil {
				return e.Dev, nil
			}
			return dev.New(dev.Owner(e.User), dev.Console(e.ConsIn, e.ConsOut)), nil
		},
	},
	{
		Name: "env", Synopsis: "env", Shared: true,
		Doc:  "the system's environment variables, one file each",
		Help: env.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			if err := noArgs("env", args); err != nil {
				return nil, err
			}
			if e.Vars != nil {
				return e.Vars, nil
			}
			return env.New(env.Owner(e.User)), nil
		},
	},
	{
		Name: "exec", Synopsis: "exec program [args ...]",
		Doc:  "a host program whose sessions' stdin and stdout are files",
		Help: exec.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			if len(args) == 0 {
				return nil, fmt.Errorf("exec: need a program; usage: mount exec old program [args ...]")
			}
			opts := []exec.Option{exec.Owner(e.User), exec.Env(e.Environ())}
			if e.Proc != nil {
				// Its programs start where the system's processes
				// do, asked at each session: in the system's
				// kernel sandbox once it is in one, even when the
				// component was made before (as a clone makes it).
				opts = append(opts, exec.LaunchFrom(e.Proc.Launcher))
			}
			fsys, err := exec.New(args, opts...)
			if err != nil {
				return nil, err // exec's errors say "exec: "
			}
			return fsys, nil
		},
	},
	{
		Name: "hostfs", Synopsis: "hostfs dir [-ro]",
		Doc:  "a host directory, optionally read-only, that nothing can escape",
		Help: hostfs.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			var dir string
			var opts []hostfs.Option
			for _, a := range args {
				switch {
				case a == "-ro" || a == "ro":
					opts = append(opts, hostfs.ReadOnly())
				case strings.HasPrefix(a, "-") || dir != "":
					return nil, fmt.Errorf("hostfs: unexpected argument %q; usage: mount hostfs old dir [-ro]", a)
				default:
					dir = a
				}
			}
			if dir == "" {
				return nil, fmt.Errorf("hostfs: need a directory; usage: mount hostfs old dir [-ro]")
			}
			fsys, err := hostfs.New(dir, opts...)
			if err != nil {
				return nil, err
			}
			return fsys, nil
		},
	},
	{
		Name: "log", Synopsis: "log", Shared: true,
		Doc:  "the system's log: every component's lines, as files and streams",
		Help: log.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			if err := noArgs("log", args); err != nil {
				return nil, err
			}
			if e.Log != nil {
				return e.Log, nil
			}
			return log.New(log.Owner(e.User)), nil
		},
	},
	{
		Name: "pipe", Synopsis: "pipe",
		Doc:  "a new pipe: what is written to data is read from data1, and back",
		Help: pipe.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			if err := noArgs("pipe", args); err != nil {
				return nil, err
			}
			return pipe.New(pipe.Owner(e.User)), nil
		},
	},
	{
		Name: "proc", Synopsis: "proc", Shared: true,
		Doc:  "the system's processes, as Plan 9's proc(3)",
		Help: proc.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			if err := noArgs("proc", args); err != nil {
				return nil, err
			}
			if e.Proc != nil {
				return e.Proc, nil
			}
			return proc.New(proc.Owner(e.User)), nil
		},
	},
	{
		Name: "ramfs", Synopsis: "ramfs",
		Doc:  "an empty in-memory tree",
		Help: ramfsHelp,
		New: func(args []string, e Env) (ns.FS, error) {
			if err := noArgs("ramfs", args); err != nil {
				return nil, err
			}
			return ramfs.New(), nil
		},
	},
	{
		Name: "srv", Synopsis: "srv", Shared: true,
		Doc:  "the system's registry of posted file servers, as Plan 9's srv(3)",
		Help: srv.Help,
		New: func(args []string, e Env) (ns.FS, error) {
			if err := noArgs("srv", args); err != nil {
				return nil, err
			}
			if e.Srv != nil {
				return e.Srv, nil
			}
			return srv.New(srv.Owner(e.User)), nil
		},
	},
}

func noArgs(kind string, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s: takes no arguments", kind)
	}
	return nil
}

// Lookup returns the kind called name.
func Lookup(name string) (Kind, bool) {
	i, ok := slices.BinarySearchFunc(registry, name, func(k Kind, name string) int {
		return strings.Compare(k.Name, name)
	})
	if !ok {
		return Kind{}, false
	}
	return registry[i], true
}

// All returns every kind, sorted by name.
func All() []Kind { return slices.Clone(registry) }

// Names returns the names of the kinds, sorted.
func Names() []string {
	names := make([]string, len(registry))
	for i, k := range registry {
		names[i] = k.Name
	}
	return names
}
