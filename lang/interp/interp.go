// Package interp runs scripts of loom's language (package lang): rc's
// semantics for variables, lists, functions, control flow, pipelines and
// background jobs, with every path resolved in a loom namespace rather
// than the host's file system.
//
// A Runner reaches the world only through what it is given: a Namespace
// for files and mounts, an ExecHandler for host programs, and Systems for
// systems, sandboxes and clones. Tests give it a namespace over ramfs and
// no host at all.
//
// $status is rc's: the empty string is success; a failed builtin leaves
// its error message there, a host program its exit status, a pipeline the
// statuses of its commands joined by |.
package interp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"strconv"
	"strings"
	"sync"

	"loom/lang"
)

// A Runner runs scripts. It keeps the shell's state between runs:
// variables, functions, the current directory, the namespace it lives in.
// A Runner is used by one goroutine at a time; the pipelines and
// background jobs it starts run on copies of it.
type Runner struct {
	ns      Namespace
	exec    ExecHandler
	systems Systems
	io      IO

	dir    string
	system string // the name of the system the shell is in
	vars   *scope
	fns    map[string]*lang.FnDecl
	status string

	topics []topicGroup // help's entries beyond builtins and keywords

	ifFailed bool // the last if's condition failed, for if not
	exited   bool
	depth    int // of nested function calls and includes

	jobs *jobs // shared with every copy
}

// scope is one level of variables: the globals, a function's $*, or the
// assignments before a command.
type scope struct {
	vars   map[string][]string
	parent *scope
}

// jobs are the background jobs of a shell and its copies.
type jobs struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	next   int
	wait   map[int]chan struct{}
	all    sync.WaitGroup
}

// An Option configures a Runner.
type Option func(*Runner)

// WithNamespace sets the namespace the shell lives in. Without it, every
// path names nothing.
func WithNamespace(n Namespace) Option { return func(r *Runner) { r.ns = n } }

// WithExec sets the handler for host programs; NoExec is the default.
func WithExec(h ExecHandler) Option { return func(r *Runner) { r.exec = h } }

// WithSystems sets the components layer; NoSystems is the default.
func WithSystems(s Systems) Option { return func(r *Runner) { r.systems = s } }

// WithIO sets standard input, output and error output; nil ones read
// nothing or write nowhere.
func WithIO(stdin io.Reader, stdout, stderr io.Writer) Option {
	return func(r *Runner) { r.io = IO{stdin, stdout, stderr} }
}

// WithArgs sets $* (and so $1, $2, ...).
func WithArgs(args ...string) Option {
	return func(r *Runner) { r.vars.vars["*"] = args }
}

// WithVar sets a variable.
func WithVar(name string, value ...string) Option {
	return func(r *Runner) { r.vars.vars[name] = value }
}

// A Topic is an entry of help beyond the builtins and the keywords: a
// kind of file server, say. help lists its Synopsis and Doc; help NAME
// prints its Help.
type Topic struct {
	Name     string
	Synopsis string
	Doc      string // one line
	Help     string
}

type topicGroup struct {
	heading string
	topics  []Topic
}

// WithTopics adds help topics, listed by help under heading.
func WithTopics(heading string, topics ...Topic) Option {
	return func(r *Runner) { r.topics = append(r.topics, topicGroup{heading, topics}) }
}

// topic finds a help topic by name.
func (r *Runner) topic(name string) (Topic, bool) {
	for _, g := range r.topics {
		for _, tp := range g.topics {
			if tp.Name == name {
				return tp, true
			}
		}
	}
	return Topic{}, false
}

// WithSystemName names the system the shell starts in ("loom" unless
// told).
func WithSystemName(name string) Option { return func(r *Runner) { r.system = name } }

