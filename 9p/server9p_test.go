package ninep_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
)

// wait bounds every read a test makes, so that a server that never
// answers fails the test instead of hanging it. It is no timing
// assertion: the replies come in microseconds.
const wait = 10 * time.Second

// startServer serves fsys on a fresh unix socket and returns its
// address. Everything stops at the end of the test.
func startServer(t testing.TB, fsys ns.FS, opts ...ninep.Option) string {
	t.Helper()
	// A short directory of our own: t.TempDir's names can outgrow a
	// unix socket's path.
	dir, err := os.MkdirTemp("", "9p")
	if err != nil {
		t.Fatal(err)
	}
	addr := filepath.Join(dir, "s")
	l, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := ninep.NewServer(fsys, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		os.RemoveAll(dir)
	})
	return addr
}

// wire is a raw 9P client connection for tests: messages out as given,
// replies in one at a time.
type wire struct {
	t testing.TB
	c net.Conn
}

func dial(t testing.TB, addr string) *wire {
	t.Helper()
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wire{t, c}
}

func (w *wire) sendRaw(b []byte) {
	w.t.Helper()
	if _, err := w.c.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *wire) send(f *plan9.Fcall) {
	w.t.Helper()
	b, err := f.Bytes()
	if err != nil {
		w.t.Fatalf("encode %v: %v", f, err)
	}
	w.sendRaw(b)
}

// recv reads one reply; it fails the test if none comes.
func (w *wire) recv() *plan9.Fcall {
	w.t.Helper()
	f, err := w.tryRecv(wait)
	if err != nil {
		w.t.Fatalf("read reply: %v", err)
	}
	return f
}

func (w *wire) tryRecv(d time.Duration) (*plan9.Fcall, error) {
	w.c.SetReadDeadline(time.Now().Add(d))
	defer w.c.SetReadDeadline(time.Time{})
	return plan9.ReadFcall(w.c)
}

func (w *wire) rpc(f *plan9.Fcall) *plan9.Fcall {
	w.t.Helper()
	w.send(f)
	return w.recv()
}

// expect sends f and checks that the reply prints as want.
func (w *wire) expect(f *plan9.Fcall, want string) *plan9.Fcall {
	w.t.Helper()
	r := w.rpc(f)
	if got := r.String(); got != want {
		w.t.Fatalf("%v: got %q; want %q", f, got, want)
	}
	return r
}

// expectClosed checks that the server hangs up, sending nothing more.
func (w *wire) expectClosed() {
	w.t.Helper()
	f, err := w.tryRecv(wait)
	if err == nil {
		w.t.Fatalf("got %v; want the connection closed", f)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		w.t.Fatalf("connection still open after %v", wait)
	}
}

func (w *wire) version(msize uint32) {
	w.t.Helper()
	r := w.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: msize, Version: "9P2000"})
	if r.Type != plan9.Rversion || r.Version != "9P2000" {
		w.t.Fatalf("Tversion: got %v; want Rversion 9P2000", r)
	}
}

func (w *wire) attach(fid uint32) {
	w.t.Helper()
	r := w.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: fid, Afid: plan9.NOFID, Uname: "glenda"})
	if r.Type != plan9.Rattach {
		w.t.Fatalf("Tattach: got %v; want Rattach", r)
	}
}

// walkOpen walks fid to newfid through names and opens it with mode.
func (w *wire) walkOpen(fid, newfid uint32, mode uint8, names ...string) {
	w.t.Helper()
	r := w.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: fid, Newfid: newfid, Wname: names})
	if r.Type != plan9.Rwalk || len(r.Wqid) != len(names) {
		w.t.Fatalf("Twalk %v: got %v", names, r)
	}
	r = w.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: newfid, Mode: mode})
	if r.Type != plan9.Ropen {
		w.t.Fatalf("Topen %v: got %v", names, r)
	}
}

// attached dials addr and returns a connection that has agreed on
// 9P2000 with msize 8192 and attached fid 0 to the root: where most
// tests here start.
func attached(t testing.TB, addr string) *wire {
	t.Helper()
	w := dial(t, addr)
	w.version(8192)
	w.attach(0)
	return w
}

