package test

// 9P tests of the components dev, env, pipe and log, and of a synth ctl
// file, each served by loom's 9P server on a unix socket and driven by
// the third-party client 9fans.net/go/plan9/client, or, where that
// client cannot go (Tflush), by plan9.Fcall messages written on the
// socket.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	ninep "loom/9p"
	"loom/components/dev"
	"loom/components/env"
	compLog "loom/components/log"
	"loom/components/pipe"
	"loom/components/synth"
	"loom/ns"
)

// serveFS serves fsys with loom's 9P server on a new unix socket until
// the test ends, and returns the socket's path.
func serveFS(tb testing.TB, fsys ns.FS) string {
	tb.Helper()
	sock := filepath.Join(tb.TempDir(), "9p.sock")
	ln, err := ninep.Listen("unix!" + sock)
	if err != nil {
		tb.Fatalf("Listen(%s) = %v", sock, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ninep.NewServer(fsys).Serve(ctx, ln)
	}()
	tb.Cleanup(func() {
		cancel()
		ln.Close()
		<-done
	})
	return sock
}

// compMount dials the socket at path and attaches as user.
func compMount(t *testing.T, path, user string) (*client.Conn, *client.Fsys) {
	t.Helper()
	c, err := client.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fsys, err := c.Attach(nil, user, "")
	if err != nil {
		t.Fatalf("Attach(%s) = %v", user, err)
	}
	return c, fsys
}

// compOpen opens name on fsys.
func compOpen(t *testing.T, fsys *client.Fsys, name string, mode uint8) *client.Fid {
	t.Helper()
	fid, err := fsys.Open(name, mode)
	if err != nil {
		t.Fatalf("Open(%s, %d) = %v", name, mode, err)
	}
	return fid
}

// compCat reads name to its end.
func compCat(t *testing.T, fsys *client.Fsys, name string) string {
	t.Helper()
	fid := compOpen(t, fsys, name, plan9.OREAD)
	defer fid.Close()
	b, err := io.ReadAll(fid)
	if err != nil {
		t.Fatalf("read %s = %v", name, err)
	}
	return string(b)
}

// compLs lists the directory name.
func compLs(t *testing.T, fsys *client.Fsys, name string) []string {
	t.Helper()
	fid := compOpen(t, fsys, name, plan9.OREAD)
	defer fid.Close()
	ds, err := fid.Dirreadall()
	if err != nil {
		t.Fatalf("dirread %s = %v", name, err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return names
}

// compBlocked counts the goroutines running in a component: a request
// that a flush or a hang-up failed to end would be one. The server's own
// goroutines (readers, watchdogs), which come and go on their own
// schedule, are not counted.
func compBlocked() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var stuck []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "loom/components/") {
			n++
			stuck = append(stuck, g)
		}
	}
	return n, strings.Join(stuck, "\n\n")
}

// compSettle waits briefly for the goroutines in components to be at
// most n.
func compSettle(t *testing.T, what string, n int) {
	t.Helper()
	got, stacks := compBlocked()
	for i := 0; i < 400 && got > n; i++ {
		time.Sleep(5 * time.Millisecond)
		got, stacks = compBlocked()
	}
	if got > n {
		t.Errorf("%s: goroutines in components = %d; want at most %d\n%s", what, got, n, stacks)
	}
}

