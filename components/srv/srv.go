// Package srv is loom's srv component, after Plan 9's srv(3): a registry
// of file servers by name, one file per name, so that what one part of a
// system posts, any other can mount (mount /srv/NAME DIR in the shell).
//
// A server gets a name in one of two ways. A Go component is posted with
// Post (the shell's post builtin posts a namespace, or a part of one);
// its file reads "local". A 9P server anywhere, written in any language,
// is registered by creating /NAME and writing its address (unix!/path or
// tcp!host!port) into the new file; the file then reads the address, and
// the first Lookup dials it. Removing /NAME takes the name away: what was
// mounted from it stays mounted, as in Plan 9, and a connection that was
// dialed for it is closed by Close.
//
// Beyond Plan 9, where a srv file holds an open channel: a loom srv file
// holds a Go server or the address of one, since loom's servers are
// values in one process and remote ones are reached by address. Writing
// a file that has something posted fails ("already posted"): remove it
// first.
//
// The tree belongs to its owner (the system's user): others may look
// but not post.
package srv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"loom/9p"
	"loom/components/synth"
	"loom/ns"
)

// Help describes the srv kind for the shell's help.
const Help = `srv: a registry of file servers by name, after Plan 9's srv(3).
  /NAME    one file per posted server: reads "local" for a server of this
           loom, or the 9P address of a remote one
Post a server: post NAME [PATH] posts this namespace (or its subtree
PATH); or register any 9P server by writing its address into a new file:
  echo unix!/tmp/my.sock > /srv/my
Mount what is posted: mount /srv/NAME DIR. Remove /srv/NAME to unpost.
Mounted anywhere, srv is the system's own registry.`

// FS is a srv file server. Its methods may be called concurrently.
type FS struct {
	srv     *synth.FS
	owner   string
	timeout time.Duration

	mu      sync.Mutex
	entries map[string]*entry
	retired []*ninep.Client // dialed for names since removed
	closed  bool
}

var _ ns.FS = (*FS)(nil)

// An entry is one name of the registry.
type entry struct {
	name string
	node *synth.Node

	dial sync.Mutex // held while dialing, so that one dial serves all

	mu     sync.Mutex // guards what follows
	local  ns.FS
	addr   string
	client *ninep.Client // addr's, once dialed
}

// An Option configures an FS.
type Option func(*FS)

// Owner makes user the owner of the registry, the one user who may post
// ("loom" by default).
func Owner(user string) Option { return func(fs *FS) { fs.owner = user } }

// DialTimeout bounds how long Lookup waits for a remote server to answer
// (10 seconds by default).
func DialTimeout(d time.Duration) Option { return func(fs *FS) { fs.timeout = d } }

// New returns an empty registry.
func New(opts ...Option) *FS {
	fs := &FS{owner: "loom", timeout: 10 * time.Second, entries: map[string]*entry{}}
	for _, o := range opts {
		o(fs)
	}
	root := &synth.Node{
		Mode:   ns.DMDIR | 0o775,
		Gen:    fs.gen,
		Lookup: fs.lookupNode,
		Create: fs.create,
	}
	fs.srv = synth.New(root, synth.Owner(fs.owner))
	return fs
}

// Attach implements ns.FS.
func (fs *FS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	return fs.srv.Attach(ctx, user, aname)
}

// validName reports whether name may name an entry.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Post posts fsys under name.
func (fs *FS) Post(name string, fsys ns.FS) error {
	if fsys == nil {
		return fmt.Errorf("post %s: no server", name)
	}
	_, err := fs.add(name, fs.owner, 0o644, fsys, "")
	return err
}

// PostAddr registers the 9P server at addr under name, as creating
// /NAME and writing addr into it does.
func (fs *FS) PostAddr(name, addr string) error {
	if _, _, err := ninep.ParseAddr(addr); err != nil {
		return err
	}
	_, err := fs.add(name, fs.owner, 0o644, nil, addr)
	return err
}

// add makes the entry name, owned by uid with mode perm, holding the
// local server or the address given (or neither, for a created file).
func (fs *FS) add(name, uid string, perm ns.Perm, local ns.FS, addr string) (*entry, error) {
	if !validName(name) {
		return nil, fmt.Errorf("post %q: %w", name, ns.ErrBadName)
	}
	e := &entry{name: name, local: local, addr: addr}
	e.node = &synth.Node{Name: name, Mode: perm, Uid: uid, Open: e.open,
		Length: func(*synth.Req) int64 { return int64(len(e.text())) },
		Remove: func(ctx context.Context, r *synth.Req) error { return fs.remove(name, e) },
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case fs.closed:
		return nil, ns.ErrClosed
	case fs.entries[name] != nil:
		return nil, fmt.Errorf("post %s: %w", name, ns.ErrExist)
	}
	fs.entries[name] = e
	return e, nil
}

