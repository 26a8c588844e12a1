package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"loom/components/synth"
	"loom/ns"
)

// A Script runs script, text of loom's language, in the system named
// system ("" for none: the tree's /ctl), writing what it prints on out.
// file names the script in error positions (file:line:col). It parses
// the whole script before running any of it, so that a syntax error
// changes nothing, and stops at the first command that reports an error,
// returning that error. The language lives above this package, so the
// tree is given its runner rather than importing it.
type Script func(ctx context.Context, system, file string, script []byte, out io.Writer) error

// A Tree is the file tree a loom server exports, a view of a registry:
//
//	/ctl                     loom script text: system, sandbox, clone, ...
//	/systems/NAME/ctl        script text run in the system NAME
//	/systems/NAME/status     one line per component: name, kind, state, counters
//	/systems/NAME/ns         the system's namespace in namespace(6) text
//	/systems/NAME/root/      the system's namespace itself, its policy applied
//	/systems/NAME/snapshots/ the system's snapshots
//	/systems/NAME/image      a save image of the system, taken at the open
//	/sandboxes/NAME          a sandbox policy as its rules say it
//
// Reading a ctl file gives what the last write on the same open printed,
// as /net's ctl files do. The writes on one open are one script (run in
// one Session, given WithSessions), which may take more than one write,
// as it does when it is longer than a 9P message: a write that leaves
// it unfinished by the language (an open brace or quote) is held until
// the writes after it complete it, and a write that ends within a line,
// after whole ones or going on from the write before, runs the whole
// lines and holds the rest of the line. While a script is unfinished a
// read fails with what it lacks, and so does the clunk; a line still
// held at the clunk runs then, the clunk giving its error. A first
// write with no newline is one command and runs at once, so a script in
// pieces must not cut its first line. More than MaxPending bytes held
// is refused.
//
// Writing /sandboxes/NAME redefines the sandbox (clones made afterwards
// get the new policy); creating it defines one that restricts nothing.
//
// An attach with the aname NAME gives /systems/NAME/root itself.
type Tree struct {
	reg      *Systems
	run      Script
	sessions Sessions
	def      string
	owner    string
	fs       *synth.FS
	noRoot   *synth.Node // what snapshots/ shows while the system has none

	mu        sync.Mutex
	sysNodes  map[string]*synth.Node // system directories by system name
	mountAt   map[*synth.Node]mountPoint
	sandNodes map[string]*synth.Node
}

// A mountPoint is a directory of the tree that shows another file
// server: a system's root/ or snapshots/.
type mountPoint struct {
	system string
	what   string // "root" or "snapshots"
}

// A Session runs the scripts written on one open of a ctl file, in the
// order written, as parts of one script: what one part sets (variables,
// functions) the next one sees. Run is as a Script's run; Check parses
// script as Run would, running nothing; Close ends the session when the
// file is clunked.
type Session interface {
	Run(ctx context.Context, script []byte, out io.Writer) error
	Check(script []byte) error
	Close() error
}

// Sessions makes the Session of an open of the ctl file file of the
// system named system ("" for none).
type Sessions func(ctx context.Context, system, file string) (Session, error)

// WithSessions makes open the maker of the sessions ctl files run their
// writes in; without it each write is a script of its own, run by the
// Script of WithScript.
func WithSessions(open Sessions) TreeOption { return func(t *Tree) { t.sessions = open } }

// A TreeOption configures a Tree.
type TreeOption func(*Tree)

// WithScript makes run the runner of ctl writes. Without it, writes to
// ctl files fail.
func WithScript(run Script) TreeOption { return func(t *Tree) { t.run = run } }

// DefaultSystem names the system /ctl's scripts run in (their files and
// mounts); "" (the default) runs them in none.
func DefaultSystem(name string) TreeOption { return func(t *Tree) { t.def = name } }