// healthy checks that the server still serves a fresh connection:
// version, attach, create, write, walk, read.
func healthy(t testing.TB, addr string) {
	t.Helper()
	w := attached(t, addr)
	name := fmt.Sprintf("h%d", time.Now().UnixNano())
	w.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1})
	if r := w.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: name, Perm: 0666, Mode: plan9.OWRITE}); r.Type != plan9.Rcreate {
		t.Fatalf("Tcreate: got %v", r)
	}
	if r := w.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: []byte("alive")}); r.Type != plan9.Rwrite || r.Count != 5 {
		t.Fatalf("Twrite: got %v", r)
	}
	w.walkOpen(0, 2, plan9.OREAD, name)
	if r := w.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 2, Count: 100}); string(r.Data) != "alive" {
		t.Fatalf("Tread: got %v; want data alive", r)
	}
	w.c.Close()
}

// serveTest serves a fresh testFS with opts and returns it with an
// attached connection to it. The reads it keeps waiting are let go when
// the test ends, before the server's end waits for them.
func serveTest(t *testing.T, opts ...ninep.Option) (*testFS, *wire) {
	t.Helper()
	fsys := newTestFS()
	addr := startServer(t, fsys, opts...)
	t.Cleanup(fsys.letGo)
	return fsys, attached(t, addr)
}

// startRead opens the testFS file name on fid and sends a Tread of 10
// bytes on it with tag, leaving the reply to the test: for "block" none
// comes until the read is flushed.
func startRead(w *wire, name string, fid uint32, tag uint16) {
	w.t.Helper()
	w.walkOpen(0, fid, plan9.OREAD, name)
	w.send(&plan9.Fcall{Type: plan9.Tread, Tag: tag, Fid: fid, Count: 10})
}

func TestFlushBlockedRead(t *testing.T) {
	fsys, w := serveTest(t)
	startRead(w, "block", 1, 7)
	w.expect(&plan9.Fcall{Type: plan9.Tflush, Tag: 8, Oldtag: 7}, "Rflush tag 8")
	select {
	case err := <-fsys.returned:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("blocked Read returned %v; want context.Canceled", err)
		}
	default:
		t.Errorf("Rflush came before the flushed Read returned")
	}
	// Nothing more may come for tag 7: the next reply is the one for
	// this Tstat.
	if r := w.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 9, Fid: 0}); r.Tag != 9 || r.Type != plan9.Rstat {
		t.Fatalf("after Rflush: got %v; want Rstat tag 9", r)
	}
	if f, err := w.tryRecv(50 * time.Millisecond); err == nil {
		t.Fatalf("after Rflush: got %v; want nothing", f)
	}
}

func TestFlushTwiceAndFlushOfFlush(t *testing.T) {
	fsys, w := serveTest(t, ninep.MaxRequests(1))
	startRead(w, "block", 1, 7)
	// Two flushes for one request are answered in order, and a flush
	// of a flush after them; none is answered before the read returns.
	w.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 8, Oldtag: 7})
	w.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 9, Oldtag: 7})
	w.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 10, Oldtag: 9})
	for _, want := range []string{"Rflush tag 8", "Rflush tag 9", "Rflush tag 10"} {
		if r := w.recv(); r.String() != want {
			t.Fatalf("got %v; want %s", r, want)
		}
	}
	if err := <-fsys.returned; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Read returned %v; want context.Canceled", err)
	}
}

func TestBlockedReadDoesNotStopOthers(t *testing.T) {
	fsys, w := serveTest(t)
	startRead(w, "block", 1, 7)
	w.walkOpen(0, 2, plan9.OREAD, "data")
	w.expect(&plan9.Fcall{Type: plan9.Tread, Tag: 3, Fid: 2, Count: 100}, `Rread tag 3 count 4 "data"`)
	// Hanging up ends the blocked read too.
	w.c.Close()
	if err := <-fsys.returned; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Read returned %v; want context.Canceled", err)
	}
}

func TestDuplicateTag(t *testing.T) {
	_, w := serveTest(t)
	startRead(w, "block", 1, 7)
	w.expect(&plan9.Fcall{Type: plan9.Tstat, Tag: 7, Fid: 0}, "Rerror tag 7 ename tag in use")
	w.expect(&plan9.Fcall{Type: plan9.Tflush, Tag: 8, Oldtag: 7}, "Rflush tag 8")
}

