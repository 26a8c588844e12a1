package system

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"loom/ns"
)

// A Network is how much of the network a sandbox grants. The values are
// ordered: each grants everything the lesser ones do.
type Network int

// The networks, least first.
const (
	NetNone     Network = iota // no network at all
	NetLoopback                // the system's own loopback only
	NetHost                    // the host's network
)

func (n Network) String() string {
	switch n {
	case NetNone:
		return "none"
	case NetLoopback:
		return "loopback"
	case NetHost:
		return "host"
	}
	return fmt.Sprintf("network(%d)", int(n))
}

// ParseNetwork reads none, loopback or host.
func ParseNetwork(s string) (Network, error) {
	switch s {
	case "none":
		return NetNone, nil
	case "loopback":
		return NetLoopback, nil
	case "host":
		return NetHost, nil
	}
	return 0, fmt.Errorf("%q: want one of none, loopback, host", s)
}

// AllDevices, alone in a Policy's Devices, grants every device.
const AllDevices = "*"

// A Policy is what a sandbox grants a system. Every field grants rights,
// so that Intersect can take the lesser of each; Unrestricted grants all.
//
// The namespace rules (Allow, ReadOnly, Devices) and the write limit
// are enforced by Apply. Network and the other limits are kept and shown
// here; the kernel enforces them for host processes
// (components/sandbox), not this package.
type Policy struct {
	Name     string
	Allow    []string         // visible paths, clean and absolute; "/" shows all
	ReadOnly []string         // paths that refuse every change
	Devices  []string         // names granted in /dev; [AllDevices] grants all
	Network  Network          // the network granted
	Limits   map[string]int64 // memory, write (bytes), processes, cpu (a share, in percent of the normal one); absent is unlimited
}

// Unrestricted returns the policy that grants everything: what a system
// outside any sandbox has.
func Unrestricted() Policy {
	return Policy{Allow: []string{"/"}, Devices: []string{AllDevices}, Network: NetHost}
}

// FromRules makes a policy from a sandbox declaration's rules. What the
// declaration does not say, it does not restrict: no allow rule shows
// every path, no devices rule grants every device, no network rule
// grants the host's network, and a limit not named is not limited.
func FromRules(name string, allow, readonly, devices []string, network string, limits map[string]int64) (Policy, error) {
	p := Unrestricted()
	p.Name = name
	if len(allow) > 0 {
		p.Allow = cleanPaths(allow)
	}
	p.ReadOnly = cleanPaths(readonly)
	if len(devices) > 0 {
		p.Devices = uniq(devices)
	}
	if network != "" {
		n, err := ParseNetwork(network)
		if err != nil {
			return Policy{}, err
		}
		p.Network = n
	}
	if len(limits) > 0 {
		p.Limits = map[string]int64{}
		for k, v := range limits {
			p.Limits[k] = v
		}
	}
	return p, nil
}

// Intersect returns the policy that grants only what both a and b grant,
// the policy of a sandbox inside a sandbox: a path is visible only if both
// show it, a path is read-only if either makes it so, a device is granted
// only if both grant it, the network is the lesser, and each limit is the
// smaller. Nesting therefore never gains a right.
func Intersect(a, b Policy) Policy {
	p := Policy{Name: a.Name}
	if b.Name != "" {
		p.Name = a.Name + "∩" + b.Name
		if a.Name == "" {
			p.Name = b.Name
		}
	}
	var allow []string
	for _, x := range cleanPaths(a.Allow) {
		for _, y := range cleanPaths(b.Allow) {
			switch {
			case within(x, y):
				allow = append(allow, x)
			case within(y, x):
				allow = append(allow, y)
			}
		}
	}
	p.Allow = cleanPaths(allow)
	p.ReadOnly = cleanPaths(append(append([]string(nil), a.ReadOnly...), b.ReadOnly...))
	switch {
	case allDevices(a.Devices):
		p.Devices = uniq(b.Devices)
	case allDevices(b.Devices):
		p.Devices = uniq(a.Devices)
	default:
		in := map[string]bool{}
		for _, d := range b.Devices {
			in[d] = true
		}
		for _, d := range uniq(a.Devices) {
			if in[d] {
				p.Devices = append(p.Devices, d)
			}
		}
	}
	p.Network = min(a.Network, b.Network)
	for _, l := range []map[string]int64{a.Limits, b.Limits} {
		for k, v := range l {
			if p.Limits == nil {
				p.Limits = map[string]int64{}
			}
			if old, ok := p.Limits[k]; !ok || v < old {
				p.Limits[k] = v
			}
		}
	}
	return p
}

