package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"loom/ns"
	"loom/ns/nstest"
)

var bg = context.Background()

// newFS makes an FS of argv that the test closes at its end, after which
// no program of it may be left: any that is, is killed by its pid and
// reported.
func newFS(t *testing.T, argv []string, opts ...Option) *FS {
	t.Helper()
	fsys, err := New(argv, opts...)
	if err != nil {
		t.Fatalf("New(%q) = %v", argv, err)
	}
	var pids []int
	var mu sync.Mutex
	t.Cleanup(func() {
		fsys.mu.Lock()
		for _, s := range fsys.sess {
			mu.Lock()
			pids = append(pids, s.pid)
			mu.Unlock()
		}
		fsys.mu.Unlock()
		fsys.Close()
		for _, pid := range pids {
			if unix.Kill(pid, 0) == nil {
				t.Errorf("process %d still there after Close", pid)
				unix.Kill(-pid, unix.SIGKILL)
			}
		}
	})
	return fsys
}

// walk walks from the root of fsys (as user) to the slash-separated p.
func walk(fsys *FS, user, p string) (ns.File, error) {
	r, err := fsys.Attach(bg, user, "")
	if err != nil {
		return nil, err
	}
	defer r.Clunk()
	_, f, err := r.Walk(bg, strings.Split(p, "/"))
	if err == nil && f == nil {
		err = ns.ErrNotExist
	}
	return f, err
}

// open walks to p and opens it with mode, failing the test if it cannot.
func open(t *testing.T, fsys *FS, p string, mode uint8) ns.File {
	t.Helper()
	f, err := walk(fsys, "loom", p)
	if err != nil {
		t.Fatalf("walk(%s) = %v", p, err)
	}
	if _, err := f.Open(bg, mode); err != nil {
		f.Clunk()
		t.Fatalf("Open(%s, %d) = %v", p, mode, err)
	}
	return f
}

// clone opens clone and returns the open file (the session's ctl) and the
// session's number as it reads.
func clone(t *testing.T, fsys *FS) (ns.File, string) {
	t.Helper()
	ctl := open(t, fsys, "clone", ns.ORDWR)
	buf := make([]byte, 32)
	n, err := ctl.Read(bg, buf, 0)
	if err != nil || n == 0 {
		ctl.Clunk()
		t.Fatalf("read clone = %q, %v; want a session number", buf[:n], err)
	}
	return ctl, string(buf[:n])
}

// readAll reads f to end of file.
func readAll(ctx context.Context, f ns.File) (string, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(ctx, buf, int64(len(out)))
		out = append(out, buf[:n]...)
		if err != nil || n == 0 {
			return string(out), err
		}
	}
}

// cat opens p, reads it to end of file and clunks it.
func cat(t *testing.T, fsys *FS, p string) string {
	t.Helper()
	f := open(t, fsys, p, ns.OREAD)
	defer f.Clunk()
	s, err := readAll(bg, f)
	if err != nil {
		t.Errorf("read %s = %q, %v", p, s, err)
	}
	return s
}

// ctlWrite writes cmd to the ctl file f.
func ctlWrite(f ns.File, cmd string) error {
	_, err := f.Write(bg, []byte(cmd), 0)
	return err
}

// waitLine is a wait file's line for session id with the Plan 9 exit
// string msg (quoted).
func waitLine(id, msg string) *regexp.Regexp {
	return regexp.MustCompile(`^` + id + ` \d+ \d+ \d+ ` + regexp.QuoteMeta(msg) + `\n$`)
}

