package system

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"loom/components/env"
	"loom/components/kinds"
	"loom/components/proc"
	"loom/components/ramfs"
	"loom/ns"
)

// Clone makes the system dst a copy of src, inside the sandbox sandbox
// when it is not "", in one step:
//
//   - new components of dst's own, holding copies of src's state: each
//     ramfs tree (a deep copy), the environment, the log's lines, and the
//     srv entries (the posted servers themselves are shared);
//   - a namespace built by replaying src's namespace text over them, so
//     that each mount names dst's copy where src's names its original;
//   - the sandbox, nested in the one src is in (Intersect), applied to
//     that namespace (Apply);
//   - src's running host processes started again in dst, with the same
//     arguments and names, in dst's environment.
//
// src is only read. If any step fails, what was made of dst is closed
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
	text, err := from.Def.NS.Text()
	if err != nil {
		return fmt.Errorf("clone %s: %w", src, err)
	}
	cmds, err := ns.ParseText(src, text)
	if err != nil {
		return fmt.Errorf("clone %s: %w", src, err)
	}
	d, err := kinds.NewDefault(s.user, s.opts...)
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
	sys := &System{Name: dst, Def: d, Policy: Unrestricted(), trees: map[string]*ramfs.FS{}}
	from.mu.Lock()
	for tn, t := range from.trees {
		sys.trees[tn] = t.Clone()
	}
	sys.ntree = from.ntree
	from.mu.Unlock()
	n := ns.New(s.user)
	if err := ns.Replay(n, cmds, sys.replayResolver(ctx)); err != nil {
		return err
	}
	d.NS, sys.NS = n, n
	if err := sys.apply(ctx, pol); err != nil {
		return err
	}
	for _, in := range from.Def.Env.Proc.List() {
		if in.State == "Moribund" {
			continue
		}
		if _, err := d.Env.Proc.Start(ctx, in.Args, proc.StartOptions{Name: in.Name, Env: d.Env.Environ()}); err != nil {
			return fmt.Errorf("restart %s: %w", strings.Join(in.Args, " "), err)
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