// NewTree returns the tree of the registry s.
func NewTree(s *Systems, opts ...TreeOption) *Tree {
	t := &Tree{
		reg:       s,
		owner:     s.user,
		sysNodes:  map[string]*synth.Node{},
		mountAt:   map[*synth.Node]mountPoint{},
		sandNodes: map[string]*synth.Node{},
	}
	for _, o := range opts {
		o(t)
	}
	t.noRoot = &synth.Node{Name: "snapshots", Mode: ns.DMDIR | 0o555}
	root := &synth.Node{Name: "/", Mode: ns.DMDIR | 0o555, Children: []*synth.Node{
		{Name: "ctl", Mode: 0o666, Open: t.ctl("", "/ctl")},
		// Writable, as ctl is: removing a system's directory stops it.
		{Name: "systems", Mode: ns.DMDIR | 0o777, Gen: t.genSystems},
		{Name: "sandboxes", Mode: ns.DMDIR | 0o777, Gen: t.genSandboxes, Create: t.createSandbox},
	}}
	t.fs = synth.New(root, synth.Owner(t.owner))
	return t
}

// Attach gives the tree's root, or with aname NAME the root of the
// system NAME's namespace.
func (t *Tree) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	if aname != "" {
		sys, err := t.reg.Get(aname)
		if err != nil {
			return nil, ns.ErrNotExist
		}
		return sys.NS.Attach(ctx, user, "")
	}
	f, err := t.fs.Attach(ctx, user, "")
	if err != nil {
		return nil, err
	}
	return &treeFile{t, f.(*synth.File)}, nil
}

// genSystems lists /systems. A system's directory keeps its Node (and so
// its Qid) for as long as the system exists.
func (t *Tree) genSystems(ctx context.Context, r *synth.Req) ([]*synth.Node, error) {
	names := t.reg.List()
	t.mu.Lock()
	defer t.mu.Unlock()
	live := map[string]bool{}
	var out []*synth.Node
	for _, name := range names {
		live[name] = true
		n, ok := t.sysNodes[name]
		if !ok {
			n = t.systemDir(name)
			t.sysNodes[name] = n
		}
		out = append(out, n)
	}
	for name, n := range t.sysNodes {
		if !live[name] {
			delete(t.sysNodes, name)
			for _, c := range n.Children {
				delete(t.mountAt, c)
			}
		}
	}
	return out, nil
}

// systemDir makes the directory of the system name. Called with t.mu held.
func (t *Tree) systemDir(name string) *synth.Node {
	root := &synth.Node{Name: "root", Mode: ns.DMDIR | 0o777}
	snaps := &synth.Node{Name: "snapshots", Mode: ns.DMDIR | 0o555}
	t.mountAt[root] = mountPoint{name, "root"}
	t.mountAt[snaps] = mountPoint{name, "snapshots"}
	return &synth.Node{Name: name, Mode: ns.DMDIR | 0o555, Remove: t.stopSystem(name), Children: []*synth.Node{
		{Name: "ctl", Mode: 0o666, Open: t.ctl(name, "/systems/"+name+"/ctl")},
		synth.TextFile("status", 0o444, func(r *synth.Req) string { return t.status(name) }),
		{Name: "ns", Mode: 0o666, Open: t.nsFile(name)},
		{Name: "image", Mode: 0o444, Open: t.imageFile(name)},
		root,
		snaps,
	}}
}

// stopSystem stops the system name when its directory is removed, as
// stop does; the default system, the server's own, stays.
func (t *Tree) stopSystem(name string) func(ctx context.Context, r *synth.Req) error {
	return func(ctx context.Context, r *synth.Req) error {
		if name == t.def {
			return fmt.Errorf("stop %s: the server's default system stays: %w", name, ns.ErrPerm)
		}
		if err := t.reg.Stop(name); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		return nil
	}
}

// nsFile opens /systems/NAME/ns: it reads as the namespace's text, and
// a write is a whole new text for it (System.SetNamespace).
func (t *Tree) nsFile(name string) synth.OpenFunc {
	file := "/systems/" + name + "/ns"
	return func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
		sys, err := t.reg.Get(name)
		if err != nil {
			return nil, ns.ErrNotExist
		}
		text, err := sys.NS.Text()
		if err != nil {
			return nil, err
		}
		return &synth.Handle{
			Read: func(ctx context.Context, p []byte, off int64) (int, error) {
				return synth.ReadAt(text, p, off), nil
			},
			Write: func(ctx context.Context, p []byte, off int64) (int, error) {
				if err := sys.SetNamespace(ctx, file, p); err != nil {
					return 0, err
				}
				return len(p), nil
			},
		}, nil
	}
}

