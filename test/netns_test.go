package test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Two machines: two network namespaces joined by a veth pair, a loom in
// each, 9P between them over TLS.

// Addresses of the two machines.
const (
	machineA = "10.231.0.1"
	machineB = "10.231.0.2"
	exportAt = "tls!" + machineA + "!5641"
	serveAt  = "tls!" + machineA + "!5640"
)

// netnsPair makes the namespaces and the link, and removes them when the
// test ends. It skips the test where they cannot be made.
type netnsPair struct {
	a, b   string // namespace names
	va, vb string // veth ends
}

func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	if testing.Short() {
		t.Skip("two machines in network namespaces: not in -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("two machines need root to make network namespaces (ip netns)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("two machines need ip(8) to make network namespaces")
	}
	id := os.Getpid() % 100000
	p := &netnsPair{
		a: fmt.Sprintf("loomA%d", id), b: fmt.Sprintf("loomB%d", id),
		va: fmt.Sprintf("lva%d", id), vb: fmt.Sprintf("lvb%d", id),
	}
	if out, err := exec.Command("ip", "netns", "add", p.a).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s (network namespaces not available here)", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.a).Run() })
	if out, err := exec.Command("ip", "netns", "add", p.b).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.b).Run() })
	for _, args := range [][]string{
		{"link", "add", p.va, "type", "veth", "peer", "name", p.vb},
		{"link", "set", p.va, "netns", p.a},
		{"link", "set", p.vb, "netns", p.b},
		{"-n", p.a, "addr", "add", machineA + "/24", "dev", p.va},
		{"-n", p.b, "addr", "add", machineB + "/24", "dev", p.vb},
		{"-n", p.a, "link", "set", p.va, "up"},
		{"-n", p.b, "link", "set", p.vb, "up"},
		{"-n", p.a, "link", "set", "lo", "up"},
		{"-n", p.b, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "link", "del", p.va).Run()
			t.Skipf("ip %s: %v: %s (veth pairs not available here)", strings.Join(args, " "), err, out)
		}
	}
	return p
}

// link sets machine A's end of the link up or down: down cuts the
// network between the two.
func (p *netnsPair) link(t *testing.T, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	if out, err := exec.Command("ip", "-n", p.a, "link", "set", p.va, state).CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s %s: %v: %s", p.va, state, err, out)
	}
}

// buildLoom builds cmd/loom into a temporary directory.
func buildLoom(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loom")
	cmd := exec.Command("go", "build", "-o", bin, "loom/cmd/loom")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build loom/cmd/loom: %v: %s", err, out)
	}
	return bin
}

// shellProc is a loom shell running a script in a network namespace,
// fed lines on its standard input (the script's read) and read line by
// line from its standard output.
type shellProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	mu    sync.Mutex
	all   strings.Builder // everything printed, for failure messages
	done  chan struct{}
}

func startShell(t *testing.T, netns, bin string, env []string, script string) *shellProc {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", netns, bin, "-c", script)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &shellProc{cmd: cmd, in: in, lines: make(chan string, 100), done: make(chan struct{})}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.all.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			s.lines <- sc.Text()
		}
	}()
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.kill)
	return s
}

// startServer runs loom serve on addr in a network namespace, and
// returns once it says where it serves: the address in dial form.
func startServer(t *testing.T, netns, bin string, env []string, addr string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", netns, bin, "serve", "-listen", addr)
	cmd.Env = append(os.Environ(), env...)
	return startServing(t, cmd)
}

// kill kills the shell by its pid (ip netns exec becomes loom) and
// waits for it.
func (s *shellProc) kill() {
	s.in.Close()
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

func (s *shellProc) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

// expect waits for a line with want, and returns the lines before it.
func (s *shellProc) expect(t *testing.T, want string) []string {
	t.Helper()
	var before []string
	timeout := time.After(never)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("shell ended before %q; it printed:\n%s", want, s.output())
			}
			if strings.Contains(l, want) {
				return before
			}
			before = append(before, l)
		case <-timeout:
			t.Fatalf("no %q in %v; the shell printed:\n%s", want, never, s.output())
		}
	}
}

// step lets a shell waiting in read go on.
func (s *shellProc) step(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(s.in, "\n"); err != nil {
		t.Fatalf("step: %v", err)
	}
}

// machineEnv writes a machine's keys and returns the environment that
// names them: a key pair signed by the one CA, the CA, and the secret.
func machineEnv(t *testing.T, p *pki, name, ip, secret string) []string {
	cert, key := p.valid(t, name, ip)
	return []string{
		"LOOM_TLSCERT=" + cert, "LOOM_TLSKEY=" + key, "LOOM_TLSCA=" + p.CAFile, "LOOM_SECRET=" + secret,
	}
}

