package main

import (
	"bytes"
	"context"
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