// eventually polls cond until it holds, failing after a generous while:
// the wait is for the host to schedule a process, not a measure of speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 2000 {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCat(t *testing.T) {
	fsys := newFS(t, []string{"cat"})
	ctl, id := clone(t, fsys)
	defer ctl.Clunk()
	if id != "0" {
		t.Errorf("first clone reads %q; want \"0\"", id)
	}
	data := open(t, fsys, id+"/data", ns.ORDWR)
	defer data.Clunk()
	for _, msg := range []string{"hello\n", "a second line\n", strings.Repeat("x", 100000)} {
		if n, err := data.Write(bg, []byte(msg), 0); n != len(msg) || err != nil {
			t.Fatalf("Write(data, %d bytes) = %d, %v", len(msg), n, err)
		}
		var got []byte
		buf := make([]byte, 8192)
		for len(got) < len(msg) {
			n, err := data.Read(bg, buf, 0)
			if err != nil || n == 0 {
				t.Fatalf("Read(data) = %d, %v after %d bytes; want %d", n, err, len(got), len(msg))
			}
			got = append(got, buf[:n]...)
		}
		if string(got) != msg {
			t.Errorf("cat echoed %q; want %q", got, msg)
		}
	}
	if got := cat(t, fsys, id+"/status"); !regexp.MustCompile(`^0 \d+ running '' cat\n$`).MatchString(got) {
		t.Errorf("status = %q; want 0 PID running '' cat", got)
	}
	if err := ctlWrite(ctl, "close"); err != nil {
		t.Fatalf("ctl close = %v", err)
	}
	if got, err := readAll(bg, data); got != "" || err != nil {
		t.Errorf("Read(data) after close = %q, %v; want end of file", got, err)
	}
	if _, err := data.Write(bg, []byte("more"), 0); !errors.Is(err, ns.ErrClosed) {
		t.Errorf("Write(data) after close = %v; want %v", err, ns.ErrClosed)
	}
	if got := cat(t, fsys, id+"/wait"); !waitLine("0", "''").MatchString(got) {
		t.Errorf("wait = %q; want 0 and times and ''", got)
	}
	if got := cat(t, fsys, id+"/status"); !regexp.MustCompile(`^0 \d+ exited '' cat\n$`).MatchString(got) {
		t.Errorf("status after exit = %q; want 0 PID exited '' cat", got)
	}
	// The clone open is the ctl file: it stats as ctl.
	if d, err := ctl.Stat(bg); err != nil || d.Name != "ctl" {
		t.Errorf("Stat(clone open) = %v, %v; want ctl", d, err)
	}
	// Reading ctl again, and through its own name, gives the number.
	if got := cat(t, fsys, id+"/ctl"); got != id {
		t.Errorf("read %s/ctl = %q; want %q", id, got, id)
	}
}

func TestExitStatus(t *testing.T) {
	fsys := newFS(t, []string{"sh", "-c", "echo out; echo err >&2; exit 3"})
	ctl, id := clone(t, fsys)
	defer ctl.Clunk()
	if got := cat(t, fsys, id+"/data"); got != "out\n" {
		t.Errorf("data = %q; want %q", got, "out\n")
	}
	if got := cat(t, fsys, id+"/wait"); !waitLine(id, "'sh 0: exit 3'").MatchString(got) {
		t.Errorf("wait = %q; want sh 0: exit 3", got)
	}
	if got := cat(t, fsys, id+"/err"); got != "err\n" {
		t.Errorf("err = %q; want %q", got, "err\n")
	}
	want := regexp.MustCompile(`^0 \d+ exited 'exit 3' sh -c 'echo out; echo err >&2; exit 3'\n$`)
	if got := cat(t, fsys, id+"/status"); !want.MatchString(got) {
		t.Errorf("status = %q; want %v", got, want)
	}
}

func TestSignals(t *testing.T) {
	fsys := newFS(t, []string{"sleep", "1000"})
	for _, tt := range []struct{ cmd, msg string }{
		{"kill", "kill"},
		{"signal TERM", "term"},
		{"signal SIGINT", "interrupt"},
		{"signal 1", "hangup"},
		{"signal usr1", "SIGUSR1"},
		{"note interrupt", "interrupt"},
		{"note alarm", "alarm"},
		{"hangup", "hangup"},
	} {
		ctl, id := clone(t, fsys)
		if err := ctlWrite(ctl, tt.cmd); err != nil {
			t.Errorf("ctl %q = %v", tt.cmd, err)
		}
		if got := cat(t, fsys, id+"/wait"); !waitLine(id, "'sleep "+id+": "+tt.msg+"'").MatchString(got) {
			t.Errorf("ctl %q: wait = %q; want sleep %s: %s", tt.cmd, got, id, tt.msg)
		}
		ctl.Clunk()
	}
}

