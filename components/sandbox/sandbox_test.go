package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"loom/components/hostfs"
	"loom/components/ramfs"
	"loom/ns"
)

func TestCheckInitRefuses(t *testing.T) {
	if err := CheckInit(); err == nil {
		t.Fatalf("CheckInit() in the test process (pid %d) = nil; want an error", os.Getpid())
	}
}

// testRoot is a namespace with the host's /usr read-only (and /bin and
// /lib from it, and the dynamic loader where programs look for it) and a
// ramfs at /log holding x.
func testRoot(t *testing.T) (*ns.Namespace, ns.FS) {
	t.Helper()
	for _, p := range []string{"/usr/bin/dash", "/usr/bin/cat", "/usr/bin/sleep", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("this test runs Debian's amd64 binaries: %v", err)
		}
	}
	usr, err := hostfs.New("/usr", hostfs.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	top, lib64, log := ramfs.New(ramfs.Owner("glenda")), ramfs.New(ramfs.Owner("glenda")), ramfs.New(ramfs.Owner("glenda"))
	for _, d := range []string{"usr", "bin", "lib", "lib64", "log"} {
		if err := put(top, d, "/"); err != nil {
			t.Fatal(err)
		}
	}
	if err := put(lib64, "ld-linux-x86-64.so.2", ""); err != nil {
		t.Fatal(err)
	}
	if err := put(log, "x", "hello from loom\n"); err != nil {
		t.Fatal(err)
	}
	nsp := ns.New("glenda")
	steps := []error{
		nsp.Mount(top, "/", ns.MREPL, ""),
		nsp.Mount(usr, "/usr", ns.MREPL, ""),
		nsp.Mount(lib64, "/lib64", ns.MREPL, ""),
		nsp.Mount(log, "/log", ns.MREPL|ns.MCREATE, ""),
		nsp.Bind("/usr/bin", "/bin", ns.MREPL),
		nsp.Bind("/usr/lib", "/lib", ns.MREPL),
		nsp.Bind("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2", ns.MREPL),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("namespace step %d: %v", i, err)
		}
	}
	return nsp, log
}

// run runs script with /bin/dash in a sandbox and returns its output.
func run(t *testing.T, root ns.FS, netw Network, lim Limits, script string) (string, *Process, error) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE device: %v", err)
	}
	var out bytes.Buffer
	p, err := Start(Config{
		Root: root, User: "glenda",
		Argv:    []string{"/bin/dash", "-c", script},
		Env:     []string{"PATH=/bin"},
		Network: netw, Limits: lim,
		Stdout: &out, Stderr: &out,
	})
	if err != nil {
		t.Skipf("kernel refuses the sandbox: %v", err)
	}
	t.Cleanup(func() { p.Kill(); p.Wait() })
	err = p.Wait()
	s := out.String()
	if strings.Contains(s, "sandbox: init:") {
		t.Skipf("the sandbox's init failed, the kernel may refuse: %s", s)
	}
	return s, p, err
}

