package ninep_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/srv9p"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
)

// TestClient9PKnownServer runs the 9P2000 client against a server that
// is not loom's: a tree served by 9fans.net/go/plan9/srv9p, which checks
// among other things that directory reads go on from where they ended.
func TestClient9PKnownServer(t *testing.T) {
	tree := srv9p.NewTree("adm", "adm", plan9.DMDIR|0555, nil)
	d, err := tree.Root.Create("d", "adm", plan9.DMDIR|0555, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "b", "c", "hello"}
	for _, n := range names {
		if _, err := d.Create(n, "adm", 0444, "contents of "+n); err != nil {
			t.Fatal(err)
		}
	}
	srv := &srv9p.Server{
		Tree: tree,
		Read: func(ctx context.Context, fid *srv9p.Fid, data []byte, off int64) (int, error) {
			s := fid.File().Aux.(string)
			if off >= int64(len(s)) {
				return 0, nil
			}
			return copy(data, s[off:]), nil
		},
	}
	sc, cc := net.Pipe()
	go srv.Serve(sc, sc)
	c, err := ninep.NewClient(cc)
	if err != nil {
		t.Fatalf("NewClient = %v", err)
	}
	defer c.Close()
	root := clAttach(t, c, "glenda")
	ctx := context.Background()

	qids, f, err := root.Walk(ctx, []string{"d", "hello"})
	if err != nil || f == nil || len(qids) != 2 || !qids[0].IsDir() || qids[1].IsDir() {
		t.Fatalf("Walk(d, hello) = %v, %v, %v; want two qids and a file", qids, f, err)
	}
	if dd, err := f.Stat(ctx); err != nil || dd.Name != "hello" || dd.Uid != "adm" {
		t.Errorf("Stat(d/hello) = %v, %v", dd, err)
	}
	f.Clunk()
	if got, want := clGet(t, root, "d", "hello"), "contents of hello"; got != want {
		t.Errorf("read d/hello = %q; want %q", got, want)
	}
	qids, f, err = root.Walk(ctx, []string{"d", "nonesuch", "x"})
	if err != nil || f != nil || len(qids) != 1 {
		t.Errorf("Walk(d, nonesuch, x) = %v, %v, %v; want a partial walk of one", qids, f, err)
	}
	// srv9p's own text for a missing file still means fs.ErrNotExist.
	if _, _, err := root.Walk(ctx, []string{"nonesuch"}); !errors.Is(err, fs.ErrNotExist) || err.Error() != "file not found" {
		t.Errorf("Walk(nonesuch) = %v; want fs.ErrNotExist", err)
	}
	if got := clList(t, root, "d"); !slices.Equal(got, names) {
		t.Errorf("ReadDir(d) = %q; want %q", got, names)
	}

}

