package test

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	ninep "loom/9p"
	"loom/components/kinds"
	"loom/lang"
	"loom/lang/interp"
	"loom/ns"
)

// serveDefault serves the default system, as loom serve does, on a unix
// socket until the test ends, and returns the system and the socket.
func serveDefault(t *testing.T) (*kinds.Default, string) {
	t.Helper()
	d, err := kinds.NewDefault("glenda")
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the server's, so run after it has stopped.
	t.Cleanup(func() { d.Close() })
	return d, serveFS(t, d.NS)
}

// systems gives the shell the default system's commands, as loom's
// shell does.
type systems struct {
	interp.NoSystems
	d *kinds.Default
}

func (s systems) Command(ctx context.Context, sio interp.IO, system string, args []string) error {
	return s.d.Command(ctx, sio.Stdout, args)
}

// shell runs src in a shell living in the system d and returns what it
// printed, failing the test if a command failed.
func shell(t *testing.T, d *kinds.Default, src string) string {
	t.Helper()
	f, err := lang.Parse([]byte(src), "test")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	r := interp.New(interp.WithNamespace(interp.FromNamespace(d.NS, d.Resolve)),
		interp.WithSystems(systems{d: d}), interp.WithIO(nil, &out, &errb))
	defer r.Close()
	if err := r.Run(context.Background(), f); err != nil || r.Status() != "" {
		t.Fatalf("shell %q: %v, status %q, stderr %q", src, err, r.Status(), errb.String())
	}
	return out.String()
}

