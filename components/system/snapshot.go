package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"loom/components/kinds"
	"loom/components/log"
	"loom/components/proc"
	"loom/components/ramfs"
	"loom/components/srv"
	"loom/components/synth"
	"loom/ns"
)

// A Snapshot is the state of a system at one moment: what rollback
// returns the system to, and what save writes to a file and load makes
// a system of again.
//
// It holds the namespace's text, and that of what was done in the
// sandbox's view; the system's components other than the shared ones
// (a ramfs as a copy-on-write clone of its tree, any other kind as its
// kind and arguments, from which it is made again); the
// environment; the log's lines; the srv entries; the sandbox; and the
// whole definitions (proc.Def: name, arguments, environment, working
// directory) of the host processes that were running. The memory of
// those processes is not kept: they start again from their definitions.
type Snapshot struct {
	Name   string
	System string    // the system it was taken of
	Time   time.Time // when
	NS     []byte    // the namespace's text
	// View is what was done in the sandbox's view of the namespace
	// after the sandbox was applied, as namespace text: binds and
	// mounts made by a shell in the system (see viewReplay). It is
	// empty for a system in no sandbox, whose NS holds them.
	View   []byte
	Policy Policy
	Comps  []kinds.Component // FS is a *ramfs.FS for a ramfs, nil otherwise
	Vars   []string          // NAME=value
	Log    []LogLine
	Srv    []SrvEntry
	Procs  []proc.Def
}

// A LogLine is a line of a system's log.
type LogLine struct {
	Time   time.Time
	Writer string
	Text   string // with its newline
}

// A SrvEntry is a name posted in a system's srv: a 9P address, or a
// server of this loom (Local), which a saved snapshot cannot keep.
type SrvEntry struct {
	Name  string
	Addr  string
	Local ns.FS
}

// Size returns the bytes of data the snapshot's trees hold.
func (sn *Snapshot) Size() int64 {
	var n int64
	for _, c := range sn.Comps {
		if t, ok := c.FS.(*ramfs.FS); ok {
			n += t.Size()
		}
	}
	return n
}

// snapState is what a System keeps for its snapshots and pauses. The zero
// value is ready.
type snapState struct {
	op   sync.Mutex // serialises pause, resume and rollback
	mu   sync.Mutex
	gate *ns.Gate // in front of every server the namespace mounts
	gerr error    // why the namespace could not be put behind the gate
	// gatedText is the namespace's text when its mounts were last put
	// behind the gate.
	gatedText []byte
	snaps     map[string]*Snapshot
	seq       int // the last number given to an unnamed snapshot
	paused    bool
	fs        *synth.FS // SnapshotsFS, once asked for
}

// gated returns the system's gate, with every mount behind it, or why
// it has none.
func (sys *System) gated() (*ns.Gate, error) {
	sys.installGate()
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gate == nil {
		if st.gerr != nil {
			return nil, fmt.Errorf("%s: %w", sys.Name, st.gerr)
		}
		return nil, fmt.Errorf("%s: the namespace is not behind a gate", sys.Name)
	}
	return st.gate, nil
}

// installGate puts every server the system's namespace mounts behind a
// gate of the system's (ns.Gate), by replaying the namespace's text over
// the same servers, each wrapped: from then on every request to its
// components, however it comes (the shell, 9P, a sandboxed process),
// passes the gate, which pause and snapshot close. It is done when the
// system is registered, and again, before a pause or a snapshot, when
// the namespace's text has changed since (a mount made since is not
// behind the gate yet). A namespace that cannot be replayed (a mount the
// text cannot name) is left as it was, and the reason is kept for pause
// and snapshot to give.
func (sys *System) installGate() error {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	text, err := sys.Def.NS.Text()
	if err != nil {
		return err
	}
	if st.gate != nil && (st.paused || bytes.Equal(text, st.gatedText)) {
		return nil
	}
	g := st.gate
	if g == nil {
		g = ns.NewGate()
	}
	if err := replayGated(context.Background(), sys.Def, sys.Def.NS, g, nil); err != nil {
		if st.gate == nil {
			st.gerr = err
		}
		return err
	}
	st.gate, st.gerr = g, nil
	st.gatedText, _ = sys.Def.NS.Text()
	return nil
}

// Gated returns fsys behind the system's gate, for a mount made after
// the system was registered (the shell's Resolve), or fsys itself when
// the system has no gate. Mounts not made so are put behind it at the
// next pause or snapshot.
func (sys *System) Gated(fsys ns.FS) ns.FS {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gate == nil {
		return fsys
	}
	return st.gate.Wrap(fsys)
}

