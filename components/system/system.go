// Package system holds loom's systems: named sets of components with a
// namespace of their own, the sandbox policies that restrict what a
// system sees, and the registry that makes, finds and stops systems.
//
// A system is made as the default one is (kinds.NewDefault): its own dev,
// env, srv, log and proc, a ramfs root and /tmp. A policy (Policy) is
// applied to its namespace as namespace transformations (Apply): hidden
// paths, read-only paths, granted devices. The host processes of a system
// whose policy restricts anything run in a sandbox of the kernel's
// (components/sandbox): in the system's namespace, with the host's /usr,
// /bin, /lib and /lib64 shown read-only where the policy allows them,
// the policy's network, and its memory and processes limits.
package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
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
	// launch starts its host processes when it is sandboxed; nil
	// when they are plain host children.
	launch proc.Launcher
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
	sys.launch = l
	sys.Def.Env.Proc.SetLauncher(l)
	return nil
}

// reapply makes the sandbox's view of the namespace again, after the
// namespace was rebuilt, and puts it in place of the old at once: shells
// and the kernel's view keep the same *ns.Namespace.
func (sys *System) reapply(ctx context.Context) error {
	if sys.NS == sys.Def.NS {
		return nil
	}
	n, err := apply(ctx, sys.Def.NS, sys.Policy, sys.budget())
	if err != nil {
		return err
	}
	sys.NS.Swap(n)
	n.Clear()
	return nil
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
