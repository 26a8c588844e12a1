// Package env is loom's environment component, Plan 9's env(3): a
// system's environment variables as files, one file per variable, whose
// contents are the variable's value. Host processes started in the
// system get them (Environ).
//
// Creating a file makes a variable, writing it sets the value and
// removing it unsets it. A write at offset 0 replaces the whole value, so
// that `echo new > /env/x` sets x even from a client that does not
// truncate first; a write at any other offset changes the bytes there, as
// in a file (a client that writes a long value in pieces does so at
// increasing offsets). Directories may be made, so that the tree is a
// whole file server, but they are not variables: Environ lists only the
// files at the top.
//
// The tree is a ramfs: every file belongs to its creator and has the
// modes ramfs gives; the root is writable by everyone.
package env

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"loom/components/ramfs"
	"loom/ns"
)

// Help describes the component for the shell's `help env`.
const Help = `env — environment variables as files, after Plan 9's env(3)

	mount env DIR

Files:
	NAME    one per variable; its contents are the value. Create to make
	        a variable, write to set it (a write at offset 0 replaces the
	        value), remove to unset it.

Host processes started in the system get the variables at the top of
the tree as their environment, NAME=value; the NUL bytes that separate a
list's elements become blanks.

Example:
	mount env /env
	echo hello > /env/greeting
	cat /env/greeting
	rm /env/greeting
`

// Option configures an Env.
type Option func(*Env)

// Vars sets initial variables, given as os.Environ gives them:
// "NAME=value". Entries without "=" or with an empty name are ignored.
func Vars(env ...string) Option {
	return func(e *Env) { e.init = append(e.init, env...) }
}

// Owner makes user the owner of the tree and of the initial variables
// ("loom" by default).
func Owner(user string) Option { return func(e *Env) { e.owner = user } }

// Env is an environment component, an ns.FS.
type Env struct {
	ram   *ramfs.FS
	owner string
	init  []string

	// mu makes a replacing write (truncate, then write) one change for
	// every reader, and Environ one snapshot: writes hold it, reads
	// share it.
	mu sync.RWMutex
}

var _ ns.FS = (*Env)(nil)

// New returns an Env holding the initial variables.
func New(opts ...Option) *Env {
	e := &Env{owner: "loom"}
	for _, o := range opts {
		o(e)
	}
	e.ram = ramfs.New(ramfs.Owner(e.owner))
	for _, kv := range e.init {
		name, value, ok := strings.Cut(kv, "=")
		if ok && name != "" {
			e.Set(name, value)
		}
	}
	e.init = nil
	return e
}

// Attach returns the root as seen by user.
func (e *Env) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	f, err := e.ram.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return &file{e: e, f: f}, nil
}

// validVar reports whether name may name a variable: as a file name, and
// without "=", which would end the name in a host process's environment.
func validVar(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/=\x00")
}

// Get returns the value of the variable name and whether it is set.
func (e *Env) Get(name string) (string, bool) {
	if !validVar(name) {
		return "", false
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	v, err := e.get(name)
	return v, err == nil
}

// get reads the variable name. The caller holds e.mu.
func (e *Env) get(name string) (string, error) {
	ctx := context.Background()
	r, _ := e.ram.Attach(ctx, e.owner, "")
	defer r.Clunk()
	_, f, err := r.Walk(ctx, []string{name})
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return "", err
	}
	b, err := ns.ReadAll(ctx, f)
	return string(b), err
}