// markGated records that the namespace, as it is now, is behind the
// gate.
func (sys *System) markGated() {
	text, _ := sys.Def.NS.Text()
	st := &sys.snap
	st.mu.Lock()
	st.gatedText = text
	st.mu.Unlock()
}

// replayGated makes nsp, on d, what text says (nsp's own text when sn
// is nil, sn's otherwise), every mount behind g: it builds the new
// namespace aside (buildGated) and puts it in place at once.
func replayGated(ctx context.Context, d *kinds.Default, nsp *ns.Namespace, g *ns.Gate, sn *Snapshot) error {
	aside, err := buildGated(ctx, d, nsp, g, sn)
	if err != nil {
		return err
	}
	nsp.Swap(aside)
	aside.Clear() // lets go of the table nsp had
	return nil
}

// buildGated builds, aside from nsp, the namespace that text says (nsp's
// own text when sn is nil, sn's otherwise), on d, every mount behind g,
// and returns it, for nsp.Swap to put in place in one step. Every
// server is resolved first, with the components of the system text came
// from: when one fails, or the text does not replay, nothing is built.
// nsp is only read: its binds and mounts go on as they are meanwhile,
// so that no reader finds it half rebuilt.
//
// The new namespace is a Fork of nsp, cleared, so that its mounts get
// device numbers that no File walked in nsp before has.
func buildGated(ctx context.Context, d *kinds.Default, nsp *ns.Namespace, g *ns.Gate, sn *Snapshot) (*ns.Namespace, error) {
	text := []byte(nil)
	var from []kinds.Component
	if sn != nil {
		text, from = sn.NS, sn.Comps
	} else {
		var err error
		if text, err = nsp.Text(); err != nil {
			return nil, err
		}
	}
	cmds, err := ns.ParseText("namespace", text)
	if err != nil {
		return nil, err
	}
	resolve := d.ReplayResolver(ctx, from)
	servers := map[string]ns.FS{}
	for _, c := range cmds {
		if c.Op != "mount" || len(c.Args) == 0 {
			continue
		}
		if _, ok := servers[c.Args[0]]; ok {
			continue
		}
		fsys, err := resolve(c.Args[0])
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", c.Args[0], err)
		}
		if n, ok := fsys.(ns.Namer); !ok || n.Name() != c.Args[0] {
			fsys = ns.Named(c.Args[0], fsys)
		}
		servers[c.Args[0]] = g.Wrap(fsys)
	}
	aside := nsp.Fork()
	aside.Clear()
	err = ns.Replay(aside, cmds, func(name string) (ns.FS, error) {
		if fsys, ok := servers[name]; ok {
			return fsys, nil
		}
		return nil, fmt.Errorf("%s: not a server of the namespace", name)
	})
	if err != nil {
		aside.Clear()
		return nil, err
	}
	return aside, nil
}

// Snapshot takes a snapshot of the system called name ("" for the next
// number) and keeps it. Changes to the system's components wait while
// it is taken, and those running are let finish first, so that it holds
// each write entirely or not at all, and, of two writes one after the
// other, never the second without the first.
func (sys *System) Snapshot(ctx context.Context, name string) (*Snapshot, error) {
	if name != "" && !validSnapName(name) {
		return nil, fmt.Errorf("snapshot %q: %w", name, ns.ErrBadName)
	}
	st := &sys.snap
	st.mu.Lock()
	if _, ok := st.snaps[name]; ok && name != "" {
		st.mu.Unlock()
		return nil, fmt.Errorf("snapshot %s of %s: %w", name, sys.Name, ns.ErrExist)
	}
	st.mu.Unlock()
	sn, err := sys.capture(ctx)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if name == "" {
		for {
			st.seq++
			name = strconv.Itoa(st.seq)
			if _, ok := st.snaps[name]; !ok {
				break
			}
		}
	}
	if _, ok := st.snaps[name]; ok {
		return nil, fmt.Errorf("snapshot %s of %s: %w", name, sys.Name, ns.ErrExist)
	}
	if st.snaps == nil {
		st.snaps = map[string]*Snapshot{}
	}
	sn.Name = name
	st.snaps[name] = sn
	return sn, nil
}