// TestClient9PWalk checks that a walk of many names is one Twalk with a
// qid for each name, and what a partial walk leaves behind.
func TestClient9PWalk(t *testing.T) {
	var trace traceBuf
	addr := clServe(t, "unix", ramfs.New(), ninep.Trace(&trace))
	root := clAttach(t, clDial(t, addr), "glenda")
	ctx := context.Background()

	names := make([]string, 16)
	dir := clWalk(t, root)
	for i := range names {
		names[i] = fmt.Sprintf("d%d", i)
		clCreate(t, dir, names[i], ns.DMDIR|0755, ns.OREAD).Clunk()
		next := clWalk(t, dir, names[i])
		dir.Clunk()
		dir = next
	}
	dir.Clunk()

	mark := len(trace.lines())
	qids, f, err := root.Walk(ctx, names)
	if err != nil || f == nil || len(qids) != 16 {
		t.Fatalf("Walk(%d names) = %d qids, %v, %v; want 16 qids and a file", len(names), len(qids), f, err)
	}
	if n := trace.count(mark, "<- Twalk"); n != 1 {
		t.Errorf("Walk(%d names) sent %d Twalks; want 1", len(names), n)
	}
	for i, q := range qids {
		if !q.IsDir() || i > 0 && q.Path == qids[i-1].Path {
			t.Errorf("Walk qid %d = %v; want a directory of its own", i, q)
		}
	}
	if d, err := f.Stat(ctx); err != nil || d.Name != "d15" || d.Qid != qids[15] {
		t.Errorf("Stat(walked) = %v, %v; want d15 with qid %v", d, err, qids[15])
	}
	f.Clunk()

	// A partial walk: the qids reached, no File, no error, and the fid
	// asked for is free again, on both sides.
	mark = len(trace.lines())
	partial := append(names[:3:3], "nonesuch", "x")
	qids, f, err = root.Walk(ctx, partial)
	if err != nil || f != nil || len(qids) != 3 {
		t.Fatalf("Walk(%q) = %v, %v, %v; want 3 qids, no file, no error", partial, qids, f, err)
	}
	qids, f, err = root.Walk(ctx, names[:2])
	if err != nil || f == nil || len(qids) != 2 {
		t.Fatalf("Walk(%q) after a partial walk = %v, %v, %v", names[:2], qids, f, err)
	}
	f.Clunk()
	var newfids []string
	for _, l := range trace.lines()[mark:] {
		if i := strings.Index(l, "newfid "); strings.HasPrefix(l, "<- Twalk") && i >= 0 {
			newfids = append(newfids, strings.Fields(l[i:])[1])
		}
	}
	if len(newfids) != 2 || newfids[0] != newfids[1] {
		t.Errorf("newfids of a partial walk and the next = %q; want the same fid twice", newfids)
	}

	// The receiver is unchanged, and a failed first name is an error.
	if d, err := root.Stat(ctx); err != nil || d.Name != "/" {
		t.Errorf("Stat(root) after walks = %v, %v; want /", d, err)
	}
	if qids, f, err := root.Walk(ctx, []string{"nonesuch", "x"}); !errors.Is(err, fs.ErrNotExist) || f != nil || len(qids) != 0 {
		t.Errorf("Walk(nonesuch, x) = %v, %v, %v; want fs.ErrNotExist", qids, f, err)
	}
	if _, _, err := root.Walk(ctx, append(names, "d16")); err == nil {
		t.Errorf("Walk(17 names) = nil error; want one")
	}

	// NOTAG is the Tversion's alone.
	for _, l := range trace.lines() {
		if strings.Contains(l, "tag 65535 ") && !strings.Contains(l, "version") {
			t.Errorf("trace line %q uses NOTAG", l)
		}
	}
}

// TestClient9PMsize checks the message size agreed and that a read of
// that size is one Tread.
func TestClient9PMsize(t *testing.T) {
	var trace traceBuf
	addr := clServe(t, "unix", ramfs.New(), ninep.Trace(&trace))
	c := clDial(t, addr)
	if got, want := c.Msize(), uint32(1<<20+ninep.IOHDRSZ); got != want {
		t.Errorf("Msize() = %d; want %d", got, want)
	}
	root := clAttach(t, c, "glenda")
	ctx := context.Background()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	f := clCreate(t, root, "big", 0644, ns.ORDWR)
	defer f.Clunk()
	mark := len(trace.lines())
	if n, err := f.Write(ctx, data, 0); n != len(data) || err != nil {
		t.Fatalf("Write(1 MiB) = %d, %v", n, err)
	}
	buf := make([]byte, len(data)+100)
	n, err := f.Read(ctx, buf, 0)
	if n != len(data) || err != nil || !bytes.Equal(buf[:n], data) {
		t.Errorf("Read(1 MiB) = %d, %v; want all of it", n, err)
	}
	if w, r := trace.count(mark, "<- Twrite"), trace.count(mark, "<- Tread"); w != 1 || r != 1 {
		t.Errorf("1 MiB written in %d Twrites and read in %d Treads; want 1 each", w, r)
	}

	// A server that agrees to less is taken at its word.
	small := clServe(t, "unix", ramfs.New(), ninep.Msize(8192))
	c = clDial(t, small)
	if got := c.Msize(); got != 8192 {
		t.Errorf("Msize() with a server of 8192 = %d; want 8192", got)
	}
	root = clAttach(t, c, "glenda")
	clPut(t, root, "f", string(data[:50000]))
	if got := clGet(t, root, "f"); got != string(data[:50000]) {
		t.Errorf("read back %d bytes through msize 8192; want 50000", len(got))
	}
}

