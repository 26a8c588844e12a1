package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"loom/components/ramfs"
	"loom/ns"
)

// boxRoot is a namespace holding only /log/x: the box adds the host's
// programs (HostDirs) itself.
func boxRoot(t *testing.T) *ns.Namespace {
	t.Helper()
	for _, p := range []string{"/usr/bin/dash", "/usr/bin/python3", "/dev/fuse"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("this test needs Debian's amd64 programs and FUSE: %v", err)
		}
	}
	top := ramfs.New(ramfs.Owner("glenda"))
	if err := put(top, "log", "/"); err != nil {
		t.Fatal(err)
	}
	if err := put(top, "log/x", "hello from loom\n"); err != nil {
		t.Fatal(err)
	}
	nsp := ns.New("glenda")
	if err := nsp.Mount(top, "/", ns.MREPL, ""); err != nil {
		t.Fatal(err)
	}
	return nsp
}

var hostProgramDirs = []string{"/usr", "/bin", "/lib", "/lib64"}

// newBox makes a box over boxRoot with the host's programs, closed when
// the test ends.
func newBox(t *testing.T, netw Network, lim Limits) *Box {
	t.Helper()
	b, err := New(BoxConfig{Root: boxRoot(t), User: "glenda", HostDirs: hostProgramDirs, Network: netw, Limits: lim})
	if err != nil {
		t.Skipf("the kernel refuses the box: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// sh runs script with dash in b and returns its output.
func sh(t *testing.T, b *Box, script string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	p, err := b.Start([]string{"dash", "-c", script}, []string{"PATH=/bin"}, "", nil, &out, &out)
	if err != nil {
		t.Fatalf("Start(dash -c %q): %v", script, err)
	}
	err = p.Wait()
	return out.String(), err
}

// started is a process of a box whose output is read line by line.
type started struct {
	p   *Process
	out *bufio.Reader
	in  io.WriteCloser
}

// startPiped starts argv in b with pipes for its standard files.
func startPiped(t *testing.T, b *Box, argv ...string) *started {
	t.Helper()
	ir, iw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	or, ow, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Start(argv, []string{"PATH=/bin"}, "", ir, ow, ow)
	ir.Close()
	ow.Close()
	if err != nil {
		t.Fatalf("Start(%q): %v", argv, err)
	}
	t.Cleanup(func() {
		p.Kill()
		iw.Close()
		or.Close()
		p.Wait()
	})
	return &started{p: p, out: bufio.NewReader(or), in: iw}
}

// line reads the next line of output.
func (s *started) line(t *testing.T) string {
	t.Helper()
	l, err := s.out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the output of %d: %q, %v", s.p.Pid(), l, err)
	}
	return strings.TrimSpace(l)
}

// TestBoxShared starts two programs in one box: the second sees the
// first in /proc and in ps, and reaches it over the box's loopback.
func TestBoxShared(t *testing.T) {
	b := newBox(t, Loopback, Limits{})
	server := startPiped(t, b, "python3", "-c", `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.sendall(b"hello over the box's loopback\n")
c.close()
sys.stdin.read()
`)
	port := server.line(t)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("the server's port = %q; want a number", port)
	}
	out, err := sh(t, b, `
cat /proc/`+strconv.Itoa(server.p.BoxPid())+`/comm
ps -e -o pid=,comm=
python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", `+port+`)); print(s.recv(100).decode(), end="")'
`)
	if err != nil {
		t.Fatalf("the second program: %v\n%s", err, out)
	}
	lines := strings.Split(out, "\n")
	if lines[0] != "python3" {
		t.Errorf("/proc/%d/comm in the second program = %q; want python3 (the first)", server.p.BoxPid(), lines[0])
	}
	if !strings.Contains(out, strconv.Itoa(server.p.BoxPid())+" python3") {
		t.Errorf("ps in the second program does not show the first (pid %d):\n%s", server.p.BoxPid(), out)
	}
	if !strings.Contains(out, "hello over the box's loopback") {
		t.Errorf("the second program did not reach the first over loopback:\n%s", out)
	}
	if server.p.Pid() == server.p.BoxPid() || server.p.Pid() <= 0 {
		t.Errorf("Pid() = %d, BoxPid() = %d; want the host's pid and the box's", server.p.Pid(), server.p.BoxPid())
	}
}

// TestBoxSignals sends signals to a shell that traps them: each reaches
// the shell itself, not only the box's init.
func TestBoxSignals(t *testing.T) {
	b := newBox(t, NoNetwork, Limits{})
	s := startPiped(t, b, "dash", "-c", `
for s in TERM HUP INT USR1; do trap "echo got $s" $s; done
echo ready
while :; do sleep 1 & wait $!; done`)
	if l := s.line(t); l != "ready" {
		t.Fatalf("first line = %q; want ready", l)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGUSR1} {
		if err := s.p.Signal(sig); err != nil {
			t.Fatalf("Signal(%v): %v", sig, err)
		}
		want := "got " + nameOf(sig)
		// sleep, in the same group, dies of it too, and the shell may
		// say so ("Hangup"): only the trap's lines count.
		l := s.line(t)
		for !strings.HasPrefix(l, "got ") {
			l = s.line(t)
		}
		if l != want {
			t.Errorf("after Signal(%v) the shell said %q; want %q", sig, l, want)
		}
	}
	if err := s.p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if err := s.p.Wait(); !errors.As(err, &ee) || ee.Status.Signal() != syscall.SIGKILL {
		t.Errorf("Wait() after SIGKILL = %v; want killed", err)
	}
}

func nameOf(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGUSR1:
		return "USR1"
	}
	return sig.String()
}