// MaxPending is the most script text a ctl file holds for the rest of
// it to arrive (see Tree).
const MaxPending = 1 << 20

// ErrIncomplete is what the error of a Script matches when the script
// ended where the language expected more (an open brace or quote, a
// trailing |): nothing of it ran, and more text might complete it.
var ErrIncomplete = errors.New("script incomplete")

// Incomplete marks err, a Script's syntax error, as one that more text
// might cure: the result says err's text and matches ErrIncomplete.
func Incomplete(err error) error { return incompleteError{err} }

type incompleteError struct{ err error }

func (e incompleteError) Error() string        { return e.err.Error() }
func (e incompleteError) Unwrap() error        { return e.err }
func (e incompleteError) Is(target error) bool { return target == ErrIncomplete }

// ctl makes the ctl file of the system name: each write is a script run
// there, or a part of one (see Tree); a read gives what that open's last
// write printed.
func (t *Tree) ctl(system, file string) synth.OpenFunc {
	return func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
		c := &ctlFile{t: t, system: system, file: file}
		return &synth.Handle{Read: c.read, Write: c.write, Clunk: c.clunk}, nil
	}
}

// A ctlFile is one open of a ctl file.
type ctlFile struct {
	t            *Tree
	system, file string

	wmu     sync.Mutex // one write at a time, so that pieces keep their order
	pending []byte     // the start of a script whose rest is to come
	end     int64      // the offset after the last write
	sess    Session    // with WithSessions, this open's
	sessSys string     // the system sess runs in

	mu   sync.Mutex
	last []byte // what the last write printed
	why  error  // while pending is incomplete, the language's complaint
}

func (c *ctlFile) read(ctx context.Context, p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.why != nil {
		// The reader wants the outcome of what it wrote, and there
		// is none yet: say what the script lacks.
		return 0, c.why
	}
	return synth.ReadAt(c.last, p, off), nil
}

// write runs the script text the write completes. A script may come in
// pieces, as a 9P client writes anything longer than its messages: text
// the language finds unfinished is held for the next write, and so is a
// last line without its newline after whole lines or in a write that
// goes on from the one before, which the next write goes on with (or,
// with none, the clunk runs). A first write with no newline at all is a
// command written bare, and runs.
func (c *ctlFile) write(ctx context.Context, p []byte, off int64) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	text := append(c.pending, p...)
	goesOn := off > 0 && off == c.end
	c.pending, c.end = nil, 0
	hold := func(text []byte) (int, error) {
		if len(text) > MaxPending {
			c.setOutput(nil, nil)
			return 0, fmt.Errorf("%s: script unfinished after %d bytes: %w", c.file, MaxPending, ns.ErrInvalid)
		}
		c.pending, c.end = text, off+int64(len(p))
		return len(p), nil
	}
	run, rest := text, []byte(nil)
	if i := bytes.LastIndexByte(text, '\n'); i < len(text)-1 {
		switch {
		case i >= 0:
			run, rest = text[:i+1], text[i+1:]
		case goesOn:
			c.setOutput(nil, nil)
			return hold(text)
		}
	}
	if rest != nil {
		// Whole lines and a part of one: unless the language finds
		// the whole unfinished (a quote opened on an earlier line),
		// the whole lines run.
		if err := c.check(ctx, text); errors.Is(err, ErrIncomplete) {
			c.setOutput(nil, err)
			return hold(text)
		}
	}
	var out bytes.Buffer
	err := c.run(ctx, run, &out)
	if errors.Is(err, ErrIncomplete) && rest != nil {
		// Unfinished up to its last newline, but perhaps not with
		// the line after it ("}" with no newline).
		run, rest = text, nil
		out.Reset()
		err = c.run(ctx, run, &out)
	}
	if errors.Is(err, ErrIncomplete) {
		c.setOutput(nil, err)
		return hold(text)
	}
	c.setOutput(out.Bytes(), nil)
	if err != nil {
		return 0, err
	}
	if rest != nil {
		return hold(rest)
	}
	c.end = off + int64(len(p))
	return len(p), nil
}