// Lookup returns the server posted as name, dialing a remote one the first
// time it is looked up.
func (fs *FS) Lookup(name string) (ns.FS, error) {
	fs.mu.Lock()
	e := fs.entries[name]
	fs.mu.Unlock()
	if e == nil {
		return nil, fmt.Errorf("srv %s: %w", name, ns.ErrNotExist)
	}
	// Reads of the entry's file go on while a slow server is dialed.
	e.dial.Lock()
	defer e.dial.Unlock()
	e.mu.Lock()
	local, client, addr := e.local, e.client, e.addr
	e.mu.Unlock()
	switch {
	case local != nil:
		return local, nil
	case client != nil:
		return client, nil
	case addr == "":
		return nil, fmt.Errorf("srv %s: nothing posted yet", name)
	}
	c, err := ninep.Dial(addr, ninep.DialTimeout(fs.timeout))
	if err != nil {
		return nil, fmt.Errorf("srv %s: %s: %w", name, addr, err)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed || fs.entries[name] != e {
		// Removed or closed while dialing: the connection is nobody's.
		c.Close()
		return nil, fmt.Errorf("srv %s: %w", name, ns.ErrNotExist)
	}
	e.mu.Lock()
	e.client = c
	e.mu.Unlock()
	return c, nil
}

// Remove takes the name away.
func (fs *FS) Remove(name string) error { return fs.remove(name, nil) }

// remove takes the name away if it is that of the entry want (any entry
// when want is nil): a File of an entry since removed and posted again
// must not remove the new one.
func (fs *FS) remove(name string, want *entry) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	e := fs.entries[name]
	if e == nil || want != nil && e != want {
		return fmt.Errorf("srv %s: %w", name, ns.ErrNotExist)
	}
	delete(fs.entries, name)
	e.mu.Lock()
	if e.client != nil {
		// Mounts made from it may still use the connection.
		fs.retired = append(fs.retired, e.client)
	}
	e.mu.Unlock()
	return nil
}

// Names returns the names posted, sorted.
func (fs *FS) Names() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	names := make([]string, 0, len(fs.entries))
	for n := range fs.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close empties the registry and closes every connection it dialed.
func (fs *FS) Close() error {
	fs.mu.Lock()
	fs.closed = true
	cs := fs.retired
	fs.retired = nil
	for _, e := range fs.entries {
		e.mu.Lock()
		if e.client != nil {
			cs = append(cs, e.client)
		}
		e.mu.Unlock()
	}
	fs.entries = map[string]*entry{}
	fs.mu.Unlock()
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (fs *FS) gen(ctx context.Context, r *synth.Req) ([]*synth.Node, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	names := make([]string, 0, len(fs.entries))
	for n := range fs.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*synth.Node, len(names))
	for i, n := range names {
		out[i] = fs.entries[n].node
	}
	return out, nil
}

func (fs *FS) lookupNode(ctx context.Context, r *synth.Req, name string) (*synth.Node, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if e := fs.entries[name]; e != nil {
		return e.node, nil
	}
	return nil, ns.ErrNotExist
}

// create makes an empty entry, for an address to be written into.
func (fs *FS) create(ctx context.Context, r *synth.Req, name string, perm ns.Perm) (*synth.Node, error) {
	if perm.IsDir() {
		return nil, ns.ErrPerm
	}
	// As Plan 9's create: the directory's permissions limit the file's.
	e, err := fs.add(name, r.User, perm&0o664, nil, "")
	if err != nil {
		return nil, err
	}
	return e.node, nil
}

// text is what the entry's file reads.
func (e *entry) text() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.local != nil:
		return "local\n"
	case e.addr != "":
		return e.addr + "\n"
	}
	return ""
}

// open opens the entry's file: reads give its text as it was at open,
// a write posts an address.
func (e *entry) open(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	text := []byte(e.text())
	return &synth.Handle{
		Read: func(ctx context.Context, p []byte, off int64) (int, error) {
			return synth.ReadAt(text, p, off), nil
		},
		Write: func(ctx context.Context, p []byte, off int64) (int, error) {
			addr := strings.TrimSpace(string(p))
			if _, _, err := ninep.ParseAddr(addr); err != nil {
				return 0, err
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.local != nil || e.addr != "" {
				return 0, fmt.Errorf("srv %s: already posted", e.name)
			}
			e.addr = addr
			e.node.Touch()
			return len(p), nil
		},
	}, nil
}
