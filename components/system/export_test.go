package system

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	ninep "loom/9p"
	"loom/ns"
)

// command runs args as the registry's command for cur and returns what
// it printed.
func command(t *testing.T, reg *Systems, cur string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := reg.Command(context.Background(), &out, cur, args)
	return out.String(), err
}

func TestExportImport(t *testing.T) {
	reg := newSystems(t)
	a := mustNew(t, reg, "a")
	b := mustNew(t, reg, "b")
	for _, p := range []string{"/tmp/hello", "/n/", "/m/"} {
		sys := a
		if p != "/tmp/hello" {
			sys = b
		}
		if err := put(sys.NS, p, "from a"); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}

	out, err := command(t, reg, "b", "export", "a", "tcp!127.0.0.1!0")
	f := strings.Fields(out)
	if err != nil || len(f) != 3 || f[0] != "export" || f[1] != "a" || !strings.HasPrefix(f[2], "tcp!127.0.0.1!") || strings.HasSuffix(f[2], "!0") {
		t.Fatalf("export a tcp!127.0.0.1!0 = %q, %v; want export a tcp!127.0.0.1!PORT", out, err)
	}
	addr := f[2]
	if got := a.Exports(); len(got) != 1 || got[0] != addr {
		t.Errorf("Exports() = %q; want [%q]", got, addr)
	}

	if _, err := command(t, reg, "b", "import", addr, "/n"); err != nil {
		t.Fatalf("import %s /n = %v", addr, err)
	}
	if _, err := command(t, reg, "b", "import", "-c", addr, "/m", "/tmp"); err != nil {
		t.Fatalf("import -c %s /m /tmp = %v", addr, err)
	}
	for _, p := range []string{"/n/tmp/hello", "/m/hello"} {
		if got, err := readAll(b.NS, p); got != "from a" || err != nil {
			t.Errorf("read %s in b = %q, %v; want %q", p, got, err, "from a")
		}
	}
	// A write through the import lands in a.
	if err := put(b.NS, "/m/back", "from b"); err != nil {
		t.Fatalf("put /m/back: %v", err)
	}
	if got, err := readAll(a.NS, "/tmp/back"); got != "from b" || err != nil {
		t.Errorf("read /tmp/back in a = %q, %v; want %q", got, err, "from b")
	}

	// Unexported, a is no longer reached; exported again, it is, on the
	// next walk through the mount point.
	if _, err := command(t, reg, "b", "unexport", "a"); err != nil {
		t.Fatalf("unexport a = %v", err)
	}
	if got, err := readAll(b.NS, "/n/tmp/hello"); err == nil {
		t.Errorf("read /n/tmp/hello after unexport = %q, nil; want an error", got)
	}
	if _, err := a.Export(addr, nil); err != nil {
		t.Fatalf("Export(%s) again = %v", addr, err)
	}
	if got, err := readAll(b.NS, "/n/tmp/hello"); got != "from a" || err != nil {
		t.Errorf("read /n/tmp/hello after export again = %q, %v; want %q", got, err, "from a")
	}

	// Stopping a stops its export.
	if _, err := command(t, reg, "b", "stop", "a"); err != nil {
		t.Fatalf("stop a = %v", err)
	}
	if c, err := ninep.Dial(addr); err == nil {
		c.Close()
		t.Errorf("Dial(%s) after stop a = nil; want an error", addr)
	}
}

func TestExportRefused(t *testing.T) {
	reg := newSystems(t)
	if _, err := reg.New("a"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"export", "a", "tcp!0.0.0.0!0"},
		{"export", "a", "tcp!*!0"},
		{"export", "a", "tls!127.0.0.1!0"}, // no keys
		{"export", "nosuch", "tcp!127.0.0.1!0"},
		{"export", "a"},
		{"import", "tcp!127.0.0.1!1"},
		{"import", "-x", "tcp!127.0.0.1!1", "/n"},
		{"import", "-t", "soon", "tcp!127.0.0.1!1", "/n"},
		{"import", "-t"},
		{"unexport", "a"},
	} {
		if out, err := command(t, reg, "a", args...); err == nil {
			t.Errorf("%q = %q, nil; want an error", args, out)
		}
	}
	if _, err := command(t, reg, "a", "export", "a", "tcp!0.0.0.0!0"); !errors.Is(err, ninep.ErrInsecure) {
		t.Errorf("export a tcp!0.0.0.0!0 = %v; want ErrInsecure", err)
	}
}

// TestImportSandboxed: a system whose sandbox grants no host network
// imports nothing, though the server is there; its original does.
func TestImportSandboxed(t *testing.T) {
	reg := newSystems(t)
	if _, err := reg.New("a"); err != nil {
		t.Fatal(err)
	}
	at, err := command(t, reg, "a", "export", "a", "tcp!127.0.0.1!0")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(at)
	at = f[len(f)-1]
	reg.DefineSandbox(rules(t, "offline", []string{"/tmp"}, nil, nil, "loopback", nil))
	ctx := context.Background()
	if err := reg.Clone(ctx, "a", "b", "offline"); err != nil {
		t.Fatal(err)
	}
	if _, err := command(t, reg, "b", "import", at, "/tmp"); !errors.Is(err, ns.ErrPerm) {
		t.Errorf("import %s /tmp in the sandbox = %v; want permission denied", at, err)
	}
	if _, err := command(t, reg, "a", "import", at, "/tmp"); err != nil {
		t.Errorf("import %s /tmp outside the sandbox = %v; want it made", at, err)
	}
}
