package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"loom/components/kinds"
	"loom/components/system"
	"loom/lang"
	"loom/lang/interp"
	"loom/ns"
)

// ctlScript is the script runner of a tree's ctl files: the language's
// parser, then its interpreter in the system written to, with the
// registry as its components layer. It runs no host programs (start does
// that, inside the system's sandbox) and reads no input.
//
// builtin is the system the registry was given built (Systems.Add), whose
// mounts resolve as kinds.Default's; those of the systems the registry
// made resolve as System.Resolve, naming their trees.
func ctlScript(reg *system.Systems, builtin *kinds.Default) system.Script {
	open := ctlSessions(reg, builtin)
	return func(ctx context.Context, name, file string, src []byte, out io.Writer) error {
		s, err := open(ctx, name, file)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.Run(ctx, src, out)
	}
}

// ctlSessions makes the sessions of ctl files (see system.Session): one
// interpreter per open, in which the scripts written on it run as one.
func ctlSessions(reg *system.Systems, builtin *kinds.Default) system.Sessions {
	return func(ctx context.Context, name, file string) (system.Session, error) {
		s := &ctlSession{file: file}
		s.out = lockedWriter{&s.mu, &s.to}
		opts := []interp.Option{
			interp.WithSystems(systems{reg}),
			interp.WithIO(strings.NewReader(""), s.out, lockedWriter{&s.mu, &s.errb}),
			interp.WithVar("0", file),
			interp.WithSystemName(name),
		}
		if name != "" {
			sys, err := reg.Get(name)
			if err != nil {
				return nil, err
			}
			resolve := sys.Resolve
			if sys.Def == builtin {
				resolve = builtin.Resolve
			}
			opts = append(opts, interp.WithNamespace(interp.FromNamespace(sys.NS, resolve)),
				interp.WithVar("user", sys.NS.User()))
		}
		s.r = interp.New(opts...)
		return s, nil
	}
}

// A ctlSession is the interpreter of one open of a ctl file.
type ctlSession struct {
	file string
	r    *interp.Runner
	out  io.Writer // to, locked

	// Background jobs and pipelines write at once, and may go on
	// writing after a Run, to the output of the Run that is current.
	mu   sync.Mutex
	to   switchWriter
	errb bytes.Buffer
}

// Run parses src whole, then runs it one statement at a time, so that
// the first that reports an error stops the script and its error is the
// write's. A status that reports nothing (a pipeline's reader that
// stopped early, ~ that did not match) is not an error, as in a script.
// A script the language finds unfinished is system.Incomplete.
func (s *ctlSession) Run(ctx context.Context, src []byte, out io.Writer) error {
	f, err := lang.Parse(src, s.file)
	if lang.IsIncomplete(err) {
		return system.Incomplete(err)
	}
	if err != nil {
		return err
	}
	if s.r.Exited() {
		return fmt.Errorf("%s: the script has exited", s.file)
	}
	s.mu.Lock()
	s.to.w = out
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.to.w = nil
		s.mu.Unlock()
	}()
	for _, st := range f.Stmts {
		if err := s.r.Run(ctx, &lang.File{Name: f.Name, Stmts: []*lang.Stmt{st}}); err != nil {
			return err
		}
		s.mu.Lock()
		msg := s.errb.String()
		s.errb.Reset()
		s.mu.Unlock()
		if s.r.Status() != "" && msg != "" {
			return errors.New(strings.TrimSpace(msg))
		}
		io.WriteString(s.out, msg)
		if s.r.Exited() {
			break
		}
	}
	return nil
}

// Check parses src as Run does.
func (s *ctlSession) Check(src []byte) error {
	_, err := lang.Parse(src, s.file)
	if lang.IsIncomplete(err) {
		return system.Incomplete(err)
	}
	return err
}

func (s *ctlSession) Close() error { return s.r.Close() }