// TestBoxClose closes a box with programs running: none is left, by
// pid, and no cgroup.
func TestBoxClose(t *testing.T) {
	b := newBox(t, NoNetwork, Limits{Memory: 256 << 20})
	a := startPiped(t, b, "sleep", "60")
	c := startPiped(t, b, "dash", "-c", "sleep 60 & sleep 60 & echo started; wait")
	if l := c.line(t); l != "started" {
		t.Fatalf("first line = %q; want started", l)
	}
	pids := []int{b.Pid(), a.p.Pid(), c.p.Pid()}
	cgs := append([]string(nil), b.cg.made...)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill(%d, 0) after Close = %v; want ESRCH", pid, err)
		}
	}
	for _, cg := range cgs {
		if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s after Close: %v; want it gone", cg, err)
		}
	}
	if _, err := b.Start([]string{"true"}, nil, "", nil, nil, nil); err == nil {
		t.Errorf("Start after Close = nil error; want one")
	}
}

// TestBoxRoot lists the box's root: the namespace's names and the host
// directories asked for, /bin, /lib and /lib64 as the host has them,
// and nothing else.
func TestBoxRoot(t *testing.T) {
	b := newBox(t, NoNetwork, Limits{})
	out, err := sh(t, b, `ls -a /; for d in bin lib lib64; do test -L /$d && echo "$d -> $(readlink /$d)"; done; cat /log/x; echo x > /usr/x || echo usr-refused`)
	if err != nil {
		t.Fatalf("dash: %v\n%s", err, out)
	}
	want := []string{".", "..", "dev", "log", "proc"}
	for _, d := range hostProgramDirs {
		want = append(want, strings.TrimPrefix(d, "/"))
	}
	sort.Strings(want)
	lines := strings.Split(out, "\n")
	if got := lines[:len(want)]; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ls -a / = %q; want %q", got, want)
	}
	for _, d := range []string{"/bin", "/lib", "/lib64"} {
		link, err := os.Readlink(d)
		if err != nil {
			continue
		}
		if l := strings.TrimPrefix(d, "/") + " -> " + link; !strings.Contains(out, l+"\n") {
			t.Errorf("in the box, want %q as on the host:\n%s", l, out)
		}
	}
	for _, l := range []string{"hello from loom", "usr-refused"} {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("no line %q:\n%s", l, out)
		}
	}
	if strings.Contains(out, "links") {
		t.Errorf("helper directories at the root:\n%s", out)
	}
}

