package log

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"time"

	"loom/ns"
	"loom/ns/nstest"
)

var ctx = context.Background()

// at is the time of every line in tests with a fixed clock.
var at = time.Date(2025, 3, 7, 14, 28, 34, 123456789, time.FixedZone("X", 3600))

const stamp = "2025-03-07T13:28:34.123Z"

func fixed() time.Time { return at }

func mustWriter(t testing.TB, l *Log, name string) *Writer {
	t.Helper()
	w, err := l.Writer(name)
	if err != nil {
		t.Fatalf("Writer(%q) = %v", name, err)
	}
	return w
}

func TestConformance(t *testing.T) {
	l := New(Clock(fixed))
	fmt.Fprintf(mustWriter(t, l, "web"), "started\nlistening on :80\n")
	fmt.Fprintf(mustWriter(t, l, "db"), "ready\n")
	// As "none" the log is read-only; streams block, so the suite only
	// walks to them and stats them.
	nstest.TestFS(t, l, nstest.User("none"), nstest.ReadOnly(),
		nstest.Skip("all.stream", "web.stream", "db.stream"),
		nstest.Expect("all", "all.stream", "web", "web.stream", "db", "db.stream"))
}

// open opens the file name of l as user.
func open(t *testing.T, l *Log, user, name string, mode uint8) (ns.File, error) {
	t.Helper()
	r, _ := l.Attach(ctx, user, "")
	defer r.Clunk()
	var names []string
	if name != "" {
		names = []string{name}
	}
	_, f, err := r.Walk(ctx, names)
	if err != nil {
		return nil, err
	}
	if _, err := f.Open(ctx, mode); err != nil {
		f.Clunk()
		return nil, err
	}
	return f, nil
}

// cat reads the whole file name as loom.
func cat(t *testing.T, l *Log, name string) string {
	t.Helper()
	f, err := open(t, l, "loom", name, ns.OREAD)
	if err != nil {
		t.Fatalf("open %s = %v", name, err)
	}
	defer f.Clunk()
	return readAll(t, f)
}

func readAll(t *testing.T, f ns.File) string {
	t.Helper()
	var b []byte
	buf := make([]byte, 37)
	for {
		n, err := f.Read(ctx, buf, int64(len(b)))
		if err != nil {
			t.Fatalf("Read = %v", err)
		}
		if n == 0 {
			return string(b)
		}
		b = append(b, buf[:n]...)
	}
}

func TestLines(t *testing.T) {
	for _, tt := range []struct {
		name   string
		writes []string
		close  bool
		want   string // lines, without their stamp and name
	}{
		{"one", []string{"hello\n"}, false, "hello\n"},
		{"two in one write", []string{"a\nb\n"}, false, "a\nb\n"},
		{"empty line", []string{"\n"}, false, "\n"},
		{"partial waits", []string{"par"}, false, ""},
		{"partial ended", []string{"par", "tial\nnext"}, false, "partial\n"},
		{"partial at close", []string{"a\nrest"}, true, "a\nrest\n"},
		{"long line cut", []string{strings.Repeat("x", 1500) + "\n"}, false,
			strings.Repeat("x", 1024) + "\n" + strings.Repeat("x", 476) + "\n"},
		{"long partial cut", []string{strings.Repeat("y", 1100)}, false, strings.Repeat("y", 1024) + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := New(Clock(fixed), MaxBytes(4096)) // MaxLine 1024
			w := mustWriter(t, l, "web")
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Errorf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if tt.close {
				w.Close()
			}
			var want strings.Builder
			for ln := range strings.Lines(tt.want) {
				want.WriteString(stamp + " web " + ln)
			}
			if got := cat(t, l, "all"); got != want.String() {
				t.Errorf("all = %q; want %q", got, want.String())
			}
		})
	}
}

