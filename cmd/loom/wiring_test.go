package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/components/system"
	"loom/lang/interp"
	"loom/ns"
)

// TestRegistryBuiltins: every command of the registry is a builtin of
// the shell, and the synopsis help gives for export, unexport and
// import is the usage the registry's command answers a wrong call with.
func TestRegistryBuiltins(t *testing.T) {
	names := interp.BuiltinNames()
	for _, v := range system.Verbs() {
		if !contains(names, v) {
			t.Errorf("registry command %s is not a builtin of the shell", v)
		}
	}
	for _, v := range []string{"export", "unexport", "import"} {
		help, err := loom(t, "", "-c", "help "+v)
		if err != nil {
			t.Fatalf("help %s: %v: %s", v, err, help)
		}
		usage, err := loom(t, "", "-c", v)
		if err == nil {
			t.Fatalf("%s with no arguments succeeded; want its usage", v)
		}
		first, _, _ := strings.Cut(help, "\n")
		if !strings.Contains(usage, first) {
			t.Errorf("help %s says %q; the command says %q", v, first, strings.TrimSpace(usage))
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestImportErrorCause: a read through an import whose remote has gone
// fails in the shell with the cause (the dial refused), not as a file
// that does not exist.
func TestImportErrorCause(t *testing.T) {
	ctx := context.Background()
	fsys := ramfs.New()
	root, err := fsys.Attach(ctx, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := root.(ns.Creater).Create(ctx, "motd", 0o666, ns.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(ctx, []byte("from afar\n"), 0)
	f.Clunk()
	root.Clunk()
	l, err := ninep.Listen("tcp!127.0.0.1!0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ninep.NewServer(fsys).Serve(sctx, l)
	}()
	stop := func() { cancel(); <-done }
	defer stop()
	addr := dialString(l.Addr(), false)

	// A shell of a loom server (-a) imports there, and so does an
	// embedded one.
	srv := startServe(t)
	if out, err := loom(t, "", "-a", srv, "-c", "mkdir -p /n/a; import -t 2s "+addr+" /n/a; cat /n/a/motd"); err != nil || out != "from afar\n" {
		t.Fatalf("loom -a: cat through the import = %q, %v; want from afar", out, err)
	}

	e, err := newEnv("", "glenda")
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	var out, errb bytes.Buffer
	r := e.runner(strings.NewReader(""), &out, &errb)
	defer r.Close()
	if err := runString(r, "mkdir -p /n/a; import -t 2s "+addr+" /n/a; cat /n/a/motd"); err != nil || out.String() != "from afar\n" {
		t.Fatalf("cat through the import = %q, %q, %v; want from afar", out.String(), errb.String(), err)
	}
	stop()
	out.Reset()
	runString(r, "cat /n/a/motd")
	got := errb.String()
	if r.Status() == "" || strings.Contains(got, "does not exist") || !strings.Contains(got, "/n/a/motd: ") || !strings.Contains(got, "refused") {
		t.Errorf("cat with the remote gone: stderr %q, status %q; want the cause, not a missing file", got, r.Status())
	}
	// And in the server's shell, over 9P.
	if msg, err := loom(t, "", "-a", srv, "-c", "cat /n/a/motd"); err == nil || strings.Contains(msg, "does not exist") || !strings.Contains(msg, "refused") {
		t.Errorf("loom -a: cat with the remote gone: %q, %v; want the cause, not a missing file", msg, err)
	}
	// And in a script written to the system's ctl, which runs in the
	// server's own namespace.
	if _, err := e.client.ctl(ctx, "/systems/loom/ctl", "cat /n/a/motd\n"); err == nil || strings.Contains(err.Error(), "does not exist") {
		t.Errorf("ctl cat with the remote gone = %v; want the cause, not a missing file", err)
	}
}

// TestCtlOneScript: the writes on one open of a ctl file are one script,
// however the text is cut: a variable set by one is seen by the next,
// and a block cut in two runs once whole.
func TestCtlOneScript(t *testing.T) {
	ctx := context.Background()
	e, err := newEnv("", "glenda")
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	f, err := e.client.walk(ctx, "/systems/loom/ctl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.ORDWR); err != nil {
		t.Fatal(err)
	}
	var off int64
	for _, piece := range []string{"x=(one two)\nfn f {\n", "\techo $#x $x\n", "}\nf; ec", "ho done\n"} {
		n, err := f.Write(ctx, []byte(piece), off)
		if err != nil {
			t.Fatalf("Write(%q) = %v", piece, err)
		}
		off += int64(n)
	}
	b, err := ns.ReadAll(ctx, f)
	if err != nil || string(b) != "2 one two\ndone\n" {
		t.Errorf("read after the last piece = %q, %v; want what its line printed", b, err)
	}
	if _, err := f.Write(ctx, []byte("f\n"), off); err != nil {
		t.Fatal(err)
	}
	if b, err := ns.ReadAll(ctx, f); err != nil || string(b) != "2 one two\n" {
		t.Errorf("f in a later write = %q, %v; want the function and $x of the first", b, err)
	}
}