// run runs text, in the open's session if the tree makes sessions.
// Called with c.wmu held.
func (c *ctlFile) run(ctx context.Context, text []byte, out io.Writer) error {
	if c.t.sessions == nil {
		return c.t.script(ctx, c.system, c.file, text, out)
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return s.Run(ctx, text, out)
}

// check parses text as run would run it, when the tree makes sessions;
// without, it finds nothing wrong. Called with c.wmu held.
func (c *ctlFile) check(ctx context.Context, text []byte) error {
	if c.t.sessions == nil {
		return nil
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return s.Check(text)
}

// session gives the open's session in the system its scripts run in
// now. Called with c.wmu held.
func (c *ctlFile) session(ctx context.Context) (Session, error) {
	system, err := c.t.resolve(c.system)
	if err != nil {
		return nil, err
	}
	if c.sess == nil || c.sessSys != system {
		if c.sess != nil {
			c.sess.Close()
		}
		c.sess = nil
		if c.sess, err = c.t.sessions(ctx, system, c.file); err != nil {
			return nil, err
		}
		c.sessSys = system
	}
	return c.sess, nil
}

func (c *ctlFile) setOutput(out []byte, why error) {
	c.mu.Lock()
	c.last, c.why = out, why
	c.mu.Unlock()
}

// clunk runs a last line that came without its newline, and returns its
// error; a script still unfinished is the language's error. What the
// line prints has no one to go to.
func (c *ctlFile) clunk() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	err := c.why
	c.mu.Unlock()
	if err == nil && len(c.pending) > 0 {
		err = c.run(context.Background(), c.pending, io.Discard)
	}
	c.pending = nil
	if c.sess != nil {
		c.sess.Close()
		c.sess = nil
	}
	return err
}

// script runs a script for a ctl file or a sandbox file.
func (t *Tree) script(ctx context.Context, system, file string, text []byte, out io.Writer) error {
	if t.run == nil {
		return fmt.Errorf("%s: no script runner", file)
	}
	system, err := t.resolve(system)
	if err != nil {
		return err
	}
	return t.run(ctx, system, file, text, out)
}

// resolve gives the system a ctl file's scripts run in: system itself,
// which must exist, or for /ctl ("") the default system while there is
// one.
func (t *Tree) resolve(system string) (string, error) {
	if system == "" {
		if _, err := t.reg.Get(t.def); t.def != "" && err == nil {
			system = t.def
		}
	} else if _, err := t.reg.Get(system); err != nil {
		return "", err
	}
	return system, nil
}

// genSandboxes lists /sandboxes.
func (t *Tree) genSandboxes(ctx context.Context, r *synth.Req) ([]*synth.Node, error) {
	ps := t.reg.Sandboxes()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*synth.Node
	live := map[string]bool{}
	for _, p := range ps {
		live[p.Name] = true
		n, ok := t.sandNodes[p.Name]
		if !ok {
			n = t.sandboxFile(p.Name)
			t.sandNodes[p.Name] = n
		}
		out = append(out, n)
	}
	for name := range t.sandNodes {
		if !live[name] {
			delete(t.sandNodes, name)
		}
	}
	return out, nil
}

// createSandbox defines the sandbox name, restricting nothing until its
// file is written.
func (t *Tree) createSandbox(ctx context.Context, r *synth.Req, name string, perm ns.Perm) (*synth.Node, error) {
	if perm.IsDir() {
		return nil, ns.ErrPerm
	}
	p := Unrestricted()
	p.Name = name
	t.reg.DefineSandbox(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.sandNodes[name]
	if !ok {
		n = t.sandboxFile(name)
		t.sandNodes[name] = n
	}
	return n, nil
}

// sandboxFile makes the file of the sandbox name: it reads as the
// policy's rules; a write is the whole new policy in the same rules,
// which the language's sandbox declaration checks. Called with t.mu held.
func (t *Tree) sandboxFile(name string) *synth.Node {
	text := func() string {
		p, err := t.reg.Sandbox(name)
		if err != nil {
			return ""
		}
		return p.String()
	}
	n := &synth.Node{Name: name, Mode: 0o666}
	n.Length = func(r *synth.Req) int64 { return int64(len(text())) }
	n.Open = func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
		data := []byte(text())
		return &synth.Handle{
			Read: func(ctx context.Context, p []byte, off int64) (int, error) {
				return synth.ReadAt(data, p, off), nil
			},
			Write: func(ctx context.Context, p []byte, off int64) (int, error) {
				// The rules go on the declaration's first line, so
				// that error positions are those of the file.
				src := "sandbox " + quoteWord(name) + " {" + string(p) + "\n}\n"
				if err := t.script(ctx, "", "/sandboxes/"+name, []byte(src), io.Discard); err != nil {
					return 0, err
				}
				n.Touch()
				return len(p), nil
			},
		}, nil
	}
	return n
}

// quoteWord quotes s for the language when it needs it, as rc does.
func quoteWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// mounted returns the file server the mount point m shows.
func (t *Tree) mounted(m mountPoint) (ns.FS, error) {
	sys, err := t.reg.Get(m.system)
	if err != nil {
		return nil, ns.ErrNotExist
	}
	if m.what == "root" {
		return sys.NS, nil
	}
	// Found by assertion so that the tree asks no more of a System
	// than its snapshots' directory; a system without one shows an
	// empty directory.
	if s, ok := any(sys).(interface{ SnapshotsFS() ns.FS }); ok {
		if fsys := s.SnapshotsFS(); fsys != nil {
			return fsys, nil
		}
	}
	return synth.New(t.noRoot, synth.Owner(t.owner)), nil
}

// status gives one line per component of the system name: its name in
// the namespace, its kind, its state and its counters.
func (t *Tree) status(name string) string {
	sys, err := t.reg.Get(name)
	if err != nil {
		return ""
	}
	text, err := sys.Def.NS.Text()
	if err != nil {
		return ""
	}
	cmds, err := ns.ParseText(name, text)
	if err != nil {
		return ""
	}
	// A paused system holds requests to all of its components.
	state := "running"
	if p, ok := any(sys).(interface{ Paused() bool }); ok && p.Paused() {
		state = "paused"
	}
	ctx := context.Background()
	seen := map[string]bool{}
	var b strings.Builder
	for _, c := range cmds {
		if c.Op != "mount" || seen[c.Args[0]] {
			continue
		}
		srv := c.Args[0]
		seen[srv] = true
		kind, counters := sys.component(ctx, srv)
		fmt.Fprintf(&b, "%s %s %s %s\n", srv, kind, state, counters)
	}
	return b.String()
}

// component gives the kind and the counters of the server the namespace
// names srv.
func (sys *System) component(ctx context.Context, srv string) (kind, counters string) {
	e := sys.Def.Env
	switch srv {
	case "proc":
		running := 0
		list := e.Proc.List()
		for _, in := range list {
			if in.State != "Moribund" {
				running++
			}
		}
		return "proc", fmt.Sprintf("procs=%d running=%d", len(list), running)
	case "env":
		return "env", fmt.Sprintf("vars=%d", len(e.Vars.Environ()))
	case "srv":
		return "srv", fmt.Sprintf("posted=%d", len(e.Srv.Names()))
	case "dev":
		return "dev", "-"
	case "log":
		f, n := count(ctx, e.Log, sys.Def.NS.User())
		return "log", fmt.Sprintf("files=%d bytes=%d", f, n)
	}
	if t, ok := sys.tree(srv); ok {
		f, n := count(ctx, t, sys.Def.NS.User())
		return "ramfs", fmt.Sprintf("files=%d bytes=%d", f, n)
	}
	// A component knows its kind; anything else the namespace mounts
	// (an address, a server posted in srv) is a 9P server.
	if c, ok := sys.Def.Component(srv); ok && c.Kind != "" {
		return c.Kind, "-"
	}
	return "9p", "-"
}

// count counts the files of fsys and their bytes, looking at no more
// than a bounded number of them, so that status stays cheap.
func count(ctx context.Context, fsys ns.FS, user string) (files int, bytes uint64) {
	const most, deepest = 10000, 16
	root, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return 0, 0
	}
	defer root.Clunk()
	var walk func(p []string)
	walk = func(p []string) {
		_, d, err := root.Walk(ctx, p)
		if err != nil || d == nil {
			return
		}
		var dirs []string
		if _, err := d.Open(ctx, ns.OREAD); err == nil {
			for i := 0; files < most; {
				ds, err := d.ReadDir(ctx, i, 256)
				if err != nil || len(ds) == 0 {
					break
				}
				i += len(ds)
				for _, e := range ds {
					files++
					if e.Mode.IsDir() {
						dirs = append(dirs, e.Name)
					} else {
						bytes += e.Length
					}
				}
			}
		}
		d.Clunk()
		if len(p) >= deepest {
			return
		}
		for _, name := range dirs {
			if files >= most {
				return
			}
			walk(append(p[:len(p):len(p)], name))
		}
	}
	walk(nil)
	return files, bytes
}

