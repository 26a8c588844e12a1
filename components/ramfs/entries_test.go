package ramfs

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"loom/ns"
)

// TestEntriesPut copies a tree entry by entry into a new one, as a saved
// snapshot is loaded, and checks that both hold the same.
func TestEntriesPut(t *testing.T) {
	src := New(Owner("glenda"))
	mustPut(t, src, "glenda", "a/b/c", "deep")
	mustPut(t, src, "glenda", "top", strings.Repeat("x", 3*chunkSize+5))
	mustPut(t, src, "glenda", "a/empty", "")
	dst := New()
	var paths []string
	err := src.Entries(func(e Entry, data io.ReaderAt) error {
		paths = append(paths, e.Path)
		return dst.Put(e, io.NewSectionReader(data, 0, e.Length))
	})
	if err != nil {
		t.Fatalf("Entries = %v", err)
	}
	if got, want := strings.Join(paths, " "), " a a/b a/b/c a/empty top"; got != want {
		t.Errorf("Entries paths = %q; want %q", got, want)
	}
	for _, p := range []string{"a/b/c", "top", "a/empty", "a"} {
		g, w := mustStat(t, dst, p), mustStat(t, src, p)
		g.Qid, w.Qid = ns.Qid{}, ns.Qid{}
		if g != w {
			t.Errorf("stat %s = %v; want %v", p, g, w)
		}
	}
	for _, p := range []string{"a/b/c", "top"} {
		if got, want := readAll(t, dst, p), readAll(t, src, p); got != want {
			t.Errorf("read %s differs: %d bytes; want %d", p, len(got), len(want))
		}
	}
}

func TestPutRefuses(t *testing.T) {
	fsys := New()
	for _, tc := range []struct {
		name string
		e    Entry
		data string
	}{
		{"no parent", Entry{Path: "x/y", Mode: 0o644}, ""},
		{"bad name", Entry{Path: "a/../b", Mode: 0o644}, ""},
		{"absolute", Entry{Path: "/a", Mode: 0o644}, ""},
		{"huge", Entry{Path: "big", Mode: 0o644, Length: 1 << 40}, ""},
		{"short data", Entry{Path: "short", Mode: 0o644, Length: 10}, "abc"},
		{"dir with data", Entry{Path: "d", Mode: ns.DMDIR | 0o755, Length: 3}, "abc"},
		{"bad mode", Entry{Path: "m", Mode: 0o10000}, ""},
	} {
		if err := fsys.Put(tc.e, strings.NewReader(tc.data)); err == nil {
			t.Errorf("Put(%s) = nil; want an error", tc.name)
		}
	}
	if err := fsys.Put(Entry{Path: "ok", Mode: 0o644, Length: 2}, strings.NewReader("hi")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Put(Entry{Path: "ok", Mode: 0o644}, strings.NewReader("")); err == nil {
		t.Errorf("Put of a name taken = nil; want an error")
	}
}

// TestRestore checks that a restored tree shows the other's files to
// Files attached before, while Files open before keep their own.
func TestRestore(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "f", "now")
	snap := fsys.Clone()
	open := mustOpen(t, fsys, "loom", "f", ns.ORDWR)
	defer open.Clunk()
	rewrite(t, fsys, "f", "later")
	mustPut(t, fsys, "loom", "new", "made later")
	fsys.Restore(snap)
	if got := read(t, fsys, "f"); got != "now" {
		t.Errorf("read f after Restore = %q; want %q", got, "now")
	}
	if f, err := walk(fsys, "loom", "new"); err == nil {
		f.Clunk()
		t.Errorf("walk new after Restore succeeded; want it gone")
	}
	if _, err := open.Write(ctx, []byte("OLD"), 0); err != nil {
		t.Fatal(err)
	}
	if got := read(t, fsys, "f"); got != "now" {
		t.Errorf("read f after a write to a File open before Restore = %q; want %q", got, "now")
	}
	rewrite(t, fsys, "f", "changed")
	if got := readAll(t, snap, "f"); !bytes.Equal([]byte(got), []byte("now")) {
		t.Errorf("the snapshot sees writes to the tree restored from it: %q", got)
	}
}
