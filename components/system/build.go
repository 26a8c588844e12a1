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

// Resolve gives mount its file servers in the system, as the shell's
// resolver: kinds.Default.Resolve of its components, so that every
// server a mount makes is a component of the system, named KIND.N in
// its namespace text with its kind and arguments kept, and a clone or a
// snapshot can make it again.
//
// A system in a sandbox that restricts anything mounts no new way out of
// it: no hostfs (the host's files, which the sandbox's view would not
// cover); none of its components by name, nor a shared kind (dev, env,
// srv, log, proc), whose whole server the view may show only in part;
// a posted server only by a /srv file the view shows; and, unless its
// network is the host's, no 9P address, posted or not. It may mount new
// components (ramfs, pipe) and exec: the programs run in the system's
// kernel sandbox, as its other host processes do (the kind starts them
// with proc's launcher).
func (sys *System) Resolve(ctx context.Context, src string, args []string) (ns.FS, string, error) {
	if pol := sys.Policy; pol.Restricts() {
		if err := sys.sandboxedSource(ctx, pol, src); err != nil {
			return nil, "", fmt.Errorf("%s: %w", src, err)
		}
	}
	fsys, aname, err := sys.Def.Resolve(ctx, src, args)
	if err != nil {
		return nil, "", err
	}
	// Behind the system's gate at once, so that pause and snapshot hold
	// it as they hold the rest.
	return sys.Gated(fsys), aname, nil
}

// sandboxedSource says why a system in the sandbox pol may not mount
// src, or nil when it may.
func (sys *System) sandboxedSource(ctx context.Context, pol Policy, src string) error {
	why := func(s string) error {
		return fmt.Errorf("%w: the system is in a sandbox (%s), %s", ns.ErrPerm, pol.Name, s)
	}
	k, isKind := kinds.Lookup(src)
	_, isComp := sys.Def.Component(src)
	switch {
	case src == "hostfs":
		return why("which host files would leave")
	case isKind && k.Shared:
		return why("whose view shows only part of the system's " + src + "; bind what it shows")
	case !isKind && isComp:
		return why("whose view shows only part of the system's components")
	case strings.Contains(src, "!"):
		if pol.Network != NetHost {
			return why("which grants network " + pol.Network.String())
		}
	case strings.HasPrefix(src, "/"):
		// The /srv file as the view shows it: a hidden one is not
		// there to name.
		f, err := walk(ctx, sys.NS, sys.NS.User(), src)
		if err != nil {
			return err
		}
		defer f.Clunk()
		if _, err := f.Open(ctx, ns.OREAD); err != nil {
			return err
		}
		text, err := ns.ReadAll(ctx, f)
		if err != nil {
			return err
		}
		if addr := strings.TrimSpace(string(text)); addr != "local" && pol.Network != NetHost {
			return why("whose network (" + pol.Network.String() + ") does not reach " + addr)
		}
	}
	return nil
}

// Components returns the system's components (see kinds.Component).
func (sys *System) Components() []kinds.Component { return sys.Def.Components() }

// tree returns the system's ramfs called tn.
func (sys *System) tree(tn string) (*ramfs.FS, bool) {
	c, ok := sys.Def.Component(tn)
	if !ok {
		return nil, false
	}
	t, ok := c.FS.(*ramfs.FS)
	return t, ok
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