// switchWriter writes to w, or nowhere while w is nil.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// treeClient is the shell's way to a loom server: everything it does to
// systems goes through the server's tree (see system.Tree), whether the
// tree is in this process or at the other end of a 9P connection.
// Files of the system CUR are those under /systems/CUR/root; bind, mount,
// unmount and the system commands are written to /systems/CUR/ctl;
// system, sandbox and clone to /ctl.
type treeClient struct {
	fsys ns.FS
	user string

	mu   sync.Mutex
	root ns.File // the tree's root, attached on first use; walked from, never opened
}

var _ interp.Systems = (*treeClient)(nil)

// walk walks from the tree's root to p. Walks from the one root run at
// once: the tree's Files and the 9P client's allow it, and a walk held up
// (into a paused system, say) must not hold up the shell's others.
func (c *treeClient) walk(ctx context.Context, p string) (ns.File, error) {
	c.mu.Lock()
	if c.root == nil {
		root, err := c.fsys.Attach(ctx, c.user, "")
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.root = root
	}
	root := c.root
	c.mu.Unlock()
	return ns.WalkPath(ctx, root, p)
}

func (c *treeClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.root != nil {
		c.root.Clunk()
		c.root = nil
	}
}

// readFile reads the file p of the tree.
func (c *treeClient) readFile(ctx context.Context, p string) ([]byte, error) {
	f, err := c.walk(ctx, p)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil, err
	}
	return io.ReadAll(fileReader(ctx, f))
}

// ctl writes a script to the ctl file p and returns what it printed.
func (c *treeClient) ctl(ctx context.Context, p, script string) ([]byte, error) {
	f, err := c.walk(ctx, p)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.ORDWR); err != nil {
		return nil, err
	}
	_, werr := f.Write(ctx, []byte(script), 0)
	out, err := io.ReadAll(fileReader(ctx, f))
	if werr != nil {
		return out, seamError(werr)
	}
	return out, err
}

// seamError gives back to an error that crossed the wire as text the
// seam's error it ends with, so that errors.Is still answers for it.
func seamError(err error) error {
	var se *ns.Error
	if errors.As(err, &se) {
		return err
	}
	msg := err.Error()
	for _, e := range []*ns.Error{ns.ErrNotExist, ns.ErrPerm, ns.ErrExist, ns.ErrInvalid, ns.ErrNotDir,
		ns.ErrIsDir, ns.ErrNotEmpty, ns.ErrNoCreate, ns.ErrNotSupp, ns.ErrBadName, ns.ErrInUse} {
		if head, ok := strings.CutSuffix(msg, ": "+e.Error()); ok {
			return fmt.Errorf("%s: %w", head, e)
		}
	}
	return err
}

// commandLine writes args as one line of the language.
func commandLine(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quote(a)
	}
	return strings.Join(q, " ") + "\n"
}

// quote quotes a word when the language would read it otherwise.
func quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+:,@") == "" {
		return s
	}
	return lang.Quote(s)
}

// System makes the system name by writing a system declaration with an
// empty body to /ctl; the body of the shell's declaration then runs in
// the shell, in the new system's files.
func (c *treeClient) System(ctx context.Context, name string) (interp.Namespace, error) {
	if _, err := c.ctl(ctx, "/ctl", "system "+quote(name)+" {\n}\n"); err != nil {
		return nil, err
	}
	return &treeNS{c, name}, nil
}

func (c *treeClient) Sandbox(ctx context.Context, sb *interp.Sandbox) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sandbox %s {\n", quote(sb.Name))
	rule := func(verb string, args []string) {
		if len(args) > 0 {
			b.WriteString("\t" + strings.TrimSuffix(commandLine(append([]string{verb}, args...)...), "\n") + "\n")
		}
	}
	rule("allow", sb.Allow)
	rule("readonly", sb.ReadOnly)
	rule("devices", sb.Devices)
	if sb.Network != "" {
		rule("network", []string{sb.Network})
	}
	var limits []string
	for _, k := range slices.Sorted(mapKeys(sb.Limits)) {
		limits = append(limits, k, strconv.FormatInt(sb.Limits[k], 10))
	}
	rule("limit", limits)
	b.WriteString("}\n")
	_, err := c.ctl(ctx, "/ctl", b.String())
	return err
}

