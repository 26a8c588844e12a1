package system

import (
	"context"
	"fmt"

	"loom/ns"
)

// SetNamespace makes the system's namespace what text says, in
// namespace(6) form (the text ns prints), as Plan 9's newns builds one
// from a file: the text is parsed whole (errors name file:line:col) and
// replayed aside over the system's components, then put in place in one
// step; if any of it fails, the namespace is as it was. Changes through
// the namespace wait meanwhile.
//
// A sandboxed system refuses: its namespace is its policy's view, which
// a text could not rebuild without the policy (use its ctl to bind and
// mount in the view).
func (sys *System) SetNamespace(ctx context.Context, file string, text []byte) error {
	if sys.NS != sys.Def.NS {
		return fmt.Errorf("%s: %w: the system is in a sandbox (%s); bind and mount in its view", file, ns.ErrPerm, sys.Policy.Name)
	}
	if _, err := ns.ParseText(file, text); err != nil {
		return err
	}
	g, err := sys.gated()
	if err != nil {
		return err
	}
	st := &sys.snap
	st.op.Lock()
	defer st.op.Unlock()
	if err := g.Lock(ctx); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer g.Unlock()
	aside, err := buildGated(ctx, sys.Def, sys.Def.NS, g, &Snapshot{NS: text})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	g.Hold()
	sys.Def.NS.Swap(aside)
	g.Release()
	aside.Clear()
	sys.markGated()
	return nil
}
