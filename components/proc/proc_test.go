package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"loom/ns"
	"loom/ns/nstest"
)

var bg = context.Background()

// newFS returns a proc server whose processes are all killed when the
// test ends.
func newFS(t *testing.T, opts ...Option) *FS {
	t.Helper()
	fsys := New(opts...)
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// start starts argv in fsys, failing the test if it cannot.
func start(t *testing.T, fsys *FS, argv ...string) int {
	t.Helper()
	pid, err := fsys.Start(bg, argv, StartOptions{Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatalf("Start(%q) = %v", argv, err)
	}
	return pid
}

// open walks to p as user and opens it with mode.
func open(fsys ns.FS, user, p string, mode uint8) (ns.File, error) {
	root, err := fsys.Attach(bg, user, "")
	if err != nil {
		return nil, err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(bg, root, p)
	if err != nil {
		return nil, err
	}
	if _, err := f.Open(bg, mode); err != nil {
		f.Clunk()
		return nil, err
	}
	return f, nil
}

// readAll reads the file p from the start to end of file.
func readAll(ctx context.Context, fsys ns.FS, p string) (string, error) {
	f, err := open(fsys, "loom", p, ns.OREAD)
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	var b []byte
	buf := make([]byte, 8192)
	for {
		n, err := f.Read(ctx, buf, int64(len(b)))
		if err != nil {
			return string(b), err
		}
		if n == 0 {
			return string(b), nil
		}
		b = append(b, buf[:n]...)
	}
}

func mustRead(t *testing.T, fsys ns.FS, p string) string {
	t.Helper()
	s, err := readAll(bg, fsys, p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return s
}

// write writes s to the file p in one write.
func write(fsys ns.FS, p, s string) error {
	f, err := open(fsys, "loom", p, ns.OWRITE)
	if err != nil {
		return err
	}
	defer f.Clunk()
	_, err = f.Write(bg, []byte(s), 0)
	return err
}

// eventually polls cond until it holds, failing the test after a
// generous while: the wait is for the host to schedule a process, not a
// measure of speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; ; i++ {
		if cond() {
			return
		}
		if i == 2000 {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func state(t *testing.T, fsys *FS, pid int) string {
	t.Helper()
	for _, in := range fsys.List() {
		if in.Pid == pid {
			return in.State
		}
	}
	return "gone"
}

func TestConformance(t *testing.T) {
	fsys := newFS(t, Namespace(func() ([]byte, error) { return []byte("mount -c ramfs /\n"), nil }))
	start(t, fsys, "sleep", "1000")
	start(t, fsys, "sh", "-c", "echo hi; exec sleep 1000")
	// Another user may look but not change anything: every change is
	// refused and the tree stays as it was. (The owner may remove a
	// process, which the read-only suite would take for a fault.)
	nstest.TestFS(t, fsys, nstest.User("other"), nstest.ReadOnly(),
		nstest.Expect("ctl", "1/args", "1/ctl", "1/env", "1/note", "1/ns", "1/status",
			"1/stdin", "1/stdout", "1/stderr", "1/wait", "2/status"),
		// Streams block; write-only files cannot be opened for
		// fstest's reads; status changes between two opens (its
		// real time moves on).
		nstest.Skip("ctl", "1/status", "2/status", "1/stdout", "1/stderr", "1/wait", "2/stdout", "2/stderr", "2/wait",
			"1/ctl", "1/note", "1/stdin", "2/ctl", "2/note", "2/stdin"))
}

func TestFiles(t *testing.T) {
	fsys := newFS(t, Owner("glenda"), Namespace(func() ([]byte, error) { return []byte("mount -c ramfs /\n"), nil }))
	pid, err := fsys.Start(bg, []string{"sh", "-c", "echo out; echo err >&2; exec sleep 1000", "it's"},
		StartOptions{Name: "shell", Env: []string{"PATH=" + os.Getenv("PATH"), "X=a b"}})
	if err != nil {
		t.Fatal(err)
	}
	if pid != 1 {
		t.Errorf("first pid = %d; want 1", pid)
	}
	open := func(p string) string {
		t.Helper()
		f, err := open(fsys, "glenda", p, ns.OREAD)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		defer f.Clunk()
		buf := make([]byte, 4096)
		n, err := f.Read(bg, buf, 0)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		return string(buf[:n])
	}
	for _, tc := range []struct{ file, want string }{
		{"1/args", "sh -c 'echo out; echo err >&2; exec sleep 1000' 'it''s'\n"},
		{"1/env", "PATH=" + os.Getenv("PATH") + "\nX=a b\n"},
		{"1/ns", "mount -c ramfs /\n"},
		{"1/stdout", "out\n"},
		{"1/stderr", "err\n"},
	} {
		if got := open(tc.file); got != tc.want {
			t.Errorf("read %s = %q; want %q", tc.file, got, tc.want)
		}
	}

	st := open("1/status")
	if len(st) != 28+28+12+10*12+1 {
		t.Errorf("status is %d bytes; want %d: %q", len(st), 28+28+12+10*12+1, st)
	}
	if name, user := strings.TrimSpace(st[:28]), strings.TrimSpace(st[28:56]); name != "shell" || user != "glenda" {
		t.Errorf("status name, user = %q, %q; want shell, glenda", name, user)
	}
	if s := strings.TrimSpace(st[56:68]); s != "Wakeme" && s != "Running" {
		t.Errorf("status state = %q; want Wakeme or Running", s)
	}
	nums := strings.Fields(st[68:])
	hostPid, _ := strconv.Atoi(nums[len(nums)-1])
	infos := fsys.List()
	if len(infos) != 1 || infos[0].HostPid != hostPid || hostPid <= 0 {
		t.Errorf("status host pid %d; List() = %+v", hostPid, infos)
	}
	eventually(t, "the host pid runs sleep", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", hostPid))
		return err == nil && strings.HasPrefix(string(b), "sleep\x00")
	})
	if mem, _ := strconv.Atoi(nums[6]); mem <= 0 {
		t.Errorf("status memory = %d; want the process's size in KiB", mem)
	}
	if ps := infos[0].PS(false); !regexp.MustCompile(`^glenda +1 +0:00 +0:00 +\d+K (Wakeme|Running) +shell\n$`).MatchString(ps) {
		t.Errorf("PS(false) = %q; want Plan 9's ps line", ps)
	}
	if ps := infos[0].PS(true); !strings.HasSuffix(ps, " sh -c 'echo out; echo err >&2; exec sleep 1000' 'it''s'\n") {
		t.Errorf("PS(true) = %q; want the command line at the end", ps)
	}

	// The tree's shape and modes.
	root, _ := fsys.Attach(bg, "glenda", "")
	defer root.Clunk()
	d, err := ns.WalkPath(bg, root, "1")
	if err != nil {
		t.Fatal(err)
	}
	d.Open(bg, ns.OREAD)
	ents, _ := d.ReadDir(bg, 0, 100)
	d.Clunk()
	var got []string
	for _, e := range ents {
		got = append(got, fmt.Sprintf("%s %v %s", e.Name, e.Mode, e.Uid))
	}
	want := []string{
		"args --r--r--r-- glenda", "ctl ---w------- glenda", "env --r--r--r-- glenda",
		"note ---w------- glenda", "ns --r--r--r-- glenda", "status --r--r--r-- glenda",
		"stdin ---w------- glenda", "stdout --r-------- glenda", "stderr --r-------- glenda",
		"wait --r-------- glenda",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ls 1 =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// waitLine is a wait file's line for pid with the message msg.
func waitLine(pid int, msg string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`^%d \d+ \d+ \d+ %s\n$`, pid, regexp.QuoteMeta(msg)))
}

func TestWait(t *testing.T) {
	fsys := newFS(t)
	for _, tc := range []struct {
		argv []string
		ctl  string // written to ctl, if not ""
		note string // written to note, if not ""
		msg  string
	}{
		{argv: []string{"true"}, msg: "''"},
		{argv: []string{"sh", "-c", "exit 3"}, msg: "'sh 2: exit 3'"},
		{argv: []string{"sleep", "1000"}, ctl: "kill", msg: "'sleep 3: kill'"},
		{argv: []string{"sleep", "1000"}, ctl: "signal TERM", msg: "'sleep 4: term'"},
		{argv: []string{"sleep", "1000"}, ctl: "signal usr1", msg: "'sleep 5: SIGUSR1'"},
		{argv: []string{"sleep", "1000"}, ctl: "signal 10", msg: "'sleep 6: SIGUSR1'"},
		{argv: []string{"sleep", "1000"}, note: "interrupt", msg: "'sleep 7: interrupt'"},
		{argv: []string{"sleep", "1000"}, note: "hangup\n", msg: "'sleep 8: hangup'"},
		{argv: []string{"sleep", "1000"}, note: "alarm", msg: "'sleep 9: alarm'"},
		{argv: []string{"cat"}, ctl: "close", msg: "''"},
	} {
		pid := start(t, fsys, tc.argv...)
		dir := strconv.Itoa(pid)
		if tc.ctl != "" {
			if err := write(fsys, dir+"/ctl", tc.ctl); err != nil {
				t.Errorf("%v: write ctl %q = %v", tc.argv, tc.ctl, err)
			}
		}
		if tc.note != "" {
			if err := write(fsys, dir+"/note", tc.note); err != nil {
				t.Errorf("%v: write note %q = %v", tc.argv, tc.note, err)
			}
		}
		e, err := fsys.Wait(bg, pid)
		if err != nil {
			t.Fatalf("Wait(%d) = %v", pid, err)
		}
		if st := state(t, fsys, pid); st != "Moribund" {
			t.Errorf("%v: state after exit = %s; want Moribund", tc.argv, st)
		}
		line := mustRead(t, fsys, dir+"/wait")
		if !waitLine(pid, tc.msg).MatchString(line) || e.String() != line {
			t.Errorf("%v (ctl %q, note %q): wait = %q, Wait() = %q; want pid %d and %s", tc.argv, tc.ctl, tc.note, line, e, pid, tc.msg)
		}
		// Read: the directory has gone.
		if _, err := readAll(bg, fsys, dir+"/status"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v: status after wait read = %v; want file does not exist", tc.argv, err)
		}
	}
}

// TestOutputKept: output and exit can be read after the exit, again and
// again, until wait is read.
func TestOutputKept(t *testing.T) {
	fsys := newFS(t)
	pid := start(t, fsys, "sh", "-c", "echo one; echo two")
	if _, err := fsys.Wait(bg, pid); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := mustRead(t, fsys, "1/stdout"); got != "one\ntwo\n" {
			t.Errorf("stdout = %q; want one, two", got)
		}
	}
	if got := mustRead(t, fsys, "1/stderr"); got != "" {
		t.Errorf("stderr = %q; want nothing", got)
	}
	// One open reads the wait line twice; the directory goes only then.
	f, err := open(fsys, "loom", "1/wait", ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n1, _ := f.Read(bg, buf, 0)
	first := string(buf[:n1])
	n2, _ := f.Read(bg, buf, 0)
	f.Clunk()
	if first != string(buf[:n2]) || !waitLine(1, "''").MatchString(first) {
		t.Errorf("wait read twice = %q, %q; want one line twice", first, buf[:n2])
	}
	if len(fsys.List()) != 0 {
		t.Errorf("List() after wait = %v; want nothing", fsys.List())
	}
}

func TestStdin(t *testing.T) {
	fsys := newFS(t)
	start(t, fsys, "cat")
	if err := write(fsys, "1/stdin", "hello\n"); err != nil {
		t.Fatal(err)
	}
	f, err := open(fsys, "loom", "1/stdout", ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	buf := make([]byte, 100)
	n, err := f.Read(bg, buf, 0) // blocks until cat has echoed
	if err != nil || string(buf[:n]) != "hello\n" {
		t.Errorf("stdout = %q, %v; want hello", buf[:n], err)
	}
	if err := write(fsys, "1/stdin", "bye\n"); err != nil {
		t.Fatal(err)
	}
	n, err = f.Read(bg, buf, 6)
	if err != nil || string(buf[:n]) != "bye\n" {
		t.Errorf("stdout at 6 = %q, %v; want bye", buf[:n], err)
	}
	if err := write(fsys, "1/ctl", "close"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Read(bg, buf, 10); n != 0 || err != nil {
		t.Errorf("stdout after close = %q, %v; want end of file", buf[:n], err)
	}
	if err := write(fsys, "1/stdin", "late\n"); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("write stdin after close = %v; want %v", err, ns.ErrClosed)
	}
}

// TestStdinOption: a process given its standard input reads it.
func TestStdinOption(t *testing.T) {
	fsys := newFS(t)
	pid, err := fsys.Start(bg, []string{"tr", "a-z", "A-Z"},
		StartOptions{Env: []string{"PATH=" + os.Getenv("PATH")}, Stdin: strings.NewReader("shout\n")})
	if err != nil {
		t.Fatal(err)
	}
	fsys.Wait(bg, pid)
	if got := mustRead(t, fsys, "1/stdout"); got != "SHOUT\n" {
		t.Errorf("stdout = %q; want SHOUT", got)
	}
}

func TestStopStart(t *testing.T) {
	fsys := newFS(t)
	pid := start(t, fsys, "sleep", "1000")
	if err := write(fsys, "1/ctl", "stop"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "state Stopped", func() bool { return state(t, fsys, pid) == "Stopped" })
	if st := mustRead(t, fsys, "1/status"); strings.TrimSpace(st[56:68]) != "Stopped" {
		t.Errorf("status = %q; want state Stopped", st)
	}
	if err := write(fsys, "1/ctl", "start"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "state not Stopped", func() bool { return state(t, fsys, pid) != "Stopped" })
}

// TestBadWrites: a ctl or note write that is wrong names what was wrong
// and does nothing, even when other lines of it were right.
func TestBadWrites(t *testing.T) {
	fsys := newFS(t)
	pid := start(t, fsys, "sleep", "1000")
	for _, tc := range []struct{ file, text, want string }{
		{"ctl", "frob", `unknown control message "frob"`},
		{"ctl", "kill 3", `bad # args to command "kill 3"`},
		{"ctl", "signal", `bad # args to command "signal"`},
		{"ctl", "signal NOPE", `signal: bad signal "NOPE"`},
		{"ctl", "signal 99", `signal: bad signal "99"`},
		{"ctl", "stop\nfrob", `unknown control message "frob"`},
		{"ctl", "'kill", `unmatched quote in command`},
		{"note", "sys: trap", `unknown note "sys: trap"`},
		{"note", "", `unknown note ""`},
	} {
		err := write(fsys, "1/"+tc.file, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("write %s %q = %v; want an error with %q", tc.file, tc.text, err, tc.want)
		}
	}
	// Still running, and never stopped by the rejected "stop\nfrob".
	if st := state(t, fsys, pid); st != "Wakeme" && st != "Running" {
		t.Errorf("state after bad writes = %s; want it running", st)
	}

	// Writes to a process that has exited fail and say so.
	write(fsys, "1/ctl", "kill")
	fsys.Wait(bg, pid)
	for _, tc := range []struct{ file, text string }{{"ctl", "kill"}, {"ctl", "stop"}, {"note", "interrupt"}} {
		if err := write(fsys, "1/"+tc.file, tc.text); err == nil || !strings.Contains(err.Error(), "process exited") {
			t.Errorf("write %s %q after exit = %v; want process exited", tc.file, tc.text, err)
		}
	}
	// Only the owner may write.
	if _, err := open(fsys, "other", "1/ctl", ns.OWRITE); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("open ctl as other = %v; want permission denied", err)
	}
}

func TestStartErrors(t *testing.T) {
	fsys := newFS(t)
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{nil, "no program"},
		{[]string{"loom-no-such-program"}, "loom-no-such-program: not found"},
		{[]string{"/nonexistent/prog"}, "no such file or directory"},
	} {
		if _, err := fsys.Start(bg, tc.argv, StartOptions{Env: []string{"PATH=" + os.Getenv("PATH")}}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%q) = %v; want an error with %q", tc.argv, err, tc.want)
		}
	}
	if len(fsys.List()) != 0 {
		t.Errorf("List() after failed starts = %v; want none", fsys.List())
	}
	fsys.Close()
	if _, err := fsys.Start(bg, []string{"true"}, StartOptions{}); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Start after Close = %v; want %v", err, ns.ErrClosed)
	}
}

// TestRemove: removing a process's directory kills it and takes it out.
func TestRemove(t *testing.T) {
	fsys := newFS(t)
	pid := start(t, fsys, "sleep", "1000")
	hostPid := fsys.List()[0].HostPid
	root, _ := fsys.Attach(bg, "loom", "")
	defer root.Clunk()
	d, err := ns.WalkPath(bg, root, "1")
	if err != nil {
		t.Fatal(err)
	}
	err = d.(ns.Remover).Remove(bg)
	d.Clunk()
	if err != nil {
		t.Fatalf("Remove(1) = %v", err)
	}
	if len(fsys.List()) != 0 {
		t.Errorf("List() after remove = %v; want none", fsys.List())
	}
	eventually(t, "the removed process dies", func() bool {
		return syscall.Kill(hostPid, 0) == syscall.ESRCH
	})
	if _, err := fsys.Wait(bg, pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Wait(%d) after remove = %v; want file does not exist", pid, err)
	}
}

// TestRing: past OutputSize, the oldest output is dropped, and a reader
// that falls behind goes on from the oldest byte kept without repeats.
func TestRing(t *testing.T) {
	fsys := newFS(t, OutputSize(100))
	pid := start(t, fsys, "sh", "-c", "echo first; read x; i=0; while [ $i -lt 50 ]; do echo line$i; i=$((i+1)); done")
	f, err := open(fsys, "loom", "1/stdout", ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	buf := make([]byte, 3)
	if n, err := f.Read(bg, buf, 0); err != nil || string(buf[:n]) != "fir" {
		t.Fatalf("first read = %q, %v; want fir", buf[:n], err)
	}
	write(fsys, "1/stdin", "go\n")
	fsys.Wait(bg, pid)
	var w strings.Builder
	w.WriteString("first\n")
	for i := range 50 {
		fmt.Fprintf(&w, "line%d\n", i)
	}
	want := w.String()

	// inOrder checks that chunks, read at a reader's own offsets, are
	// pieces of want in order, without repeats, up to its end.
	inOrder := func(who string, chunks []string) {
		t.Helper()
		at := 0
		for _, c := range chunks {
			i := strings.Index(want[at:], c)
			if i < 0 {
				t.Errorf("%s read %q, which is not in the output after offset %d: chunks %q", who, c, at, chunks)
				return
			}
			at += i + len(c)
		}
		if at != len(want) {
			t.Errorf("%s stopped at %d of %d bytes: chunks %q", who, at, len(want), chunks)
		}
	}
	readOn := func(f ns.File, off int64) []string {
		var chunks []string
		buf := make([]byte, 7)
		for {
			n, err := f.Read(bg, buf, off)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return chunks
			}
			chunks = append(chunks, string(buf[:n]))
			off += int64(n)
		}
	}
	// The reader that fell behind reads on at its offsets.
	inOrder("the reader behind", append([]string{"fir"}, readOn(f, 3)...))
	// The stream has ended; a new reader gets what is kept: the end of
	// the output, no more than 100 bytes.
	got := mustRead(t, fsys, "1/stdout")
	if len(got) == 0 || len(got) > 100 || !strings.HasSuffix(want, got) {
		t.Errorf("stdout = %q; want at most the last 100 bytes of %q", got, want)
	}
	g, err := open(fsys, "loom", "1/stdout", ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Clunk()
	if chunks := readOn(g, 0); strings.Join(chunks, "") != got {
		t.Errorf("read in 7-byte pieces = %q; want %q", chunks, got)
	}
}

// goroutines waits for the number of goroutines to come down to n, and
// reports the number it saw last.
func goroutines(n int) int {
	var g int
	for range 1000 {
		if g = runtime.NumGoroutine(); g <= n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return g
}

// TestInterrupt: reads that block (stdout, stderr, wait) return when
// their ctx is cancelled, as a Tflush asks, and leave nothing behind.
func TestInterrupt(t *testing.T) {
	fsys := newFS(t)
	start(t, fsys, "sleep", "1000")
	for _, file := range []string{"1/stdout", "1/stderr", "1/wait"} {
		before := runtime.NumGoroutine()
		f, err := open(fsys, "loom", file, ns.OREAD)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		errc := make(chan error, 1)
		go func() {
			_, err := f.Read(ctx, make([]byte, 10), 0)
			errc <- err
		}()
		select {
		case err := <-errc:
			t.Fatalf("Read(%s) = %v before it was interrupted; want it to block", file, err)
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		if err := <-errc; !errors.Is(err, ns.ErrInterrupt) {
			t.Errorf("Read(%s) after cancel = %v; want %v", file, err, ns.ErrInterrupt)
		}
		f.Clunk()
		if g := goroutines(before); g > before {
			t.Errorf("%s: %d goroutines after the interrupted read; want %d", file, g, before)
		}
	}
}

// TestCloseKills: Close kills every process, those in the table and
// those waited for or removed whose output is still held open.
func TestCloseKills(t *testing.T) {
	before := runtime.NumGoroutine()
	fsys := New()
	start(t, fsys, "sleep", "1000")
	// The shell exits at once, leaving a sleep in its group that holds
	// its output open.
	pid := start(t, fsys, "sh", "-c", "sleep 1000 & echo started")
	fsys.Wait(bg, pid)
	mustRead(t, fsys, strconv.Itoa(pid)+"/wait")
	var hostPids []int
	for _, in := range fsys.List() {
		hostPids = append(hostPids, in.HostPid)
	}
	fsys.Close()
	for _, hp := range hostPids {
		if err := syscall.Kill(hp, 0); err != syscall.ESRCH {
			t.Errorf("host process %d after Close: kill(0) = %v; want it gone", hp, err)
		}
	}
	if g := goroutines(before); g > before {
		t.Errorf("%d goroutines after Close; want %d", g, before)
	}
}

// lockedBuffer is a bytes.Buffer that goroutines may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLog: starts and exits are logged, in order.
func TestLog(t *testing.T) {
	var log lockedBuffer
	fsys := newFS(t, Log(&log))
	start(t, fsys, "true")
	fsys.Wait(bg, 1)
	pid := start(t, fsys, "sleep", "1000")
	write(fsys, strconv.Itoa(pid)+"/ctl", "kill")
	fsys.Wait(bg, pid)
	want := "start 1: true\nexit 1: ''\nstart 2: sleep 1000\nexit 2: 'sleep 2: kill'\n"
	if got := log.String(); got != want {
		t.Errorf("log =\n%s\nwant\n%s", got, want)
	}
}

// TestCtlStart: writing start to /ctl starts a process, whose number a
// read of the same open gives.
func TestCtlStart(t *testing.T) {
	fsys := newFS(t, Environ(func() []string { return []string{"PATH=" + os.Getenv("PATH"), "WHO=ctl"} }))
	f, err := open(fsys, "loom", "ctl", ns.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	buf := make([]byte, 10)
	if n, _ := f.Read(bg, buf, 0); n != 0 {
		t.Errorf("ctl before any start = %q; want nothing", buf[:n])
	}
	if _, err := f.Write(bg, []byte("start -n hi sh -c 'echo hi from $WHO'\n"), 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Read(bg, buf, 0); string(buf[:n]) != "1\n" {
		t.Errorf("ctl after start = %q; want 1", buf[:n])
	}
	fsys.Wait(bg, 1)
	if got := mustRead(t, fsys, "1/stdout"); got != "hi from ctl\n" {
		t.Errorf("stdout = %q; want hi from ctl", got)
	}
	if in := fsys.List(); len(in) != 1 || in[0].Name != "hi" {
		t.Errorf("List() = %+v; want the process named hi", in)
	}
	for _, tc := range []struct{ text, want string }{
		{"start", `bad # args to command "start"`},
		{"stop 1", `unknown control message "stop 1"`},
		{"start -n x", "start: usage: start [-n name] program [args ...]"},
		{"start loom-no-such-program", "start: loom-no-such-program: not found"},
	} {
		if _, err := f.Write(bg, []byte(tc.text), 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("write ctl %q = %v; want an error with %q", tc.text, err, tc.want)
		}
	}
	if n := len(fsys.List()); n != 1 {
		t.Errorf("%d processes after bad writes; want 1", n)
	}
	if _, err := open(fsys, "other", "ctl", ns.OWRITE); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("open ctl as other = %v; want permission denied", err)
	}
}
