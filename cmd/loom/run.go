package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"loom/9p"
	"loom/components/kinds"
)

const usage = `usage: loom [-a addr] [-u user] [-c commands | file [args ...]]
       loom command [flags] [args]

With no command, loom is a shell: interactive on a terminal, otherwise
running the script file, the -c commands, or standard input.

commands:
  fmt [-w] [file ...]
           print scripts in canonical form (-w: rewrite the files)
  serve [-listen addr[,addr...]] [-trace]
           serve the tree of systems over 9P (9P2000 and 9P2000.L on every
           listener): /ctl, /systems/NAME/{ctl,status,ns,image,root,snapshots},
           /sandboxes/NAME; the default system is /systems/loom, and an
           attach to the tree NAME gives /systems/NAME/root
  9p [-a addr] [-L] cmd path
           use any 9P server: ls, read, write, stat, mkdir, rm (loom 9p -h)
`

// run is loom's main: it parses args, runs one command and reports its
// error on stderr, once.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		return shell(ctx, args, stdin, stdout, stderr)
	}
	var err error
	switch args[0] {
	case "fmt":
		return cmdFmt(args[1:], stdin, stdout, stderr)
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "9p":
		err = cmd9p(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		// loom file [args]: a script.
		return shell(ctx, args, stdin, stdout, stderr)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "loom: %v\n", err)
	}
	return err
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// defaultListen is where loom serve listens unless told otherwise: a unix
// socket guarded by its file mode, and TCP on loopback only.
func defaultListen() string {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	return "unix!" + filepath.Join(dir, "loom.sock") + ",tcp!127.0.0.1!5640"
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", defaultListen(), "comma-separated `addresses` to listen on (unix!/path, tcp!host!port)")
	trace := fl.Bool("trace", false, "print every 9P message on stderr")
	sec := secureFlags(fl) // tls.go: -tlscert, -tlskey, -tlsca, -secret
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("serve: unexpected argument %q", fl.Arg(0))
	}
	opts := []ninep.Option{ninep.Logf(func(format string, a ...any) {
		fmt.Fprintf(stderr, "loom: "+format+"\n", a...)
	})}
	if *trace {
		opts = append(opts, ninep.Trace(stderr))
	}
	// The tree of systems, the first of them the system the shell
	// starts in, named loom: its console is the server's standard
	// output.
	keys, err := sec.given()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	reg, tree, err := newTree(currentUser(), keys, kinds.Console(nil, stdout))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer reg.Close()
	srv := ninep.NewServer(tree, opts...)

	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for _, a := range strings.Split(*listen, ",") {
		l, err := ninep.Listen(strings.TrimSpace(a))
		l, err = sec.listen(strings.TrimSpace(a), l, err) // tls.go: tls!, and no plain TCP off loopback
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		if ul, ok := l.(*net.UnixListener); ok {
			// Only the owner may connect: the socket's mode is the guard.
			os.Chmod(ul.Addr().String(), 0o600)
		}
		lns = append(lns, l)
		fmt.Fprintf(stdout, "loom: serving 9P2000 and 9P2000.L on %s\n", dialString(l.Addr(), ninep.IsTLSAddr(strings.TrimSpace(a))))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(lns))
	for _, l := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ctx, l); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// dialString gives a listener's address in dial form: tls!host!port
// for a TLS listener (secure says it is one: its address is TCP's).
func dialString(a net.Addr, secure bool) string {
	switch a.Network() {
	case "unix":
		return "unix!" + a.String()
	case "tcp":
		host, port, err := net.SplitHostPort(a.String())
		if err == nil {
			network := "tcp"
			if secure {
				network = "tls"
			}
			return network + "!" + host + "!" + port
		}
	}
	return a.Network() + "!" + a.String()
}
