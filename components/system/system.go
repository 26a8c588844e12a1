// Package system holds loom's systems: named sets of components with a
// namespace of their own, the sandbox policies that restrict what a
// system sees, and the registry that makes, finds and stops systems.
//
// A system is made as the default one is (kinds.NewDefault): its own dev,
// env, srv, log and proc, a ramfs root and /tmp; every component a mount
// makes is named in its namespace text (KIND.N), so that the text
// replays. A policy (Policy) is applied to its namespace as namespace
// transformations (Apply): hidden paths, read-only paths, granted
// devices, a budget of bytes written. The host processes of a system
// whose policy restricts anything run in one kernel sandbox of its own
// (components/sandbox, made on the first start): in the system's
// namespace, with the host's /usr, /bin, /lib and /lib64 shown read-only
// where the policy allows them, the policy's network, and its memory,
// processes and cpu limits.
//
// Clone (clone.go) copies a system into a sandbox; snapshot.go keeps its
// state at a moment, rolls back to it, pauses and resumes it; image.go
// is the file format of save and load; tree.go is the file tree a
// server exports (/ctl, /systems, /sandboxes); export.go serves a system
// to other machines and imports theirs.
package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"loom/components/kinds"
	"loom/components/proc"
	"loom/ns"
)

// A System is a named set of components and its namespace.
type System struct {
	// Name is the system's name in its registry.
	Name string
	// Def holds the system's own components and its namespace as it
	// was built, before any policy.
	Def *kinds.Default
	// Policy is the sandbox the system lives in.
	Policy Policy
	// NS is the namespace its shell and processes see: Def.NS with
	// Policy applied.
	NS *ns.Namespace

	mu      sync.Mutex
	written *budget  // bytes written through NS, against the write limit
	net     netState // its exports and imports (export.go)

	snap  snapState // its snapshots, pause and gate (snapshot.go)
	boxes boxes     // its kernel sandboxes (launch.go)
}

// Close stops the system: its host processes are killed and its
// components closed.
func (s *System) Close() error {
	s.closeNet()
	s.openGate() // requests held by a pause fail on the closed components
	// The boxes first: killing their inits ends every process in them,
	// which proc then only has to reap.
	berr := s.boxes.close()
	return errors.Join(s.Def.Close(), berr)
}

// Systems is a registry of systems by name.
type Systems struct {
	user string
	opts []kinds.Option

	mu        sync.Mutex
	systems   map[string]*System
	sandboxes map[string]Policy
	net       netKeys // keys of export and import (export.go)
}

// An Option configures a registry.
type Option func(*Systems)

// User makes the registry's systems belong to user.
func User(user string) Option { return func(s *Systems) { s.user = user } }

// Kinds passes opts to kinds.NewDefault for every system made.
func Kinds(opts ...kinds.Option) Option {
	return func(s *Systems) { s.opts = append(s.opts, opts...) }
}

