package ns_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"loom/ns"
)

// slowFS is a server whose walks take a while, so that swaps overlap
// them.
type slowFS struct{ ns.FS }

func (s slowFS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	f, err := s.FS.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return slowFile{f}, nil
}

type slowFile struct{ ns.File }

func (f slowFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	time.Sleep(20 * time.Microsecond)
	qs, nf, err := f.File.Walk(ctx, names)
	if nf != nil {
		nf = slowFile{nf}
	}
	return qs, nf, err
}

// TestSwap checks that Swap exchanges two namespaces' tables and texts,
// and that walks across mounts while swaps go on always reach one
// namespace's file or the other's, never neither.
func TestSwap(t *testing.T) {
	srv := map[string]ns.FS{
		"R1": slowFS{ram(t, "R1", "d/", "f")}, "D1": ram(t, "D1", "g"),
		"R2": slowFS{ram(t, "R2", "d/", "f")}, "D2": ram(t, "D2", "g"),
	}
	one, two := "mount R1 /\nmount D1 /d\n", "mount R2 /\nmount D2 /d\n"
	n := build(t, srv, one)
	m := n.Fork()
	m.Clear()
	cmds, err := ns.ParseText("two", []byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Replay(m, cmds, servers(srv)); err != nil {
		t.Fatal(err)
	}
	if got, err := cat(n, "/d/g"); err != nil || got != "D1/g" {
		t.Fatalf("cat /d/g before Swap = %q, %v; want D1/g", got, err)
	}
	n.Swap(m)
	for _, c := range []struct {
		nsp        *ns.Namespace
		text, f, g string
	}{{n, two, "R2/f", "D2/g"}, {m, one, "R1/f", "D1/g"}} {
		if got, _ := c.nsp.Text(); !bytes.Equal(got, []byte(c.text)) {
			t.Errorf("Text() after Swap = %q; want %q", got, c.text)
		}
		if got, err := cat(c.nsp, "/f"); err != nil || got != c.f {
			t.Errorf("cat /f after Swap = %q, %v; want %q", got, err, c.f)
		}
		if got, err := cat(c.nsp, "/d/g"); err != nil || got != c.g {
			t.Errorf("cat /d/g after Swap = %q, %v; want %q", got, err, c.g)
		}
	}
	// A mount after the Swap goes on from both device counters: it is
	// not taken for one of the other table's.
	if err := n.Mount(ns.Named("D1", srv["D1"]), "/d", ns.MREPL, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := cat(n, "/d/g"); err != nil || got != "D1/g" {
		t.Errorf("cat /d/g after a mount = %q, %v; want D1/g", got, err)
	}
	n.Swap(m)
	m.Swap(n)
	if err := n.Mount(ns.Named("D2", srv["D2"]), "/d", ns.MREPL, ""); err != nil {
		t.Fatal(err)
	}

	var swaps atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				got, err := cat(n, "/d/g")
				if err != nil || (got != "D1/g" && got != "D2/g") {
					errc <- got + ": " + errName(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
		default:
			n.Swap(m)
			swaps.Add(1)
			// A walk made again after each swap must have time to
			// end before the next.
			time.Sleep(200 * time.Microsecond)
			continue
		}
		break
	}
	close(errc)
	for e := range errc {
		t.Errorf("cat /d/g while swapping = %s; want D1/g or D2/g", e)
	}
	if swaps.Load() == 0 {
		t.Error("no swap while the readers read")
	}
}
