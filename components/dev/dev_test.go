package dev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"time"

	"loom/ns"
	"loom/ns/nstest"
)

var ctx = context.Background()

func TestConformance(t *testing.T) {
	// As "none" every file is read-only but null, which takes anyone's
	// writes by design; cons is the owner's only; random, time and zero
	// change on every read or have no end. Those are tested below.
	nstest.TestFS(t, New(Sysname("test")), nstest.User("none"), nstest.ReadOnly(),
		nstest.Skip("cons", "null", "random", "time", "zero"),
		nstest.Expect("cons", "null", "random", "sysname", "time", "user", "zero"))
}

func open(t *testing.T, fsys ns.FS, user, name string, mode uint8) (ns.File, error) {
	t.Helper()
	r, err := fsys.Attach(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Clunk()
	_, f, err := r.Walk(ctx, []string{name})
	if err != nil {
		t.Fatalf("Walk(%s) = %v", name, err)
	}
	if _, err := f.Open(ctx, mode); err != nil {
		f.Clunk()
		return nil, err
	}
	return f, nil
}

func read(t *testing.T, f ns.File, n int) string {
	t.Helper()
	buf := make([]byte, n)
	m, err := f.Read(ctx, buf, 0)
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	return string(buf[:m])
}

func TestFiles(t *testing.T) {
	at := time.Date(2025, 3, 7, 14, 28, 34, 123456789, time.UTC)
	clock := func() time.Time { return at }
	d := New(Sysname("gnot"), Clock(clock), Owner("glenda"))
	at = at.Add(1500 * time.Millisecond)
	for _, tt := range []struct {
		name string
		mode ns.Perm
		want string
	}{
		{"cons", 0660, ""},
		{"null", 0666, ""},
		{"sysname", 0664, "gnot"},
		{"time", 0444, fmt.Sprintf("%11d %21d %21d %21d ", at.Unix(), at.UnixNano(), 1500000000, 1000000000)},
		{"user", 0444, "glenda"},
		{"zero", 0444, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
	} {
		f, err := open(t, d, "glenda", tt.name, ns.OREAD)
		if err != nil {
			t.Errorf("Open(%s) = %v", tt.name, err)
			continue
		}
		if got := read(t, f, 10); !strings.HasPrefix(tt.want, got) || len(got) != min(10, len(tt.want)) {
			t.Errorf("read %s = %q; want %q", tt.name, got, tt.want)
		}
		if tt.name != "zero" {
			var all []byte
			buf := make([]byte, 7)
			for {
				n, err := f.Read(ctx, buf, int64(len(all)))
				if n == 0 || err != nil {
					break
				}
				all = append(all, buf[:n]...)
			}
			if string(all) != tt.want {
				t.Errorf("read %s in pieces = %q; want %q", tt.name, all, tt.want)
			}
		}
		st, _ := f.Stat(ctx)
		if st.Mode != tt.mode || st.Uid != "glenda" {
			t.Errorf("Stat(%s) = %v %s; want %v glenda", tt.name, st.Mode, st.Uid, tt.mode)
		}
		f.Clunk()
	}
	// The time record is cons(3)'s length and its numbers parse.
	f, _ := open(t, New(), "loom", "time", ns.OREAD)
	rec := read(t, f, 200)
	f.Clunk()
	var sec, nsec, ticks, hz int64
	if n, err := fmt.Sscan(rec, &sec, &nsec, &ticks, &hz); n != 4 || err != nil || len(rec) != 78 || hz != 1e9 || nsec/1e9 != sec {
		t.Errorf("time = %q (%d bytes); want 78 bytes of sec nsec ticks hz", rec, len(rec))
	}
	// The user is whoever attached.
	f, _ = open(t, d, "none", "user", ns.OREAD)
	if got := read(t, f, 100); got != "none" {
		t.Errorf("user as none = %q; want none", got)
	}
	f.Clunk()
}

func TestRandom(t *testing.T) {
	f, err := open(t, New(), "loom", "random", ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	a, b := read(t, f, 64), read(t, f, 64)
	if len(a) != 64 || a == b || a == strings.Repeat("\x00", 64) {
		t.Errorf("random reads = %q, %q; want 64 different bytes each", a, b)
	}
}

func TestWrites(t *testing.T) {
	d := New(Sysname("gnot"))
	for _, tt := range []struct {
		user, name string
		data       string
		err        error // from Open(OWRITE) or Write
	}{
		{"loom", "null", "anything", nil},
		{"none", "null", "anything", nil},
		{"loom", "zero", "x", fs.ErrPermission},
		{"loom", "random", "x", fs.ErrPermission},
		{"loom", "time", "1", fs.ErrPermission},
		{"loom", "user", "glenda", fs.ErrPermission},
		{"none", "sysname", "evil", fs.ErrPermission},
		{"none", "cons", "x", fs.ErrPermission},
		{"loom", "sysname", "", fs.ErrInvalid},
		{"loom", "sysname", "new\n", nil},
	} {
		f, err := open(t, d, tt.user, tt.name, ns.OWRITE)
		if err == nil {
			_, err = f.Write(ctx, []byte(tt.data), 0)
			f.Clunk()
		}
		if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
			t.Errorf("write %s as %s = %v; want %v", tt.name, tt.user, err, tt.err)
		}
	}
	if got := d.Sysname(); got != "new" {
		t.Errorf("Sysname() after writes = %q; want new", got)
	}
}

func TestConsDefault(t *testing.T) {
	d := New()
	f, err := open(t, d, "loom", "cons", ns.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	if n, err := f.Write(ctx, []byte("lost"), 0); n != 4 || err != nil {
		t.Errorf("Write(cons) = %d, %v; want 4, nil", n, err)
	}
	if got := read(t, f, 10); got != "" {
		t.Errorf("Read(cons) = %q; want end of file", got)
	}
}

func TestConsole(t *testing.T) {
	before := runtime.NumGoroutine()
	pr, pw := io.Pipe()
	var out bytes.Buffer
	d := New(Console(pr, &out))
	f, err := open(t, d, "loom", "cons", ns.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(ctx, []byte("hello\n"), 0); err != nil || out.String() != "hello\n" {
		t.Errorf("Write(cons) = %v, console got %q; want hello", err, out.String())
	}

	// A read waits for the console.
	type result struct {
		s   string
		err error
	}
	done := make(chan result)
	readc := func(c context.Context) {
		buf := make([]byte, 64)
		n, err := f.Read(c, buf, 0)
		done <- result{string(buf[:n]), err}
	}
	go readc(ctx)
	go pw.Write([]byte("typed\n"))
	if r := <-done; r.s != "typed\n" || r.err != nil {
		t.Errorf("Read(cons) = %q, %v; want typed", r.s, r.err)
	}

	// A read given up by its context returns; what the console gives
	// afterwards goes to the next read, not lost.
	c, cancel := context.WithCancel(ctx)
	go readc(c)
	time.Sleep(10 * time.Millisecond)
	cancel()
	if r := <-done; !errors.Is(r.err, ns.ErrInterrupt) {
		t.Errorf("Read(cons) cancelled = %q, %v; want %v", r.s, r.err, ns.ErrInterrupt)
	}
	pw.Write([]byte("later\n")) // taken by the read still pending on the pipe
	go readc(ctx)
	if r := <-done; r.s != "later\n" || r.err != nil {
		t.Errorf("Read(cons) after a cancelled one = %q, %v; want later", r.s, r.err)
	}

	// The console's end is the reads' end of file.
	pw.Close()
	go readc(ctx)
	if r := <-done; r.s != "" || r.err != nil {
		t.Errorf("Read(cons) after the console closed = %q, %v; want end of file", r.s, r.err)
	}
	f.Clunk()
	nstest.Settle(t, before)
}