// validSnapName reports whether name may name a snapshot: a file name
// of the snapshots directory without blanks or "@" (which save's
// NAME@SNAP uses). A number may be given; unnamed snapshots take the
// next number not taken.
func validSnapName(name string) bool {
	return name != "." && name != ".." && !strings.ContainsAny(name, "/@ \t\n\x00")
}

// Quiesce holds changes to the system's components, once those running
// have ended, until the function it returns is called: what copying the
// system at one moment takes (a snapshot does it; a clone may).
func (sys *System) Quiesce(ctx context.Context) (func(), error) {
	g, err := sys.gated()
	if err != nil {
		return nil, err
	}
	if err := g.Lock(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", sys.Name, err)
	}
	return g.Unlock, nil
}

// capture takes the system's state with its gate locked.
func (sys *System) capture(ctx context.Context) (*Snapshot, error) {
	unlock, err := sys.Quiesce(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer unlock()
	d := sys.Def
	text, err := d.NS.Text()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", sys.Name, err)
	}
	view, err := sys.viewText()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", sys.Name, err)
	}
	sn := &Snapshot{System: sys.Name, Time: time.Now(), NS: text, View: view, Policy: sys.Policy,
		Vars: d.Env.Vars.Environ(), Procs: d.Env.Proc.Defs()}
	for _, c := range d.Components() {
		if k, ok := kinds.Lookup(c.Kind); ok && k.Shared {
			continue
		}
		keep := kinds.Component{Name: c.Name, Kind: c.Kind, Args: slices.Clone(c.Args)}
		if t, ok := c.FS.(*ramfs.FS); ok {
			keep.FS = t.Clone()
		}
		sn.Comps = append(sn.Comps, keep)
	}
	user := d.NS.User()
	if sn.Log, err = logLines(ctx, d.Env.Log, user); err != nil {
		return nil, fmt.Errorf("snapshot %s: log: %w", sys.Name, err)
	}
	if sn.Srv, err = srvEntries(ctx, d.Env.Srv, user); err != nil {
		return nil, fmt.Errorf("snapshot %s: srv: %w", sys.Name, err)
	}
	return sn, nil
}

// logTime is the layout of a log line's time stamp.
const logTime = "2006-01-02T15:04:05.000Z"

// logLines reads the lines of l, all writers', in order.
func logLines(ctx context.Context, l *log.Log, user string) ([]LogLine, error) {
	b, err := readFile(ctx, l, user, "all")
	if err != nil {
		return nil, err
	}
	var lines []LogLine
	for len(b) > 0 {
		i := strings.IndexByte(string(b), '\n')
		ln := string(b)
		if i >= 0 {
			ln, b = string(b[:i+1]), b[i+1:]
		} else {
			b = nil
		}
		ts, rest, ok1 := strings.Cut(ln, " ")
		w, text, ok2 := strings.Cut(rest, " ")
		t, err := time.Parse(logTime, ts)
		if !ok1 || !ok2 || err != nil {
			continue // not a line of the log's making
		}
		lines = append(lines, LogLine{Time: t, Writer: w, Text: text})
	}
	return lines, nil
}

// restoreLog adds lines to l with their own times.
func restoreLog(l *log.Log, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	var now time.Time
	tmp := log.New(log.Clock(func() time.Time { return now }))
	ws := map[string]*log.Writer{}
	for _, ln := range lines {
		w := ws[ln.Writer]
		if w == nil {
			var err error
			if w, err = tmp.Writer(ln.Writer); err != nil {
				return err
			}
			ws[ln.Writer] = w
		}
		now = ln.Time
		text := ln.Text
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		if _, err := w.Write([]byte(text)); err != nil {
			return err
		}
	}
	return tmp.CopyTo(l)
}

// srvEntries lists what s has posted.
func srvEntries(ctx context.Context, s *srv.FS, user string) ([]SrvEntry, error) {
	var es []SrvEntry
	for _, name := range s.Names() {
		b, err := readFile(ctx, s, user, name)
		if errors.Is(err, ns.ErrNotExist) {
			continue // removed since Names
		}
		if err != nil {
			return nil, err
		}
		addr := strings.TrimSpace(string(b))
		if addr == "local" {
			local, err := s.Lookup(name)
			if err != nil {
				continue
			}
			es = append(es, SrvEntry{Name: name, Local: local})
			continue
		}
		es = append(es, SrvEntry{Name: name, Addr: addr})
	}
	return es, nil
}

