package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	ninep "loom/9p"
	"loom/ns"
)

// Export and import: 9P between loom servers.
//
// export serves one system's namespace on a listener of its own, which
// lives until the system stops or is unexported. Off loopback the
// listener must be TLS ("tls!host!port") and clients must prove
// themselves (ninep.ListenSecure); the keys are the registry's (Keys)
// or, failing those, the environment's (ninep.KeysFromEnv).
//
// import mounts a remote 9P server, loom or not, in the current
// system's namespace through a ninep.Redial: requests to a remote gone
// away fail within a bounded time, and the next walk through the mount
// point dials again.

func init() {
	verbs["export"] = cmdExport
	verbs["unexport"] = cmdUnexport
	verbs["import"] = cmdImport
}

// Keys makes the registry's exports and imports use k rather than the
// keys the environment names.
func Keys(k *ninep.Keys) Option { return func(s *Systems) { s.net.keys = k } }

// netKeys are a registry's keys for export and import.
type netKeys struct{ keys *ninep.Keys }

// keys returns the registry's keys, or the environment's.
func (s *Systems) keys() (*ninep.Keys, error) {
	if s.net.keys != nil {
		return s.net.keys, nil
	}
	return ninep.KeysFromEnv()
}

// netState is what a system holds of the network: its exports'
// listeners and its imports' connections, all closed when it stops.
type netState struct {
	mu      sync.Mutex
	exports map[string]func() // stop functions by listening address
	imports []*ninep.Redial
}

// closeNet stops the system's exports and hangs up its imports.
func (sys *System) closeNet() {
	n := &sys.net
	n.mu.Lock()
	exports, imports := n.exports, n.imports
	n.exports, n.imports = nil, nil
	n.mu.Unlock()
	for _, stop := range exports {
		stop()
	}
	for _, r := range imports {
		r.Close()
	}
}

// Export serves the system's namespace over 9P on addr (see
// ninep.ListenSecure) until the system stops or Unexport is called, and
// returns the address listened on, in dial form (a port 0 is chosen).
func (sys *System) Export(addr string, k *ninep.Keys) (string, error) {
	l, err := ninep.ListenSecure(addr, k)
	if err != nil {
		return "", err
	}
	at := dialForm(addr, l.Addr())
	srv := ninep.NewServer(sys.NS, ninep.AttachUser(sys.NS.User()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, l)
	}()
	stop := func() {
		cancel()
		<-done
	}
	n := &sys.net
	n.mu.Lock()
	if n.exports == nil {
		n.exports = map[string]func(){}
	}
	old := n.exports[at]
	n.exports[at] = stop
	n.mu.Unlock()
	if old != nil {
		old()
	}
	return at, nil
}

// Unexport stops the system's export on addr, or all its exports when
// addr is "".
func (sys *System) Unexport(addr string) error {
	n := &sys.net
	n.mu.Lock()
	var stops []func()
	for at, stop := range n.exports {
		if addr == "" || at == addr {
			stops = append(stops, stop)
			delete(n.exports, at)
		}
	}
	n.mu.Unlock()
	if len(stops) == 0 {
		return fmt.Errorf("unexport %s %s: %w", sys.Name, addr, ns.ErrNotExist)
	}
	for _, stop := range stops {
		stop()
	}
	return nil
}

// Exports returns the addresses the system is exported on, sorted.
func (sys *System) Exports() []string {
	n := &sys.net
	n.mu.Lock()
	defer n.mu.Unlock()
	var as []string
	for at := range n.exports {
		as = append(as, at)
	}
	sort.Strings(as)
	return as
}

