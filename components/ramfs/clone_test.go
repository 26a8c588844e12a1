package ramfs

import (
	"errors"
	"io/fs"
	"testing"

	"loom/ns"
	"loom/ns/nstest"
)

func TestCloneConformance(t *testing.T) {
	src := New()
	mustPut(t, src, "loom", "a/b", "x")
	nstest.TestFS(t, src.Clone())
}

// TestClone checks that a clone holds the tree, data and metadata, and
// that the two trees change apart afterwards.
func TestClone(t *testing.T) {
	src := New(Owner("glenda"))
	mustPut(t, src, "glenda", "a/b/c", "deep")
	mustPut(t, src, "glenda", "top", "top file")
	mustPut(t, src, "glenda", "gone", "removed before the clone")
	g, err := walk(src, "glenda", "gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.(ns.Remover).Remove(ctx); err != nil {
		t.Fatal(err)
	}
	c := src.Clone()
	for _, p := range []string{"a/b/c", "top"} {
		if got, want := mustStat(t, c, p), mustStat(t, src, p); got != want {
			t.Errorf("stat %s in the clone = %v; want %v", p, got, want)
		}
		if got, want := read(t, c, p), read(t, src, p); got != want {
			t.Errorf("read %s in the clone = %q; want %q", p, got, want)
		}
	}
	rewrite(t, c, "a/b/c", "changed in the clone")
	mustPut(t, c, "glenda", "new", "only in the clone")
	rewrite(t, src, "top", "changed in the original")
	for _, tc := range []struct {
		fsys    *FS
		p, want string
	}{
		{src, "a/b/c", "deep"}, {c, "a/b/c", "changed in the clone"},
		{c, "top", "top file"}, {src, "top", "changed in the original"},
	} {
		if got := read(t, tc.fsys, tc.p); got != tc.want {
			t.Errorf("read %s = %q; want %q", tc.p, got, tc.want)
		}
	}
	for _, tc := range []struct {
		fsys *FS
		p    string
	}{{src, "new"}, {c, "gone"}} {
		if f, err := walk(tc.fsys, "glenda", tc.p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("walk %s = %v; want ErrNotExist", tc.p, err)
			if f != nil {
				f.Clunk()
			}
		}
	}
}

// rewrite replaces the contents of the file p.
func rewrite(t *testing.T, fsys *FS, p, data string) {
	t.Helper()
	f := mustOpen(t, fsys, "glenda", p, ns.OWRITE|ns.OTRUNC)
	defer f.Clunk()
	if _, err := f.Write(ctx, []byte(data), 0); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
}