// restoreSrv makes s post what es holds, and only that.
func restoreSrv(s *srv.FS, es []SrvEntry) error {
	var errs []error
	for _, n := range s.Names() {
		errs = append(errs, s.Remove(n))
	}
	for _, e := range es {
		if e.Local != nil {
			errs = append(errs, s.Post(e.Name, e.Local))
		} else {
			errs = append(errs, s.PostAddr(e.Name, e.Addr))
		}
	}
	return errors.Join(errs...)
}

// setVars makes the system's variables vars, and only those.
func setVars(d *kinds.Default, vars []string) error {
	want := map[string]string{}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	var errs []error
	for _, kv := range d.Env.Vars.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := want[k]; !ok {
			errs = append(errs, d.Env.Vars.Unset(k))
		}
	}
	for k, v := range want {
		errs = append(errs, d.Env.Vars.Set(k, v))
	}
	return errors.Join(errs...)
}

// readFile reads the file name of fsys as user.
func readFile(ctx context.Context, fsys ns.FS, user, name string) ([]byte, error) {
	r, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return nil, err
	}
	defer r.Clunk()
	_, f, err := r.Walk(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, ns.ErrNotExist
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil, err
	}
	return ns.ReadAll(ctx, f)
}

// startProcs starts the processes ps in d, each from its own
// definition: with the environment and working directory it had, not
// d's environment now.
func startProcs(ctx context.Context, d *kinds.Default, ps []proc.Def) error {
	var errs []error
	for _, p := range ps {
		if _, err := d.Env.Proc.StartDef(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("restart %s: %w", proc.JoinArgs(p.Args), err))
		}
	}
	return errors.Join(errs...)
}

