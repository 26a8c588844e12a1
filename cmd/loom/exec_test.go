package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHostPrograms runs real host programs through the exec handler, in
// pipelines with builtins and namespace files.
func TestHostPrograms(t *testing.T) {
	for _, prog := range []string{"echo", "tr", "cat"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("no %s on this host", prog)
		}
	}
	for _, tt := range []struct{ src, out, errOut string }{
		{"echo hello | tr a-z A-Z", "HELLO\n", ""},
		{"/bin/echo from the host > /tmp/f; cat /tmp/f", "from the host\n", ""},
		{"echo piped | cat | tr a-z A-Z | cat > /tmp/u; cat /tmp/u", "PIPED\n", ""},
		{"tr a-z A-Z < /tmp/none", "", "tr: /tmp/none: file does not exist\n"},
		{"sh -c 'exit 3'; echo $status", "3\n", ""},
		{"sh -c 'echo to stderr >&2' >[2=1] | tr a-z A-Z", "TO STDERR\n", ""},
		{"no-such-program-for-loom", "", "no-such-program-for-loom: not found\n"},
	} {
		var out, errb bytes.Buffer
		run(context.Background(), []string{"-c", tt.src}, strings.NewReader(""), &out, &errb)
		if out.String() != tt.out || errb.String() != tt.errOut {
			t.Errorf("loom -c %q = %q, %q; want %q, %q", tt.src, out.String(), errb.String(), tt.out, tt.errOut)
		}
	}
}

// TestAttach runs the shell on a loom server's tree (-a) and reads back
// through the 9P client what it wrote.
func TestAttach(t *testing.T) {
	addr := startServe(t)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"-a", addr, "-c", "mkdir /d; echo shared > /d/f; ls /d; ns"},
		strings.NewReader(""), &out, &errb)
	if err != nil {
		t.Fatalf("loom -a: %v: %s", err, errb.String())
	}
	// The shell is in the server's default system: its namespace is
	// the server's, not a mount of the server in one of the shell's own.
	text, err := loom(t, "", "9p", "-a", addr, "read", "/systems/loom/ns")
	if err != nil || !strings.Contains(text, "mount dev /dev\n") {
		t.Fatalf("9p read /systems/loom/ns = %q, %v; want the default system's namespace", text, err)
	}
	if want := "/d/f\n" + text; out.String() != want {
		t.Errorf("loom -a output = %q; want %q", out.String(), want)
	}
	if got, err := loom(t, "", "9p", "-a", addr, "read", "/systems/loom/root/d/f"); err != nil || got != "shared\n" {
		t.Errorf("9p read /systems/loom/root/d/f = %q, %v; want shared", got, err)
	}
	// A 9P server can also be mounted from inside the embedded shell:
	// its tree, or (with an aname) one of its systems.
	out.Reset()
	err = run(context.Background(), []string{"-c", "mkdir /n /m; mount " + addr + " /n; cat /n/systems/loom/root/d/f; mount " + addr + " /m loom; cat /m/d/f"},
		strings.NewReader(""), &out, &errb)
	if err != nil || out.String() != "shared\nshared\n" {
		t.Errorf("mount %s /n; cat /n/d/f = %q, %v; want shared (%s)", addr, out.String(), err, errb.String())
	}
}

func TestCompletion(t *testing.T) {
	e, err := newEnv("", "glenda")
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	r := e.runner(nil, nil, nil)
	defer r.Close()
	complete := completer(r, e.client)
	for _, src := range []string{"mkdir /tmp/dir /lib", "echo > /tmp/file", "fn myfn {}"} {
		if err := runString(r, src); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		line       string
		head, tail string
		want       []string
	}{
		{"ech", "", "", []string{"echo "}},
		{"ls /tmp; myf", "ls /tmp; ", "", []string{"myfn "}},
		{"unm", "", "", []string{"unmount "}},
		{"un", "", "", []string{"unexport ", "unmount "}},
		{"cat /tmp/f", "cat ", "", []string{"/tmp/file "}},
		{"cat /tmp/", "cat ", "", []string{"/tmp/dir/", "/tmp/file "}},
		{"ls /l", "ls ", "", []string{"/lib/", "/log/"}}, // /log is the default system's
		{"cd tm", "cd ", "", []string{"tmp/"}},
		{"use w", "use ", "", nil},
		{"cat /nowhere/x", "cat ", "", nil},
	} {
		head, got, tail := complete(tt.line, len(tt.line))
		if head != tt.head || tail != tt.tail || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("complete(%q) = %q, %q, %q; want %q, %q, %q", tt.line, head, got, tail, tt.head, tt.want, tt.tail)
		}
	}
}

// TestSandboxedPrograms runs host programs from a shell inside a
// sandboxed system: they run in its kernel sandbox, on its namespace,
// where the same programs in the unsandboxed system see the host.
func TestSandboxedPrograms(t *testing.T) {
	for _, p := range []string{"/bin/sh", "/usr/bin/head", "/dev/fuse", "/etc/passwd"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("this test needs Debian's programs, a host /etc and FUSE: %v", err)
		}
	}
	script := `system web { mkdir -p /tmp/d; echo inside > /tmp/d/f }
sandbox s { allow /tmp /usr /bin /lib /lib64; readonly /usr; network none }
clone web as w2 in s
use w2
head -c 4 /etc/passwd >[2] /dev/null || echo no /etc
head -1 /tmp/d/f
sh -c 'echo written > /tmp/d/g; exit 3'
echo status $status
cat /tmp/d/g
sh -c 'echo x > /usr/loom-test' >[2] /dev/null || echo /usr read-only
use loom
head -c 4 /etc/passwd; echo
`
	var out, errb bytes.Buffer
	run(context.Background(), []string{"-c", script}, strings.NewReader(""), &out, &errb)
	if strings.Contains(errb.String(), "sandbox:") && !strings.Contains(out.String(), "inside") {
		t.Skipf("the kernel refuses the sandbox: %s", errb.String())
	}
	want := "no /etc\ninside\nstatus 3\nwritten\n/usr read-only\nroot\n"
	if out.String() != want {
		t.Errorf("programs in a sandboxed system printed\n%s\nwant\n%s\nstderr:\n%s", out.String(), want, errb.String())
	}
}