// New returns an empty registry.
func New(opts ...Option) *Systems {
	s := &Systems{user: "none", systems: map[string]*System{}, sandboxes: map[string]Policy{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// An Error is an error of the registry, with a Plan 9 string; errors.Is
// matches it against the io/fs sentinel it stands for.
type Error struct {
	msg string
	is  error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.is }

// The registry's errors.
var (
	ErrExist     = &Error{"system exists", fs.ErrExist}
	ErrNoSystem  = &Error{"system does not exist", fs.ErrNotExist}
	ErrNoSandbox = &Error{"sandbox does not exist", fs.ErrNotExist}
)

// New makes the system name with its own default components, in no
// sandbox.
func (s *Systems) New(name string) (*System, error) {
	if name == "" {
		return nil, fmt.Errorf("system: empty name: %w", ns.ErrBadName)
	}
	s.mu.Lock()
	_, taken := s.systems[name]
	s.mu.Unlock()
	if taken {
		return nil, fmt.Errorf("%s: %w", name, ErrExist)
	}
	d, err := kinds.NewDefault(s.user, s.opts...)
	if err != nil {
		return nil, err
	}
	sys := &System{Name: name, Def: d, Policy: Unrestricted(), NS: d.NS}
	if err := s.add(sys); err != nil {
		d.Close()
		return nil, err
	}
	return sys, nil
}

// add registers sys unless its name is taken.
func (s *Systems) add(sys *System) error {
	sys.installGate() // on failure, snapshot and pause say why
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.systems[sys.Name]; ok {
		return fmt.Errorf("%s: %w", sys.Name, ErrExist)
	}
	s.systems[sys.Name] = sys
	return nil
}

// Get returns the system name.
func (s *Systems) Get(name string) (*System, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sys, ok := s.systems[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSystem)
	}
	return sys, nil
}

// List returns the systems' names, sorted.
func (s *Systems) List() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.systems {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Stop removes the system name from the registry and closes it: its
// host processes are killed and its components closed.
func (s *Systems) Stop(name string) error {
	s.mu.Lock()
	sys, ok := s.systems[name]
	delete(s.systems, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s: %w", name, ErrNoSystem)
	}
	return sys.Close()
}

// Close stops every system.
func (s *Systems) Close() error {
	var errs []error
	for _, n := range s.List() {
		errs = append(errs, s.Stop(n))
	}
	return errors.Join(errs...)
}

// DefineSandbox defines, or redefines, the sandbox p.Name.
func (s *Systems) DefineSandbox(p Policy) {
	s.mu.Lock()
	s.sandboxes[p.Name] = p
	s.mu.Unlock()
}

// Sandbox returns the sandbox name.
func (s *Systems) Sandbox(name string) (Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.sandboxes[name]
	if !ok {
		return Policy{}, fmt.Errorf("%s: %w", name, ErrNoSandbox)
	}
	return p, nil
}

// Sandboxes returns the sandboxes, sorted by name.
func (s *Systems) Sandboxes() []Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ps []Policy
	for _, p := range s.sandboxes {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps
}

// apply puts sys in the sandbox p, nested in the one it is in.
func (sys *System) apply(ctx context.Context, p Policy) error {
	pol := Intersect(sys.Policy, p)
	n, err := apply(ctx, sys.Def.NS, pol, sys.budget())
	if err != nil {
		return err
	}
	if !pol.Restricts() {
		// Nothing hidden or held: the namespace as built, whose text
		// replays.
		n = sys.Def.NS
	}
	sys.Policy, sys.NS = pol, n
	// Host processes started from now on are held to the policy by the
	// kernel; an unrestricted system keeps plain host children.
	var l proc.Launcher
	if pol.Restricts() {
		l = sys.boxes.launcher(n, pol)
	}
	sys.Def.Env.Proc.SetLauncher(l)
	return nil
}

// reapply makes the sandbox's view of the namespace again, after the
// namespace was rebuilt, with v's commands replayed in it after the
// policy (v may be nil), and puts it in place of the old at once: shells
// and the kernel's view keep the same *ns.Namespace. wrap puts each
// server v mounts behind the system's gate. It returns the commands of
// v the new view refused, which are left out.
func (sys *System) reapply(ctx context.Context, v *viewReplay, wrap func(ns.FS) ns.FS) ([]leftOut, error) {
	if sys.NS == sys.Def.NS {
		return nil, nil
	}
	n, err := apply(ctx, sys.Def.NS, sys.Policy, sys.budget())
	if err != nil {
		return nil, err
	}
	left := v.replay(n, wrap)
	sys.NS.Swap(n)
	n.Clear()
	return left, nil
}

// viewText returns what was done in the system's view since its policy
// was applied, as namespace text (ownCmds): nothing for a system in no
// sandbox, whose view is the namespace as built and whose text holds it
// all.
func (sys *System) viewText() ([]byte, error) {
	if sys.NS == sys.Def.NS {
		return nil, nil
	}
	text, err := sys.NS.Text()
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	cmds, err := ownCmds(text)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	return ns.PrintText(cmds), nil
}

// A viewReplay is what replaying a view's own commands (viewText) in a
// new view takes: the commands, the new view's policy, and the servers
// they mount, got beforehand (newViewReplay) so that a clone copies
// them while its source is still.
//
// Replaying never widens the new view: the commands run in it after its
// policy, as a shell there runs them, so that a bind of a path the
// policy hides fails as the shell's would. A mount is held to the
// policy more strictly than the shell's (sys.Resolve): under a policy
// that restricts anything, besides host files and a network the policy
// does not grant, a view's mount may not name a shared kind (a new dev
// would show every device), a component the namespace as built mounts
// (the policy may hide where it is), a host directory, or a posted
// server outside the allowed paths. Those are not the view's own
// components, and a narrower sandbox must not get them back this way.
//
// A command the new view refuses is left out, and said so in the
// system's log, as Plan 9's newns goes on past a bind that fails: a
// clone into a narrower sandbox is meant to lose what that sandbox
// hides, not to fail for it. A server that cannot be had at all (a copy
// that fails) fails the whole step instead.
type viewReplay struct {
	cmds    []ns.Cmd
	pol     Policy
	built   map[string]bool // servers the namespace as built mounts
	servers map[string]ns.FS
}

// A leftOut is a command of a view the new view refused.
type leftOut struct {
	cmd ns.Cmd
	err error
}

// newViewReplay parses text, a view's own commands, for replay in a view
// made by pol over a namespace built by the commands built, and gets
// the servers it mounts that pol lets it mount, with resolve.
func newViewReplay(text []byte, built []ns.Cmd, pol Policy, resolve func(string) (ns.FS, error)) (*viewReplay, error) {
	cmds, err := ns.ParseText("view", text)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	v := &viewReplay{cmds: cmds, pol: pol, built: map[string]bool{}, servers: map[string]ns.FS{}}
	for _, c := range built {
		if c.Op == "mount" && len(c.Args) > 0 {
			v.built[c.Args[0]] = true
		}
	}
	for _, c := range cmds {
		if c.Op != "bind" && c.Op != "mount" {
			return nil, fmt.Errorf("view: %v: %s: only binds and mounts are made in a view", c.Pos, c.Op)
		}
		if c.Op != "mount" || len(c.Args) == 0 {
			continue
		}
		name := c.Args[0]
		if _, ok := v.servers[name]; ok || v.refuse(name) != nil {
			continue
		}
		fsys, err := resolve(name)
		if err != nil {
			return nil, fmt.Errorf("view: mount %s: %w", name, err)
		}
		if n, ok := fsys.(ns.Namer); !ok || n.Name() != name {
			fsys = ns.Named(name, fsys)
		}
		v.servers[name] = fsys
	}
	return v, nil
}

// refuse says why the new view's policy does not let it mount name, or
// returns nil.
func (v *viewReplay) refuse(name string) error {
	pol := v.pol
	if !pol.Restricts() {
		return nil
	}
	kind := name
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		kind = name[:i]
	}
	k, isKind := kinds.Lookup(kind)
	var why string
	switch {
	case strings.Contains(name, "!") && pol.Network != NetHost:
		why = "its network is " + pol.Network.String()
	case strings.HasPrefix(name, "/") && !visible(path.Clean(name), cleanPaths(pol.Allow)):
		why = "it hides " + name
	case isKind && k.Shared:
		why = "a shared kind mounted in a view would show what it hides"
	case isKind && k.Name == "hostfs":
		why = "host files would leave it"
	case v.built[name]:
		why = name + " is mounted in the namespace as built, where it may hide it"
	default:
		return nil
	}
	return fmt.Errorf("%s: %w: the sandbox %s: %s", name, ns.ErrPerm, pol.Name, why)
}

// replay makes v's commands in n, each mount's server behind wrap, and
// returns those n refused, which are left out. v may be nil.
func (v *viewReplay) replay(n *ns.Namespace, wrap func(ns.FS) ns.FS) []leftOut {
	if v == nil {
		return nil
	}
	resolve := func(name string) (ns.FS, error) {
		if err := v.refuse(name); err != nil {
			return nil, err
		}
		fsys, ok := v.servers[name]
		if !ok {
			return nil, fmt.Errorf("%s: not a server of the view", name)
		}
		return wrap(fsys), nil
	}
	var left []leftOut
	for _, c := range v.cmds {
		if err := ns.Replay(n, []ns.Cmd{c}, resolve); err != nil {
			left = append(left, leftOut{c, err})
		}
	}
	return left
}

// logLeftOut says in the system's log which commands of its view the
// step verb left out.
func (sys *System) logLeftOut(verb string, left []leftOut) {
	if len(left) == 0 {
		return
	}
	w, err := sys.Def.Env.Log.Writer("sandbox")
	if err != nil {
		return
	}
	defer w.Close()
	for _, l := range left {
		cmd := strings.TrimSuffix(string(ns.PrintText([]ns.Cmd{l.cmd})), "\n")
		fmt.Fprintf(w, "%s: %s left out of the view: %v\n", verb, cmd, l.err)
	}
}

// Add registers d, a system built already (the shell's default one), as
// the system name, in no sandbox. Stop closes it as any other.
func (s *Systems) Add(name string, d *kinds.Default) (*System, error) {
	sys := &System{Name: name, Def: d, Policy: Unrestricted(), NS: d.NS}
	if err := s.add(sys); err != nil {
		return nil, err
	}
	return sys, nil
}