// Snapshots returns the names of the system's snapshots, sorted.
func (sys *System) Snapshots() []string {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	names := make([]string, 0, len(st.snaps))
	for n := range st.snaps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SnapshotByName returns the system's snapshot name.
func (sys *System) SnapshotByName(name string) (*Snapshot, error) {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	sn, ok := st.snaps[name]
	if !ok {
		return nil, fmt.Errorf("snapshot %s of %s: %w", name, sys.Name, ns.ErrNotExist)
	}
	return sn, nil
}

// RemoveSnapshot forgets the system's snapshot name.
func (sys *System) RemoveSnapshot(name string) error {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.snaps[name]; !ok {
		return fmt.Errorf("snapshot %s of %s: %w", name, sys.Name, ns.ErrNotExist)
	}
	delete(st.snaps, name)
	return nil
}

// SnapshotsFS returns a directory of the system's snapshots, one file
// each, by name: reading one gives a line of its time (RFC 3339) and the
// bytes its trees hold; removing one forgets the snapshot. It is the
// same server at every call.
func (sys *System) SnapshotsFS() ns.FS {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.fs != nil {
		return st.fs
	}
	nodes := map[*Snapshot]*synth.Node{}
	var mu sync.Mutex
	node := func(sn *Snapshot) *synth.Node {
		mu.Lock()
		defer mu.Unlock()
		if n, ok := nodes[sn]; ok {
			return n
		}
		line := fmt.Sprintf("%s %d\n", sn.Time.UTC().Format(time.RFC3339Nano), sn.Size())
		n := &synth.Node{Name: sn.Name, Mode: 0o644,
			Open:   synth.Text(func(context.Context, *synth.Req) ([]byte, error) { return []byte(line), nil }),
			Length: func(*synth.Req) int64 { return int64(len(line)) },
			Remove: func(ctx context.Context, r *synth.Req) error {
				mu.Lock()
				delete(nodes, sn)
				mu.Unlock()
				return sys.RemoveSnapshot(sn.Name)
			},
		}
		nodes[sn] = n
		return n
	}
	root := &synth.Node{
		Mode: ns.DMDIR | 0o775,
		Gen: func(ctx context.Context, r *synth.Req) ([]*synth.Node, error) {
			var out []*synth.Node
			for _, name := range sys.Snapshots() {
				if sn, err := sys.SnapshotByName(name); err == nil {
					out = append(out, node(sn))
				}
			}
			return out, nil
		},
		Lookup: func(ctx context.Context, r *synth.Req, name string) (*synth.Node, error) {
			sn, err := sys.SnapshotByName(name)
			if err != nil {
				return nil, ns.ErrNotExist
			}
			return node(sn), nil
		},
	}
	st.fs = synth.New(root, synth.Owner(sys.Def.NS.User()))
	return st.fs
}

// Rollback returns the system to its snapshot name: its trees hold what
// they held then, its namespace is the snapshot's (the sandbox's view
// too: what was done in it then is done again in the view made anew),
// its environment and srv entries are, and its host processes are
// killed and started again from the snapshot's definitions of them
// (proc.Def), each with its own environment and working directory.
//
// Changes to the system wait while it goes on; reads go on, and see the
// system as it was until the new state is put in place, at once: the
// trees are restored in their components, which the namespace as it is
// does not see, since each of its mounts holds the root its tree had
// when it was mounted; the new namespace is built aside, over the
// restored trees, and swapped in whole (ns.Namespace.Swap); and while it
// is swapped and the environment and srv entries are set, every request
// to the components waits. A walk that a swap overlaps is made again, so
// a reader finds either the old state or the new, never a mix.
//
// The log is not rolled back: it keeps what happened, the rollback too,
// which it records. Nor is the sandbox: the system stays in the one it
// is in now, not the one the snapshot was taken in. A sandbox only
// narrows, and a system put in a narrower sandbox since the snapshot must
// not widen its rights again by rolling back to a time before; the
// kernel's box its processes run in cannot be widened in place either.
// The snapshot's policy is kept for save and load, which make a new
// system in it.
func (sys *System) Rollback(ctx context.Context, name string) error {
	sn, err := sys.SnapshotByName(name)
	if err != nil {
		return err
	}
	g, err := sys.gated()
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	st := &sys.snap
	st.op.Lock()
	defer st.op.Unlock()
	// Changes wait; reads go on, since building the namespace aside
	// reads through the gate too.
	if err := g.Lock(ctx); err != nil {
		return fmt.Errorf("rollback %s: %w", sys.Name, err)
	}
	defer g.Unlock()
	if sys.Paused() {
		// Even a paused system's: its processes start frozen, and
		// other requests wait again once it is done.
		g.Release()
		defer g.Hold()
	}
	d := sys.Def
	d.Env.Proc.KillAll()
	for _, c := range sn.Comps {
		t, ok := c.FS.(*ramfs.FS)
		if !ok {
			continue
		}
		if cur, ok := d.Component(c.Name); ok {
			if ct, ok := cur.FS.(*ramfs.FS); ok {
				ct.Restore(t)
			}
		}
	}
	var errs []error
	aside, err := buildGated(ctx, d, d.NS, g, sn)
	if err != nil {
		errs = append(errs, fmt.Errorf("namespace: %w", err))
	}
	var v *viewReplay
	if aside != nil {
		built, _ := ns.ParseText("namespace", sn.NS) // buildGated parsed it
		if v, err = newViewReplay(sn.View, built, sys.Policy, d.ReplayResolver(ctx, sn.Comps)); err != nil {
			errs = append(errs, err)
		}
	}
	// Nothing below goes through the gate: holding every request
	// makes the swap and the setting of the environment and srv one
	// step for those who read them.
	g.Hold()
	if aside != nil {
		d.NS.Swap(aside)
	}
	errs = append(errs, setVars(d, sn.Vars), restoreSrv(d.Env.Srv, sn.Srv))
	g.Release()
	if aside != nil {
		aside.Clear() // lets go of the namespace as it was
		// The sandbox's view holds files of the namespace it was
		// made over (its read-only paths): make it again over the
		// new one, the same way, with what was done in it by the
		// time of the snapshot.
		left, err := sys.reapply(ctx, v, g.Wrap)
		if err != nil {
			errs = append(errs, fmt.Errorf("sandbox: %w", err))
		}
		sys.logLeftOut("rollback to "+sn.Name, left)
	}
	sys.markGated()
	if w, err := d.Env.Log.Writer("snapshot"); err == nil {
		fmt.Fprintf(w, "rollback to %s of %s\n", sn.Name, sn.Time.UTC().Format(time.RFC3339))
		w.Close()
	}
	errs = append(errs, startProcs(ctx, d, sn.Procs))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rollback %s to %s: %w", sys.Name, sn.Name, err)
	}
	return nil
}

// Pause freezes the system: its host processes stop (proc.FS.Pause) and
// requests to its components wait, not failing, until Resume.
func (sys *System) Pause() error {
	g, err := sys.gated()
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	st := &sys.snap
	st.op.Lock()
	defer st.op.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.paused {
		return nil
	}
	st.paused = true
	g.Hold()
	return sys.Def.Env.Proc.Pause()
}

