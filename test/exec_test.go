package test

import (
	"context"
	"errors"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	ninep "loom/9p"
	"loom/components/exec"
	"loom/ns"
	"loom/ns/nstest"
)

// execNew makes an exec FS of argv, closed (every program killed) at the
// end of the test.
func execNew(t *testing.T, argv ...string) *exec.FS {
	t.Helper()
	fsys, err := exec.New(argv)
	if err != nil {
		t.Fatalf("exec.New(%q) = %v", argv, err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// execEventually polls cond until it holds, failing after a generous
// while: the wait is for processes and goroutines to finish, not a
// measure of speed.
func execEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 2000 {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExec9P drives an exec component through loom's 9P server with the
// 9fans client, as a Plan 9 program drives /net/tcp.
func TestExec9P(t *testing.T) {
	fsys := execNew(t, "cat")
	conn, err := client.Dial("unix", serveFS(t, fsys))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	root, err := conn.Attach(nil, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := root.Open("clone", plan9.ORDWR)
	if err != nil {
		t.Fatalf("Open(clone) = %v", err)
	}
	defer ctl.Close()
	buf := make([]byte, 64)
	// The 9fans client says io.EOF for a read that comes up short.
	n, err := ctl.ReadAt(buf, 0)
	if err != nil && err != io.EOF || string(buf[:n]) != "0" {
		t.Fatalf("read clone = %q, %v; want \"0\"", buf[:n], err)
	}
	id := string(buf[:n])
	data, err := root.Open(id+"/data", plan9.ORDWR)
	if err != nil {
		t.Fatalf("Open(%s/data) = %v", id, err)
	}
	defer data.Close()
	if _, err := data.Write([]byte("hello over 9P\n")); err != nil {
		t.Fatalf("Write(data) = %v", err)
	}
	n, err = data.Read(buf)
	if err != nil || string(buf[:n]) != "hello over 9P\n" {
		t.Errorf("Read(data) = %q, %v; want the line back", buf[:n], err)
	}
	// A bad ctl write is an error naming the command, and changes
	// nothing.
	if _, err := ctl.Write([]byte("signal NOSUCH")); err == nil || err.Error() != `signal: bad signal "NOSUCH"` {
		t.Errorf("ctl signal NOSUCH = %v; want signal: bad signal \"NOSUCH\"", err)
	}
	if _, err := ctl.Write([]byte("frobnicate")); err == nil || !strings.Contains(err.Error(), `unknown control message "frobnicate"`) {
		t.Errorf("ctl frobnicate = %v; want unknown control message", err)
	}
	if _, err := ctl.Write([]byte("close")); err != nil {
		t.Fatalf("ctl close = %v", err)
	}
	if rest, err := io.ReadAll(data); err != nil || len(rest) != 0 {
		t.Errorf("data after close = %q, %v; want end of file", rest, err)
	}
	w, err := root.Open(id+"/wait", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	line, err := io.ReadAll(w)
	w.Close()
	if err != nil || !regexp.MustCompile(`^0 \d+ \d+ \d+ ''\n$`).Match(line) {
		t.Errorf("wait = %q, %v; want a success line", line, err)
	}
	st, err := root.Stat(id + "/data")
	if err != nil || st.Uid != "glenda" || st.Mode != 0660 {
		t.Errorf("Stat(%s/data) = %v, %v; want glenda's, mode 0660", id, st, err)
	}
}

// TestExec9PGone checks that a client that goes away in the middle of a
// blocking read ends its session: the program is killed, the session
// goes, and no goroutine is left behind in the server.
func TestExec9PGone(t *testing.T) {
	fsys := execNew(t, "sleep", "1000")
	sock := serveFS(t, fsys)
	// The server's own goroutines start in the background: count only
	// once a first client has come and gone.
	warm, err := client.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := warm.Attach(nil, "glenda", ""); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	before := steadyGoroutines()
	conn, err := client.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	root, err := conn.Attach(nil, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := root.Open("clone", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := ctl.ReadAt(buf, 0)
	data, err := root.Open(string(buf[:n])+"/data", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := data.Read(buf)
		done <- err
	}()
	execEventually(t, "the session listed", func() bool { return len(fsys.Sessions()) == 1 })
	conn.Close()
	if err := <-done; err == nil {
		t.Errorf("Read(data) on a closed connection = nil; want an error")
	}
	execEventually(t, "the session gone after its client went", func() bool { return len(fsys.Sessions()) == 0 })
	nstest.Settle(t, before)
}

// steadyGoroutines returns the number of goroutines once it has stayed
// the same for a few samples.
func steadyGoroutines() int {
	n, same := runtime.NumGoroutine(), 0
	for i := 0; i < 200 && same < 5; i++ {
		time.Sleep(5 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// TestExec9PFlush checks that loom's 9P2000 client, giving up on a read
// that blocks, flushes it on the server, and that the session carries
// on.
func TestExec9PFlush(t *testing.T) {
	fsys := execNew(t, "cat")
	c, err := ninep.Dial("unix!"+serveFS(t, fsys), ninep.Dialect(ninep.Dialect9P2000))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bg := context.Background()
	root, err := c.Attach(bg, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	open := func(name string, mode uint8) ns.File {
		t.Helper()
		_, f, err := root.Walk(bg, strings.Split(name, "/"))
		if err != nil || f == nil {
			t.Fatalf("Walk(%s) = %v", name, err)
		}
		if _, err := f.Open(bg, mode); err != nil {
			t.Fatalf("Open(%s) = %v", name, err)
		}
		return f
	}
	ctl := open("clone", ns.ORDWR)
	defer ctl.Clunk()
	data := open("0/data", ns.ORDWR)
	defer data.Clunk()
	buf := make([]byte, 64)
	for range 3 {
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			_, err := data.Read(ctx, buf, 0)
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, ns.ErrInterrupt) {
			t.Errorf("Read(data) cancelled = %v; want %v", err, ns.ErrInterrupt)
		}
	}
	if _, err := data.Write(bg, []byte("after flushes\n"), 0); err != nil {
		t.Fatal(err)
	}
	n, err := data.Read(bg, buf, 0)
	if err != nil || string(buf[:n]) != "after flushes\n" {
		t.Errorf("Read(data) after flushed reads = %q, %v; want the line", buf[:n], err)
	}
}