func TestSandbox(t *testing.T) {
	nsp, log := testRoot(t)
	script := `
echo pid=$$
cat /log/x
echo written > /log/y && echo log-writable
test -e /home && echo home-visible
test -e /etc && echo etc-visible
cat /etc/hostname && echo hostname-readable
echo no > /usr/x || echo usr-refused
echo no > /bin/x || echo bin-refused
while read l; do case $l in CapEff*|NoNewPrivs*) echo $l;; esac; done < /proc/self/status
n=0; while read l; do n=$((n+1)); case $l in *lo:*) echo iface-lo;; esac; done < /proc/net/dev; echo ifaces=$((n-2))
`
	out, _, err := run(t, nsp, NoNetwork, Limits{}, script)
	if err != nil {
		t.Fatalf("sandboxed dash: %v\n%s", err, out)
	}
	lines := strings.Split(out, "\n")
	has := func(s string) bool {
		for _, l := range lines {
			if strings.TrimSpace(l) == s {
				return true
			}
		}
		return false
	}
	tests := []struct {
		what string
		line string
		want bool
	}{
		{"reads the namespace", "hello from loom", true},
		{"writes the namespace", "log-writable", true},
		{"sees host /home", "home-visible", false},
		{"sees host /etc", "etc-visible", false},
		{"reads host /etc/hostname", "hostname-readable", false},
		{"write to read-only /usr refused", "usr-refused", true},
		{"write to read-only /bin refused", "bin-refused", true},
		{"no capabilities", "CapEff: 0000000000000000", true},
		{"no_new_privs", "NoNewPrivs: 1", true},
		{"loopback only", "iface-lo", true},
		{"one interface", "ifaces=1", true},
	}
	for _, tt := range tests {
		if got := has(tt.line); got != tt.want {
			t.Errorf("%s: line %q present = %v; want %v", tt.what, tt.line, got, tt.want)
		}
	}
	// The pid namespace is new: the init is 1, its threads and the
	// program come next.
	var pid int
	if _, err := fmt.Sscanf(out, "pid=%d", &pid); err != nil || pid < 2 || pid > 100 {
		t.Errorf("pid inside = %d (%v); want a small number of a new pid namespace", pid, err)
	}
	if !strings.Contains(out, "Read-only file system") && !strings.Contains(out, "Permission denied") {
		t.Errorf("write to /usr: output %q; want EROFS or EACCES", out)
	}
	if s, err := get(log, "y"); s != "written\n" || err != nil {
		t.Errorf("/log/y via the seam = %q, %v; want %q", s, err, "written\n")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestSandboxProcessLimit(t *testing.T) {
	nsp, _ := testRoot(t)
	script := `i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); echo started $i; done`
	out, p, _ := run(t, nsp, NoNetwork, Limits{Processes: 30}, script)
	if !strings.Contains(p.Limits(), "processes 30 ") {
		t.Fatalf("Limits() = %q; want a line for processes 30", p.Limits())
	}
	for _, cg := range p.box.cg.made {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s left behind after Wait", cg)
		}
	}
	if strings.Contains(out, "started 50\n") {
		t.Errorf("with Limits{Processes: 30} (%s) a fork bomb of 50 ran to the end:\n%s", p.Limits(), out)
	}
	if !strings.Contains(out, "started ") {
		t.Errorf("the fork bomb never started one process:\n%s", out)
	}
	t.Logf("limits by %s; output ends %q", p.Limits(), out[max(0, len(out)-120):])
}

func TestSandboxProcessRlimit(t *testing.T) {
	nsp, _ := testRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE device: %v", err)
	}
	// No cgroup is writable under a directory that does not exist.
	saved := cgroupRoot
	cgroupRoot = t.TempDir() + "/none"
	defer func() { cgroupRoot = saved }()
	script := `i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); echo started $i; done`
	if os.Getuid() == 0 {
		// The kernel does not hold the host's root to RLIMIT_NPROC, so
		// Start must refuse rather than promise a limit.
		p, err := Start(Config{Root: nsp, User: "glenda", Argv: []string{"/bin/dash", "-c", script}, Limits: Limits{Processes: 30}})
		if err == nil {
			p.Kill()
			p.Wait()
			t.Fatalf("Start with a process limit, no cgroup, as root = nil error; want one")
		}
		if !strings.Contains(err.Error(), "process limit unavailable") {
			t.Fatalf("Start with a process limit, no cgroup, as root: %v; want process limit unavailable", err)
		}
		return
	}
	out, p, _ := run(t, nsp, NoNetwork, Limits{Processes: 30}, script)
	if !strings.Contains(p.Limits(), "processes 30 rlimit RLIMIT_NPROC") {
		t.Fatalf("Limits() = %q with no writable cgroup; want processes held by RLIMIT_NPROC", p.Limits())
	}
	if strings.Contains(out, "started 50\n") {
		t.Errorf("with RLIMIT_NPROC 30 a fork bomb of 50 ran to the end:\n%s", out)
	}
}
