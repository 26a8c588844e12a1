package ramfs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"loom/ns"
)

// TestContentModel drives a file's content and its clones with random
// writes, truncations and extensions, against plain byte slices: every
// side must read as its own model, whatever the others did since.
func TestContentModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type side struct {
		c     content
		model []byte
	}
	sides := []*side{{c: content{gen: newGen()}}}
	for step := range 1500 {
		s := sides[r.IntN(len(sides))]
		switch op := r.IntN(10); {
		case op < 6:
			off := r.Int64N(5 * chunkSize)
			p := make([]byte, r.IntN(2*chunkSize)+1)
			for i := range p {
				p[i] = byte(r.Uint32())
			}
			s.c.writeAt(p, off)
			if end := off + int64(len(p)); end > int64(len(s.model)) {
				s.model = append(s.model, make([]byte, end-int64(len(s.model)))...)
			}
			copy(s.model[off:], p)
		case op < 8:
			l := r.Int64N(6 * chunkSize)
			if r.IntN(4) == 0 {
				l = 0
			}
			s.c.setLength(l)
			if l < int64(len(s.model)) {
				s.model = s.model[:l]
			} else {
				s.model = append(s.model, make([]byte, l-int64(len(s.model)))...)
			}
		default:
			if len(sides) < 8 {
				sides = append(sides, &side{c: s.c.share(), model: bytes.Clone(s.model)})
			}
		}
		for i, s := range sides {
			if s.c.length != int64(len(s.model)) {
				t.Fatalf("step %d: side %d: length = %d; want %d", step, i, s.c.length, len(s.model))
			}
			if got := s.c.bytes(); !bytes.Equal(got, s.model) {
				t.Fatalf("step %d: side %d: contents differ from the model", step, i)
			}
		}
	}
}

// TestCloneSharesData checks that a clone shares the chunks of its
// origin rather than copying them, and copies only the chunk written.
func TestCloneSharesData(t *testing.T) {
	src := New()
	big := bytes.Repeat([]byte("0123456789abcdef"), 4*chunkSize/16)
	mustPut(t, src, "loom", "big", string(big))
	c := src.Clone()
	sn, cn := src.root.byName["big"], c.root.byName["big"]
	for i := range sn.data.chunks {
		if sn.data.chunks[i] != cn.data.chunks[i] {
			t.Fatalf("chunk %d of the clone is a copy; want it shared", i)
		}
	}
	f := mustOpen(t, c, "loom", "big", ns.OWRITE)
	if _, err := f.Write(ctx, []byte("X"), chunkSize+1); err != nil {
		t.Fatal(err)
	}
	f.Clunk()
	for i := range sn.data.chunks {
		if shared := sn.data.chunks[i] == cn.data.chunks[i]; shared != (i != 1) {
			t.Errorf("after a write to chunk 1, chunk %d shared = %v; want %v", i, shared, i != 1)
		}
	}
	if got := readAll(t, src, "big"); got != string(big) {
		t.Errorf("the origin sees the clone's write")
	}
}

// TestCloneOpenFiles checks that Files open since before a clone write
// to their own tree only, in both directions, and that reads through
// them see their own tree's writes.
func TestCloneOpenFiles(t *testing.T) {
	src := New()
	mustPut(t, src, "loom", "f", "before")
	fo := mustOpen(t, src, "loom", "f", ns.ORDWR)
	defer fo.Clunk()
	c := src.Clone()
	fc := mustOpen(t, c, "loom", "f", ns.ORDWR)
	defer fc.Clunk()
	if _, err := fo.Write(ctx, []byte("ORIGIN"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.Write(ctx, []byte("clone!"), 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fsys *FS
		f    ns.File
		want string
	}{{"origin", src, fo, "ORIGIN"}, {"clone", c, fc, "clone!"}} {
		if got := read(t, tc.fsys, "f"); got != tc.want {
			t.Errorf("read f in the %s = %q; want %q", tc.name, got, tc.want)
		}
		b := make([]byte, 16)
		n, err := tc.f.Read(ctx, b, 0)
		if err != nil || string(b[:n]) != tc.want {
			t.Errorf("read of the %s's open file = %q, %v; want %q", tc.name, b[:n], err, tc.want)
		}
	}
}

// TestCloneAtOneMoment clones a tree while writers write two files in
// turn, each writer its pair with the same counter, first a then b:
// every clone must show, for each writer, b at a's counter or one below.
func TestCloneAtOneMoment(t *testing.T) {
	src := New()
	const writers = 4
	for w := range writers {
		mustPut(t, src, "loom", fmt.Sprintf("a%d", w), "0")
		mustPut(t, src, "loom", fmt.Sprintf("b%d", w), "0")
	}
	const steps = 2000
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fa := mustOpen(t, src, "loom", fmt.Sprintf("a%d", w), ns.OWRITE)
			defer fa.Clunk()
			fb := mustOpen(t, src, "loom", fmt.Sprintf("b%d", w), ns.OWRITE)
			defer fb.Clunk()
			for i := 1; i <= steps; i++ {
				s := []byte(strconv.Itoa(i))
				fa.Write(ctx, s, 0)
				fb.Write(ctx, s, 0)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	// Clones go on until the writers are done, so that they overlap
	// the writing however the goroutines are scheduled.
	for clones := 0; ; clones++ {
		select {
		case <-done:
			if clones == 0 {
				t.Fatal("no clone was made while the writers wrote")
			}
			return
		default:
		}
		c := src.Clone()
		for w := range writers {
			a, _ := strconv.Atoi(read(t, c, fmt.Sprintf("a%d", w)))
			b, _ := strconv.Atoi(read(t, c, fmt.Sprintf("b%d", w)))
			if b != a && b != a-1 {
				t.Fatalf("clone %d: writer %d: a = %d, b = %d; want b = a or a-1", clones, w, a, b)
			}
		}
	}
}

// readAll reads the whole file p.
func readAll(t *testing.T, fsys *FS, p string) string {
	t.Helper()
	f := mustOpen(t, fsys, "loom", p, ns.OREAD)
	defer f.Clunk()
	var out []byte
	buf := make([]byte, 8192)
	for {
		n, err := f.Read(ctx, buf, int64(len(out)))
		if err != nil {
			t.Fatalf("Read(%s) = %v", p, err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}