// TestVersionAborts checks that a Tversion with reads outstanding ends
// them, sends no reply for them, nor for a flush of one of them, and
// clunks the fids.
func TestVersionAborts(t *testing.T) {
	fsys, w := serveTest(t)
	startRead(w, "block", 1, 7)
	startRead(w, "stubborn", 2, 8)
	// Flush the stubborn read, which goes on until released.
	w.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 9, Oldtag: 8})
	<-fsys.cancelled
	w.send(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 4096, Version: "9P2000"})
	// The end of the other read shows the version has cancelled
	// everything; only now does the stubborn read, and with it the
	// flush, finish.
	if err := <-fsys.returned; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Read returned %v; want context.Canceled", err)
	}
	fsys.letGo()
	if r := w.recv(); r.String() != "Rversion tag 65535 msize 4096 version '9P2000'" {
		t.Fatalf("second Tversion: got %v (want no reply to tags 7, 8 and 9 before it)", r)
	}
	// The version clunked the old fids.
	w.expect(&plan9.Fcall{Type: plan9.Tstat, Tag: 1, Fid: 0}, "Rerror tag 1 ename unknown fid")
}

// TestDeafReadDoesNotStopOthers checks that a request that blocks
// without heeding its context, and so cannot be flushed, still does not
// stop the connection from serving others.
func TestDeafReadDoesNotStopOthers(t *testing.T) {
	fsys, w := serveTest(t)
	startRead(w, "deaf", 1, 7)
	w.walkOpen(0, 2, plan9.OREAD, "data")
	w.expect(&plan9.Fcall{Type: plan9.Tread, Tag: 3, Fid: 2, Count: 100}, `Rread tag 3 count 4 "data"`)
	fsys.letGo()
	if r := w.recv(); r.String() != `Rread tag 7 count 4 "late"` {
		t.Fatalf("deaf read: got %v", r)
	}
}

// TestHangupClunks checks that the fids of a connection are clunked when
// the client hangs up: a file made with ORCLOSE goes away.
func TestHangupClunks(t *testing.T) {
	addr := startServer(t, ramfs.New())
	w := attached(t, addr)
	w.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1})
	w.expect(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: "tmp", Perm: 0666, Mode: plan9.ORCLOSE}, "Rcreate tag 1 qid 0x1.0 iounit 8168")
	w.c.Close()
	// The server clunks after it has seen the hang-up; look until then.
	w2 := attached(t, addr)
	deadline := time.Now().Add(wait)
	for {
		r := w2.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"tmp"}})
		if r.Type == plan9.Rerror {
			break
		}
		w2.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 1})
		if time.Now().After(deadline) {
			t.Fatalf("ORCLOSE file still there %v after its connection ended", wait)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPanicInFileServer(t *testing.T) {
	var logged traceBuf
	logf := func(format string, args ...any) { fmt.Fprintf(&logged, format+"\n", args...) }
	_, w := serveTest(t, ninep.Logf(logf))
	w.walkOpen(0, 1, plan9.OREAD, "panic")
	w.expect(&plan9.Fcall{Type: plan9.Tread, Tag: 5, Fid: 1, Count: 10}, "Rerror tag 5 ename internal server error")
	w.walkOpen(0, 2, plan9.OREAD, "data")
	if r := w.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 6, Fid: 2, Count: 10}); r.Type != plan9.Rread {
		t.Fatalf("read after a panic: got %v", r)
	}
	if !strings.Contains(logged.String(), "testFile: panic on read") {
		t.Errorf("log = %q; want the panic reported", logged.String())
	}
}

func TestMaxFids(t *testing.T) {
	addr := startServer(t, ramfs.New(), ninep.MaxFids(3))
	w := attached(t, addr)
	for fid := uint32(1); fid < 3; fid++ {
		if r := w.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: fid}); r.Type != plan9.Rwalk {
			t.Fatalf("walk to fid %d: got %v", fid, r)
		}
	}
	w.expect(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 3}, "Rerror tag 1 ename too many fids")
	w.expect(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 3, Afid: plan9.NOFID}, "Rerror tag 1 ename too many fids")
	// Walking a fid onto itself needs no new one.
	w.expect(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 2, Newfid: 2}, "Rwalk tag 1 wqid []")
	w.expect(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 2}, "Rclunk tag 1")
	w.expect(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 3}, "Rwalk tag 1 wqid []")
}