// TestClient9PFlush checks that giving up on a blocked read flushes it.
func TestClient9PFlush(t *testing.T) {
	var trace traceBuf
	fsys := newTestFS()
	addr := clServe(t, "unix", fsys, ninep.Trace(&trace))
	root := clAttach(t, clDial(t, addr), "glenda")
	b := openTest(t, root, "block")

	ctx, cancel := context.WithCancel(context.Background())
	done := blockedRead(ctx, fsys, b)
	mark := len(trace.lines())
	cancel()
	if err := <-done; !errors.Is(err, ns.ErrInterrupt) || !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled ctx = %v; want ns.ErrInterrupt", err)
	}
	if n := trace.count(mark, "<- Tflush"); n != 1 {
		t.Fatalf("server saw %d Tflushes; want 1", n)
	}
	if err := <-fsys.returned; !errors.Is(err, context.Canceled) {
		t.Errorf("server's read ended with %v; want context.Canceled", err)
	}

	// A deadline is an interrupt too, and says which.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Read(ctx, make([]byte, 10), 0); !errors.Is(err, ns.ErrInterrupt) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read past a deadline = %v; want ns.ErrInterrupt and context.DeadlineExceeded", err)
	}
	<-fsys.arrived
	<-fsys.returned
	if got := clGet(t, root, "data"); got != "data" {
		t.Errorf("read data after flushes = %q; want data", got)
	}
}

// TestClient9PConcurrentReads reads one File from many goroutines at
// once.
func TestClient9PConcurrentReads(t *testing.T) {
	fsys := newTestFS()
	root := clAttach(t, clDial(t, clServe(t, "unix", fsys)), "glenda")
	b := openTest(t, root, "block")
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := b.Read(context.Background(), make([]byte, 10), 0)
			errs <- err
		}()
	}
	// Every read is in the server at once before any is let go.
	for range n {
		<-fsys.arrived
	}
	if got := fsys.most.Load(); got != n {
		t.Errorf("reads of one File in the server at once = %d; want %d", got, n)
	}
	fsys.letGo()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Read(block) = %v", err)
		}
	}

	// And the data of each is its own.
	r := clAttach(t, clDial(t, clServe(t, "unix", ramfs.New())), "glenda")
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i / 1024)
	}
	clPut(t, r, "f", string(data))
	f := openTest(t, r, "f")
	defer f.Clunk()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			buf := make([]byte, 4096)
			off := int64(i * 4096)
			if n, err := f.Read(context.Background(), buf, off); n != len(buf) || err != nil || !bytes.Equal(buf, data[off:off+4096]) {
				t.Errorf("Read(%d) = %d, %v; want the file's bytes", off, n, err)
			}
		})
	}
	wg.Wait()
}

// TestClient9PRemove checks that Remove leaves nothing for Clunk to
// send.
func TestClient9PRemove(t *testing.T) {
	var trace traceBuf
	root := clAttach(t, clDial(t, clServe(t, "unix", ramfs.New(), ninep.Trace(&trace))), "glenda")
	clPut(t, root, "f", "x")
	f := clWalk(t, root, "f")
	mark := len(trace.lines())
	if err := f.(ns.Remover).Remove(context.Background()); err != nil {
		t.Errorf("Remove = %v", err)
	}
	if err := f.Clunk(); err != nil {
		t.Errorf("Clunk after Remove = %v", err)
	}
	if err := f.Clunk(); err != nil {
		t.Errorf("second Clunk = %v", err)
	}
	if r, c := trace.count(mark, "<- Tremove"), trace.count(mark, "<- Tclunk"); r != 1 || c != 0 {
		t.Errorf("Remove and Clunk sent %d Tremoves and %d Tclunks; want 1 and 0", r, c)
	}
	// A failed remove clunks the fid too.
	d := clWalk(t, root)
	if err := d.(ns.Remover).Remove(context.Background()); err == nil {
		t.Errorf("Remove(/) = nil; want an error")
	}
	d.Clunk()
	if _, err := root.Stat(context.Background()); err != nil {
		t.Errorf("Stat(/) after a failed remove = %v", err)
	}
}

// TestClient9PHangup checks that calls waiting when the connection ends,
// by Close or by the server going away, fail at once.
func TestClient9PHangup(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		fsys := newTestFS()
		c := clDial(t, clServe(t, "unix", fsys))
		b := openTest(t, clAttach(t, c, "glenda"), "block")
		done := blockedRead(context.Background(), fsys, b)
		c.Close()
		if err := <-done; !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Read waiting at Close = %v; want fs.ErrClosed", err)
		}
		if _, err := b.Read(context.Background(), make([]byte, 10), 0); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Read after Close = %v; want fs.ErrClosed", err)
		}
	})
	t.Run("server dies", func(t *testing.T) {
		fsys := newTestFS()
		l, err := ninep.Listen("unix!" + filepath.Join(t.TempDir(), "9p"))
		if err != nil {
			t.Fatal(err)
		}
		tl := &trackListener{Listener: l}
		served := make(chan struct{})
		go func() {
			defer close(served)
			ninep.NewServer(fsys).Serve(context.Background(), tl)
		}()
		defer func() { <-served }()
		defer tl.kill()
		c := clDial(t, "unix!"+l.Addr().String())
		root := clAttach(t, c, "glenda")
		b := openTest(t, root, "block")
		done := blockedRead(context.Background(), fsys, b)
		tl.kill()
		if err := <-done; !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Read waiting when the server died = %v; want fs.ErrClosed", err)
		}
		if _, err := root.Stat(context.Background()); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Stat after the server died = %v; want fs.ErrClosed", err)
		}
		if err := b.Clunk(); err != nil {
			t.Errorf("Clunk after the server died = %v; want nil", err)
		}
	})
}