func TestFiles(t *testing.T) {
	l := New(Clock(fixed))
	web, db := mustWriter(t, l, "web"), mustWriter(t, l, "db")
	web.Write([]byte("one\n"))
	db.Write([]byte("two\n"))
	web.Write([]byte("three\n"))
	wantAll := stamp + " web one\n" + stamp + " db two\n" + stamp + " web three\n"
	wantWeb := stamp + " web one\n" + stamp + " web three\n"
	for _, tt := range []struct{ file, want string }{
		{"all", wantAll},
		{"web", wantWeb},
		{"db", stamp + " db two\n"},
	} {
		if got := cat(t, l, tt.file); got != tt.want {
			t.Errorf("cat %s = %q; want %q", tt.file, got, tt.want)
		}
		r, _ := l.Attach(ctx, "loom", "")
		_, f, _ := r.Walk(ctx, []string{tt.file})
		if d, _ := f.Stat(ctx); d.Length != uint64(len(tt.want)) {
			t.Errorf("Stat(%s).Length = %d; want %d", tt.file, d.Length, len(tt.want))
		}
		f.Clunk()
		r.Clunk()
	}

	// A plain file's reads are the log at open.
	f, _ := open(t, l, "loom", "all", ns.OREAD)
	db.Write([]byte("four\n"))
	if got := readAll(t, f); got != wantAll {
		t.Errorf("all opened before a new line = %q; want %q", got, wantAll)
	}
	f.Clunk()

	// The directory: all, all.stream, then each writer's pair.
	d, _ := open(t, l, "loom", "", ns.OREAD)
	ds, _ := d.ReadDir(ctx, 0, 100)
	d.Clunk()
	var names []string
	for _, e := range ds {
		names = append(names, fmt.Sprintf("%s %v", e.Name, e.Mode))
	}
	want := "all --r--r--r--,all.stream --r--r--r--,web a-rw-rw-r--,web.stream --r--r--r--,db a-rw-rw-r--,db.stream --r--r--r--"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("ls = %s; want %s", got, want)
	}
}

func TestCreate(t *testing.T) {
	l := New(Clock(fixed))
	mustWriter(t, l, "web")
	r, _ := l.Attach(ctx, "loom", "")
	defer r.Clunk()
	c := r.(ns.Creater)
	f, _, err := c.Create(ctx, "client", 0666, ns.OWRITE)
	if err != nil {
		t.Fatalf("Create(client) = %v", err)
	}
	f.Write(ctx, []byte("x\ny"), 0)
	f.Write(ctx, []byte("z"), 100) // offsets do not matter: lines append
	if got, want := cat(t, l, "client"), stamp+" client x\n"; got != want {
		t.Errorf("client before clunk = %q; want %q", got, want)
	}
	f.Clunk()
	if got, want := cat(t, l, "client"), stamp+" client x\n"+stamp+" client yz\n"; got != want {
		t.Errorf("client after clunk = %q; want %q", got, want)
	}
	for _, tt := range []struct {
		user, name string
		perm       ns.Perm
		err        error
	}{
		{"loom", "web", 0666, fs.ErrExist},
		{"loom", "all", 0666, fs.ErrExist},
		{"loom", "web.stream", 0666, fs.ErrExist},
		{"loom", "new.stream", 0666, ns.ErrBadName},
		{"loom", "a b", 0666, ns.ErrBadName},
		{"loom", "dir", ns.DMDIR | 0777, fs.ErrPermission},
		{"none", "intruder", 0666, fs.ErrPermission},
	} {
		r, _ := l.Attach(ctx, tt.user, "")
		f, _, err := r.(ns.Creater).Create(ctx, tt.name, tt.perm, ns.OREAD)
		if !errors.Is(err, tt.err) {
			t.Errorf("Create(%q, %v) as %s = %v; want %v", tt.name, tt.perm, tt.user, err, tt.err)
		}
		if f != nil {
			f.Clunk()
		}
		r.Clunk()
	}
	// Others may read a writer but not write as it.
	if _, err := open(t, l, "none", "client", ns.OWRITE); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("open client for writing as none = %v; want permission denied", err)
	}
	if _, err := l.Writer("bad name"); !errors.Is(err, ns.ErrBadName) {
		t.Errorf("Writer(bad name) = %v; want %v", err, ns.ErrBadName)
	}
}

// TestRollOff writes far more than the bound and checks that the log
// keeps only the newest lines, whole, in bounded memory.
func TestRollOff(t *testing.T) {
	const max = 64 << 10
	l := New(MaxBytes(max))
	w := mustWriter(t, l, "w")
	line := strings.Repeat("z", 60)
	for i := range 100000 {
		fmt.Fprintf(w, "%06d %s\n", i, line)
	}
	all := cat(t, l, "all")
	if len(all) > max || len(all) < max-200 {
		t.Errorf("len(all) = %d; want at most %d, and nearly so", len(all), max)
	}
	if !strings.HasSuffix(all, "099999 "+line+"\n") {
		t.Errorf("all ends %q; want the last line", all[len(all)-100:])
	}
	for ln := range strings.Lines(all) {
		if !strings.HasSuffix(ln, line+"\n") || !strings.Contains(ln, " w ") {
			t.Fatalf("all holds %q; want whole lines", ln)
		}
	}
	l.mu.Lock()
	kept, held := len(l.lines)-l.head, cap(l.lines)
	l.mu.Unlock()
	if held > 3*kept+256 {
		t.Errorf("lines slice holds %d for %d lines kept; want at most about three times", held, kept)
	}
}