// treeFile is a File of the tree: a synthetic one whose walks pass into
// the file servers under a system's root/ and snapshots/.
type treeFile struct {
	t *Tree
	f *synth.File
}

var (
	_ ns.File    = (*treeFile)(nil)
	_ ns.Creater = (*treeFile)(nil)
	_ ns.Remover = (*treeFile)(nil)
	_ ns.Wstater = (*treeFile)(nil)
)

func (f *treeFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	cur := f.f
	var owned *synth.File // the File cur is, once walked from f
	release := func() {
		if owned != nil {
			owned.Clunk()
			owned = nil
		}
	}
	var qids []ns.Qid
	partial := func(err error) ([]ns.Qid, ns.File, error) {
		release()
		if len(qids) == 0 {
			return nil, nil, err
		}
		return qids, nil, nil
	}
	for i, name := range names {
		f.t.mu.Lock()
		var m mountPoint
		ok := false
		if name != ".." {
			for _, c := range cur.Node().Children {
				if c.Name == name {
					m, ok = f.t.mountAt[c]
					break
				}
			}
		}
		f.t.mu.Unlock()
		if ok {
			fsys, err := f.t.mounted(m)
			if err != nil {
				return partial(err)
			}
			user := cur.User()
			rf, err := fsys.Attach(ctx, user, "")
			if err != nil {
				return partial(err)
			}
			release()
			d, err := rf.Stat(ctx)
			if err != nil {
				rf.Clunk()
				return partial(err)
			}
			qids = append(qids, d.Qid)
			root := &mountFile{t: f.t, f: rf, at: m, user: user}
			rest := names[i+1:]
			if len(rest) == 0 {
				return qids, root, nil
			}
			rq, nf, err := root.Walk(ctx, rest)
			root.Clunk()
			qids = append(qids, rq...)
			if err != nil || nf == nil {
				return qids, nil, nil
			}
			return qids, nf, nil
		}
		q, nf, err := cur.Walk(ctx, []string{name})
		if err != nil || nf == nil {
			return partial(err)
		}
		qids = append(qids, q...)
		release()
		owned = nf.(*synth.File)
		cur = owned
	}
	if owned == nil {
		_, nf, err := f.f.Walk(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		owned = nf.(*synth.File)
	}
	return qids, &treeFile{f.t, owned}, nil
}

func (f *treeFile) Open(ctx context.Context, mode uint8) (ns.Qid, error) { return f.f.Open(ctx, mode) }
func (f *treeFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return f.f.Read(ctx, p, off)
}
func (f *treeFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return f.f.Write(ctx, p, off)
}
func (f *treeFile) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	return f.f.ReadDir(ctx, index, n)
}
func (f *treeFile) Stat(ctx context.Context) (ns.Dir, error) { return f.f.Stat(ctx) }
func (f *treeFile) Clunk() error                             { return f.f.Clunk() }
func (f *treeFile) Remove(ctx context.Context) error         { return f.f.Remove(ctx) }
func (f *treeFile) Wstat(ctx context.Context, d ns.Dir) error {
	return f.f.Wstat(ctx, d)
}

