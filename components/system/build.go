package system

import (
	"context"
	"fmt"
	"path"
	"strings"

	"loom/components/kinds"
	"loom/components/ramfs"
	"loom/ns"
)

func ctx() context.Context { return context.Background() }

// shared are the kinds whose server is the system's own, whatever mounts
// them: mounting one names the same component.
var shared = map[string]bool{"dev": true, "env": true, "srv": true, "log": true, "proc": true}

// named rebuilds d's namespace, as kinds.NewDefault made it, with a ramfs
// tree of the system's own, named ramfs.N, for each ramfs mount: the
// names let the namespace text say which tree is mounted where, so that a
// clone can replay it over copies of the trees.
func named(ctx context.Context, name string, d *kinds.Default) (*System, error) {
	text, err := d.NS.Text()
	if err != nil {
		return nil, err
	}
	cmds, err := ns.ParseText("default", text)
	if err != nil {
		return nil, err
	}
	sys := &System{Name: name, Def: d, Policy: Unrestricted(), trees: map[string]*ramfs.FS{}}
	var root *ramfs.FS
	for i, c := range cmds {
		if c.Op == "mount" && c.Args[0] == "ramfs" {
			t, tn := sys.newTree()
			cmds[i].Args[0] = tn
			if c.Args[1] == "/" && root == nil {
				root = t
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("system %s: the default namespace has no ramfs on /", name)
	}
	// The fresh root needs the directories the other commands mount on.
	for _, c := range cmds {
		if len(c.Args) > 1 && c.Args[1] != "/" {
			if err := mkdirAll(ctx, root, d.NS.User(), c.Args[1]); err != nil {
				return nil, fmt.Errorf("system %s: %w", name, err)
			}
		}
	}
	n := ns.New(d.NS.User())
	if err := ns.Replay(n, cmds, sys.replayResolver(ctx)); err != nil {
		return nil, fmt.Errorf("system %s: %w", name, err)
	}
	d.NS, sys.NS = n, n
	return sys, nil
}

// newTree makes a ramfs tree of the system and names it.
func (sys *System) newTree() (*ramfs.FS, string) {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	sys.ntree++
	tn := fmt.Sprintf("ramfs.%d", sys.ntree)
	t := ramfs.New()
	sys.trees[tn] = t
	return t, tn
}

// tree returns the system's tree called tn.
func (sys *System) tree(tn string) (*ramfs.FS, bool) {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	t, ok := sys.trees[tn]
	return t, ok
}

// Resolve gives mount its file servers in the system, as the shell's
// resolver: a ramfs is a new tree of the system's own, named ramfs.N in
// the namespace, and ramfs.N names that tree again; everything else is
// as kinds.Default.Resolve gives it.
func (sys *System) Resolve(ctx context.Context, src string, args []string) (ns.FS, string, error) {
	if src == "ramfs" {
		if len(args) > 0 {
			return nil, "", fmt.Errorf("ramfs: takes no arguments")
		}
		t, tn := sys.newTree()
		return ns.Named(tn, t), "", nil
	}
	if t, ok := sys.tree(src); ok {
		return ns.Named(src, t), "", nil
	}
	return sys.Def.Resolve(ctx, src, args)
}

// replayResolver gives ns.Replay the servers a namespace text of the
// system names: its trees, its own components, posted servers and 9P
// addresses. Other kinds' servers were made with arguments the text does
// not keep, so they cannot be rebuilt from it.
func (sys *System) replayResolver(ctx context.Context) func(string) (ns.FS, error) {
	return func(name string) (ns.FS, error) {
		if t, ok := sys.tree(name); ok {
			return ns.Named(name, t), nil
		}
		if name == "ramfs" {
			// A tree the system did not name: the default system's,
			// built before the registry.
			return nil, fmt.Errorf("ramfs: a tree this system did not make; only systems made by system NAME { ... } can be cloned yet")
		}
		if _, ok := kinds.Lookup(name); ok && !shared[name] {
			return nil, fmt.Errorf("%s: a server of this kind cannot be rebuilt yet", name)
		}
		if _, ok := kinds.Lookup(name); !ok && !strings.HasPrefix(name, "/") && !strings.Contains(name, "!") {
			return nil, fmt.Errorf("%s: not a server of this system", name)
		}
		fsys, _, err := sys.Def.Resolve(ctx, name, nil)
		if err != nil {
			return nil, err
		}
		if _, ok := fsys.(ns.Namer); !ok {
			fsys = ns.Named(name, fsys)
		}
		return fsys, nil
	}
}

// mkdirAll makes the directory p and those above it in fsys.
func mkdirAll(ctx context.Context, fsys ns.FS, user, p string) error {
	d, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return err
	}
	defer func() { d.Clunk() }()
	for _, name := range ns.SplitPath(path.Clean("/" + p)) {
		_, nd, err := d.Walk(ctx, []string{name})
		if err != nil {
			c, ok := d.(ns.Creater)
			if !ok {
				return ns.ErrPerm
			}
			if nd, _, err = c.Create(ctx, name, ns.DMDIR|0o777, ns.OREAD); err != nil {
				return fmt.Errorf("mkdir %s: %w", p, err)
			}
		}
		d.Clunk()
		d = nd
	}
	return nil
}
