package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"loom/components/hostfs"
	"loom/components/proc"
	"loom/components/ramfs"
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
// at all: its binaries, libraries and dynamic loader. The sandbox's view
// shows each read-only, where the policy allows the path and the
// system's namespace has nothing there of its own.
var hostDirs = []string{"/usr", "/bin", "/lib", "/lib64"}

// launcher returns the proc launcher of a system in the sandbox pol, whose
// namespace is sysNS: each process starts with sandbox.Start in sysNS, plus the
// host's programs (hostDirs), with the policy's network and its memory
// and processes limits. The other limits (write, cpu) are not enforced.
func launcher(sysNS *ns.Namespace, pol Policy) proc.Launcher {
	return func(ctx context.Context, argv, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) (proc.Handle, error) {
		user := sysNS.User()
		root, err := sandboxView(ctx, sysNS, user, pol)
		if err != nil {
			return nil, err
		}
		cfg := sandbox.Config{
			Root: root, User: user, Argv: argv, Env: env, Dir: dir,
			Network: sandboxNetwork(pol.Network),
			Limits:  sandbox.Limits{Memory: pol.Limits["memory"], Processes: int(pol.Limits["processes"])},
			Stdin:   stdin, Stdout: stdout, Stderr: stderr,
		}
		p, err := sandbox.Start(cfg)
		if err != nil {
			return nil, err
		}
		return handle{p}, nil
	}
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

func (h handle) Pid() int    { return h.p.Pid() }
func (h handle) Wait() error { return h.p.Wait() }

// Signal kills the sandbox for SIGKILL. Any other signal goes to the
// sandbox's init, which is all a process outside the pid namespace can
// reach: it does not pass it on to the program.
func (h handle) Signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return h.p.Kill()
	}
	return syscall.Kill(h.p.Pid(), sig)
}

// sandboxView is what a sandboxed program sees as /: the system's
// namespace, with the host's directories (hostDirs) that it lacks and the
// policy allows mounted read-only after it. Debian's merged /usr makes
// /bin, /lib and /lib64 symbolic links into /usr, which a loom file
// server does not follow, so those are binds of /usr's directories, and
// each link in /lib64 (the dynamic loader) a bind of the file it names.
func sandboxView(ctx context.Context, sysNS *ns.Namespace, user string, pol Policy) (ns.FS, error) {
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
	v := ns.New(user)
	if err := v.Mount(sysNS, "/", ns.MREPL|ns.MCREATE, ""); err != nil {
		return nil, err
	}
	if len(want) == 0 {
		return v, nil
	}
	top := ramfs.New(ramfs.Owner(user))
	for _, d := range want {
		if err := mkdirAll(ctx, top, user, d); err != nil {
			return nil, err
		}
	}
	if err := v.Mount(ns.Named("ramfs", top), "/", ns.MAFTER, ""); err != nil {
		return nil, err
	}
	usrDone := false
	for _, d := range want {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			return nil, err
		}
		switch {
		case real == d:
			h, err := hostfs.New(d, hostfs.ReadOnly())
			if err != nil {
				return nil, err
			}
			if err := v.Mount(ns.Named("hostfs", h), d, ns.MREPL, ""); err != nil {
				return nil, fmt.Errorf("sandbox view %s: %w", d, err)
			}
			usrDone = usrDone || d == "/usr"
		case usrDone && strings.HasPrefix(real, "/usr/"):
			if err := v.Bind(real, d, ns.MREPL); err != nil {
				return nil, fmt.Errorf("sandbox view %s: %w", d, err)
			}
		default:
			// A link to elsewhere, or into a /usr not shown.
			continue
		}
		if err := bindLinks(ctx, v, top, user, d, usrDone); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// bindLinks binds, over each symbolic link directly in the host's
// directory d, the file it names when that is in /usr and /usr is shown:
// placeholders for them are made in top, which is mounted after d.
func bindLinks(ctx context.Context, v *ns.Namespace, top *ramfs.FS, user, d string, usr bool) error {
	if !usr || d == "/usr" {
		return nil
	}
	ents, err := os.ReadDir(d)
	if err != nil {
		return nil
	}
	var links []string
	for _, e := range ents {
		if e.Type()&os.ModeSymlink == 0 {
			continue
		}
		real, err := filepath.EvalSymlinks(path.Join(d, e.Name()))
		if err != nil || !strings.HasPrefix(real, "/usr/") {
			continue
		}
		links = append(links, e.Name(), real)
	}
	if len(links) == 0 {
		return nil
	}
	// The links' names are absent from the hostfs (links are not
	// served): a union of d with a directory of placeholders gives
	// them names to bind over.
	dirp := "/links" + strings.ReplaceAll(d, "/", "_")
	if err := mkdirAll(ctx, top, user, dirp); err != nil {
		return err
	}
	for i := 0; i < len(links); i += 2 {
		if err := createFile(ctx, top, user, dirp, links[i]); err != nil {
			return err
		}
	}
	if err := v.Mount(ns.Named("ramfs", sub{top, dirp}), d, ns.MAFTER, ""); err != nil {
		return err
	}
	var errs []error
	for i := 0; i < len(links); i += 2 {
		errs = append(errs, v.Bind(links[i+1], path.Join(d, links[i]), ns.MREPL))
	}
	return errors.Join(errs...)
}

// createFile makes the empty file name in the directory dir of fsys.
func createFile(ctx context.Context, fsys ns.FS, user, dir, name string) error {
	d, err := walk(ctx, fsys, user, dir)
	if err != nil {
		return err
	}
	defer d.Clunk()
	c, ok := d.(ns.Creater)
	if !ok {
		return ns.ErrPerm
	}
	f, _, err := c.Create(ctx, name, 0o555, ns.OREAD)
	if err != nil {
		return err
	}
	return f.Clunk()
}