func (f *treeFile) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	nf, q, err := f.f.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, q, err
	}
	return &treeFile{f.t, nf.(*synth.File)}, q, nil
}

// mountFile is a File of a server the tree shows under a system's root/
// or snapshots/, depth levels below it: the server's own File, but with
// the mount point's name and a way back out, so that ".." from root/
// is the system's directory, as a client walking the tree expects.
type mountFile struct {
	t     *Tree
	f     ns.File
	at    mountPoint
	user  string
	depth int
}

var (
	_ ns.File    = (*mountFile)(nil)
	_ ns.Creater = (*mountFile)(nil)
	_ ns.Remover = (*mountFile)(nil)
	_ ns.Wstater = (*mountFile)(nil)
)

func (f *mountFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	d := f.depth
	for i, name := range names {
		if name != ".." {
			d++
			continue
		}
		if d > 0 {
			d--
			continue
		}
		// Out of the server: what was walked so far within it, then
		// the system's directory and the rest from there in the tree.
		var qids []ns.Qid
		if i > 0 {
			q, nf, err := f.f.Walk(ctx, names[:i])
			if err != nil || nf == nil {
				return q, nil, err
			}
			nf.Clunk()
			qids = q
		}
		troot, err := f.t.Attach(ctx, f.user, "")
		if err != nil {
			return partialQids(qids, err)
		}
		tq, tf, err := troot.Walk(ctx, append([]string{"systems", f.at.system}, names[i+1:]...))
		troot.Clunk()
		if err != nil || len(tq) < 2 {
			if tf != nil {
				tf.Clunk()
			}
			return partialQids(qids, ns.ErrNotExist)
		}
		// tq[0] is /systems; the ".." lands on the system's directory.
		return append(qids, tq[1:]...), tf, nil
	}
	q, nf, err := f.f.Walk(ctx, names)
	if err != nil || nf == nil {
		return q, nil, err
	}
	return q, &mountFile{t: f.t, f: nf, at: f.at, user: f.user, depth: d}, nil
}

