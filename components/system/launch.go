package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"loom/components/proc"
	"loom/components/sandbox"
	"loom/ns"
)

// Restricts reports whether p grants less than Unrestricted does in any
// way: a system in such a sandbox runs its host processes isolated by
// the kernel (components/sandbox) rather than as plain host children.
func (p Policy) Restricts() bool {
	u := Unrestricted()
	al := cleanPaths(p.Allow)
	return len(al) != 1 || al[0] != "/" || len(p.ReadOnly) > 0 || !allDevices(p.Devices) ||
		p.Network != u.Network || len(p.Limits) > 0
}

// hostDirs are the host's directories a sandboxed program needs to run
// at all: its binaries, libraries and dynamic loader. The box shows each
// read-only, where the policy allows the path and the system's
// namespace has nothing there of its own.
var hostDirs = []string{"/usr", "/bin", "/lib", "/lib64"}

// boxes are the kernel sandboxes of a system: one per policy it has been
// put in, made when its first process starts there. Processes of one
// box share its pid namespace, network, /proc and cgroups.
type boxes struct {
	mu     sync.Mutex
	all    []*sysBox
	closed bool
}

// sysBox is a box made on demand for a namespace and a policy.
type sysBox struct {
	sysNS *ns.Namespace
	pol   Policy
	owner *boxes

	mu  sync.Mutex
	box *sandbox.Box
}

// launcher returns the proc launcher of a system in the sandbox pol,
// whose namespace is sysNS: every process starts in one box, made on
// the first start, with sysNS and the host's programs (hostDirs) as its
// file system, the policy's network and its memory, processes and cpu
// limits. The write limit is not the box's: the namespace counts it.
func (bs *boxes) launcher(sysNS *ns.Namespace, pol Policy) proc.Launcher {
	sb := &sysBox{sysNS: sysNS, pol: pol, owner: bs}
	bs.mu.Lock()
	bs.all = append(bs.all, sb)
	bs.mu.Unlock()
	return sb.launch
}

func (sb *sysBox) launch(ctx context.Context, argv, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) (proc.Handle, error) {
	b, err := sb.get(ctx)
	if err != nil {
		return nil, err
	}
	p, err := b.Start(argv, env, dir, stdin, stdout, stderr)
	if err != nil {
		return nil, err
	}
	return handle{p}, nil
}

// get returns the box, made now if there is none or its init has gone.
func (sb *sysBox) get(ctx context.Context) (*sandbox.Box, error) {
	sb.owner.mu.Lock()
	closed := sb.owner.closed
	sb.owner.mu.Unlock()
	if closed {
		return nil, errors.New("sandbox: system closed")
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.box != nil {
		select {
		case <-sb.box.Done():
			sb.box.Close()
			sb.box = nil
		default:
			return sb.box, nil
		}
	}
	user := sb.sysNS.User()
	b, err := sandbox.New(sandbox.BoxConfig{
		Root: sb.sysNS, User: user,
		HostDirs: sandboxHostDirs(ctx, sb.sysNS, user, sb.pol),
		Network:  sandboxNetwork(sb.pol.Network),
		Limits: sandbox.Limits{
			Memory:    sb.pol.Limits["memory"],
			Processes: int(sb.pol.Limits["processes"]),
			CPU:       int(sb.pol.Limits["cpu"]),
		},
	})
	if err != nil {
		return nil, err
	}
	sb.box = b
	return b, nil
}

// close closes the box, killing what runs in it.
func (sb *sysBox) close() error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.box == nil {
		return nil
	}
	err := sb.box.Close()
	sb.box = nil
	return err
}

// close closes every box; none is made afterwards.
func (bs *boxes) close() error {
	bs.mu.Lock()
	bs.closed = true
	all := bs.all
	bs.all = nil
	bs.mu.Unlock()
	var errs []error
	for _, sb := range all {
		errs = append(errs, sb.close())
	}
	return errors.Join(errs...)
}

// Box returns the kernel sandbox the system's host processes run in,
// nil when none has been made: the system is not sandboxed, or has
// started no process since it was.
func (s *System) Box() *sandbox.Box {
	s.boxes.mu.Lock()
	defer s.boxes.mu.Unlock()
	if len(s.boxes.all) == 0 {
		return nil
	}
	sb := s.boxes.all[len(s.boxes.all)-1]
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.box
}

// sandboxNetwork gives the sandbox's network for a policy's.
func sandboxNetwork(n Network) sandbox.Network {
	switch n {
	case NetHost:
		return sandbox.HostNetwork
	case NetLoopback:
		return sandbox.Loopback
	}
	return sandbox.NoNetwork
}

// handle is a sandboxed process as proc sees it.
type handle struct{ p *sandbox.Process }

var (
	_ proc.Handle  = handle{}
	_ proc.Freezer = handle{}
)

func (h handle) Pid() int { return h.p.Pid() }

// Wait gives a failure as proc's exit messages say it: "exit N", or the
// note of the signal that killed the process.
func (h handle) Wait() error {
	err := h.p.Wait()
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		if ee.Status.Signaled() {
			return errors.New(proc.NoteName(ee.Status.Signal()))
		}
		return fmt.Errorf("exit %d", ee.Status.ExitStatus())
	}
	return err
}

// Signal sends sig to the process (and its group) itself, from here:
// not to the box's init.
func (h handle) Signal(sig syscall.Signal) error { return h.p.Signal(sig) }

// Freeze freezes the process's box: every process of the system's
// sandbox stops with it.
func (h handle) Freeze() error { return h.p.Box().Freeze() }

// Thaw thaws the process's box.
func (h handle) Thaw() error { return h.p.Box().Thaw() }

// sandboxHostDirs are the host directories (hostDirs) a box of the
// policy pol shows: those the policy allows, the host has, and the
// system's namespace lacks.
func sandboxHostDirs(ctx context.Context, sysNS *ns.Namespace, user string, pol Policy) []string {
	allow := cleanPaths(pol.Allow)
	var want []string
	for _, d := range hostDirs {
		if !visible(d, allow) {
			continue
		}
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if f, err := walk(ctx, sysNS, user, d); err == nil {
			f.Clunk()
			continue
		}
		want = append(want, d)
	}
	return want
}

// Sandboxed reports whether the system's host processes run in a
// kernel sandbox rather than as plain host children.
func (sys *System) Sandboxed() bool { return sys.Def.Env.Proc.Launcher() != nil }

// Run runs argv in the system's kernel sandbox, as a shell inside the
// system runs a program: in the foreground, on the given files, until
// it exits or ctx ends (which kills it). It fails for a system that is
// not sandboxed, whose programs are plain host children the caller
// runs itself. A program that ran and failed gives an *ExitError.
func (sys *System) Run(ctx context.Context, argv, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	launch := sys.Def.Env.Proc.Launcher()
	if launch == nil {
		return fmt.Errorf("%s: not sandboxed", sys.Name)
	}
	h, err := launch(ctx, argv, env, "", stdin, stdout, stderr)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- h.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return &ExitError{err.Error()}
		}
		return nil
	case <-ctx.Done():
		h.Signal(syscall.SIGKILL)
		<-done
		return ctx.Err()
	}
}

// An ExitError is the failure of a program Run ran: Status is "exit N",
// or the note of the signal that killed it.
type ExitError struct{ Status string }

func (e *ExitError) Error() string { return e.Status }