func TestCtlErrors(t *testing.T) {
	fsys := newFS(t, []string{"cat"})
	ctl, id := clone(t, fsys)
	defer ctl.Clunk()
	for _, tt := range []struct {
		cmd     string
		want    string
		invalid bool // a line that does not fit the table
	}{
		{"bogus", `unknown control message "bogus"`, true},
		{"kill 3", `bad # args to command "kill 3"`, true},
		{"signal", `bad # args to command "signal"`, true},
		{"signal TERM HUP", `bad # args to command "signal TERM HUP"`, true},
		{"close now", `bad # args to command "close now"`, true},
		{"signal 'TERM", `unmatched quote in command "signal 'TERM"`, true},
		{"signal FOO", `signal: bad signal "FOO"`, false},
		{"signal 99", `signal: bad signal "99"`, false},
		{"note bogus", `note: unknown note "bogus"`, false},
		// A bad line anywhere spoils the whole write: the close
		// before it is not done.
		{"close\nbogus", `unknown control message "bogus"`, true},
	} {
		err := ctlWrite(ctl, tt.cmd)
		// How a line with an unmatched quote is shown back is the
		// ctl library's affair; that it is named is checked.
		quote := strings.HasPrefix(tt.want, "unmatched quote") && err != nil &&
			strings.HasPrefix(err.Error(), "unmatched quote in command") && strings.Contains(err.Error(), "TERM")
		if !quote && (err == nil || err.Error() != tt.want) {
			t.Errorf("ctl %q = %v; want %q", tt.cmd, err, tt.want)
		}
		if tt.invalid && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("ctl %q = %v; want an error satisfying fs.ErrInvalid", tt.cmd, err)
		}
	}
	// Nothing changed: cat still runs and still reads its input.
	data := open(t, fsys, id+"/data", ns.ORDWR)
	defer data.Clunk()
	if _, err := data.Write(bg, []byte("still here\n"), 0); err != nil {
		t.Fatalf("Write(data) after bad ctl writes = %v", err)
	}
	buf := make([]byte, 64)
	if n, err := data.Read(bg, buf, 0); err != nil || string(buf[:n]) != "still here\n" {
		t.Errorf("Read(data) after bad ctl writes = %q, %v; want %q", buf[:n], err, "still here\n")
	}
	if got := cat(t, fsys, id+"/status"); !regexp.MustCompile(`^` + id + ` \d+ running `).MatchString(got) {
		t.Errorf("status after bad ctl writes = %q; want running", got)
	}
	if err := ctlWrite(ctl, "kill"); err != nil {
		t.Fatal(err)
	}
	cat(t, fsys, id+"/wait")
	if err := ctlWrite(ctl, "kill"); err == nil || err.Error() != "kill: program has exited" {
		t.Errorf("ctl kill after exit = %v; want %q", err, "kill: program has exited")
	}
}

func TestEnvDir(t *testing.T) {
	dir := t.TempDir()
	fsys := newFS(t, []string{"sh", "-c", `echo "$X"; pwd`}, Env([]string{"X=a b", "PATH=" + os.Getenv("PATH")}), Dir(dir))
	ctl, id := clone(t, fsys)
	defer ctl.Clunk()
	if got, want := cat(t, fsys, id+"/data"), "a b\n"+dir+"\n"; got != want {
		t.Errorf("data = %q; want %q", got, want)
	}
}

func TestNew(t *testing.T) {
	for _, argv := range [][]string{nil, {}, {"no-such-program-loom-test"}, {"/no/such/program"}} {
		if fsys, err := New(argv); err == nil {
			fsys.Close()
			t.Errorf("New(%q) = nil error; want one", argv)
		}
	}
	if !strings.Contains(Help, "clone") || !strings.Contains(Help, "N/data") {
		t.Errorf("Help = %q; want the files described", Help)
	}
}

