package interp

import (
	"context"
	"fmt"

	"loom/lang"
)

// systemDecl runs system name { body }: the components layer makes the
// system, and the body runs in a copy of the shell inside its namespace.
func (r *Runner) systemDecl(ctx context.Context, d *lang.SystemDecl, io IO) error {
	name, err := r.single(ctx, d.Name, io, "system")
	if err != nil {
		return r.fail(io, "system", err)
	}
	n, err := r.systems.System(ctx, name)
	if err != nil {
		return r.fail(io, "", err)
	}
	sub := r.subshell()
	sub.ns, sub.system, sub.dir = n, name, "/"
	if err := sub.stmts(ctx, d.Body.Stmts, io); err != nil && !isControl(err) {
		return err
	}
	r.status = sub.status
	return nil
}

// sandboxDecl expands and checks a sandbox's rules and hands the policy
// to the components layer.
func (r *Runner) sandboxDecl(ctx context.Context, d *lang.SandboxDecl, io IO) error {
	name, err := r.single(ctx, d.Name, io, "sandbox")
	if err != nil {
		return r.fail(io, "sandbox", err)
	}
	sb := &Sandbox{Name: name}
	for _, rule := range d.Rules {
		args, err := r.words(ctx, rule.Args, io)
		if err != nil {
			return r.fail(io, "sandbox "+name, err)
		}
		if err := sb.add(rule.Verb, args); err != nil {
			return r.fail(io, fmt.Sprintf("sandbox %s: %s", name, rule.Verb), err)
		}
	}
	if err := r.systems.Sandbox(ctx, sb); err != nil {
		return r.fail(io, "", err)
	}
	r.status = ""
	return nil
}

// add adds one rule to the policy.
func (sb *Sandbox) add(verb string, args []string) error {
	switch verb {
	case "allow":
		sb.Allow = append(sb.Allow, args...)
	case "readonly":
		sb.ReadOnly = append(sb.ReadOnly, args...)
	case "devices":
		sb.Devices = append(sb.Devices, args...)
	case "network":
		if len(args) != 1 {
			return fmt.Errorf("want one of none, loopback, host")
		}
		switch args[0] {
		case "none", "loopback", "host":
			sb.Network = args[0]
		default:
			return fmt.Errorf("%q: want one of none, loopback, host", args[0])
		}
	case "limit":
		if len(args) == 0 || len(args)%2 != 0 {
			return fmt.Errorf("want pairs of a limit and a value: memory 64M processes 32")
		}
		if sb.Limits == nil {
			sb.Limits = map[string]int64{}
		}
		for i := 0; i < len(args); i += 2 {
			parse, ok := limitKinds[args[i]]
			if !ok {
				return fmt.Errorf("unknown limit %q; want one of %v", args[i], sortedKeys(limitKinds))
			}
			v, err := parse(args[i+1])
			if err != nil {
				return fmt.Errorf("%s %s: bad value", args[i], args[i+1])
			}
			sb.Limits[args[i]] = v
		}
	default:
		return fmt.Errorf("unknown rule")
	}
	return nil
}

func (r *Runner) clone(ctx context.Context, c *lang.Clone, io IO) error {
	src, err := r.single(ctx, c.Src, io, "clone")
	if err != nil {
		return r.fail(io, "clone", err)
	}
	dst, err := r.single(ctx, c.Dst, io, "clone")
	if err != nil {
		return r.fail(io, "clone", err)
	}
	sb := ""
	if c.Sandbox != nil {
		if sb, err = r.single(ctx, c.Sandbox, io, "clone"); err != nil {
			return r.fail(io, "clone", err)
		}
	}
	if err := r.systems.Clone(ctx, src, dst, sb); err != nil {
		return r.fail(io, "", err)
	}
	r.status = ""
	return nil
}