// New returns a Runner in the directory /.
func New(opts ...Option) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		ns:      noNamespace{},
		exec:    NoExec,
		systems: NoSystems{},
		dir:     "/",
		system:  "loom",
		vars: &scope{vars: map[string][]string{
			"ifs":  {" \t\n"},
			"home": {"/"},
		}},
		fns:  map[string]*lang.FnDecl{},
		jobs: &jobs{ctx: ctx, cancel: cancel, wait: map[int]chan struct{}{}},
	}
	for _, o := range opts {
		o(r)
	}
	if r.io.Stdin == nil {
		r.io.Stdin = strings.NewReader("")
	}
	if r.io.Stdout == nil {
		r.io.Stdout = io.Discard
	}
	if r.io.Stderr == nil {
		r.io.Stderr = io.Discard
	}
	return r
}

// Close stops the background jobs and waits for them to end.
func (r *Runner) Close() error {
	r.jobs.cancel()
	r.jobs.all.Wait()
	return nil
}

// Wait waits for the background jobs to end.
func (r *Runner) Wait() { r.jobs.all.Wait() }

// Status returns $status: "" after success.
func (r *Runner) Status() string { return r.status }

// Exited reports whether the script ran exit.
func (r *Runner) Exited() bool { return r.exited }

// Dir returns the current directory.
func (r *Runner) Dir() string { return r.dir }

// SystemName returns the name of the system the shell is in.
func (r *Runner) SystemName() string { return r.system }

// Namespace returns the namespace the shell is in.
func (r *Runner) Namespace() Namespace { return r.ns }

// Get returns the value of a variable.
func (r *Runner) Get(name string) []string {
	v, _ := r.lookup(name)
	return v
}

// Functions returns the names of the functions defined.
func (r *Runner) Functions() []string {
	return sortedKeys(r.fns)
}

// SetIO changes standard input, output and error output for later runs.
func (r *Runner) SetIO(stdin io.Reader, stdout, stderr io.Writer) {
	r.io = IO{stdin, stdout, stderr}
}

// Run runs a parsed script. Commands that fail set $status and run on, as
// in rc; Run returns an error only when ctx is cancelled. After exit,
// Exited reports true and later runs do nothing.
func (r *Runner) Run(ctx context.Context, f *lang.File) error {
	if r.exited {
		return nil
	}
	err := r.stmts(ctx, f.Stmts, r.io)
	var ex *exitErr
	switch {
	case errors.As(err, &ex):
		r.exited = true
		return nil
	case errors.Is(err, errReturn):
		return nil
	}
	return err
}

// exitErr unwinds a script for exit.
type exitErr struct{}

func (*exitErr) Error() string { return "exit" }

// errReturn unwinds a function for return.
var errReturn = errors.New("return outside a function")

