package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"loom/components/proc"
	"loom/components/sandbox"
	"loom/ns"
)

// TestMain lets the test binary be a sandbox's init: sandbox.Start runs
// the current binary again for that.
func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

// readAll reads the file p of fsys to its end.
func readAll(fsys ns.FS, p string) (string, error) {
	ctx := context.Background()
	f, err := walk(ctx, fsys, "glenda", p)
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return "", err
	}
	var b strings.Builder
	buf := make([]byte, 8192)
	for off := int64(0); ; {
		n, err := f.Read(ctx, buf, off)
		b.Write(buf[:n])
		off += int64(n)
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
	}
}

func TestRestricts(t *testing.T) {
	tests := []struct {
		p    Policy
		want bool
	}{
		{Unrestricted(), false},
		{rules(t, "all", nil, nil, nil, "", nil), false},
		{rules(t, "paths", []string{"/tmp"}, nil, nil, "", nil), true},
		{rules(t, "ro", nil, []string{"/tmp"}, nil, "", nil), true},
		{rules(t, "devs", nil, nil, []string{"null"}, "", nil), true},
		{rules(t, "net", nil, nil, nil, "loopback", nil), true},
		{rules(t, "lim", nil, nil, nil, "", map[string]int64{"processes": 4}), true},
	}
	for _, tt := range tests {
		if got := tt.p.Restricts(); got != tt.want {
			t.Errorf("Policy %q Restricts() = %v; want %v", tt.p.Name, got, tt.want)
		}
	}
}

// TestCloneSandboxIsolates clones a system whose shell script runs on the
// host into a sandbox: started again there, the script runs in new
// namespaces of the kernel's, sees the clone's namespace (its log) and
// the host's programs, and nothing else of the host.
func TestCloneSandboxIsolates(t *testing.T) {
	for _, p := range []string{"/bin/dash", "/usr/bin/cat", "/usr/bin/ls", "/home", "/dev/fuse"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("this test needs Debian's amd64 programs, a host /home and FUSE: %v", err)
		}
	}
	reg := New(User("glenda"))
	t.Cleanup(func() { reg.Close() })
	src, err := reg.New("src")
	if err != nil {
		t.Fatal(err)
	}
	w, err := src.Def.Env.Log.Writer("x")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello from the log\n"))
	if err := src.Def.Env.Vars.Set("PATH", "/bin"); err != nil {
		t.Fatal(err)
	}
	// On the host there is no /log/x: the original waits to be cloned.
	script := `echo pid=$$; cat /log/x 2>&1; ls /home 2>&1 || echo home-absent; n=0; while read l; do n=$((n+1)); done < /proc/net/dev; echo ifaces=$((n-2)); test -e /log/x || exec sleep 60`
	if _, err := src.Def.Env.Proc.Start(context.Background(), []string{"/bin/dash", "-c", script},
		proc.StartOptions{Name: "script", Env: src.Def.Env.Environ()}); err != nil {
		t.Fatal(err)
	}
	reg.DefineSandbox(rules(t, "jail", []string{"/log", "/tmp", "/usr", "/bin", "/lib", "/lib64"}, []string{"/usr"}, []string{"null"}, "none",
		map[string]int64{"processes": 16}))
	if err := reg.Clone(context.Background(), "src", "jailed", "jail"); err != nil {
		if strings.Contains(err.Error(), "sandbox:") {
			t.Skipf("the kernel refuses the sandbox: %v", err)
		}
		t.Fatal(err)
	}
	jailed, err := reg.Get("jailed")
	if err != nil {
		t.Fatal(err)
	}
	ps := jailed.Def.Env.Proc.List()
	if len(ps) != 1 {
		t.Fatalf("the clone's processes = %v; want the script", ps)
	}
	id := strconv.Itoa(ps[0].Pid)
	out, err := readAll(jailed.Def.Env.Proc, id+"/stdout")
	if err != nil {
		t.Fatalf("read the clone's %s/stdout: %v", id, err)
	}
	errOut, _ := readAll(jailed.Def.Env.Proc, id+"/stderr")
	if strings.Contains(errOut, "sandbox: init:") {
		t.Skipf("the sandbox's init failed, the kernel may refuse: %s", errOut)
	}
	var pid int
	if _, err := fmt.Sscanf(out, "pid=%d", &pid); err != nil || pid < 2 || pid > 100 {
		t.Errorf("the script's pid inside = %d (%v); want a small one of a new pid namespace\nstdout: %s\nstderr: %s", pid, err, out, errOut)
	}
	if !strings.Contains(out, "hello from the log") {
		t.Errorf("the script did not read the clone's /log/x:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if !strings.Contains(out, "home-absent") {
		t.Errorf("the script saw the host's /home:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if !strings.Contains(out, "ifaces=1\n") {
		t.Errorf("the script's network (none asked) is not a namespace of its own with only lo:\nstdout: %s", out)
	}
	if in := jailed.Def.Env.Proc.List()[0]; in.HostPid == pid {
		t.Errorf("host pid %d is the pid inside; want the sandbox's own numbering", in.HostPid)
	}
	// The original, on the host, runs on.
	if in := src.Def.Env.Proc.List(); len(in) != 1 || in[0].State == "Moribund" {
		t.Errorf("the original's processes = %v; want its script running", in)
	}
}