func mapKeys(m map[string]int64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (c *treeClient) Clone(ctx context.Context, src, dst, sandbox string) error {
	line := "clone " + quote(src) + " as " + quote(dst)
	if sandbox != "" {
		line += " in " + quote(sandbox)
	}
	_, err := c.ctl(ctx, "/ctl", line+"\n")
	return err
}

func (c *treeClient) Use(ctx context.Context, name string) (interp.Namespace, error) {
	f, err := c.walk(ctx, "/systems/"+name)
	if err != nil {
		if errors.Is(err, ns.ErrNotExist) {
			return nil, fmt.Errorf("use: %s: %w", name, system.ErrNoSystem)
		}
		return nil, fmt.Errorf("use: %s: %w", name, err)
	}
	f.Clunk()
	return &treeNS{c, name}, nil
}

func (c *treeClient) List(ctx context.Context) ([]string, error) {
	f, err := c.walk(ctx, "/systems")
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil, err
	}
	var names []string
	for {
		ds, err := f.ReadDir(ctx, len(names), 256)
		if err != nil {
			return nil, err
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Command writes the command to the system's ctl file and copies what it
// printed to the shell's output.
func (c *treeClient) Command(ctx context.Context, sio interp.IO, cur string, args []string) error {
	out, err := c.ctl(ctx, "/systems/"+cur+"/ctl", commandLine(args...))
	if len(out) > 0 {
		if _, werr := sio.Stdout.Write(out); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// treeNS is the namespace of one system, as the shell sees it through
// the tree.
type treeNS struct {
	c    *treeClient
	name string
}

func (n *treeNS) Walk(ctx context.Context, p string) (ns.File, error) {
	full := "/systems/" + n.name + "/root/" + path.Clean("/"+p)
	f, err := n.c.walk(ctx, full)
	if errors.Is(err, ns.ErrNotExist) {
		err = n.c.cause(ctx, full, err)
	}
	return f, err
}

// cause finds why a walk to p that stopped short did (interp.WalkCause).
func (c *treeClient) cause(ctx context.Context, p string, err error) error {
	c.mu.Lock()
	root := c.root
	c.mu.Unlock()
	if root == nil {
		return err
	}
	return interp.WalkCause(ctx, root, p, err)
}

// change writes a bind, mount or unmount to the system's ctl. Its error
// comes back as the server's shell printed it, "mount: ..."; the shell
// here names the command again itself.
func (n *treeNS) change(ctx context.Context, args ...string) error {
	_, err := n.c.ctl(ctx, "/systems/"+n.name+"/ctl", commandLine(args...))
	if err == nil {
		return nil
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, args[0]+": "); ok {
		if inner := errors.Unwrap(err); inner != nil {
			return fmt.Errorf("%s: %w", strings.TrimSuffix(rest, ": "+inner.Error()), inner)
		}
		return errors.New(rest)
	}
	return err
}

// flagArgs gives bind's and mount's flags as their command lines have
// them.
func flagArgs(flag ns.Flag) []string {
	f := ""
	switch {
	case flag&ns.MAFTER != 0:
		f = "a"
	case flag&ns.MBEFORE != 0:
		f = "b"
	}
	if flag&ns.MCREATE != 0 {
		f += "c"
	}
	if flag&ns.MCACHE != 0 {
		f += "C"
	}
	if f == "" {
		return nil
	}
	return []string{"-" + f}
}

func (n *treeNS) Bind(new, old string, flag ns.Flag) error {
	args := append(append([]string{"bind"}, flagArgs(flag)...), new, old)
	return n.change(context.Background(), args...)
}

func (n *treeNS) Mount(ctx context.Context, src, old string, flag ns.Flag, extra []string) error {
	args := append(append([]string{"mount"}, flagArgs(flag)...), src, old)
	return n.change(ctx, append(args, extra...)...)
}

func (n *treeNS) Unmount(new, old string) error {
	args := []string{"unmount", old}
	if new != "" {
		args = []string{"unmount", new, old}
	}
	return n.change(context.Background(), args...)
}

func (n *treeNS) Text() ([]byte, error) {
	return n.c.readFile(context.Background(), "/systems/"+n.name+"/ns")
}
