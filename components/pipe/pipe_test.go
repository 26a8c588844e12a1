package pipe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"loom/ns"
	"loom/ns/nstest"
)

var ctx = context.Background()

func TestConformance(t *testing.T) {
	// Reads of data and data1 block: the suite only walks and stats them.
	nstest.TestFS(t, New(), nstest.ReadOnly(), nstest.Skip("data", "data1"),
		nstest.Expect("data", "data1"))
}

// end opens an end of p ("data" or "data1") as loom.
func end(t testing.TB, p *Pipe, name string, mode uint8) ns.File {
	t.Helper()
	r, err := p.Attach(ctx, "loom", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Clunk()
	_, f, err := r.Walk(ctx, []string{name})
	if err != nil {
		t.Fatalf("Walk(%s) = %v", name, err)
	}
	if _, err := f.Open(ctx, mode); err != nil {
		t.Fatalf("Open(%s) = %v", name, err)
	}
	return f
}

// quick is a context for reads and writes expected to block: its end is
// the sign that they did.
func quick() (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Millisecond)
}

// A step of a pipe script: open end e (0 for data, 1 for data1), or do op
// on the e'th open made so far.
type step struct {
	op   string // open, write, read, clunk, len
	e    int
	data string // to write; wanted from read
	n    int    // read buffer size; wanted length for len
	err  error  // wanted error; ErrInterrupt means "blocks"
}

func TestScripts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		size  int
		steps []step
	}{
		{"boundaries", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 0, data: "ab"},
			{op: "write", e: 0, data: "cde"},
			{op: "len", e: 1, n: 5},
			{op: "read", e: 1, n: 10, data: "ab"},
			{op: "read", e: 1, n: 10, data: "cde"},
			{op: "read", e: 1, n: 10, err: ns.ErrInterrupt},
		}},
		{"short buffer", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 1, data: "hello"},
			{op: "read", e: 0, n: 2, data: "he"},
			{op: "len", e: 0, n: 3},
			{op: "read", e: 0, n: 10, data: "llo"},
		}},
		{"zero write", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 0, data: ""},
			{op: "write", e: 0, data: "x"},
			{op: "read", e: 1, n: 10, data: ""},
			{op: "read", e: 1, n: 10, data: "x"},
		}},
		{"both ways", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 0, data: "to1"},
			{op: "write", e: 1, data: "to0"},
			{op: "read", e: 0, n: 10, data: "to0"},
			{op: "read", e: 1, n: 10, data: "to1"},
		}},
		{"end of file after the writer's clunk", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 0, data: "last"},
			{op: "clunk", e: 0},
			{op: "read", e: 1, n: 10, data: "last"},
			{op: "read", e: 1, n: 10, data: ""},
			{op: "read", e: 1, n: 10, data: ""},
			{op: "write", e: 1, data: "x", err: ns.ErrClosed},
		}},
		{"end of file only after the last open", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 0}, {op: "open", e: 1},
			{op: "clunk", e: 0},
			{op: "read", e: 2, n: 10, err: ns.ErrInterrupt},
			{op: "write", e: 1, data: "still"},
			{op: "clunk", e: 1},
			{op: "read", e: 2, n: 10, data: "still"},
			{op: "read", e: 2, n: 10, data: ""},
		}},
		{"write with no reader", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 0, data: "dropped"},
			{op: "clunk", e: 1},
			{op: "write", e: 0, data: "x", err: ns.ErrClosed},
			{op: "read", e: 0, n: 10, data: ""},
		}},
		{"reader comes later", 0, []step{
			{op: "open", e: 0},
			{op: "write", e: 0, data: "kept"},
			{op: "open", e: 1},
			{op: "read", e: 1, n: 10, data: "kept"},
		}},
		{"fresh again once closed", 0, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "clunk", e: 0}, {op: "clunk", e: 1},
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 2, data: "again"},
			{op: "read", e: 3, n: 10, data: "again"},
			{op: "read", e: 3, n: 10, err: ns.ErrInterrupt},
		}},
		{"full", Atomic, []step{
			{op: "open", e: 0}, {op: "open", e: 1},
			{op: "write", e: 0, data: string(make([]byte, Atomic-3))},
			{op: "write", e: 0, data: "four", err: ns.ErrInterrupt},
			{op: "write", e: 0, data: "abc"},
			{op: "len", e: 1, n: Atomic},
			{op: "read", e: 1, n: Atomic, data: string(make([]byte, Atomic-3))},
			{op: "read", e: 1, n: 10, data: "abc"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			p := New(Size(tt.size))
			var opens []ns.File
			defer func() {
				for _, f := range opens {
					if f != nil {
						f.Clunk()
					}
				}
			}()
			for i, s := range tt.steps {
				f := func(e int) ns.File {
					if e < len(opens) {
						return opens[e]
					}
					return nil
				}
				c, cancel := quick()
				var err error
				switch s.op {
				case "open":
					opens = append(opens, end(t, p, []string{"data", "data1"}[s.e], ns.ORDWR))
				case "clunk":
					err = opens[s.e].Clunk()
					opens[s.e] = nil
				case "write":
					var n int
					n, err = f(s.e).Write(c, []byte(s.data), 0)
					if err == nil && n != len(s.data) {
						t.Errorf("step %d: Write(%d bytes) = %d", i, len(s.data), n)
					}
				case "read":
					buf := make([]byte, s.n)
					var n int
					n, err = f(s.e).Read(c, buf, 0)
					if err == nil && string(buf[:n]) != s.data {
						t.Errorf("step %d: Read(%d) = %q; want %q", i, s.n, short(buf[:n]), short([]byte(s.data)))
					}
				case "len":
					d, _ := f(s.e).Stat(ctx)
					if d.Length != uint64(s.n) {
						t.Errorf("step %d: Stat().Length = %d; want %d", i, d.Length, s.n)
					}
				}
				cancel()
				if !errors.Is(err, s.err) || (err == nil) != (s.err == nil) {
					t.Errorf("step %d: %s %d = %v; want %v", i, s.op, s.e, err, s.err)
				}
			}
			for j, f := range opens {
				if f != nil {
					f.Clunk()
					opens[j] = nil
				}
			}
			nstest.Settle(t, before)
		})
	}
}