func TestComponents9PDev(t *testing.T) {
	cr, cw := io.Pipe()
	defer cw.Close()
	var out bytes.Buffer
	d := dev.New(dev.Sysname("gnot"), dev.Owner("glenda"), dev.Console(cr, &out))
	_, fsys := compMount(t, serveFS(t, d), "glenda")

	if got, want := compLs(t, fsys, "/"), []string{"cons", "null", "random", "sysname", "time", "user", "zero"}; !slices.Equal(got, want) {
		t.Errorf("ls / = %q; want %q", got, want)
	}
	for _, tt := range []struct{ file, want string }{
		{"sysname", "gnot"},
		{"user", "glenda"},
		{"null", ""},
	} {
		if got := compCat(t, fsys, tt.file); got != tt.want {
			t.Errorf("cat %s = %q; want %q", tt.file, got, tt.want)
		}
	}
	tm := compOpen(t, fsys, "time", plan9.OREAD)
	buf := make([]byte, 200)
	n, err := tm.Read(buf)
	tm.Close()
	var sec, nsec, ticks, hz int64
	if k, _ := fmt.Sscan(string(buf[:n]), &sec, &nsec, &ticks, &hz); err != nil || n != 78 || k != 4 || hz != 1e9 || sec != time.Now().Unix() && sec != time.Now().Unix()-1 {
		t.Errorf("read time = %q, %v; want 78 bytes of sec nsec ticks hz, now", buf[:n], err)
	}
	z := compOpen(t, fsys, "zero", plan9.OREAD)
	if n, err := z.Read(buf); n != len(buf) || err != nil || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Errorf("read zero = %d, %v; want %d zeros", n, err, len(buf))
	}
	z.Close()
	if _, err := fsys.Open("zero", plan9.OWRITE); err == nil || err.Error() != "permission denied" {
		t.Errorf("open zero for writing = %v; want permission denied", err)
	}
	null := compOpen(t, fsys, "null", plan9.OWRITE)
	if n, err := null.Write([]byte("gone")); n != 4 || err != nil {
		t.Errorf("write null = %d, %v", n, err)
	}
	null.Close()
	sn := compOpen(t, fsys, "sysname", plan9.OWRITE)
	sn.Write([]byte("helix\n"))
	sn.Close()
	if got := compCat(t, fsys, "sysname"); got != "helix" {
		t.Errorf("sysname after writing helix = %q", got)
	}

	cons := compOpen(t, fsys, "cons", plan9.ORDWR)
	defer cons.Close()
	cons.Write([]byte("hello, console\n"))
	if out.String() != "hello, console\n" {
		t.Errorf("console got %q; want what was written to cons", out.String())
	}
	go cw.Write([]byte("typed\n"))
	if n, err := cons.Read(buf); string(buf[:n]) != "typed\n" || err != nil {
		t.Errorf("read cons = %q, %v; want typed", buf[:n], err)
	}
}

func TestComponents9PEnv(t *testing.T) {
	e := env.New(env.Vars("home=/usr/glenda"))
	_, fsys := compMount(t, serveFS(t, e), "glenda")
	if got := compCat(t, fsys, "home"); got != "/usr/glenda" {
		t.Errorf("cat home = %q", got)
	}
	fid, err := fsys.Create("greeting", plan9.OWRITE, 0666)
	if err != nil {
		t.Fatalf("create greeting = %v", err)
	}
	fid.Write([]byte("hello"))
	fid.Close()
	if v, ok := e.Get("greeting"); v != "hello" || !ok {
		t.Errorf("Get(greeting) = %q, %v; want hello", v, ok)
	}
	// A new write from offset 0 replaces the value, with or without
	// OTRUNC.
	for _, mode := range []uint8{plan9.OWRITE, plan9.OWRITE | plan9.OTRUNC} {
		fid = compOpen(t, fsys, "greeting", mode)
		fid.Write([]byte("hi"))
		fid.Close()
		if got := compCat(t, fsys, "greeting"); got != "hi" {
			t.Errorf("cat greeting after writing hi with mode %#x = %q; want hi", mode, got)
		}
	}
	if d, err := fsys.Stat("greeting"); err != nil || d.Length != 2 {
		t.Errorf("stat greeting = %v, %v; want length 2", d, err)
	}
	e.Set("fromgo", "x")
	if got, want := compLs(t, fsys, "/"), []string{"home", "greeting", "fromgo"}; !slices.Equal(got, want) {
		t.Errorf("ls / = %q; want %q", got, want)
	}
	if err := fsys.Remove("greeting"); err != nil {
		t.Errorf("remove greeting = %v", err)
	}
	if got, want := e.Environ(), []string{"fromgo=x", "home=/usr/glenda"}; !slices.Equal(got, want) {
		t.Errorf("Environ() = %q; want %q", got, want)
	}
	if _, err := fsys.Create("a=b", plan9.OWRITE, 0666); err == nil {
		t.Errorf("create a=b = nil; want an error")
	}
}

func TestComponents9PPipe(t *testing.T) {
	path := serveFS(t, pipe.New())
	_, fa := compMount(t, path, "glenda")
	_, fb := compMount(t, path, "glenda")
	d0 := compOpen(t, fa, "data", plan9.ORDWR)
	d1 := compOpen(t, fb, "data1", plan9.ORDWR)
	defer d1.Close()
	for _, w := range []string{"one", "two two"} {
		if n, err := d0.Write([]byte(w)); n != len(w) || err != nil {
			t.Errorf("write data %q = %d, %v", w, n, err)
		}
	}
	buf := make([]byte, 100)
	for _, want := range []string{"one", "two two"} {
		if n, err := d1.Read(buf); string(buf[:n]) != want || err != nil {
			t.Errorf("read data1 = %q, %v; want %q, a write at a time", buf[:n], err, want)
		}
	}
	d1.Write([]byte("back"))
	if n, err := d0.Read(buf); string(buf[:n]) != "back" || err != nil {
		t.Errorf("read data = %q, %v; want back", buf[:n], err)
	}
	d0.Write([]byte("last"))
	d0.Close()
	if n, err := d1.Read(buf); string(buf[:n]) != "last" || err != nil {
		t.Errorf("read data1 = %q, %v; want last", buf[:n], err)
	}
	if n, err := d1.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("read data1 after data closed = %d, %v; want end of file", n, err)
	}
	if _, err := d1.Write([]byte("x")); err == nil || err.Error() != "i/o on hungup channel" {
		t.Errorf("write data1 with no reader = %v; want i/o on hungup channel", err)
	}
}