// seccompProbe tries, from inside a box, calls the filter refuses: a
// user namespace of one's own (which needs no capability), ptrace and
// clone3. It prints one word for each.
const seccompProbe = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return "ok" if r >= 0 else os.strerror(ctypes.get_errno())
print("unshare-user:", call(272, 0x10000000))
print("ptrace:", call(101, 16, os.getppid(), 0, 0))
print("clone3:", call(435, 0, 0))
print("getpid:", call(39))
`

// TestBoxSeccomp runs the same probe in a box with the filter and in one
// without: the filter's answers are its own.
func TestBoxSeccomp(t *testing.T) {
	b := newBox(t, NoNetwork, Limits{})
	out, err := sh(t, b, `grep Seccomp: /proc/self/status; python3 -c '`+seccompProbe+`'`)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	for _, l := range []string{
		"Seccomp:\t2",
		"unshare-user: Operation not permitted",
		"ptrace: Operation not permitted",
		"clone3: Function not implemented",
		"getpid: ok",
	} {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("in a box: no line %q:\n%s", l, out)
		}
	}

	noSeccomp = true
	open := newBox(t, NoNetwork, Limits{})
	noSeccomp = false
	out, err = sh(t, open, `grep Seccomp: /proc/self/status; python3 -c '`+seccompProbe+`'`)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	for _, l := range []string{"Seccomp:\t0", "unshare-user: ok", "getpid: ok"} {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("in a box without the filter: no line %q:\n%s", l, out)
		}
	}
	if strings.Contains(out, "clone3: Function not implemented") {
		t.Errorf("without the filter clone3 is still ENOSYS:\n%s", out)
	}
}

// TestBoxLimits reads the limits' status text and the cgroup files it
// names.
func TestBoxLimits(t *testing.T) {
	if !cgroupV2(cgroupRoot) {
		if _, err := os.Stat(filepath.Join(cgroupRoot, "pids")); err != nil {
			t.Skipf("no cgroup v1 pids controller: %v", err)
		}
	}
	b := newBox(t, NoNetwork, Limits{Memory: 64 << 20, Processes: 20, CPU: 50})
	got := b.Limits()
	var want []string
	if b.cg.v2 {
		want = []string{"memory 67108864 cgroup v2 memory.max", "processes 20 cgroup v2 pids.max", "cpu 50 cgroup v2 cpu.weight", "freeze cgroup v2 cgroup.freeze"}
	} else {
		want = []string{"memory 67108864 cgroup v1 memory.limit_in_bytes", "processes 20 cgroup v1 pids.max", "cpu 50 cgroup v1 cpu.shares", "freeze cgroup v1 freezer.state"}
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("Limits() = %q; want a line with %q", got, w)
		}
	}
	if !b.cg.v2 {
		files := map[string]string{
			"memory/loom-%d/memory.limit_in_bytes": "67108864",
			"cpu/loom-%d/cpu.shares":               "512",
			"pids/loom-%d/pids.max":                strconv.FormatInt(20+b.cg.reserved, 10),
		}
		for f, v := range files {
			p := filepath.Join(cgroupRoot, strings.Replace(f, "%d", strconv.Itoa(b.Pid()), 1))
			if s, err := os.ReadFile(p); err != nil || strings.TrimSpace(string(s)) != v {
				t.Errorf("%s = %q, %v; want %s", p, s, err, v)
			}
		}
	}
	// The programs get the processes asked for, not fewer: the box's
	// own are counted apart.
	out, _ := sh(t, b, `i=0; while [ $i -lt 15 ]; do sleep 30 & i=$((i+1)); done; echo started $i; kill $(jobs -p)`)
	if !strings.Contains(out, "started 15\n") {
		t.Errorf("15 processes under a limit of 20: %s", out)
	}
}

// TestBoxFreeze freezes a box whose shell echoes its input: frozen, the
// cgroup says so; thawed, the shell answers again.
func TestBoxFreeze(t *testing.T) {
	b := newBox(t, NoNetwork, Limits{})
	s := startPiped(t, b, "dash", "-c", `echo ready; while read l; do echo "echo $l"; done`)
	if l := s.line(t); l != "ready" {
		t.Fatalf("first line = %q; want ready", l)
	}
	if err := b.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if b.cg.freezer != "" && !b.cg.v2 {
		st, err := os.ReadFile(filepath.Join(b.cg.freezer, "freezer.state"))
		if err != nil || strings.TrimSpace(string(st)) != "FROZEN" {
			t.Errorf("freezer.state after Freeze = %q, %v; want FROZEN", st, err)
		}
	}
	// A program started while frozen starts, and is frozen with the rest.
	p, err := b.Start([]string{"true"}, nil, "", nil, nil, nil)
	if err != nil {
		t.Fatalf("Start while frozen: %v", err)
	}
	if err := b.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("true started while frozen, after Thaw: %v", err)
	}
	io.WriteString(s.in, "again\n")
	if l := s.line(t); l != "echo again" {
		t.Errorf("after Thaw the shell said %q; want %q", l, "echo again")
	}
}

// TestCgroupV2 lays out a cgroup2 tree in a directory and checks what a
// box would write there: this machine's own may be v1.
func TestCgroupV2(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"cgroup.controllers", "cgroup.subtree_control"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("cpu memory pids\n"), 0644); err != nil {
			t.Fatal(err)
		}
	}
	c := makeCgroups(root, 4242, Limits{Memory: 1 << 20, Processes: 7, CPU: 300})
	dir := filepath.Join(root, "loom-4242")
	files := map[string]string{
		"memory.max":      "1048576",
		"memory.swap.max": "0",
		"pids.max":        strconv.Itoa(7 + provisionalPids),
		"cpu.weight":      "300",
		"cgroup.procs":    "4242",
	}
	for f, v := range files {
		if s, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(s) != v {
			t.Errorf("%s = %q, %v; want %q", f, s, err, v)
		}
	}
	if s, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control")); string(s) != "+memory +pids +cpu" {
		t.Errorf("cgroup.subtree_control = %q; want the controllers handed down", s)
	}
	if !c.v2 || c.freezer != dir || len(c.held) != 3 || c.rlimit != (Limits{}) {
		t.Errorf("makeCgroups on cgroup2 = %+v; want v2, every limit held, freezer %s", c, dir)
	}
	// The kernel would report frozen in cgroup.events.
	os.WriteFile(filepath.Join(dir, "pids.current"), []byte("9\n"), 0644)
	if err := c.reserve(Limits{Processes: 7}); err != nil {
		t.Fatal(err)
	}
	if s, _ := os.ReadFile(filepath.Join(dir, "pids.max")); string(s) != strconv.Itoa(7+9+pidsSlack) {
		t.Errorf("pids.max after reserve = %q; want %d", s, 7+9+pidsSlack)
	}
	os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen 1\n"), 0644)
	if err := c.freeze(true); err != nil {
		t.Fatal(err)
	}
	if s, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); string(s) != "1" {
		t.Errorf("cgroup.freeze after freeze = %q; want 1", s)
	}
	os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen 0\n"), 0644)
	if err := c.freeze(false); err != nil {
		t.Fatal(err)
	}
	if s, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); string(s) != "0" {
		t.Errorf("cgroup.freeze after thaw = %q; want 0", s)
	}
}

// TestBoxNoCgroup makes a box where no cgroup is writable: the limits
// fall to rlimits and nice, and Freeze to SIGSTOP, as the status says.
func TestBoxNoCgroup(t *testing.T) {
	saved := cgroupRoot
	cgroupRoot = t.TempDir() + "/none"
	defer func() { cgroupRoot = saved }()
	b := newBox(t, NoNetwork, Limits{Memory: 512 << 20, CPU: 10})
	got := b.Limits()
	for _, w := range []string{"memory 536870912 rlimit RLIMIT_AS", "cpu 10 nice " + strconv.Itoa(niceFor(10)), "freeze signal SIGSTOP"} {
		if !strings.Contains(got, w) {
			t.Errorf("Limits() = %q; want a line with %q", got, w)
		}
	}
	out, err := sh(t, b, `ulimit -v; cut -d" " -f19 /proc/self/stat`)
	if err != nil {
		t.Fatalf("dash: %v\n%s", err, out)
	}
	if want := strconv.Itoa(512<<10) + "\n" + strconv.Itoa(niceFor(10)) + "\n"; out != want {
		t.Errorf("ulimit -v and nice in the box = %q; want %q", out, want)
	}
	s := startPiped(t, b, "dash", "-c", `echo ready; read l; echo "got $l"`)
	if l := s.line(t); l != "ready" {
		t.Fatalf("first line = %q; want ready", l)
	}
	if err := b.Freeze(); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP is asynchronous; the state shows once it has landed.
	if err := b.Thaw(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(s.in, "on\n")
	if l := s.line(t); l != "got on" {
		t.Errorf("after Thaw = %q; want %q", l, "got on")
	}
}

// TestBoxMissingProgram starts a program the box does not have: as on
// the host, it starts, says why and exits 127.
func TestBoxMissingProgram(t *testing.T) {
	b := newBox(t, NoNetwork, Limits{})
	var out bytes.Buffer
	p, err := b.Start([]string{"nosuch"}, []string{"PATH=/bin"}, "", nil, &out, &out)
	if err != nil {
		t.Fatalf("Start(nosuch) = %v; want a process that fails", err)
	}
	var ee *ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.Status.ExitStatus() != 127 {
		t.Errorf("Wait() = %v; want exit status 127", err)
	}
	if !strings.Contains(out.String(), "sandbox: nosuch:") {
		t.Errorf("stderr = %q; want the reason", out.String())
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v; want ErrProcessDone", err)
	}
}

// TestBoxInitGone kills a box's init from outside: its programs die with
// it, and Start says so rather than waiting.
func TestBoxInitGone(t *testing.T) {
	b := newBox(t, NoNetwork, Limits{})
	s := startPiped(t, b, "sleep", "60")
	if err := syscall.Kill(b.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.Done()
	var ee *ExitError
	if err := s.p.Wait(); !errors.As(err, &ee) || ee.Status.Signal() != syscall.SIGKILL {
		t.Errorf("Wait() of a program of a killed box = %v; want killed", err)
	}
	if _, err := b.Start([]string{"true"}, nil, "", nil, nil, nil); err == nil {
		t.Errorf("Start in a box whose init has gone = nil error; want one")
	}
}