// String gives the policy as a sandbox declaration's rules, one a line.
func (p Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "allow %s\n", strings.Join(p.Allow, " "))
	if len(p.ReadOnly) > 0 {
		fmt.Fprintf(&b, "readonly %s\n", strings.Join(p.ReadOnly, " "))
	}
	if !allDevices(p.Devices) {
		fmt.Fprintf(&b, "devices %s\n", strings.Join(p.Devices, " "))
	}
	fmt.Fprintf(&b, "network %s\n", p.Network)
	if len(p.Limits) > 0 {
		var ks []string
		for k := range p.Limits {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		b.WriteString("limit")
		for _, k := range ks {
			fmt.Fprintf(&b, " %s %s", k, limitText(k, p.Limits[k]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func allDevices(ds []string) bool {
	for _, d := range ds {
		if d == AllDevices {
			return true
		}
	}
	return false
}

// within reports whether p is q or below it; both are clean and absolute.
func within(p, q string) bool {
	return p == q || q == "/" || strings.HasPrefix(p, q+"/")
}

// cleanPaths cleans ps, makes them absolute and drops those within
// another, so that each visible or read-only tree is named once.
func cleanPaths(ps []string) []string {
	var c []string
	for _, p := range ps {
		c = append(c, path.Clean("/"+p))
	}
	sort.Strings(c)
	var out []string
	for _, p := range c {
		covered := false
		for _, q := range out {
			if within(p, q) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Apply returns the namespace nsp as the policy p shows it, a new
// namespace over nsp (nsp itself is unchanged):
//
//   - a name that is neither on the way to an allowed path nor within one
//     is absent (ns.Hide): walks, ".." included, and directory reads do not
//     reach it, and it cannot be created;
//   - /dev shows only the granted devices;
//   - a read-only path refuses create, write, remove and wstat (ns.ReadOnly);
//   - with a write limit, the bytes written through the namespace, to
//     any file, are counted together, and a write that would take the
//     count past the limit fails whole with ErrWriteLimit.
//
// The hidden names are computed from the directories on the way to the
// allowed paths as they are when Apply runs.
func Apply(ctx context.Context, nsp *ns.Namespace, p Policy) (*ns.Namespace, error) {
	return apply(ctx, nsp, p, &budget{})
}

// apply is Apply counting writes in b, the budget of the system whose
// namespace nsp is, which outlives one policy.
func apply(ctx context.Context, nsp *ns.Namespace, p Policy, b *budget) (*ns.Namespace, error) {
	user := nsp.User()
	allow := cleanPaths(p.Allow)
	hidden, err := hiddenNames(ctx, nsp, allow)
	if err != nil {
		return nil, err
	}
	if !allDevices(p.Devices) && visible("/dev", allow) {
		grant := map[string]bool{}
		for _, d := range p.Devices {
			grant[d] = true
		}
		ents, err := list(ctx, nsp, "/dev")
		if err != nil && !errors.Is(err, ns.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			if !grant[e] {
				hidden = append(hidden, path.Join("/dev", e))
			}
		}
	}
	view := ns.Hide(nsp, hidden...)
	if w, ok := p.Limits["write"]; ok {
		b.setLimit(w)
		view = limited(view, b)
	}
	out := ns.New(user)
	if err := out.Mount(ns.Named(sandboxServer, view), "/", ns.MREPL|ns.MCREATE, ""); err != nil {
		return nil, err
	}
	for _, r := range cleanPaths(p.ReadOnly) {
		if !visible(r, allow) {
			continue
		}
		f, err := walk(ctx, view, user, r)
		if err != nil {
			if errors.Is(err, ns.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("readonly %s: %w", r, err)
		}
		f.Clunk()
		if err := out.Mount(ns.Named(readonlyServer, ns.ReadOnly(sub{view, r})), r, ns.MREPL|ns.MCREATE, ""); err != nil {
			return nil, fmt.Errorf("readonly %s: %w", r, err)
		}
	}
	// Nothing done in the view may take the policy's mounts out, or
	// replace them, and so uncover what they hide or keep read-only.
	out.Lock()
	return out, nil
}

// The names of the servers a policy mounts in the view it makes: its
// whole view of the namespace at /, and each read-only path. They are
// reserved: no component can have them (a component is named after its
// kind, KIND.N, or is a shared kind, and no kind has these names; an
// image naming one otherwise is refused), so that in a view's text a
// mount of one of them is the policy's, and every other line is what
// was done in the view since (ownCmds).
const (
	sandboxServer  = "sandbox"
	readonlyServer = "readonly"
)

// ownCmds returns the commands of a view's text that are not the
// policy's own mounts: the binds and mounts made in the view after the
// policy was applied, which a new view of the same system (a clone's,
// the view rebuilt by a rollback, a loaded image's) replays after its own
// policy.
func ownCmds(text []byte) ([]ns.Cmd, error) {
	cmds, err := ns.ParseText("view", text)
	if err != nil {
		return nil, err
	}
	var own []ns.Cmd
	for _, c := range cmds {
		if c.Op == "mount" && len(c.Args) > 0 && (c.Args[0] == sandboxServer || c.Args[0] == readonlyServer) {
			continue
		}
		own = append(own, c)
	}
	return own, nil
}

// visible reports whether p, clean, is within an allowed path.
func visible(p string, allow []string) bool {
	for _, a := range allow {
		if within(p, a) {
			return true
		}
	}
	return false
}

// hiddenNames lists the names to hide so that only the allowed paths and
// the directories on the way to them remain.
func hiddenNames(ctx context.Context, nsp *ns.Namespace, allow []string) ([]string, error) {
	if visible("/", allow) {
		return nil, nil
	}
	// on holds the directories on the way to an allowed path.
	on := map[string]bool{}
	for _, a := range allow {
		for d := path.Dir(a); ; d = path.Dir(d) {
			on[d] = true
			if d == "/" {
				break
			}
		}
	}
	var hidden []string
	var dirs []string
	for d := range on {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		ents, err := list(ctx, nsp, d)
		if err != nil {
			if errors.Is(err, ns.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, e := range ents {
			c := path.Join(d, e)
			if !on[c] && !visible(c, allow) {
				hidden = append(hidden, c)
			}
		}
	}
	return hidden, nil
}

func walk(ctx context.Context, fsys ns.FS, user, p string) (ns.File, error) {
	root, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return nil, err
	}
	defer root.Clunk()
	return ns.WalkPath(ctx, root, p)
}

// list returns the names in the directory p of nsp.
func list(ctx context.Context, nsp *ns.Namespace, p string) ([]string, error) {
	f, err := walk(ctx, nsp, nsp.User(), p)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil, err
	}
	var names []string
	for i := 0; ; {
		ds, err := f.ReadDir(ctx, i, 64)
		if err != nil {
			return nil, err
		}
		if len(ds) == 0 {
			return names, nil
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
		i += len(ds)
	}
}

// sub is the tree of fsys at p, as a file server of its own.
type sub struct {
	fs ns.FS
	p  string
}

func (s sub) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	return walk(ctx, s.fs, user, s.p)
}

// limitText writes a limit as the language reads it: sizes in K, M or G
// when they divide, cpu as a percentage.
func limitText(kind string, v int64) string {
	switch kind {
	case "memory", "write":
		for _, u := range []struct {
			suffix string
			n      int64
		}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
			if v != 0 && v%u.n == 0 {
				return fmt.Sprint(v/u.n) + u.suffix
			}
		}
	case "cpu":
		return fmt.Sprint(v) + "%"
	}
	return fmt.Sprint(v)
}