// TestManyRequestsFewSlots sends far more reads at once than the server
// runs at a time; all must be answered.
func TestManyRequestsFewSlots(t *testing.T) {
	_, w := serveTest(t, ninep.MaxRequests(2))
	w.walkOpen(0, 1, plan9.OREAD, "data")
	const n = 500
	var buf bytes.Buffer
	for i := range n {
		b, _ := (&plan9.Fcall{Type: plan9.Tread, Tag: uint16(i), Fid: 1, Count: 4}).Bytes()
		buf.Write(b)
	}
	go w.c.Write(buf.Bytes()) // the server may stop reading until we read
	seen := make(map[uint16]bool)
	for range n {
		r := w.recv()
		if r.Type != plan9.Rread || string(r.Data) != "data" || seen[r.Tag] {
			t.Fatalf("got %v", r)
		}
		seen[r.Tag] = true
	}
}

// TestLimitStopsReading fills every request slot with reads that block
// and checks that a further request waits for a slot, and is served
// once one frees.
func TestLimitStopsReading(t *testing.T) {
	fsys, w := serveTest(t, ninep.MaxRequests(2))
	w.walkOpen(0, 1, plan9.OREAD, "deaf")
	w.walkOpen(0, 2, plan9.OREAD, "deaf")
	w.send(&plan9.Fcall{Type: plan9.Tread, Tag: 7, Fid: 1, Count: 10})
	w.send(&plan9.Fcall{Type: plan9.Tread, Tag: 8, Fid: 2, Count: 10})
	w.send(&plan9.Fcall{Type: plan9.Tstat, Tag: 9, Fid: 0})
	if f, err := w.tryRecv(50 * time.Millisecond); err == nil {
		t.Fatalf("with every slot taken: got %v; want nothing", f)
	}
	fsys.letGo()
	got := map[uint16]uint8{}
	for range 3 {
		r := w.recv()
		got[r.Tag] = r.Type
	}
	if got[7] != plan9.Rread || got[8] != plan9.Rread || got[9] != plan9.Rstat {
		t.Fatalf("got replies %v; want Rread for tags 7 and 8, Rstat for 9", got)
	}
}

// TestBlockedAtLimitCanBeFlushed fills every request slot with blocked
// reads and checks that they can still be flushed.
func TestBlockedAtLimitCanBeFlushed(t *testing.T) {
	_, w := serveTest(t, ninep.MaxRequests(2))
	startRead(w, "block", 1, 7)
	startRead(w, "block", 2, 8)
	w.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 9, Oldtag: 7})
	w.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 10, Oldtag: 8})
	got := map[string]bool{}
	for range 2 {
		got[w.recv().String()] = true
	}
	if !got["Rflush tag 9"] || !got["Rflush tag 10"] {
		t.Fatalf("got %v; want Rflush for tags 9 and 10", got)
	}
}

func TestTrace(t *testing.T) {
	var trace traceBuf
	addr := startServer(t, ramfs.New(), ninep.Trace(&trace))
	w := attached(t, addr)
	w.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 2, Fid: 0})
	w.c.Close()
	want := []string{
		"<- Tversion tag 65535 msize 8192 version '9P2000'",
		"-> Rversion tag 65535 msize 8192 version '9P2000'",
		"<- Tattach tag 1 fid 0 afid 4294967295 uname glenda aname ",
		"-> Rattach tag 1 qid 0x0.0.d",
		"<- Tclunk tag 2 fid 0",
		"-> Rclunk tag 2",
	}
	got := trace.lines()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHugeSizeNotAllocated claims a 4 GiB message and checks that the
// server hangs up without allocating anything like it.
func TestHugeSizeNotAllocated(t *testing.T) {
	addr := startServer(t, ramfs.New())
	w := dial(t, addr)
	w.version(8192)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w.sendRaw([]byte{0xff, 0xff, 0xff, 0xff, plan9.Twrite, 1, 0})
	w.expectClosed()
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("a 4 GiB size claim allocated %d bytes; want well under 1 MiB", d)
	}
	healthy(t, addr)
}