// Resume undoes Pause.
func (sys *System) Resume() error {
	g, err := sys.gated()
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	st := &sys.snap
	st.op.Lock()
	defer st.op.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.paused {
		return nil
	}
	st.paused = false
	err = sys.Def.Env.Proc.Resume()
	g.Release()
	return err
}

// openGate lets every request held by a pause go, as the system closes.
func (sys *System) openGate() {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.paused && st.gate != nil {
		st.paused = false
		st.gate.Release()
	}
}

// Held returns the number of requests to the system's components that
// wait for its gate now: while paused, those that a resume lets go.
func (sys *System) Held() int {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gate == nil {
		return 0
	}
	return st.gate.Waiting()
}

// Paused reports whether the system is paused.
func (sys *System) Paused() bool {
	st := &sys.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.paused
}

// fromSnapshot makes the system name of sn, not yet registered: new
// components holding sn's state, its namespace replayed over them, its
// sandbox, what was done in the sandbox's view done again (viewReplay),
// its processes started.
func (s *Systems) fromSnapshot(ctx context.Context, name string, sn *Snapshot) (_ *System, err error) {
	d, err := kinds.NewDefault(s.user, append(slices.Clone(s.opts), kinds.Bare())...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := setVars(d, sn.Vars); err != nil {
		return nil, err
	}
	if err := restoreLog(d.Env.Log, sn.Log); err != nil {
		return nil, err
	}
	if err := restoreSrv(d.Env.Srv, sn.Srv); err != nil {
		return nil, err
	}
	sys := &System{Name: name, Def: d, Policy: Unrestricted(), NS: d.NS}
	g := ns.NewGate()
	if err := replayGated(ctx, d, d.NS, g, sn); err != nil {
		return nil, err
	}
	sys.snap.gate = g
	sys.markGated()
	built, err := ns.ParseText("namespace", sn.NS)
	if err != nil {
		return nil, err
	}
	v, err := newViewReplay(sn.View, built, sn.Policy, d.ReplayResolver(ctx, sn.Comps))
	if err != nil {
		return nil, err
	}
	if err := sys.apply(ctx, sn.Policy); err != nil {
		return nil, err
	}
	sys.logLeftOut("load of "+sn.System+"@"+sn.Name, v.replay(sys.NS, sys.Gated))
	if err := startProcs(ctx, d, sn.Procs); err != nil {
		return nil, err
	}
	return sys, nil
}

// cmdSnapshot: snapshot [NAME] [as SNAP]
func cmdSnapshot(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	name, snap := cur, ""
	switch a := args[1:]; {
	case len(a) == 0:
	case len(a) == 1 && a[0] != "as":
		name = a[0]
	case len(a) == 2 && a[0] == "as":
		snap = a[1]
	case len(a) == 3 && a[1] == "as":
		name, snap = a[0], a[2]
	default:
		return errors.New("usage: snapshot [system] [as name]")
	}
	sys, err := s.Get(name)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	sn, err := sys.Snapshot(ctx, snap)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s@%s\n", sys.Name, sn.Name)
	return err
}

// cmdRollback: rollback [NAME] to SNAP
func cmdRollback(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	name, snap := cur, ""
	switch a := args[1:]; {
	case len(a) == 2 && a[0] == "to":
		snap = a[1]
	case len(a) == 3 && a[1] == "to":
		name, snap = a[0], a[2]
	case len(a) == 1 && strings.Contains(a[0], "@"):
		name, snap, _ = strings.Cut(a[0], "@")
	default:
		return errors.New("usage: rollback [system] to snapshot")
	}
	sys, err := s.Get(name)
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return sys.Rollback(ctx, snap)
}

// pauseVerb makes pause and resume.
func pauseVerb(verb string, do func(*System) error) verb {
	return func(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
		name := cur
		switch len(args) {
		case 1:
		case 2:
			name = args[1]
		default:
			return fmt.Errorf("usage: %s [system]", verb)
		}
		sys, err := s.Get(name)
		if err != nil {
			return fmt.Errorf("%s: %w", verb, err)
		}
		return do(sys)
	}
}

func init() {
	verbs["snapshot"] = cmdSnapshot
	verbs["rollback"] = cmdRollback
	verbs["pause"] = pauseVerb("pause", (*System).Pause)
	verbs["resume"] = pauseVerb("resume", (*System).Resume)
	verbs["save"] = cmdSave
	verbs["load"] = cmdLoad
}
