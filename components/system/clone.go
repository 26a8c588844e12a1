package system

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"loom/components/env"
	"loom/components/kinds"
	"loom/components/proc"
	"loom/ns"
)

// Clone makes the system dst a copy of src, inside the sandbox sandbox
// when it is not "", in one step:
//
//   - new components of dst's own, holding copies of src's state: the
//     environment, the log's lines, the srv entries (the posted servers
//     themselves are shared), and, for each component src's namespace
//     mounts, one made again by kinds.Default.Copy: a ramfs tree
//     copied, a hostfs of the same host directory (whose files are
//     shared, not copied), a new pipe, the same program wrapped again;
//   - a namespace built by replaying src's namespace text over them, so
//     that each mount names dst's copy where src's names its original;
//   - the sandbox, nested in the one src is in (Intersect), applied to
//     that namespace (Apply); the bytes src has written count against
//     dst's write limit too;
//   - what was done in src's sandbox's view since it was made (its binds
//     and mounts, those of components made there included, which are
//     copied as the rest), done again in dst's view, after its sandbox,
//     as a shell there would do it: what that sandbox refuses is left
//     out, with a line in dst's log (see viewReplay);
//   - src's running host processes started again in dst, each from its
//     whole definition (proc.Def): the same name and arguments, the
//     environment it was started with (not src's as it is now, nor
//     dst's) and the same working directory, under dst's sandbox.
//
// src is only read, at one moment: changes through its namespace wait
// while its state is copied. If any step fails, what was made of dst is closed
// and dst does not exist.
func (s *Systems) Clone(ctx context.Context, src, dst, sandbox string) (err error) {
	from, err := s.Get(src)
	if err != nil {
		return err
	}
	if _, err := s.Get(dst); err == nil {
		return fmt.Errorf("%s: %w", dst, ErrExist)
	}
	pol := from.Policy
	if sandbox != "" {
		p, err := s.Sandbox(sandbox)
		if err != nil {
			return err
		}
		pol = Intersect(pol, p)
	}
	// src's state is read at one moment: changes to it wait until its
	// components are copied, and its processes run on.
	unlock, err := from.Quiesce(ctx)
	if err != nil {
		return fmt.Errorf("clone %s: %w", src, err)
	}
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	text, err := from.Def.NS.Text()
	if err != nil {
		return fmt.Errorf("clone %s: %w", src, err)
	}
	cmds, err := ns.ParseText(src, text)
	if err != nil {
		return fmt.Errorf("clone %s: %w", src, err)
	}
	view, err := from.viewText()
	if err != nil {
		return fmt.Errorf("clone %s: %w", src, err)
	}
	d, err := kinds.NewDefault(s.user, append(slices.Clone(s.opts), kinds.Bare())...)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			d.Close()
			err = fmt.Errorf("%s as %s: %w", src, dst, err)
		}
	}()
	if err := copyEnv(from.Def.Env.Vars, d.Env.Vars); err != nil {
		return err
	}
	if err := from.Def.Env.Log.CopyTo(d.Env.Log); err != nil {
		return err
	}
	if err := from.Def.Env.Srv.CopyTo(d.Env.Srv); err != nil {
		return err
	}
	sys := &System{Name: dst, Def: d, Policy: Unrestricted(), NS: d.NS}
	resolve := d.ReplayResolver(ctx, from.Def.Components())
	if err := ns.Replay(d.NS, cmds, resolve); err != nil {
		return err
	}
	// The components src's view mounts are copied now, while src is
	// still, and mounted once dst's view is made.
	v, err := newViewReplay(view, cmds, pol, resolve)
	if err != nil {
		return err
	}
	sys.budget().add(from.budget().spent())
	unlock()
	unlock = nil
	// The gate replays the namespace, which a sandbox's view must come
	// after: its read-only mounts are on the files of the namespace as
	// the view is made. add would install it too, too late.
	sys.installGate()
	if err := sys.apply(ctx, pol); err != nil {
		return err
	}
	sys.logLeftOut("clone of "+src, v.replay(sys.NS, sys.Gated))
	for _, pd := range from.Def.Env.Proc.Defs() {
		if _, err := d.Env.Proc.StartDef(ctx, pd); err != nil {
			return fmt.Errorf("restart %s: %w", proc.JoinArgs(pd.Args), err)
		}
	}
	return s.add(sys)
}

// copyEnv makes dst's variables those of src.
func copyEnv(src, dst *env.Env) error {
	want := map[string]string{}
	for _, kv := range src.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	var errs []error
	for _, kv := range dst.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := want[k]; !ok {
			errs = append(errs, dst.Unset(k))
		}
	}
	for k, v := range want {
		errs = append(errs, dst.Set(k, v))
	}
	return errors.Join(errs...)
}