func short(b []byte) string {
	if len(b) > 16 {
		return string(b[:16]) + "..."
	}
	return string(b)
}

// TestUnblock checks that blocked reads and writes end when their context
// is cancelled and when the other end goes away, leaving no goroutine.
func TestUnblock(t *testing.T) {
	before := runtime.NumGoroutine()
	type result struct {
		n   int
		err error
	}
	for _, tt := range []struct {
		name    string
		op      func(c context.Context, d0, d1 ns.File) (int, error)
		release func(cancel context.CancelFunc, d0, d1 ns.File)
		want    error
	}{
		{"read, cancel",
			func(c context.Context, d0, d1 ns.File) (int, error) { return d1.Read(c, make([]byte, 10), 0) },
			func(cancel context.CancelFunc, d0, d1 ns.File) { cancel() },
			ns.ErrInterrupt},
		{"read, writer clunks",
			func(c context.Context, d0, d1 ns.File) (int, error) { return d1.Read(c, make([]byte, 10), 0) },
			func(cancel context.CancelFunc, d0, d1 ns.File) { d0.Clunk() },
			nil},
		{"write, cancel",
			func(c context.Context, d0, d1 ns.File) (int, error) { return d0.Write(c, make([]byte, 10), 0) },
			func(cancel context.CancelFunc, d0, d1 ns.File) { cancel() },
			ns.ErrInterrupt},
		{"write, reader clunks",
			func(c context.Context, d0, d1 ns.File) (int, error) { return d0.Write(c, make([]byte, 10), 0) },
			func(cancel context.CancelFunc, d0, d1 ns.File) { d1.Clunk() },
			ns.ErrClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Size(Atomic))
			d0, d1 := end(t, p, "data", ns.ORDWR), end(t, p, "data1", ns.ORDWR)
			// Fill the pipe to data1, so that a write to data blocks.
			if _, err := d0.Write(ctx, make([]byte, Atomic), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := d1.Read(ctx, make([]byte, 1), 0); err != nil {
				t.Fatal(err)
			}
			if tt.name[:4] == "read" {
				// Empty it, so that a read blocks.
				d1.Read(ctx, make([]byte, Atomic), 0)
			}
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan result)
			go func() {
				n, err := tt.op(c, d0, d1)
				done <- result{n, err}
			}()
			select {
			case r := <-done:
				t.Fatalf("%s did not block: %d, %v", tt.name, r.n, r.err)
			case <-time.After(20 * time.Millisecond):
			}
			tt.release(cancel, d0, d1)
			r := <-done
			if r.n != 0 || !errors.Is(r.err, tt.want) || (r.err == nil) != (tt.want == nil) {
				t.Errorf("%s = %d, %v; want 0, %v", tt.name, r.n, r.err, tt.want)
			}
			if tt.name == "read, writer clunks" {
				d1.Clunk()
			} else if tt.name == "write, reader clunks" {
				d0.Clunk()
			} else {
				d0.Clunk()
				d1.Clunk()
			}
		})
	}
	nstest.Settle(t, before)
}