// Import mounts the 9P server at addr on dir of the system's namespace
// with flag, its tree below path when path is not "". The dialect is
// 9P2000 unless opts say otherwise.
func (sys *System) Import(addr, dir, path string, flag ns.Flag, opts ...ninep.RedialOption) error {
	// An import is a dial from loom's side: a sandbox without the
	// host's network has none to dial with.
	if pol := sys.Policy; pol.Restricts() && pol.Network != NetHost {
		return fmt.Errorf("import %s: %w: the system is in a sandbox (%s), which grants network %s", addr, ns.ErrPerm, pol.Name, pol.Network)
	}
	if path != "" {
		opts = append(opts, ninep.Under(path))
	}
	r := ninep.NewRedial(addr, opts...)
	if err := sys.NS.Mount(r, dir, flag, ""); err != nil {
		r.Close()
		return err
	}
	n := &sys.net
	n.mu.Lock()
	n.imports = append(n.imports, r)
	n.mu.Unlock()
	return nil
}

// dialForm gives the address a listener for addr listens on in dial
// form: addr with the port chosen for a port 0.
func dialForm(addr string, a net.Addr) string {
	if a.Network() == "unix" {
		return "unix!" + a.String()
	}
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return addr
	}
	f := strings.Split(addr, "!")
	if len(f) == 3 {
		f[2] = port
		return strings.Join(f, "!")
	}
	host, _, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(host, port)
}

func cmdExport(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	if len(args) != 3 {
		return errors.New("usage: export system addr")
	}
	sys, err := s.Get(args[1])
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	k, err := s.keys()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	at, err := sys.Export(args[2], k)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = fmt.Fprintf(out, "export %s %s\n", sys.Name, at)
	return err
}

func cmdUnexport(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	if len(args) != 2 && len(args) != 3 {
		return errors.New("usage: unexport system [addr]")
	}
	sys, err := s.Get(args[1])
	if err != nil {
		return fmt.Errorf("unexport: %w", err)
	}
	addr := ""
	if len(args) == 3 {
		addr = args[2]
	}
	return sys.Unexport(addr)
}

// cmdImport is import [-a|-b] [-c] [-L] [-t dur] addr dir [remote-path].
func cmdImport(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	const usage = "usage: import [-a|-b] [-c] [-L] [-t dur] addr dir [remote-path]"
	flag := ns.MREPL
	var opts []ninep.RedialOption
	dialect := ""
	args = args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		if args[0] == "-t" {
			// The IO timeout: how long a request may wait for the
			// remote (ninep.DefaultIOTimeout unless told).
			if len(args) < 2 {
				return errors.New(usage)
			}
			d, err := time.ParseDuration(args[1])
			if err != nil || d <= 0 {
				return fmt.Errorf("import: bad timeout %q", args[1])
			}
			opts = append(opts, ninep.IOTimeout(d))
			args = args[2:]
			continue
		}
		for _, c := range args[0][1:] {
			switch c {
			case 'a':
				flag = flag&^ns.MORDER | ns.MAFTER
			case 'b':
				flag = flag&^ns.MORDER | ns.MBEFORE
			case 'c':
				flag |= ns.MCREATE
			case 'L':
				dialect = ninep.Dialect9P2000L
			default:
				return errors.New(usage)
			}
		}
		args = args[1:]
	}
	if len(args) != 2 && len(args) != 3 {
		return errors.New(usage)
	}
	sys, err := s.Get(cur)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	k, err := s.keys()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	opts = append(opts, ninep.WithKeys(k))
	path := ""
	if len(args) == 3 {
		path = args[2]
	}
	addr, dir := args[0], args[1]
	if dialect != "" {
		err = sys.Import(addr, dir, path, flag, append(opts, ninep.WithDial(ninep.Dialect(dialect)))...)
	} else if err = sys.Import(addr, dir, path, flag, opts...); err != nil && strings.Contains(err.Error(), "version") {
		// A server of 9P2000.L alone (diod, Linux's) refuses 9P2000's
		// version: speak its dialect.
		err = sys.Import(addr, dir, path, flag, append(opts, ninep.WithDial(ninep.Dialect(ninep.Dialect9P2000L)))...)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}