// stmts runs statements in order; it stops only for exit, return and a
// cancelled ctx.
func (r *Runner) stmts(ctx context.Context, ss []*lang.Stmt, io IO) error {
	for _, s := range ss {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.stmt(ctx, s, io); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) stmt(ctx context.Context, s *lang.Stmt, io IO) error {
	if !s.Background {
		return r.cmd(ctx, s.Cmd, io)
	}
	sub := r.subshell()
	io.Stdin = strings.NewReader("")
	j := r.jobs
	j.mu.Lock()
	j.next++
	id := j.next
	done := make(chan struct{})
	j.wait[id] = done
	j.mu.Unlock()
	j.all.Add(1)
	go func() {
		defer j.all.Done()
		defer close(done)
		sub.cmd(j.ctx, s.Cmd, io)
	}()
	r.set("apid", []string{strconv.Itoa(id)})
	r.status = ""
	return nil
}

// subshell returns a copy of r for a pipeline's command, a background job
// or a command substitution: it shares the namespace, and changes to its
// variables, functions and directory stay its own.
func (r *Runner) subshell() *Runner {
	s := *r
	flat := map[string][]string{}
	var chain []*scope
	for sc := r.vars; sc != nil; sc = sc.parent {
		chain = append(chain, sc)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		maps.Copy(flat, chain[i].vars)
	}
	s.vars = &scope{vars: flat}
	s.fns = maps.Clone(r.fns)
	return &s
}

func (r *Runner) cmd(ctx context.Context, c lang.Command, io IO) error {
	switch c := c.(type) {
	case *lang.CallExpr:
		return r.call(ctx, c, io)
	case *lang.Block:
		io, closeAll, err := r.redirect(ctx, c.Redirs, io, "{")
		if err != nil {
			return nil
		}
		defer closeAll()
		return r.stmts(ctx, c.Stmts, io)
	case *lang.Pipeline:
		return r.pipeline(ctx, c, io)
	case *lang.AndOr:
		if err := r.cmd(ctx, c.X, io); err != nil {
			return err
		}
		if (r.status == "") == (c.Op == "&&") {
			return r.cmd(ctx, c.Y, io)
		}
		return nil
	case *lang.Not:
		if err := r.cmd(ctx, c.X, io); err != nil {
			return err
		}
		if r.status == "" {
			r.status = "false"
		} else {
			r.status = ""
		}
		return nil
	case *lang.IfClause:
		if err := r.stmts(ctx, c.Cond, io); err != nil {
			return err
		}
		if r.status != "" {
			r.ifFailed = true
			r.status = ""
			return nil
		}
		r.ifFailed = false
		return r.cmd(ctx, c.Then, io)
	case *lang.IfNot:
		if !r.ifFailed {
			return nil
		}
		r.ifFailed = false
		return r.cmd(ctx, c.Then, io)
	case *lang.ForClause:
		var list []string
		if c.In {
			var err error
			if list, err = r.words(ctx, c.List, io); err != nil {
				return r.fail(io, "for", err)
			}
		} else {
			list = r.Get("*")
		}
		r.status = ""
		for _, v := range list {
			if err := ctx.Err(); err != nil {
				return err
			}
			r.set(c.Name, []string{v})
			if err := r.cmd(ctx, c.Body, io); err != nil {
				return err
			}
		}
		return nil
	case *lang.WhileClause:
		st := ""
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := r.stmts(ctx, c.Cond, io); err != nil {
				return err
			}
			if r.status != "" {
				r.status = st
				return nil
			}
			if err := r.cmd(ctx, c.Body, io); err != nil {
				return err
			}
			st = r.status
		}
	case *lang.SwitchClause:
		subj, err := r.word(ctx, c.Word, io, false)
		if err != nil {
			return r.fail(io, "switch", err)
		}
		s := strings.Join(subj, " ")
		for _, cc := range c.Cases {
			pats, err := r.patterns(ctx, cc.Patterns, io)
			if err != nil {
				return r.fail(io, "case", err)
			}
			for _, p := range pats {
				if match(p, s) {
					r.status = ""
					return r.stmts(ctx, cc.Stmts, io)
				}
			}
		}
		r.status = ""
		return nil
	case *lang.FnDecl:
		name, err := r.single(ctx, c.Name, io, "fn")
		if err != nil {
			return r.fail(io, "fn", err)
		}
		if c.Body == nil {
			delete(r.fns, name)
		} else {
			r.fns[name] = c
		}
		r.status = ""
		return nil
	case *lang.Include:
		return r.include(ctx, c, io)
	case *lang.SystemDecl:
		return r.systemDecl(ctx, c, io)
	case *lang.SandboxDecl:
		return r.sandboxDecl(ctx, c, io)
	case *lang.Clone:
		return r.clone(ctx, c, io)
	}
	return fmt.Errorf("interp: unknown command %T", c)
}

// fail reports a command's error on io.Stderr, prefixed with what failed,
// and leaves it in $status. It returns nil: a failed command does not
// stop a script.
func (r *Runner) fail(io IO, what string, err error) error {
	var st ExitStatus
	switch {
	case errors.As(err, &st):
		r.status = string(st)
		if r.status == "" {
			r.status = "failed"
		}
		return nil
	case errors.Is(err, errPipe):
		// A reader gone away: the writer stops quietly, as a Unix
		// program dies of SIGPIPE.
		r.status = "sys: write on closed pipe"
		return nil
	}
	msg := err.Error()
	var u unprefixed
	if what != "" && !errors.As(err, &u) {
		msg = what + ": " + msg
	}
	fmt.Fprintln(io.Stderr, msg)
	r.status = msg
	return nil
}