// partialQids ends a walk that reached qids and then failed.
func partialQids(qids []ns.Qid, err error) ([]ns.Qid, ns.File, error) {
	if len(qids) == 0 {
		return nil, nil, err
	}
	return qids, nil, nil
}

func (f *mountFile) Open(ctx context.Context, mode uint8) (ns.Qid, error) { return f.f.Open(ctx, mode) }
func (f *mountFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return f.f.Read(ctx, p, off)
}
func (f *mountFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return f.f.Write(ctx, p, off)
}
func (f *mountFile) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	return f.f.ReadDir(ctx, index, n)
}
func (f *mountFile) Clunk() error { return f.f.Clunk() }

// Stat names the top of the server as the tree lists it, root or
// snapshots, rather than "/".
func (f *mountFile) Stat(ctx context.Context) (ns.Dir, error) {
	d, err := f.f.Stat(ctx)
	if err == nil && f.depth == 0 {
		d.Name = f.at.what
	}
	return d, err
}

func (f *mountFile) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	c, ok := f.f.(ns.Creater)
	if !ok {
		return nil, ns.Qid{}, ns.ErrPerm
	}
	nf, q, err := c.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, q, err
	}
	return &mountFile{t: f.t, f: nf, at: f.at, user: f.user, depth: f.depth + 1}, q, nil
}

func (f *mountFile) Remove(ctx context.Context) error {
	if r, ok := f.f.(ns.Remover); ok && f.depth > 0 {
		return r.Remove(ctx)
	}
	return ns.ErrPerm
}

func (f *mountFile) Wstat(ctx context.Context, d ns.Dir) error {
	if w, ok := f.f.(ns.Wstater); ok && f.depth > 0 {
		return w.Wstat(ctx, d)
	}
	return ns.ErrPerm
}