// TestAtomic checks that concurrent writers' writes arrive whole, each in
// one read, and a write longer than Atomic in pieces of Atomic.
func TestAtomic(t *testing.T) {
	p := New()
	d0, d1 := end(t, p, "data", ns.OWRITE), end(t, p, "data1", ns.OREAD)
	const writers, rounds = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				b := bytes.Repeat([]byte{byte('a' + w)}, 1+(i*97+w*13)%8000)
				if _, err := d0.Write(ctx, b, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	counts := map[byte]int{}
	buf := make([]byte, 16<<10)
	for range writers * rounds {
		n, err := d1.Read(ctx, buf, 0)
		if err != nil || n == 0 {
			t.Fatalf("Read = %d, %v", n, err)
		}
		if !bytes.Equal(buf[:n], bytes.Repeat(buf[:1], n)) {
			t.Fatalf("Read = %q...; want the bytes of one write", buf[:min(n, 40)])
		}
		counts[buf[0]]++
	}
	wg.Wait()
	for w := range writers {
		if counts[byte('a'+w)] != rounds {
			t.Errorf("writer %c: %d reads; want %d", 'a'+w, counts[byte('a'+w)], rounds)
		}
	}

	big := make([]byte, Atomic+100)
	go d0.Write(ctx, big, 0)
	for _, want := range []int{Atomic, 100} {
		if n, err := d1.Read(ctx, make([]byte, 2*Atomic), 0); n != want || err != nil {
			t.Errorf("Read of a long write = %d, %v; want %d", n, err, want)
		}
	}
	d0.Clunk()
	if n, err := d1.Read(ctx, buf, 0); n != 0 || err != nil {
		t.Errorf("Read after the writer left = %d, %v; want end of file", n, err)
	}
	d1.Clunk()
}

// benchCopy moves total bytes through w and r in writes and reads of 64
// KiB, in two goroutines.
func benchCopy(b *testing.B, write func([]byte) error, read func([]byte) (int, error), closeW func()) {
	const chunk = 64 << 10
	b.SetBytes(chunk)
	b.ReportAllocs()
	done := make(chan int64)
	go func() {
		var got int64
		buf := make([]byte, chunk)
		for {
			n, err := read(buf)
			if n == 0 || err != nil {
				done <- got
				return
			}
			got += int64(n)
		}
	}()
	buf := make([]byte, chunk)
	b.ResetTimer()
	for range b.N {
		if err := write(buf); err != nil {
			b.Fatal(err)
		}
	}
	closeW()
	if got := <-done; got != int64(b.N)*chunk {
		b.Fatalf("read %d bytes; want %d", got, int64(b.N)*chunk)
	}
}

// BenchmarkPipe measures a loom pipe through the ns.File API.
func BenchmarkPipe(b *testing.B) {
	p := New()
	d0, d1 := end(b, p, "data", ns.OWRITE), end(b, p, "data1", ns.OREAD)
	defer d1.Clunk()
	benchCopy(b,
		func(buf []byte) error { _, err := d0.Write(ctx, buf, 0); return err },
		func(buf []byte) (int, error) { return d1.Read(ctx, buf, 0) },
		func() { d0.Clunk() })
}

// BenchmarkOSPipe measures the host's pipe, for comparison.
func BenchmarkOSPipe(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	benchCopy(b,
		func(buf []byte) error { _, err := w.Write(buf); return err },
		func(buf []byte) (int, error) {
			n, err := r.Read(buf)
			if err == io.EOF {
				err = nil
			}
			return n, err
		},
		func() { w.Close() })
}