// call runs a simple command: assignments, then a function, a builtin or
// a host program.
func (r *Runner) call(ctx context.Context, c *lang.CallExpr, io IO) error {
	name := "="
	if len(c.Args) > 0 {
		name = String(c.Args[0])
		if l, ok := c.Args[0].Lit(); ok && l == "~" && len(c.Assigns) == 0 {
			return r.match(ctx, c, io)
		}
	}
	var assigns []struct {
		name string
		v    []string
	}
	for _, a := range c.Assigns {
		var v []string
		if a.Value != nil {
			var err error
			if v, err = r.word(ctx, a.Value, io, false); err != nil {
				return r.fail(io, a.Name, err)
			}
		}
		assigns = append(assigns, struct {
			name string
			v    []string
		}{a.Name, v})
	}
	if len(c.Args) == 0 {
		for _, a := range assigns {
			r.set(a.name, a.v)
		}
		r.status = ""
		return nil
	}
	args, err := r.words(ctx, c.Args, io)
	if err != nil {
		return r.fail(io, name, err)
	}
	if len(args) == 0 {
		// The command's words expanded to nothing: rc does nothing.
		r.status = ""
		return nil
	}
	io, closeAll, err := r.redirect(ctx, c.Redirs, io, args[0])
	if err != nil {
		return nil
	}
	defer closeAll()
	if len(assigns) > 0 {
		local := &scope{vars: map[string][]string{}, parent: r.vars}
		for _, a := range assigns {
			local.vars[a.name] = a.v
		}
		r.vars = local
		defer func() { r.vars = local.parent }()
	}
	return r.run(ctx, io, args, true)
}

// run runs args as a function (when fns), a builtin or a host program.
func (r *Runner) run(ctx context.Context, io IO, args []string, fns bool) error {
	if fn, ok := r.fns[args[0]]; ok && fns {
		return r.callFn(ctx, fn, io, args)
	}
	if b, ok := builtins[args[0]]; ok {
		err := b.run(r, ctx, io, args)
		if err == nil {
			r.status = ""
			return nil
		}
		if isControl(err) || ctx.Err() != nil {
			return err
		}
		return r.fail(io, args[0], err)
	}
	err := r.exec(ctx, io, r.system, args)
	if err == nil {
		r.status = ""
		return nil
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		// An interrupt stops the script, not only the command.
		r.status = "interrupted"
		return context.Canceled
	}
	return r.fail(io, args[0], err)
}

// isControl reports whether err unwinds the script rather than reports a
// failure.
func isControl(err error) bool {
	var ex *exitErr
	return errors.As(err, &ex) || errors.Is(err, errReturn)
}

// maxDepth bounds nested function calls and includes.
const maxDepth = 256

func (r *Runner) callFn(ctx context.Context, fn *lang.FnDecl, io IO, args []string) error {
	if r.depth >= maxDepth {
		return r.fail(io, args[0], errors.New("functions nested too deep"))
	}
	r.depth++
	local := &scope{vars: map[string][]string{"*": args[1:], "0": args[:1]}, parent: r.vars}
	r.vars = local
	defer func() {
		r.vars = local.parent
		r.depth--
	}()
	err := r.stmts(ctx, fn.Body.Stmts, io)
	if errors.Is(err, errReturn) {
		return nil
	}
	return err
}

func (r *Runner) include(ctx context.Context, c *lang.Include, io IO) error {
	p, err := r.single(ctx, c.Path, io, ".")
	if err != nil {
		return r.fail(io, ".", err)
	}
	args, err := r.words(ctx, c.Args, io)
	if err != nil {
		return r.fail(io, ".", err)
	}
	src, err := r.readFile(ctx, p)
	if err != nil {
		return r.fail(io, ".", err)
	}
	f, err := lang.Parse(src, r.abs(p))
	if err != nil {
		return r.fail(io, "", err)
	}
	if r.depth >= maxDepth {
		return r.fail(io, ".", errors.New("includes nested too deep"))
	}
	r.depth++
	defer func() { r.depth-- }()
	if len(c.Args) > 0 {
		old := r.vars.vars["*"]
		r.set("*", args)
		defer r.set("*", old)
	}
	return r.stmts(ctx, f.Stmts, io)
}

