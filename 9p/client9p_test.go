package ninep_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"slices"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/srv9p"

	ninep "loom/9p"
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