// TestTwoMachines runs a loom in each of two network namespaces. A
// exports its system over TLS; B imports it and reads and writes it,
// survives the link being cut and A being killed (errors within the
// timeout, then the import works again when A is back), and clones A's
// system twice over, with nothing but 9P between the two: by load -n of
// /systems/loom/image of A's server, imported on B, and by cloning a
// system of B whose namespace imports A's.
func TestTwoMachines(t *testing.T) {
	pair := newNetnsPair(t)
	bin := buildLoom(t)
	p := newPKI(t)
	secret := writeSecret(t, p.dir, "two machines share this secret")
	envA := machineEnv(t, p, "machineA", machineA, secret)
	envB := machineEnv(t, p, "machineB", machineB, secret)
	img := filepath.Join(t.TempDir(), "a.img") // A's own, to start again from

	// A's server, whose system is cloned onto B over 9P; a client on
	// A gives it a file.
	if got := startServer(t, pair.a, bin, envA, serveAt); got != serveAt {
		t.Errorf("loom serve -listen %s says it serves on %s; want the address in TLS's dial form", serveAt, got)
	}
	if out, err := exec.Command("ip", append([]string{"netns", "exec", pair.a, "env"}, append(envA, bin, "-a", serveAt, "-c", "echo hello from a server > /tmp/hello")...)...).CombinedOutput(); err != nil {
		t.Fatalf("loom -a %s: %v: %s", serveAt, err, out)
	}

	scriptA := fmt.Sprintf(`echo hello from a > /tmp/hello
export loom %s
save loom %s
echo A ready
read x`, exportAt, img)
	a := startShell(t, pair.a, bin, envA, scriptA)
	a.expect(t, "A ready")

	// An unauthenticated B is refused: no keys at all, or only the CA.
	for _, env := range [][]string{nil, {"LOOM_TLSCA=" + p.CAFile}} {
		out, err := exec.Command("ip", append([]string{"netns", "exec", pair.b, "env"}, append(env, bin, "-c", "mkdir -p /n/a; import "+exportAt+" /n/a; cat /n/a/tmp/hello")...)...).CombinedOutput()
		if err == nil || strings.Contains(string(out), "hello from a") {
			t.Errorf("B with env %q: import = %v, %q; want refused", env, err, out)
		}
	}

	scriptB := fmt.Sprintf(`mkdir -p /n/a
import -c -t 2s %[1]s /n/a
cat /n/a/tmp/hello
echo from b > /n/a/tmp/fromb
cat /n/a/tmp/fromb
echo step 1
read x
cat /n/a/tmp/hello
echo step 2
read x
cat /n/a/tmp/hello
echo step 3
read x
cat /n/a/tmp/hello
echo step 4
read x
cat /n/a/tmp/hello
echo step 5
mkdir -p /n/as
import %[2]s /n/as
load -n /n/as/systems/loom/image as froma
use froma
cat /tmp/hello
system r { mkdir -p /n/a; import -t 2s %[1]s /n/a }
clone r as r2
use r2
cat /n/a/tmp/hello
echo B done`, exportAt, serveAt)
	b := startShell(t, pair.b, bin, envB, scriptB)
	if got := b.expect(t, "step 1"); !contains(got, "hello from a") || !contains(got, "from b") {
		t.Fatalf("B read through the import %q; want hello from a, and from b written back", got)
	}

	// The link cut: B's read fails within its 2s timeout, not later.
	pair.link(t, false)
	b.step(t)
	if got := b.expect(t, "step 2"); contains(got, "hello from a") || len(got) == 0 || contains(got, "does not exist") {
		t.Errorf("B's read with the link cut printed %q; want an error that says why", got)
	}
	// The link back: the next read dials again.
	pair.link(t, true)
	b.step(t)
	if got := b.expect(t, "step 3"); !contains(got, "hello from a") {
		t.Errorf("B's read with the link back printed %q; want hello from a", got)
	}

	// A killed: B's read fails; A started again (from its image, which
	// has B's file), B reads again.
	a.kill()
	b.step(t)
	if got := b.expect(t, "step 4"); contains(got, "hello from a") || len(got) == 0 || contains(got, "does not exist") {
		t.Errorf("B's read with A killed printed %q; want an error that says why", got)
	}
	a2 := startShell(t, pair.a, bin, envA, fmt.Sprintf(`load %s as again
export again %s
echo A ready
read x`, img, exportAt))
	a2.expect(t, "A ready")
	b.step(t)
	if got := b.expect(t, "step 5"); !contains(got, "hello from a") {
		t.Errorf("B's read with A back printed %q; want hello from a", got)
	}

	// Clones of A's system on B: loaded from the image A's server
	// gives over 9P; cloned from a system that imports A's.
	got := b.expect(t, "B done")
	t.Logf("B printed:\n%s", b.output())
	if n := count(got, "hello from a server"); n != 1 {
		t.Errorf("B's load -n of A's image printed %q; want hello from a server", got)
	}
	if n := count(got, "hello from a"); n != 2 {
		t.Errorf("B's clones printed %q; want hello from a twice", got)
	}
}

func contains(lines []string, s string) bool { return count(lines, s) > 0 }

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
