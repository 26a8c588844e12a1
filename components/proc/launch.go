package proc

import (
	"context"
	"io"
	"syscall"
)

// A Handle is a host process started by a Launcher.
type Handle interface {
	// Pid is the process's id as the host sees it, which status shows.
	Pid() int
	// Wait waits for the process to exit: nil when it succeeded, an
	// *exec.ExitError when it failed with a status, another error when
	// that is not known.
	Wait() error
	// Signal sends sig to the process and what it started.
	Signal(sig syscall.Signal) error
}

// A Launcher starts argv, with the environment env, in the working
// directory dir ("" for the launcher's default), reading stdin and
// writing stdout and stderr, in whatever way it runs programs (a
// sandbox, say). The program is looked for by the launcher, in its own
// view of the file system. ctx bounds the starting only: the process
// lives until it exits or is signalled.
type Launcher func(ctx context.Context, argv, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) (Handle, error)

// Launch makes the server start its processes with l instead of as plain
// host children (os/exec).
func Launch(l Launcher) Option { return func(fs *FS) { fs.launch = l } }

// SetLauncher makes the processes started from now on start with l, or
// as plain host children when l is nil; those running already are left
// as they are. A system put in a sandbox after its proc was made uses it.
func (fs *FS) SetLauncher(l Launcher) {
	fs.mu.Lock()
	fs.launch = l
	fs.mu.Unlock()
}

// Launcher returns the launcher processes start with now, nil when they
// start as plain host children. Other components that start host
// programs for the system (exec) ask it at each start, and so follow
// the system into its sandbox.
func (fs *FS) Launcher() Launcher { return fs.launcher() }

// launcher is the server's launcher, nil for os/exec.
func (fs *FS) launcher() Launcher {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.launch
}