// compRaw is a 9P connection spoken in plan9.Fcall messages.
type compRaw struct {
	t *testing.T
	c net.Conn
}

func compDialRaw(t *testing.T, path string) *compRaw {
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &compRaw{t, c}
	r.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"}, plan9.Rversion)
	r.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"}, plan9.Rattach)
	return r
}

func (r *compRaw) send(f *plan9.Fcall) {
	r.t.Helper()
	if err := plan9.WriteFcall(r.c, f); err != nil {
		r.t.Fatalf("write %v = %v", f, err)
	}
}

func (r *compRaw) recv() *plan9.Fcall {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := plan9.ReadFcall(r.c)
	if err != nil {
		r.t.Fatalf("read reply = %v", err)
	}
	return f
}

func (r *compRaw) rpc(f *plan9.Fcall, want uint8) *plan9.Fcall {
	r.t.Helper()
	r.send(f)
	rx := r.recv()
	if rx.Type != want || rx.Tag != f.Tag {
		r.t.Fatalf("%v: reply %v; want type %d tag %d", f, rx, want, f.Tag)
	}
	return rx
}

// open walks fid 0 to name as fid and opens it.
func (r *compRaw) open(fid uint32, name string, mode uint8) {
	r.t.Helper()
	r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid, Wname: []string{name}}, plan9.Rwalk)
	r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: fid, Mode: mode}, plan9.Ropen)
}

// TestComponents9PFlush checks that a Tflush ends a read blocked on an
// empty pipe and on a log stream, that the flushed read takes nothing,
// and that no goroutine stays behind.
func TestComponents9PFlush(t *testing.T) {
	p := pipe.New()
	l := compLog.New()
	w, _ := l.Writer("web")
	for _, tt := range []struct {
		name  string
		fsys  ns.FS
		file  string
		write func()
		want  string
	}{
		{"pipe", p, "data1", func() {
			_, fsys := compMount(t, serveFS(t, p), "glenda")
			d0 := compOpen(t, fsys, "data", plan9.OWRITE)
			d0.Write([]byte("after the flush"))
			// d0 stays open until the test ends, so that the
			// reader does not see end of file.
		}, "after the flush"},
		{"log", l, "all.stream", func() { fmt.Fprintln(w, "after the flush") }, " web after the flush\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := compBlocked()
			r := compDialRaw(t, serveFS(t, tt.fsys))
			r.open(1, tt.file, plan9.OREAD)
			r.send(&plan9.Fcall{Type: plan9.Tread, Tag: 7, Fid: 1, Count: 100})
			time.Sleep(20 * time.Millisecond) // let it block
			r.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 8, Oldtag: 7})
			if rx := r.recv(); rx.Type != plan9.Rflush || rx.Tag != 8 {
				t.Fatalf("reply to Tflush = %v; want Rflush tag 8 and nothing for the flushed read", rx)
			}
			compSettle(t, "after the flush", before)
			// The flushed read took nothing: the next one reads what
			// comes.
			tt.write()
			rx := r.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 9, Fid: 1, Count: 100}, plan9.Rread)
			if !strings.HasSuffix(string(rx.Data), tt.want) {
				t.Errorf("read after the flush = %q; want %q", rx.Data, tt.want)
			}
			r.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 1}, plan9.Rclunk)
		})
	}
}

