package proc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"
)

// A Freezer is a Handle that can stop its process, and everything it
// started, as one, and let it go on again: a sandbox's handle does so
// with the cgroup freezer, which, unlike SIGSTOP, the process can neither
// see nor undo. Pause and Resume use it when a Handle implements it.
type Freezer interface {
	// Freeze stops the process and its descendants; it returns once
	// they no longer run.
	Freeze() error
	// Thaw lets a frozen process run again.
	Thaw() error
}

// Pause freezes every running process of the table, and those Start
// starts until Resume: with their handle's Freezer when it has one, by
// SIGSTOP to their process group otherwise. Pausing twice is pausing
// once. A process that exits meanwhile is no error.
func (fs *FS) Pause() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.paused {
		return nil
	}
	fs.paused = true
	var errs []error
	for _, p := range fs.live {
		if err := p.freeze(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Resume lets every process Pause froze run again, and Start start them
// running.
func (fs *FS) Resume() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.paused {
		return nil
	}
	fs.paused = false
	var errs []error
	for _, p := range fs.live {
		if err := p.thaw(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Paused reports whether the table is paused.
func (fs *FS) Paused() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.paused
}

// freeze stops p, by its Freezer or by SIGSTOP.
func (p *process) freeze() error {
	if f, ok := p.handle.(Freezer); ok {
		if err := f.Freeze(); err != nil && !p.exited() {
			return fmt.Errorf("%s %d: freeze: %w", p.name, p.id, err)
		}
		return nil
	}
	if err := p.signal(syscall.SIGSTOP); err != nil && err != errExited {
		return fmt.Errorf("%s %d: stop: %w", p.name, p.id, err)
	}
	// The signal is sent, not yet taken: wait (a little) until the
	// process stops, so that nothing it does comes after Pause. One
	// waiting in vfork for a child that stopped first never shows as
	// stopped, but does nothing either.
	for range 200 {
		st, ok := hostStat(p.hostPid)
		if !ok || st.state == "Stopped" || st.state == "Moribund" || st.state == "Dead" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// thaw undoes freeze.
func (p *process) thaw() error {
	if f, ok := p.handle.(Freezer); ok {
		if err := f.Thaw(); err != nil && !p.exited() {
			return fmt.Errorf("%s %d: thaw: %w", p.name, p.id, err)
		}
		return nil
	}
	if err := p.signal(syscall.SIGCONT); err != nil && err != errExited {
		return fmt.Errorf("%s %d: continue: %w", p.name, p.id, err)
	}
	return nil
}

// KillAll kills every process of the table and empties it, leaving the
// table open for more: what a rollback does before it starts the
// processes of the snapshot again. It returns once they have been
// reaped.
func (fs *FS) KillAll() {
	fs.mu.Lock()
	ps := fs.live
	fs.procs, fs.live = map[int]*process{}, map[int]*process{}
	fs.mu.Unlock()
	for _, p := range ps {
		fs.end(p)
	}
}

// A Def is what a process was started from, whole: enough to start it
// again as it was, wherever. Env is the environment it was started with,
// not the one its system has now, so that a process restarted by a
// clone, a rollback or a load sees what it saw the first time; Dir is
// its working directory as it was given ("" for the default of whatever
// starts it).
type Def struct {
	Name string
	Args []string
	Env  []string
	Dir  string
}

// Options gives the StartOptions that start d again.
func (d Def) Options() StartOptions {
	return StartOptions{Name: d.Name, Env: slices.Clone(d.Env), Dir: d.Dir}
}

// Defs gives the definitions of the processes of the table still
// running, by number.
func (fs *FS) Defs() []Def {
	fs.mu.Lock()
	ps := make([]*process, 0, len(fs.procs))
	for _, p := range fs.procs {
		ps = append(ps, p)
	}
	fs.mu.Unlock()
	slices.SortFunc(ps, func(a, b *process) int { return a.id - b.id })
	var ds []Def
	for _, p := range ps {
		if p.info().State == "Moribund" {
			continue // exited, reaped or not: nothing to start again
		}
		ds = append(ds, Def{Name: p.name, Args: slices.Clone(p.argv), Env: slices.Clone(p.env), Dir: p.wdir})
	}
	return ds
}

// StartDef starts a process again from its definition d and returns
// loom's number for it.
func (fs *FS) StartDef(ctx context.Context, d Def) (int, error) {
	return fs.Start(ctx, d.Args, d.Options())
}