// TestSessions runs many sessions at once and checks that each is its
// own, that they are all listed while held, and that they go when their
// files are clunked.
func TestSessions(t *testing.T) {
	const n = 8
	fsys := newFS(t, []string{"cat"})
	ctls := make([]ns.File, n)
	ids := make([]string, n)
	for i := range n {
		ctls[i], ids[i] = clone(t, fsys)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			data, err := walk(fsys, "loom", ids[i]+"/data")
			if err != nil {
				t.Errorf("walk(%s/data) = %v", ids[i], err)
				return
			}
			defer data.Clunk()
			if _, err := data.Open(bg, ns.ORDWR); err != nil {
				t.Errorf("Open(%s/data) = %v", ids[i], err)
				return
			}
			msg := strings.Repeat(fmt.Sprintf("session %s ", ids[i]), 1000)
			go data.Write(bg, []byte(msg), 0)
			var got []byte
			buf := make([]byte, 4096)
			for len(got) < len(msg) {
				k, err := data.Read(bg, buf, 0)
				if err != nil || k == 0 {
					t.Errorf("Read(%s/data) = %d, %v", ids[i], k, err)
					return
				}
				got = append(got, buf[:k]...)
			}
			if string(got) != msg {
				t.Errorf("session %s read back %d bytes not its own", ids[i], len(got))
			}
		})
	}
	wg.Wait()
	root, _ := fsys.Attach(bg, "loom", "")
	defer root.Clunk()
	_, r, _ := root.Walk(bg, nil)
	r.Open(bg, ns.OREAD)
	ds, err := r.ReadDir(bg, 0, 100)
	r.Clunk()
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	if err != nil || len(names) != n+1 || names[0] != "clone" {
		t.Errorf("ls / = %v, %v; want clone and %d sessions", names, err, n)
	}
	for _, c := range ctls {
		c.Clunk()
	}
	eventually(t, "all sessions gone after their files were clunked", func() bool { return len(fsys.Sessions()) == 0 })
	for _, id := range ids {
		if _, err := walk(fsys, "loom", id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("walk(%s) after its files were clunked = %v; want fs.ErrNotExist", id, err)
		}
	}
}

// TestLifetime checks that a session's program is killed when its last
// file is clunked, and that an exited program's session stays while a
// file of it is open.
func TestLifetime(t *testing.T) {
	fsys := newFS(t, []string{"sleep", "1000"})
	ctl, id := clone(t, fsys)
	fsys.mu.Lock()
	pid := fsys.sess[0].pid
	fsys.mu.Unlock()
	status := open(t, fsys, id+"/status", ns.OREAD)
	ctl.Clunk()
	// status is still open: the program runs on.
	if err := unix.Kill(pid, 0); err != nil {
		t.Errorf("kill(%d, 0) with status still open = %v; want it running", pid, err)
	}
	status.Clunk()
	eventually(t, "the program killed and its session gone", func() bool {
		return unix.Kill(pid, 0) == unix.ESRCH && len(fsys.Sessions()) == 0
	})
	// A file walked to but not open holds nothing; opening it now fails.
	fsys2 := newFS(t, []string{"true"})
	ctl, id = clone(t, fsys2)
	w, err := walk(fsys2, "loom", id+"/wait")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Clunk()
	if got := cat(t, fsys2, id+"/wait"); !waitLine(id, "''").MatchString(got) {
		t.Errorf("wait = %q", got)
	}
	// Exited, but ctl is open: the session stays.
	if got := cat(t, fsys2, id+"/status"); !regexp.MustCompile(`^` + id + ` \d+ exited ''`).MatchString(got) {
		t.Errorf("status = %q; want exited", got)
	}
	ctl.Clunk()
	eventually(t, "the exited session gone", func() bool { return len(fsys2.Sessions()) == 0 })
	if _, err := w.Open(bg, ns.OREAD); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(wait) of a session gone = %v; want fs.ErrNotExist", err)
	}
}