// TestComponents9PHangup checks that a reader blocked on a pipe or a log
// stream whose client goes away leaves nothing behind, and that the
// pipe's writer then learns that its reader is gone.
func TestComponents9PHangup(t *testing.T) {
	p := pipe.New()
	path := serveFS(t, p)
	_, fw := compMount(t, path, "glenda")
	d0 := compOpen(t, fw, "data", plan9.OWRITE)
	defer d0.Close()

	l := compLog.New()
	lpath := serveFS(t, l)

	before, _ := compBlocked()
	for _, tt := range []struct{ path, file string }{{path, "data1"}, {lpath, "all.stream"}} {
		c, fr := compMount(t, tt.path, "glenda")
		fid := compOpen(t, fr, tt.file, plan9.OREAD)
		done := make(chan error, 1)
		go func() {
			_, err := fid.Read(make([]byte, 10))
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		c.Close()
		if err := <-done; err == nil {
			t.Errorf("%s: read on a closed connection = nil; want an error", tt.file)
		}
	}
	compSettle(t, "after the readers hung up", before)
	var err error
	for range 100 {
		// The server clunks the fids of a connection that hung up in
		// its own time.
		if _, err = d0.Write([]byte("anyone?")); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil || err.Error() != "i/o on hungup channel" {
		t.Errorf("write data after the reader hung up = %v; want i/o on hungup channel", err)
	}
}

func TestComponents9PLog(t *testing.T) {
	l := compLog.New(compLog.Owner("glenda"))
	web, _ := l.Writer("web")
	fmt.Fprintln(web, "started")
	_, fsys := compMount(t, serveFS(t, l), "glenda")

	stream := compOpen(t, fsys, "all.stream", plan9.OREAD)
	defer stream.Close()

	fid, err := fsys.Create("client", plan9.OWRITE, 0666)
	if err != nil {
		t.Fatalf("create client = %v", err)
	}
	fid.Write([]byte("one\ntwo"))
	fid.Close() // ends "two"
	fmt.Fprintln(web, "done")

	all := compCat(t, fsys, "all") // ends, unlike the stream
	var got []string
	for ln := range strings.Lines(all) {
		_, rest, _ := strings.Cut(ln, " ")
		got = append(got, rest)
	}
	if want := []string{"web started\n", "client one\n", "client two\n", "web done\n"}; !slices.Equal(got, want) {
		t.Errorf("cat all = %q; want lines %q", all, want)
	}
	if got := compCat(t, fsys, "client"); strings.Count(got, " client ") != 2 || strings.Contains(got, "web") {
		t.Errorf("cat client = %q; want client's two lines", got)
	}
	if got, want := compLs(t, fsys, "/"), []string{"all", "all.stream", "web", "web.stream", "client", "client.stream"}; !slices.Equal(got, want) {
		t.Errorf("ls / = %q; want %q", got, want)
	}

	// The stream gives everything so far, then blocks for more.
	var sb []byte
	buf := make([]byte, 8192)
	for len(sb) < len(all) {
		n, err := stream.Read(buf)
		if err != nil {
			t.Fatalf("read all.stream = %v", err)
		}
		sb = append(sb, buf[:n]...)
	}
	if string(sb) != all {
		t.Errorf("all.stream = %q; want %q", sb, all)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintln(web, "later")
	}()
	if n, err := stream.Read(buf); err != nil || !strings.HasSuffix(string(buf[:n]), " web later\n") {
		t.Errorf("blocked read of all.stream = %q, %v; want web's later line", buf[:n], err)
	}
}

// TestComponents9PCtl checks that a bad ctl write reaches a 9P client
// as an error naming the command, and changes nothing.
func TestComponents9PCtl(t *testing.T) {
	limit := "1"
	cmds := synth.Commands{
		{Name: "limit", Args: 1, Run: func(args []string) error {
			if strings.Trim(args[0], "0123456789") != "" {
				return errors.New("not a number")
			}
			limit = args[0]
			return nil
		}},
	}
	root := &synth.Node{Mode: ns.DMDIR | 0555, Children: []*synth.Node{
		synth.CtlFile("ctl", 0664, cmds, func(*synth.Req) string { return "limit " + limit + "\n" }),
	}}
	_, fsys := compMount(t, serveFS(t, synth.New(root)), "loom")
	for _, tt := range []struct{ cmd, err string }{
		{"limit 1 2", `bad # args to command "limit 1 2"`},
		{"limit x", "limit: not a number"},
		{"frob", `unknown control message "frob"`},
		{"limit 5\nfrob", `unknown control message "frob"`},
	} {
		fid := compOpen(t, fsys, "ctl", plan9.OWRITE)
		_, err := fid.Write([]byte(tt.cmd))
		fid.Close()
		if err == nil || err.Error() != tt.err {
			t.Errorf("write ctl %q = %v; want %s", tt.cmd, err, tt.err)
		}
		if got := compCat(t, fsys, "ctl"); got != "limit 1\n" {
			t.Errorf("ctl after %q = %q; want limit 1 unchanged", tt.cmd, got)
		}
	}
	fid := compOpen(t, fsys, "ctl", plan9.OWRITE)
	fid.Write([]byte("limit 42\n"))
	fid.Close()
	if got := compCat(t, fsys, "ctl"); got != "limit 42\n" {
		t.Errorf("ctl after limit 42 = %q", got)
	}
}