// readAll9 reads a file to its end with the 9fans client.
func readAll9(t *testing.T, fsys *client.Fsys, name string) string {
	t.Helper()
	f, err := fsys.Open(name, plan9.OREAD)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// read9 reads the file name to its end with the 9fans client.
func read9(fsys *client.Fsys, name string) (string, error) {
	f, err := fsys.Open(name, plan9.OREAD)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

// write9 writes s at the start of the file name with the 9fans client.
func write9(fsys *client.Fsys, name, s string) error {
	f, err := fsys.Open(name, plan9.OWRITE)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(s))
	return err
}

// TestProc9P: a process started by the shell, seen and driven through
// its files by a real 9P client.
func TestProc9P(t *testing.T) {
	d, sock := serveDefault(t)
	_, fsys := compMount(t, sock, "glenda")
	if pid := shell(t, d, "start -n greeter sh -c 'echo hello; read x; echo got $x; echo oops >&2; exit 2'"); pid != "1\n" {
		t.Fatalf("start printed %q; want 1", pid)
	}
	st := readAll9(t, fsys, "/proc/1/status")
	if !regexp.MustCompile(`^greeter +glenda +(Wakeme|Running) `).MatchString(st) || len(st) != 189 {
		t.Errorf("/proc/1/status = %q; want greeter, glenda, sleeping, 189 bytes", st)
	}
	if got := readAll9(t, fsys, "/proc/1/args"); got != "sh -c 'echo hello; read x; echo got $x; echo oops >&2; exit 2'\n" {
		t.Errorf("/proc/1/args = %q", got)
	}
	if got := readAll9(t, fsys, "/proc/1/ns"); !strings.HasPrefix(got, "mount -c ramfs.1 /\n") || !strings.Contains(got, "mount proc /proc\n") {
		t.Errorf("/proc/1/ns = %q; want the system's namespace", got)
	}
	if err := write9(fsys, "/proc/1/stdin", "there\n"); err != nil {
		t.Fatal(err)
	}
	// stdout blocks until the process has printed all and exited.
	if got := readAll9(t, fsys, "/proc/1/stdout"); got != "hello\ngot there\n" {
		t.Errorf("/proc/1/stdout = %q; want hello, got there", got)
	}
	if got := readAll9(t, fsys, "/proc/1/stderr"); got != "oops\n" {
		t.Errorf("/proc/1/stderr = %q; want oops", got)
	}
	if got := shell(t, d, "ps"); !regexp.MustCompile(`^glenda +1 +0:00 +0:00 +0K Moribund +greeter\n$`).MatchString(got) {
		t.Errorf("ps = %q; want greeter Moribund", got)
	}
	if got := readAll9(t, fsys, "/proc/1/wait"); !regexp.MustCompile(`^1 \d+ \d+ \d+ 'greeter 1: exit 2'\n$`).MatchString(got) {
		t.Errorf("/proc/1/wait = %q; want the exit line", got)
	}
	if _, err := fsys.Stat("/proc/1"); err == nil {
		t.Errorf("/proc/1 is still there after its wait was read")
	}

	// kill through ctl, and the shell's kill.
	shell(t, d, "start sleep 1000; start sleep 1000")
	if err := write9(fsys, "/proc/2/ctl", "kill"); err != nil {
		t.Fatal(err)
	}
	shell(t, d, "kill 3")
	for _, n := range []string{"2", "3"} {
		if got := readAll9(t, fsys, "/proc/"+n+"/wait"); !strings.HasSuffix(got, "'sleep "+n+": kill'\n") {
			t.Errorf("/proc/%s/wait = %q; want killed", n, got)
		}
	}
	if err := write9(fsys, "/proc/1/ctl", "kill"); err == nil {
		t.Errorf("write to the ctl of a process gone succeeded")
	}
	shell(t, d, "start sleep 1000")
	if err := write9(fsys, "/proc/4/ctl", "frob"); err == nil || !strings.Contains(err.Error(), `unknown control message "frob"`) {
		t.Errorf("write frob to ctl over 9P = %v; want unknown control message", err)
	}
	if err := fsys.Remove("/proc/4"); err != nil {
		t.Errorf("remove /proc/4: %v", err)
	}
	if got := shell(t, d, "ps"); got != "" {
		t.Errorf("ps after everything = %q; want nothing", got)
	}
}

// settle waits for the number of goroutines to come down to n and
// returns the number it saw last.
func settle(n int) int {
	var g int
	for range 1000 {
		if g = runtime.NumGoroutine(); g <= n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return g
}

// TestProcFlush: a blocked read of stdout, stderr or wait, flushed by a
// 9P client (loom's, which sends Tflush when its ctx is cancelled),
// returns and leaves no goroutine behind on either side.
func TestProcFlush(t *testing.T) {
	d, sock := serveDefault(t)
	shell(t, d, "start sleep 1000")
	c, err := ninep.Dial("unix!" + sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Attach(context.Background(), "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	// The first pass warms the connection up: a request that blocks
	// makes the server hand its reading on to a new goroutine, while the
	// one that read first stays for the connection's life; the first
	// pass waits until that has happened. The passes after it count.
	files := []string{"/proc/1/stdout", "/proc/1/stdout", "/proc/1/stderr", "/proc/1/wait"}
	base := 0
	for i, file := range files {
		before := runtime.NumGoroutine()
		if i > 0 {
			before = base
		}
		f, err := ns.WalkPath(context.Background(), root, file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Open(context.Background(), ns.OREAD); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := f.Read(ctx, make([]byte, 100), 0)
			errc <- err
		}()
		select {
		case err := <-errc:
			t.Fatalf("read %s = %v before the flush; want it to block", file, err)
		case <-time.After(50 * time.Millisecond):
		}
		for j := 0; i == 0 && j < 1000 && runtime.NumGoroutine() < before+2; j++ {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-errc; err == nil {
			t.Errorf("read %s after flush returned no error", file)
		}
		f.Clunk()
		if i == 0 {
			// The reading goroutine of the test has gone; the
			// server's new reader stays. A hand-off of reading
			// may be under way: count once the number holds.
			settle(before + 1)
			base = steadyGoroutines()
			continue
		}
		if g := settle(before); g > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%s: %d goroutines after the flushed read; want %d\n%s", file, g, before, buf[:runtime.Stack(buf, true)])
		}
	}
	if st := d.Env.Proc.List(); len(st) != 1 || st[0].State == "Moribund" {
		t.Errorf("processes after the flushes: %+v; want the sleep still running", st)
	}
}

// TestProcReaderGone: a blocked read whose client goes away (its
// connection closed) ends, and the server keeps no goroutine for it.
func TestProcReaderGone(t *testing.T) {
	d, sock := serveDefault(t)
	shell(t, d, "start sleep 1000")
	for _, file := range []string{"/proc/1/stdout", "/proc/1/stderr", "/proc/1/wait"} {
		// The server's own goroutines start in the background: count
		// once the number holds.
		before := steadyGoroutines()
		c, err := client.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := c.Attach(nil, "glenda", "")
		if err != nil {
			t.Fatal(err)
		}
		f, err := fsys.Open(file, plan9.OREAD)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := f.Read(make([]byte, 100))
			errc <- err
		}()
		select {
		case err := <-errc:
			t.Fatalf("read %s = %v before the client went; want it to block", file, err)
		case <-time.After(50 * time.Millisecond):
		}
		c.Close()
		if err := <-errc; err == nil {
			t.Errorf("read %s after its connection closed returned no error", file)
		}
		if g := settle(before); g > before {
			t.Errorf("%s: %d goroutines after the reader went; want %d", file, g, before)
		}
	}
}