// trackListener is a listener that can close every connection it made.
type trackListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackListener) kill() {
	l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// rawServe serves connections by hand: each message read goes to h
// with the connection, to answer as it likes. It returns the address.
func rawServe(t *testing.T, h func(c net.Conn, f *plan9.Fcall)) string {
	t.Helper()
	tl := &trackListener{}
	var err error
	tl.Listener, err = net.Listen("unix", filepath.Join(t.TempDir(), "raw"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				for {
					f, err := plan9.ReadFcall(c)
					if err != nil {
						return
					}
					h(c, f)
				}
			})
		}
	})
	t.Cleanup(func() {
		tl.kill()
		wg.Wait()
	})
	return "unix!" + tl.Addr().String()
}

// send writes f to c.
func send(c net.Conn, f *plan9.Fcall) {
	plan9.WriteFcall(c, f)
}

// rversion answers a Tversion as a 9P2000 server of msize 8192.
func rversion(c net.Conn, f *plan9.Fcall) {
	send(c, &plan9.Fcall{Type: plan9.Rversion, Tag: f.Tag, Msize: 8192, Version: "9P2000"})
}

// TestClient9PBadServer has servers answer with what is not a reply:
// the call fails, and the connection with it, rather than hang.
func TestClient9PBadServer(t *testing.T) {
	qid := make([]byte, 13)
	for _, tc := range []struct {
		name  string
		reply func(tag uint16) []byte // to the Tattach
	}{
		{"size beyond msize", func(uint16) []byte { return le32(1 << 30) }},
		{"size below a header", func(uint16) []byte { return le32(3) }},
		{"unknown type", func(tag uint16) []byte { return msg(0, tag) }},
		{"T-message", func(tag uint16) []byte { return msg(plan9.Tclunk, tag, le32(1)) }},
		{"short body", func(tag uint16) []byte { return msg(plan9.Rattach, tag, qid[:5]) }},
		{"trailing bytes", func(tag uint16) []byte { return msg(plan9.Rattach, tag, qid, []byte{0}) }},
		{"wrong type", func(tag uint16) []byte { return msg(plan9.Rclunk, tag) }},
		{"unknown tag", func(tag uint16) []byte { return msg(plan9.Rattach, tag+1, qid) }},
		{"hangup inside a message", func(tag uint16) []byte { return msg(plan9.Rattach, tag, qid)[:10] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServe(t, func(c net.Conn, f *plan9.Fcall) {
				switch f.Type {
				case plan9.Tversion:
					rversion(c, f)
				case plan9.Tattach:
					c.Write(tc.reply(f.Tag))
					if tc.name == "hangup inside a message" {
						c.Close()
					}
				}
			})
			c := clDial(t, addr)
			if _, err := c.Attach(context.Background(), "glenda", ""); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("Attach = %v; want fs.ErrClosed", err)
			}
			if _, err := c.Attach(context.Background(), "glenda", ""); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("second Attach = %v; want fs.ErrClosed", err)
			}
		})
	}

	// Tversion's answers that are no agreement.
	for _, tc := range []struct {
		name string
		r    plan9.Fcall
	}{
		{"Rerror", plan9.Fcall{Type: plan9.Rerror, Tag: plan9.NOTAG, Ename: "no"}},
		{"other version", plan9.Fcall{Type: plan9.Rversion, Tag: plan9.NOTAG, Msize: 8192, Version: "unknown"}},
		{"msize beyond asked", plan9.Fcall{Type: plan9.Rversion, Tag: plan9.NOTAG, Msize: 1 << 30, Version: "9P2000"}},
		{"msize too small", plan9.Fcall{Type: plan9.Rversion, Tag: plan9.NOTAG, Msize: 100, Version: "9P2000"}},
		{"wrong tag", plan9.Fcall{Type: plan9.Rversion, Tag: 0, Msize: 8192, Version: "9P2000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServe(t, func(c net.Conn, f *plan9.Fcall) { send(c, &tc.r) })
			if c, err := ninep.Dial(addr, ninep.DialMsize(65536)); err == nil {
				c.Close()
				t.Errorf("Dial = nil error; want one")
			}
		})
	}
}

