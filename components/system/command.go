package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// A verb is a command of the registry, run for the system cur (the one a
// shell is in, or the one whose ctl file was written).
type verb func(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error

// verbs are the registry's commands by name. Files of this package that
// add commands (snapshots, export, ...) register theirs in an init.
var verbs = map[string]verb{
	"stop":      cmdStop,
	"sandboxes": cmdSandboxes,
}

// Verbs returns the names of the registry's commands, sorted.
func Verbs() []string {
	var names []string
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Command runs args for the system cur: a command of the registry (see
// Verbs), or else one of the system's own (start, ps, kill, post; see
// kinds.Default.Command). What it prints goes to out.
func (s *Systems) Command(ctx context.Context, out io.Writer, cur string, args []string) error {
	if len(args) == 0 {
		return errors.New("no command")
	}
	if args[0] == "load" && len(args) > 1 && args[1] == "-n" {
		// An image from the namespace (netimage.go); the rest of
		// load is the host file's.
		return cmdLoadNS(s, ctx, out, cur, args)
	}
	if v, ok := verbs[args[0]]; ok {
		return v(s, ctx, out, cur, args)
	}
	sys, err := s.Get(cur)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return sys.Def.Command(ctx, out, args)
}

func cmdStop(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: stop system")
	}
	if args[1] == cur {
		return fmt.Errorf("stop %s: the shell is in it; use another system first", args[1])
	}
	if err := s.Stop(args[1]); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

func cmdSandboxes(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	for _, p := range s.Sandboxes() {
		rules := strings.ReplaceAll(strings.TrimSuffix(p.String(), "\n"), "\n", "\n\t")
		if _, err := fmt.Fprintf(out, "sandbox %s {\n\t%s\n}\n", p.Name, rules); err != nil {
			return err
		}
	}
	return nil
}