func TestStream(t *testing.T) {
	before := runtime.NumGoroutine()
	l := New(Clock(fixed), MaxBytes(2048))
	web, db := mustWriter(t, l, "web"), mustWriter(t, l, "db")
	web.Write([]byte("old\n"))
	all, _ := open(t, l, "loom", "all.stream", ns.OREAD)
	ws, _ := open(t, l, "loom", "web.stream", ns.OREAD)
	defer all.Clunk()
	defer ws.Clunk()

	type result struct {
		s   string
		err error
	}
	results := make(chan result)
	read := func(f ns.File, c context.Context, n int) {
		buf := make([]byte, n)
		k, err := f.Read(c, buf, 0)
		results <- result{string(buf[:k]), err}
	}
	expect := func(what, want string, wantErr error) {
		t.Helper()
		select {
		case r := <-results:
			if r.s != want || !errors.Is(r.err, wantErr) || (r.err == nil) != (wantErr == nil) {
				t.Errorf("%s = %q, %v; want %q, %v", what, r.s, r.err, want, wantErr)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s blocked", what)
		}
	}
	// What was there at open comes first.
	go read(all, ctx, 100)
	expect("read all.stream", stamp+" web old\n", nil)

	// Then a read blocks until a line comes.
	go read(all, ctx, 100)
	time.Sleep(10 * time.Millisecond)
	db.Write([]byte("new\n"))
	expect("blocked read of all.stream", stamp+" db new\n", nil)

	// A writer's stream skips the others' lines, and blocks while only
	// they come.
	go read(ws, ctx, 100)
	expect("read web.stream", stamp+" web old\n", nil)
	go read(ws, ctx, 100)
	db.Write([]byte("not web\n"))
	time.Sleep(10 * time.Millisecond)
	web.Write([]byte("web again\n"))
	expect("read web.stream", stamp+" web web again\n", nil)

	// Whole lines when they fit; a line longer than the buffer in pieces.
	go read(all, ctx, 100)
	expect("read all.stream", stamp+" db not web\n"+stamp+" web web again\n", nil)
	web.Write([]byte("0123456789\n"))
	go read(all, ctx, 10)
	expect("short read", stamp[:10], nil)
	go read(all, ctx, 100)
	expect("short read, rest", stamp[10:]+" web 0123456789\n", nil)

	// A cancelled read returns, taking nothing.
	c, cancel := context.WithCancel(ctx)
	go read(all, c, 100)
	time.Sleep(10 * time.Millisecond)
	cancel()
	expect("cancelled read", "", ns.ErrInterrupt)
	web.Write([]byte("after\n"))
	go read(all, ctx, 100)
	expect("read after a cancelled one", stamp+" web after\n", nil)

	// A reader fallen behind the roll-off skips to the oldest line kept.
	for i := range 100 {
		fmt.Fprintf(db, "%03d\n", i)
	}
	oldest, _, _ := strings.Cut(cat(t, l, "all"), "\n")
	go read(all, ctx, 34)
	expect("read after falling behind", oldest+"\n", nil)
	all.Clunk()
	ws.Clunk()
	nstest.Settle(t, before)
}

// BenchmarkAppend measures logging one 80-byte line.
func BenchmarkAppend(b *testing.B) {
	l := New()
	w := mustWriter(b, l, "bench")
	line := []byte(strings.Repeat("x", 79) + "\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		w.Write(line)
	}
}

// BenchmarkAppendFile measures logging one 80-byte line through a
// writer file.
func BenchmarkAppendFile(b *testing.B) {
	l := New()
	mustWriter(b, l, "bench")
	r, _ := l.Attach(ctx, "loom", "")
	_, f, _ := r.Walk(ctx, []string{"bench"})
	r.Clunk()
	if _, err := f.Open(ctx, ns.OWRITE); err != nil {
		b.Fatal(err)
	}
	defer f.Clunk()
	line := []byte(strings.Repeat("x", 79) + "\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		f.Write(ctx, line, 0)
	}
}
