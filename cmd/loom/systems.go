package main

import (
	"context"
	"fmt"

	"loom/components/system"
	"loom/lang/interp"
)

// defaultSystem is the name of the system the shell starts in, as the
// interpreter names it.
const defaultSystem = "loom"

// systems is the shell's components layer: the registry of systems (the
// embedded one, named loom, and those system NAME { ... } makes), their
// sandboxes, and the processes and posting of each.
type systems struct {
	reg *system.Systems
}

func (s systems) System(ctx context.Context, name string) (interp.Namespace, error) {
	sys, err := s.reg.Get(name)
	if err != nil {
		if sys, err = s.reg.New(name); err != nil {
			return nil, fmt.Errorf("system %s: %w", name, err)
		}
	}
	return interp.FromNamespace(sys.NS, sys.Resolve), nil
}

func (s systems) Sandbox(ctx context.Context, sb *interp.Sandbox) error {
	p, err := system.FromRules(sb.Name, sb.Allow, sb.ReadOnly, sb.Devices, sb.Network, sb.Limits)
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", sb.Name, err)
	}
	s.reg.DefineSandbox(p)
	return nil
}

func (s systems) Clone(ctx context.Context, src, dst, sandbox string) error {
	if err := s.reg.Clone(ctx, src, dst, sandbox); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	return nil
}

func (s systems) Use(ctx context.Context, name string) (interp.Namespace, error) {
	sys, err := s.reg.Get(name)
	if err != nil {
		return nil, fmt.Errorf("use: %w", err)
	}
	return interp.FromNamespace(sys.NS, sys.Resolve), nil
}

func (s systems) List(ctx context.Context) ([]string, error) { return s.reg.List(), nil }

// Command runs the registry's commands (stop, sandboxes, snapshot, ...)
// and the current system's own (start, ps, kill, post).
func (s systems) Command(ctx context.Context, sio interp.IO, cur string, args []string) error {
	return s.reg.Command(ctx, sio.Stdout, cur, args)
}
