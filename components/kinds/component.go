package kinds

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"loom/components/ramfs"
	"loom/ns"
)

// A Component is one of a system's components: a file server with its
// kind, the arguments it was made with, and the name mounts of it carry
// in the system's namespace text.
type Component struct {
	// Name is the kind's name for a shared kind (dev, env, srv, log,
	// proc), and KIND.N for a server made by a mount (ramfs.1).
	Name string
	Kind string
	// Args are mount's arguments after the mount point, as given.
	Args []string
	FS   ns.FS
}

// Components returns the system's components: the shared ones, then the
// others by kind and number.
func (d *Default) Components() []Component {
	d.mu.Lock()
	defer d.mu.Unlock()
	cs := make([]Component, 0, len(d.comps))
	for _, c := range d.comps {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b Component) int {
		as, bs := a.Name == a.Kind, b.Name == b.Kind
		switch {
		case as != bs:
			if as {
				return -1
			}
			return 1
		case a.Kind != b.Kind:
			return strings.Compare(a.Kind, b.Kind)
		}
		return seqOf(a.Name) - seqOf(b.Name)
	})
	return cs
}

// Component returns the system's component called name.
func (d *Default) Component(name string) (Component, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.comps[name]
	return c, ok
}

// seqOf is N of a name KIND.N, or 0.
func seqOf(name string) int {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// adopt makes c a component of the system, named KIND.N with the next N
// when c has no name, and closed with the system when it is a Closer.
func (d *Default) adopt(c Component) Component {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.Name == "" {
		d.seq[c.Kind]++
		c.Name = c.Kind + "." + strconv.Itoa(d.seq[c.Kind])
	} else if n := seqOf(c.Name); n > d.seq[c.Kind] {
		// Names given by another system are kept; new ones come after.
		d.seq[c.Kind] = n
	}
	d.comps[c.Name] = c
	if cl, ok := c.FS.(io.Closer); ok {
		d.closers = append(d.closers, cl)
	}
	return c
}

// Adopt makes c, a server made elsewhere (a snapshot's tree, say), a
// component of the system under c.Name, or under a new KIND.N when c has
// no name. The system closes it with itself when it is an io.Closer.
func (d *Default) Adopt(c Component) (Component, error) {
	if _, ok := Lookup(c.Kind); !ok {
		return Component{}, fmt.Errorf("%s: unknown kind of component", c.Kind)
	}
	if c.FS == nil {
		return Component{}, fmt.Errorf("%s: no file server", c.Name)
	}
	if _, ok := d.Component(c.Name); ok && c.Name != "" {
		return Component{}, fmt.Errorf("%s: %w", c.Name, ns.ErrExist)
	}
	return d.adopt(c), nil
}

// Copy makes in d, under the same name, the component c of another
// system, as a clone of that system needs it:
//
//   - a ramfs is a copy of the tree with its contents (ramfs.FS.Clone);
//   - a hostfs is the same host directory with the same flags: the host's
//     files are shared, not copied, and a write through either shows in
//     both;
//   - a pipe is a new, empty pipe; an exec wraps the same program again,
//     in d's environment, its sessions started where d's processes are
//     (in d's sandbox once d is put in one); any other kind is made
//     again from c's arguments;
//   - a shared kind (dev, env, srv, log, proc) is d's own.
func (d *Default) Copy(c Component) (Component, error) {
	k, ok := Lookup(c.Kind)
	if !ok {
		return Component{}, fmt.Errorf("%s: unknown kind of component %s", c.Name, c.Kind)
	}
	if k.Shared {
		own, ok := d.Component(k.Name)
		if !ok {
			return Component{}, fmt.Errorf("%s: the system has none", k.Name)
		}
		return own, nil
	}
	if _, ok := d.Component(c.Name); ok {
		return Component{}, fmt.Errorf("%s: %w", c.Name, ns.ErrExist)
	}
	var fsys ns.FS
	if t, ok := c.FS.(*ramfs.FS); ok && k.Name == "ramfs" {
		fsys = t.Clone()
	} else {
		var err error
		if fsys, err = k.New(slices.Clone(c.Args), d.Env); err != nil {
			return Component{}, fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return d.adopt(Component{Name: c.Name, Kind: k.Name, Args: slices.Clone(c.Args), FS: fsys}), nil
}

// ReplayResolver gives ns.Replay the servers a namespace text of the
// system names: its components by name, the shared kinds, servers posted
// in its srv (/srv/NAME) and 9P addresses. A name that is not d's but
// one of from's (the components of the system the text comes from) is
// first made in d with Copy, once: two mounts of one component still
// name one server.
func (d *Default) ReplayResolver(ctx context.Context, from []Component) func(name string) (ns.FS, error) {
	others := map[string]Component{}
	for _, c := range from {
		others[c.Name] = c
	}
	return func(name string) (ns.FS, error) {
		// Replay names what it mounts with the name it asked for.
		if c, ok := d.Component(name); ok {
			return c.FS, nil
		}
		if c, ok := others[name]; ok {
			c, err := d.Copy(c)
			if err != nil {
				return nil, err
			}
			return c.FS, nil
		}
		if k, ok := Lookup(name); ok && !k.Shared {
			// A mount not made through Resolve: the text cannot say
			// which server it was, nor with what arguments.
			return nil, fmt.Errorf("%s: a server the system did not name; it cannot be rebuilt", name)
		}
		if !strings.HasPrefix(name, "/") && !strings.Contains(name, "!") {
			if _, ok := Lookup(name); !ok {
				return nil, fmt.Errorf("%s: not a component of this system", name)
			}
		}
		fsys, _, err := d.Resolve(ctx, name, nil)
		if err != nil {
			return nil, err
		}
		return fsys, nil
	}
}
