package kinds

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"loom/9p"
	"loom/components/dev"
	"loom/components/env"
	"loom/components/log"
	"loom/components/proc"
	"loom/components/srv"
	"loom/ns"
)

// Default is the system loom's shell and loom serve start in: a namespace
// of the standard components and the parts of the system they share. Its
// namespace is, in namespace(6) text:
//
//	mount -c ramfs.1 /
//	mount dev /dev
//	mount -c env /env
//	mount -c srv /srv
//	mount -c log /log
//	mount proc /proc
//	mount -c ramfs.2 /tmp
//
// The root is a ramfs in which directories for the mount points are made
// first.
//
// Every component of the system has a name (see Component): the kind's
// own for the shared ones (dev, env, srv, log, proc), KIND.N for each
// server a mount made (ramfs.1, hostfs.1, pipe.2, ...). Mounts carry
// those names in the namespace's text, and the system keeps each one's
// kind and arguments, so that the text, replayed with ReplayResolver
// (and Copy for another system's components), rebuilds the namespace:
// what clones and snapshots of a system do. The environment starts with PATH and HOME as loom has them (when
// it does), USER, the system's user, and what the Vars option adds; host
// processes started in the system get it.
type Default struct {
	// NS is the system's namespace.
	NS *ns.Namespace
	// Env is what its kinds share: mount proc and mount srv anywhere
	// in NS give these same servers.
	Env Env

	vars []string // the environment it starts with

	mu      sync.Mutex
	closers []io.Closer          // what Resolve made or dialed
	comps   map[string]Component // the system's components by name
	seq     map[string]int       // the last N of KIND.N given, by kind
	bare    bool                 // build no namespace (Bare)
}

// An Option configures the default system.
type Option func(*Default)

// Console connects the system's console (dev's cons) to in and out.
func Console(in io.Reader, out io.Writer) Option {
	return func(d *Default) { d.Env.ConsIn, d.Env.ConsOut = in, out }
}

// Vars adds variables, NAME=value, to the system's environment.
func Vars(vars ...string) Option {
	return func(d *Default) { d.vars = append(d.vars, vars...) }
}

// Bare makes the system with its own devices, environment, srv, log and
// proc but nothing mounted: a namespace for a clone or a snapshot to
// replay a text into (see ReplayResolver and Copy).
func Bare() Option { return func(d *Default) { d.bare = true } }

// NewDefault builds the default system for user.
func NewDefault(user string, opts ...Option) (*Default, error) {
	d := &Default{NS: ns.New(user), Env: Env{User: user}, comps: map[string]Component{}, seq: map[string]int{}}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			d.vars = append(d.vars, k+"="+v)
		}
	}
	d.vars = append(d.vars, "USER="+user)
	for _, o := range opts {
		o(d)
	}
	d.Env.Dev = dev.New(dev.Owner(user), dev.Console(d.Env.ConsIn, d.Env.ConsOut))
	d.Env.Vars = env.New(env.Owner(user), env.Vars(d.vars...))
	d.Env.Srv = srv.New(srv.Owner(user))
	d.Env.Log = log.New(log.Owner(user))
	procLog, err := d.Env.Log.Writer("proc")
	if err != nil {
		return nil, err
	}
	d.Env.Proc = proc.New(proc.Owner(user), proc.Namespace(func() ([]byte, error) { return d.NS.Text() }),
		proc.Environ(d.Env.Environ), proc.Log(procLog))
	for _, k := range registry {
		if k.Shared {
			fsys, err := k.New(nil, d.Env)
			if err != nil {
				d.Close()
				return nil, err
			}
			d.comps[k.Name] = Component{Name: k.Name, Kind: k.Name, FS: fsys}
		}
	}
	if d.bare {
		return d, nil
	}

	root, _, err := d.Resolve(context.Background(), "ramfs", nil)
	if err == nil {
		err = d.NS.Mount(root, "/", ns.MREPL|ns.MCREATE, "")
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	mounts := []struct {
		kind, dir string
		flag      ns.Flag
	}{
		{"dev", "/dev", ns.MREPL},
		{"env", "/env", ns.MREPL | ns.MCREATE},
		{"srv", "/srv", ns.MREPL | ns.MCREATE},
		{"log", "/log", ns.MREPL | ns.MCREATE},
		{"proc", "/proc", ns.MREPL},
		{"ramfs", "/tmp", ns.MREPL | ns.MCREATE},
	}
	ctx := context.Background()
	top, err := d.NS.Attach(ctx, user, "")
	if err != nil {
		d.Close()
		return nil, err
	}
	defer top.Clunk()
	for _, m := range mounts {
		f, _, err := top.(ns.Creater).Create(ctx, m.dir[1:], ns.DMDIR|0o777, ns.OREAD)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("mkdir %s: %w", m.dir, err)
		}
		f.Clunk()
		fsys, _, err := d.Resolve(ctx, m.kind, nil)
		if err == nil {
			if _, ok := fsys.(ns.Namer); !ok {
				fsys = ns.Named(m.kind, fsys)
			}
			err = d.NS.Mount(fsys, m.dir, m.flag, "")
		}
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("mount %s %s: %w", m.kind, m.dir, err)
		}
	}
	return d, nil
}