// TestClient9PFlushRace has a server answer a flushed request before
// the Rflush, or answer the Tflush late: flush(5)'s cases.
func TestClient9PFlushRace(t *testing.T) {
	// held is the request the server sits on; seen, every message.
	type server struct {
		held chan *plan9.Fcall
		seen chan *plan9.Fcall
	}
	start := func(t *testing.T, onFlush func(c net.Conn, f *plan9.Fcall, held *plan9.Fcall)) (*server, ns.File) {
		s := &server{held: make(chan *plan9.Fcall, 1), seen: make(chan *plan9.Fcall, 100)}
		var held *plan9.Fcall
		addr := rawServe(t, func(c net.Conn, f *plan9.Fcall) {
			s.seen <- f
			switch f.Type {
			case plan9.Tversion:
				rversion(c, f)
			case plan9.Tattach:
				send(c, &plan9.Fcall{Type: plan9.Rattach, Tag: f.Tag, Qid: plan9.Qid{Type: plan9.QTDIR}})
			case plan9.Tread, plan9.Twalk:
				held = f
				s.held <- f
			case plan9.Tflush:
				onFlush(c, f, held)
			default:
				send(c, &plan9.Fcall{Type: plan9.Rerror, Tag: f.Tag, Ename: "no"})
			}
		})
		return s, clAttach(t, clDial(t, addr), "glenda")
	}

	t.Run("reply before Rflush", func(t *testing.T) {
		s, root := start(t, func(c net.Conn, f, held *plan9.Fcall) {
			send(c, &plan9.Fcall{Type: plan9.Rread, Tag: held.Tag, Data: []byte("late")})
			send(c, &plan9.Fcall{Type: plan9.Rflush, Tag: f.Tag})
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		buf := make([]byte, 10)
		var n int
		go func() {
			var err error
			n, err = root.Read(ctx, buf, 0)
			done <- err
		}()
		<-s.held
		cancel()
		if err := <-done; err != nil || string(buf[:n]) != "late" {
			t.Errorf("Read flushed after it was done = %q, %v; want late, nil", buf[:n], err)
		}
	})

	t.Run("slow Rflush", func(t *testing.T) {
		defer ninep.SetFlushWait(time.Millisecond)()
		flushes := make(chan *plan9.Fcall, 1)
		var conn net.Conn
		s, root := start(t, func(c net.Conn, f, held *plan9.Fcall) {
			conn = c
			flushes <- f
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, _, err := root.Walk(ctx, []string{"a"})
			done <- err
		}()
		walk := <-s.held
		cancel()
		if err := <-done; !errors.Is(err, ns.ErrInterrupt) {
			t.Errorf("Walk whose flush is slow = %v; want ns.ErrInterrupt", err)
		}
		fl := <-flushes
		if fl.Oldtag != walk.Tag {
			t.Errorf("Tflush oldtag = %d; want %d", fl.Oldtag, walk.Tag)
		}
		// Until the Rflush, neither tag is used again.
		if _, err := root.Stat(context.Background()); err == nil {
			t.Errorf("Stat = nil error; want the server's")
		}
		for f := range s.seen {
			if f.Type == plan9.Tstat {
				if f.Tag == walk.Tag || f.Tag == fl.Tag {
					t.Errorf("Tstat tag %d while tags %d and %d wait for an Rflush", f.Tag, walk.Tag, fl.Tag)
				}
				break
			}
		}
		// The walk succeeds after all: the fid it made is clunked.
		send(conn, &plan9.Fcall{Type: plan9.Rwalk, Tag: walk.Tag, Wqid: []plan9.Qid{{Path: 1}}})
		send(conn, &plan9.Fcall{Type: plan9.Rflush, Tag: fl.Tag})
		for f := range s.seen {
			if f.Type == plan9.Tclunk {
				if f.Fid != walk.Newfid {
					t.Errorf("Tclunk fid %d after a late walk; want %d", f.Fid, walk.Newfid)
				}
				break
			}
		}
	})
}