// TestWriteReadBigMessages moves whole msize messages both ways.
func TestWriteReadBigMessages(t *testing.T) {
	const msize = 64 << 10
	addr := startServer(t, ramfs.New(), ninep.Msize(msize))
	w := dial(t, addr)
	w.version(1 << 20)
	w.attach(0)
	w.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1})
	r := w.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: "big", Perm: 0666, Mode: plan9.ORDWR})
	if r.Type != plan9.Rcreate || r.Iounit != msize-plan9.IOHDRSZ {
		t.Fatalf("Tcreate: got %v; want iounit %d", r, msize-plan9.IOHDRSZ)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), msize/16)[:r.Iounit]
	if r := w.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: data}); r.Count != uint32(len(data)) {
		t.Fatalf("Twrite of %d: got %v", len(data), r)
	}
	// A read asking for more than fits gets what fits.
	r = w.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Count: 1 << 30})
	if r.Type != plan9.Rread || !bytes.Equal(r.Data, data) {
		t.Fatalf("Tread: got %d bytes (%v); want %d", len(r.Data), r.Type, len(data))
	}
	// One byte more than msize is refused: the connection ends.
	big, _ := (&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: append(data, 'x', 'y')}).Bytes()
	w.sendRaw(big)
	w.expectClosed()
}

// TestInterop9fans drives the server with 9fans.net/go/plan9/client.
func TestInterop9fans(t *testing.T) {
	addr := startServer(t, ramfs.New())
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := client.NewConn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fsys, err := conn.Attach(nil, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Create("note", plan9.ORDWR, 0644)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	const text = "hello from 9fans"
	if n, err := f.Write([]byte(text)); n != len(text) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(text))
	}
	buf := make([]byte, 100)
	if n, err := f.ReadAt(buf, 0); string(buf[:n]) != text || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt = %q, %v; want %q", buf[:n], err, text)
	}
	f.Close()
	sub, err := fsys.Create("sub", plan9.OREAD, plan9.DMDIR|0755)
	if err != nil {
		t.Fatalf("Create dir: %v", err)
	}
	sub.Close()
	root, err := fsys.Open("/", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := root.Dirreadall()
	if err != nil {
		t.Fatalf("Dirreadall: %v", err)
	}
	root.Close()
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	if strings.Join(names, " ") != "note sub" {
		t.Errorf("Dirreadall names = %v; want [note sub]", names)
	}
	d, err := fsys.Stat("note")
	if err != nil || d.Length != uint64(len(text)) || d.Uid != "glenda" || d.Mode != 0644 {
		t.Fatalf("Stat = %v, %v; want length %d uid glenda mode 0644", d, err, len(text))
	}
	nd := plan9.Dir{}
	nd.Null()
	nd.Name = "renamed"
	if err := fsys.Wstat("note", &nd); err != nil {
		t.Fatalf("Wstat: %v", err)
	}
	if err := fsys.Remove("renamed"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := fsys.Stat("renamed"); err == nil || err.Error() != "file does not exist" {
		t.Fatalf("Stat after Remove: %v; want file does not exist", err)
	}
}

// BenchmarkRead128 measures one 128-byte Tread round trip over a unix
// socket, to set beside BenchmarkUnixPingPong.
func BenchmarkRead128(b *testing.B) {
	addr := startServer(b, ramfs.New())
	w := attached(b, addr)
	w.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1})
	w.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: "f", Perm: 0666, Mode: plan9.ORDWR})
	w.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: make([]byte, 128)})
	req, _ := (&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Count: 128}).Bytes()
	reply := make([]byte, 11+128)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(w.c, reply); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnixPingPong is the floor: a bare 128-byte exchange over a
// unix socket with a Go echo server.
func BenchmarkUnixPingPong(b *testing.B) {
	dir, err := os.MkdirTemp("", "pp")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 23)
		out := make([]byte, 139)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := make([]byte, 23)
	reply := make([]byte, 139)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, reply); err != nil {
			b.Fatal(err)
		}
	}
}