// goroutines waits for the number of goroutines to come down to n.
func goroutines(t *testing.T, n int) {
	t.Helper()
	for i := 0; runtime.NumGoroutine() > n; i++ {
		if i == 2000 {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines = %d; want %d as before:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInterrupt checks that reads and writes that block (data, err,
// wait, a write to a program that does not read) return when their ctx
// is cancelled or the program is killed, and that nothing is left
// running afterwards.
func TestInterrupt(t *testing.T) {
	before := runtime.NumGoroutine()
	fsys, err := New([]string{"sleep", "1000"})
	if err != nil {
		t.Fatal(err)
	}
	ctl, id := clone(t, fsys)
	files := map[string]ns.File{}
	for name, mode := range map[string]uint8{"data": ns.ORDWR, "err": ns.OREAD, "wait": ns.OREAD} {
		files[name] = open(t, fsys, id+"/"+name, mode)
	}
	buf := make([]byte, 64)
	big := bytes.Repeat([]byte("x"), 4<<20) // more than a pipe holds
	for _, tt := range []struct {
		what string
		op   func(ctx context.Context) (int, error)
	}{
		{"Read(data)", func(ctx context.Context) (int, error) { return files["data"].Read(ctx, buf, 0) }},
		{"Read(err)", func(ctx context.Context) (int, error) { return files["err"].Read(ctx, buf, 0) }},
		{"Read(wait)", func(ctx context.Context) (int, error) { return files["wait"].Read(ctx, buf, 0) }},
		{"Write(data)", func(ctx context.Context) (int, error) { return files["data"].Write(ctx, big, 0) }},
	} {
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			_, err := tt.op(ctx)
			done <- err
		}()
		// The request is blocked (or about to be); either way the
		// cancel must end it.
		time.Sleep(10 * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, ns.ErrInterrupt) {
			t.Errorf("%s cancelled = %v; want %v", tt.what, err, ns.ErrInterrupt)
		}
	}
	// After an interrupted request the next one works: a blocked read
	// of data ends with end of file when the program is killed.
	done := make(chan string, 1)
	go func() {
		n, err := files["data"].Read(bg, buf, 0)
		done <- fmt.Sprint(n, err)
	}()
	time.Sleep(10 * time.Millisecond)
	if err := ctlWrite(ctl, "kill"); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != "0 <nil>" {
		t.Errorf("Read(data) when the program was killed = %s; want 0 <nil>", got)
	}
	for _, f := range files {
		f.Clunk()
	}
	ctl.Clunk()
	fsys.Close()
	goroutines(t, before)
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	fsys, err := New([]string{"sh", "-c", "sleep 1000 & sleep 1000"})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for range 3 {
		ctl, _ := clone(t, fsys)
		defer ctl.Clunk()
	}
	for _, s := range fsys.sess {
		pids = append(pids, s.pid)
	}
	fsys.Close()
	for _, pid := range pids {
		// The process group: the shell, reaped by Close, and its
		// background sleep, killed with it and reaped by init.
		t.Cleanup(func() { unix.Kill(-pid, unix.SIGKILL) })
		eventually(t, fmt.Sprintf("process group %d gone after Close", pid), func() bool {
			return unix.Kill(-pid, 0) == unix.ESRCH
		})
	}
	if f, err := walk(fsys, "loom", "clone"); err == nil {
		if _, err := f.Open(bg, ns.OREAD); !errors.Is(err, ns.ErrClosed) {
			t.Errorf("Open(clone) after Close = %v; want %v", err, ns.ErrClosed)
		}
		f.Clunk()
	}
	if len(fsys.Sessions()) != 0 {
		t.Errorf("Sessions() after Close = %v; want none", fsys.Sessions())
	}
	goroutines(t, before)
}

func TestConformance(t *testing.T) {
	fsys := newFS(t, []string{"cat"})
	ctl, id := clone(t, fsys)
	defer ctl.Clunk()
	// Another user may look but not change: every change is refused and
	// the tree stays as it was. clone is skipped (reading it makes a
	// session), and so are the files whose reads block and ctl, which
	// only its owner may read.
	nstest.TestFS(t, fsys, nstest.User("other"), nstest.ReadOnly(),
		nstest.Expect("clone", id+"/ctl", id+"/data", id+"/err", id+"/status", id+"/wait"),
		nstest.Skip("clone", id+"/ctl", id+"/data", id+"/err", id+"/wait"))
}

// TestHelpExample does what Help's example says.
func TestHelpExample(t *testing.T) {
	fsys := newFS(t, []string{"tr", "a-z", "A-Z"})
	ctl, id := clone(t, fsys)
	defer ctl.Clunk()
	data := open(t, fsys, id+"/data", ns.ORDWR)
	defer data.Clunk()
	if _, err := data.Write(bg, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if err := ctlWrite(ctl, "close"); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(bg, data); got != "HELLO" || err != nil {
		t.Errorf("data = %q, %v; want HELLO", got, err)
	}
	if got := cat(t, fsys, id+"/wait"); !waitLine(id, "''").MatchString(got) {
		t.Errorf("wait = %q; want a success line", got)
	}
}