// Set sets the variable name to value, making it if need be.
func (e *Env) Set(name, value string) error {
	if !validVar(name) {
		return ns.ErrBadName
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx := context.Background()
	r, _ := e.ram.Attach(ctx, e.owner, "")
	defer r.Clunk()
	f, _, err := r.(ns.Creater).Create(ctx, name, 0666, ns.OWRITE)
	if errors.Is(err, ns.ErrExist) {
		_, f, err = r.Walk(ctx, []string{name})
		if err == nil {
			if _, err = f.Open(ctx, ns.OWRITE|ns.OTRUNC); err != nil {
				f.Clunk()
			}
		}
	}
	if err != nil {
		return err
	}
	defer f.Clunk()
	_, err = f.Write(ctx, []byte(value), 0)
	return err
}

// Unset removes the variable name.
func (e *Env) Unset(name string) error {
	if !validVar(name) {
		return ns.ErrNotExist
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx := context.Background()
	r, _ := e.ram.Attach(ctx, e.owner, "")
	defer r.Clunk()
	_, f, err := r.Walk(ctx, []string{name})
	if err != nil {
		return err
	}
	defer f.Clunk()
	return f.(ns.Remover).Remove(ctx)
}

// Environ returns the variables for a host process, "NAME=value", sorted
// by name: every file at the top of the tree whose name can be a
// variable's. The NUL bytes that separate the elements of a list (as rc
// stores them) become blanks, and a trailing one is dropped.
func (e *Env) Environ() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ctx := context.Background()
	r, _ := e.ram.Attach(ctx, e.owner, "")
	defer r.Clunk()
	_, d, err := r.Walk(ctx, nil)
	if err != nil {
		return nil
	}
	defer d.Clunk()
	if _, err := d.Open(ctx, ns.OREAD); err != nil {
		return nil
	}
	var out []string
	for {
		ds, err := d.ReadDir(ctx, len(out), 1<<16)
		if err != nil || len(ds) == 0 {
			break
		}
		for _, st := range ds {
			if st.Mode.IsDir() || !validVar(st.Name) {
				out = append(out, "")
				continue
			}
			v, err := e.get(st.Name)
			if err != nil {
				out = append(out, "")
				continue
			}
			v = strings.TrimSuffix(v, "\x00")
			out = append(out, st.Name+"="+strings.ReplaceAll(v, "\x00", " "))
		}
	}
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
	slices.Sort(out)
	return out
}

// file is a File of an Env: a ramfs File whose writes at offset 0 replace
// the contents.
type file struct {
	e      *Env
	f      ns.File
	append bool // DMAPPEND: writes go to the end, never replace
}

var (
	_ ns.File    = (*file)(nil)
	_ ns.Creater = (*file)(nil)
	_ ns.Remover = (*file)(nil)
	_ ns.Wstater = (*file)(nil)
)

func (f *file) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	qids, nf, err := f.f.Walk(ctx, names)
	if nf == nil {
		return qids, nil, err
	}
	return qids, &file{e: f.e, f: nf}, err
}

func (f *file) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	if mode&ns.OTRUNC != 0 {
		f.e.mu.Lock()
		defer f.e.mu.Unlock()
	}
	q, err := f.f.Open(ctx, mode)
	f.append = q.Type&ns.QTAPPEND != 0
	return q, err
}

func (f *file) Read(ctx context.Context, p []byte, off int64) (int, error) {
	f.e.mu.RLock()
	defer f.e.mu.RUnlock()
	return f.f.Read(ctx, p, off)
}

func (f *file) Write(ctx context.Context, p []byte, off int64) (int, error) {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	if off == 0 && !f.append {
		w, ok := f.f.(ns.Wstater)
		if !ok {
			return 0, ns.ErrPerm
		}
		d := ns.NullDir()
		d.Length = 0
		if err := w.Wstat(ctx, d); err != nil {
			return 0, err
		}
	}
	return f.f.Write(ctx, p, off)
}

func (f *file) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	return f.f.ReadDir(ctx, index, n)
}

func (f *file) Stat(ctx context.Context) (ns.Dir, error) { return f.f.Stat(ctx) }

func (f *file) Clunk() error {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	return f.f.Clunk()
}

func (f *file) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	if strings.Contains(name, "=") {
		return nil, ns.Qid{}, ns.ErrBadName
	}
	c, ok := f.f.(ns.Creater)
	if !ok {
		return nil, ns.Qid{}, ns.ErrPerm
	}
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	nf, q, err := c.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, q, err
	}
	return &file{e: f.e, f: nf, append: q.Type&ns.QTAPPEND != 0}, q, nil
}

func (f *file) Remove(ctx context.Context) error {
	r, ok := f.f.(ns.Remover)
	if !ok {
		return ns.ErrPerm
	}
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	return r.Remove(ctx)
}

func (f *file) Wstat(ctx context.Context, d ns.Dir) error {
	w, ok := f.f.(ns.Wstater)
	if !ok {
		return ns.ErrPerm
	}
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	return w.Wstat(ctx, d)
}