// pipeline runs its commands at once, each in a copy of the shell, with
// a pipe from each one's output to the next one's input.
func (r *Runner) pipeline(ctx context.Context, p *lang.Pipeline, pio IO) error {
	n := len(p.Cmds)
	statuses := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	in := pio.Stdin
	var prevR *pipeReader
	for i, c := range p.Cmds {
		sio := pio
		sio.Stdin = in
		var pw *io.PipeWriter
		var pr *pipeReader
		if i < n-1 {
			rd, wr := io.Pipe()
			pr = &pipeReader{rd}
			if p.Pipes[i].Fd == 2 {
				sio.Stderr = pipeWriter{wr}
			} else {
				sio.Stdout = pipeWriter{wr}
			}
			in, pw = pr, wr
		}
		sub := r.subshell()
		myIn := prevR
		prevR = pr
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sub.cmd(ctx, c, sio)
			statuses[i] = sub.status
			if pw != nil {
				pw.Close()
			}
			if myIn != nil {
				// Nobody reads any more: the writer before fails.
				myIn.r.CloseWithError(errPipe)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && ctx.Err() != nil {
			return err
		}
	}
	r.status = ""
	for _, s := range statuses {
		if s != "" {
			r.status = strings.Join(statuses, "|")
			break
		}
	}
	return nil
}

// errPipe is what a write to a pipe nobody reads gets.
var errPipe = errors.New("write on closed pipe")

type pipeReader struct{ r *io.PipeReader }

func (p *pipeReader) Read(b []byte) (int, error) { return p.r.Read(b) }

type pipeWriter struct{ w *io.PipeWriter }

func (p pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil && !errors.Is(err, errPipe) {
		err = errPipe
	}
	return n, err
}

// lookup finds a variable in the scopes; $1, $2, ... are elements of $*.
func (r *Runner) lookup(name string) ([]string, bool) {
	for sc := r.vars; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[name]; ok {
			return v, true
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 {
		all, _ := r.lookup("*")
		if n <= len(all) {
			return all[n-1 : n], true
		}
		return nil, false
	}
	switch name {
	case "status":
		if r.status == "" {
			return nil, true
		}
		return []string{r.status}, true
	case "pwd":
		return []string{r.dir}, true
	case "system":
		return []string{r.system}, true
	}
	return nil, false
}

// set assigns a variable in the innermost scope that has it, or as a
// global; () removes it.
func (r *Runner) set(name string, v []string) {
	sc := r.vars
	for s := r.vars; s != nil; s = s.parent {
		if _, ok := s.vars[name]; ok {
			sc = s
			break
		}
		if s.parent == nil {
			sc = s
		}
	}
	if name == "status" {
		r.status = strings.Join(v, " ")
		return
	}
	sc.vars[name] = v
}

// abs makes p absolute, from the current directory.
func (r *Runner) abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(r.dir, p)
}

// String prints a word as the script had it, for messages.
func String(w *lang.Word) string { return lang.String(w) }

// match runs ~ subject pattern ...: the subject's words are not globbed,
// and only the patterns' unquoted *, ? and [ match patterns.
func (r *Runner) match(ctx context.Context, c *lang.CallExpr, io IO) error {
	if len(c.Args) < 2 || len(c.Redirs) > 0 {
		return r.fail(io, "~", usageErr("~"))
	}
	subj, err := r.word(ctx, c.Args[1], io, false)
	if err != nil {
		return r.fail(io, "~", err)
	}
	pats, err := r.patterns(ctx, c.Args[2:], io)
	if err != nil {
		return r.fail(io, "~", err)
	}
	for _, s := range subj {
		for _, p := range pats {
			if match(p, s) {
				r.status = ""
				return nil
			}
		}
	}
	if len(subj) == 0 && len(pats) == 0 {
		r.status = ""
		return nil
	}
	r.status = "no match"
	return nil
}