// Close kills the system's processes and closes what it dialed or made.
func (d *Default) Close() error {
	d.mu.Lock()
	cs := d.closers
	d.closers = nil
	d.mu.Unlock()
	errs := []error{d.Env.Proc.Close(), d.Env.Srv.Close()}
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (d *Default) keep(c io.Closer) {
	d.mu.Lock()
	d.closers = append(d.closers, c)
	d.mu.Unlock()
}

// Resolve gives mount its file servers, as the shell's resolver: src is a
// kind (the system's own server of a shared kind, or else a new
// component, named KIND.N), the name of a component of the system
// (ramfs.1: the same server again), a 9P address (dialed), or the
// absolute path of a file of the namespace that names a server
// (/srv/NAME: a server posted in the system, or the address the file
// holds). For an address or a path, args[0], if given, names the tree to
// attach to.
func (d *Default) Resolve(ctx context.Context, src string, args []string) (ns.FS, string, error) {
	if k, ok := Lookup(src); ok {
		if k.Shared {
			fsys, err := k.New(args, d.Env)
			return fsys, "", err
		}
		fsys, err := k.New(args, d.Env)
		if err != nil {
			return nil, "", err
		}
		c := d.adopt(Component{Kind: k.Name, Args: slices.Clone(args), FS: fsys})
		return ns.Named(c.Name, c.FS), "", nil
	}
	if c, ok := d.Component(src); ok {
		if len(args) > 0 {
			return nil, "", fmt.Errorf("%s: a component of the system takes no arguments (it has those it was made with)", src)
		}
		return ns.Named(c.Name, c.FS), "", nil
	}
	if len(args) > 1 {
		return nil, "", fmt.Errorf("%s: too many arguments; want at most the tree to attach to", src)
	}
	aname := ""
	if len(args) == 1 {
		aname = args[0]
	}
	switch {
	case strings.HasPrefix(src, "/"):
		fsys, err := d.posted(ctx, src)
		if err != nil {
			return nil, "", err
		}
		return ns.Named(src, fsys), aname, nil
	case strings.Contains(src, "!"):
		c, err := d.dial(src)
		if err != nil {
			return nil, "", err
		}
		return ns.Named(src, c), aname, nil
	}
	return nil, "", fmt.Errorf("%s: unknown kind of file server (kinds: %s; or a posted server, /srv/NAME; or a 9P address, unix!/path or tcp!host!port)",
		src, strings.Join(Names(), ", "))
}

func (d *Default) dial(addr string) (*ninep.Client, error) {
	c, err := ninep.Dial(addr, ninep.DialTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	d.keep(c)
	return c, nil
}

// posted finds the server the file p names: it reads "local" for one
// posted in the system's srv under p's last element, or holds an
// address.
func (d *Default) posted(ctx context.Context, p string) (ns.FS, error) {
	text, err := readSmall(ctx, d.NS, d.NS.User(), p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	name := path.Base(p)
	if text == "local" {
		fsys, err := d.Env.Srv.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("%s: not posted in this system's srv", p)
		}
		return fsys, nil
	}
	if _, _, err := ninep.ParseAddr(text); err != nil {
		return nil, fmt.Errorf("%s: names no server (it holds %q)", p, text)
	}
	// The system's own srv shares its connection when it has the same
	// address under the name.
	if fsys, err := d.Env.Srv.Lookup(name); err == nil {
		if c, ok := fsys.(*ninep.Client); ok && srvAddr(d.Env.Srv, d.Env.User, name) == text {
			return c, nil
		}
	}
	c, err := d.dial(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

// srvAddr is what the srv file name reads, trimmed.
func srvAddr(s *srv.FS, user, name string) string {
	t, err := readSmall(context.Background(), s, user, name)
	if err != nil {
		return ""
	}
	return t
}

// readSmall reads the beginning of the file p of fsys as user, trimmed
// of blanks.
func readSmall(ctx context.Context, fsys ns.FS, user, p string) (string, error) {
	root, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return "", err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	q, err := f.Open(ctx, ns.OREAD)
	if err != nil {
		return "", err
	}
	if q.IsDir() {
		return "", ns.ErrIsDir
	}
	buf := make([]byte, 1024)
	n, err := f.Read(ctx, buf, 0)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// Command runs the shell's commands for processes and posting in the
// system: start, ps, kill and post (args[0]), printing on out.
//
//	start [-n name] program [args ...]   prints the new process's number
//	ps [-a]                              Plan 9's ps lines
//	kill number|name ...                 writes kill to each one's ctl
//	post name path                       posts the namespace (path /) or its subtree
func (d *Default) Command(ctx context.Context, out io.Writer, args []string) error {
	if len(args) == 0 {
		return errors.New("no command")
	}
	var err error
	switch args[0] {
	case "start":
		err = d.start(ctx, out, args)
	case "ps":
		err = d.ps(out, args)
	case "kill":
		err = d.kill(ctx, args)
	case "post":
		err = d.post(ctx, args)
	default:
		err = errors.New("unknown command")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

func (d *Default) start(ctx context.Context, out io.Writer, args []string) error {
	fl := flag.NewFlagSet("start", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	name := fl.String("n", "", "")
	if err := fl.Parse(args[1:]); err != nil || fl.NArg() == 0 {
		return errors.New("usage: start [-n name] program [args ...]")
	}
	pid, err := d.Env.Proc.Start(ctx, fl.Args(), proc.StartOptions{Name: *name, Env: d.Env.Environ()})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, pid)
	return err
}

func (d *Default) ps(out io.Writer, args []string) error {
	all := false
	switch {
	case len(args) == 2 && args[1] == "-a":
		all = true
	case len(args) != 1:
		return errors.New("usage: ps [-a]")
	}
	var b strings.Builder
	for _, in := range d.Env.Proc.List() {
		b.WriteString(in.PS(all))
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// kill writes kill to the ctl file of each process named, by number or
// by name (every process of that name), as a 9P client would.
func (d *Default) kill(ctx context.Context, args []string) error {
	if len(args) < 2 {
		return errors.New("usage: kill number|name ...")
	}
	var pids []int
	for _, a := range args[1:] {
		if n, err := strconv.Atoi(a); err == nil {
			pids = append(pids, n)
			continue
		}
		found := false
		for _, in := range d.Env.Proc.List() {
			if in.Name == a && in.State != "Moribund" {
				pids = append(pids, in.Pid)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: no such process", a)
		}
	}
	var errs []error
	for _, pid := range pids {
		if err := writeFile(ctx, d.Env.Proc, d.Env.User, strconv.Itoa(pid)+"/ctl", "kill"); err != nil {
			if errors.Is(err, ns.ErrNotExist) {
				err = errors.New("no such process")
			}
			errs = append(errs, fmt.Errorf("%d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

func writeFile(ctx context.Context, fsys ns.FS, user, p, text string) error {
	root, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		return err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OWRITE); err != nil {
		return err
	}
	_, err = f.Write(ctx, []byte(text), 0)
	return err
}

func (d *Default) post(ctx context.Context, args []string) error {
	if len(args) != 3 || !strings.HasPrefix(args[2], "/") {
		return errors.New("usage: post name path")
	}
	name, p := args[1], path.Clean(args[2])
	var fsys ns.FS = d.NS
	if p != "/" {
		root, err := d.NS.Attach(ctx, d.NS.User(), "")
		if err != nil {
			return err
		}
		f, err := ns.WalkPath(ctx, root, p)
		root.Clunk()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		f.Clunk()
		fsys = Subtree(d.NS, p)
	}
	return d.Env.Srv.Post(name, fsys)
}
