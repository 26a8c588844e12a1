package ns_test

import (
	"errors"
	"io/fs"
	"testing"

	"loom/ns"
)

// secrets returns a server with things to hide.
func secrets(t testing.TB) ns.FS {
	return ram(t, "S", "pub/", "pub/f", "secret/", "secret/key", "top", "d/", "d/hidden", "d/visible")
}

// TestHideEscapes tries every way out of a hiding view we could think of;
// each must fail.
func TestHideEscapes(t *testing.T) {
	s := secrets(t)
	h := ns.Hide(s, "/secret", "d/hidden/")
	nsp := build(t, map[string]ns.FS{
		"R": ram(t, "R", "n/", "n/h/", "n/u/", "n/z/"),
		"H": h,
		"X": ram(t, "X", "secret", "d/", "d/hidden"),
	}, "mount -c R /\nmount -c H /n/h\nmount H /n/u\nmount -a X /n/u\nbind -c /n/h/d /n/z")

	// Walks, from the root and from below, by "..", in unions, after
	// binds: never to a hidden file.
	for _, tc := range []struct {
		fsys ns.FS
		p    string
	}{
		{h, "/secret"}, {h, "/secret/key"}, {h, "/d/hidden"},
		{h, "/pub/../secret"}, {h, "/d/../secret/key"}, {h, "/d/../d/hidden"},
		{h, "/../../secret"}, {h, "/pub/../../../d/hidden"},
		{nsp, "/n/h/secret"}, {nsp, "/n/h/d/hidden"}, {nsp, "/n/z/hidden"},
		{nsp, "/n/z/../h/secret/key"}, {nsp, "/n/h/pub/../d/hidden"},
		// In a union with a server that has d/hidden, d is the hiding
		// view's, and its hidden file stays hidden.
		{nsp, "/n/u/d/hidden"},
		{ns.ReadOnly(h), "/secret/key"}, {ns.Hide(ns.ReadOnly(s), "/secret"), "/secret/key"},
		{ns.Hide(h, "/pub"), "/d/hidden"}, {ns.Hide(h, "/pub"), "/pub/f"},
	} {
		if f, err := walk(tc.fsys, tc.p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("walk(%s) = %v; want ErrNotExist", tc.p, err)
			if f != nil {
				f.Clunk()
			}
		}
	}
	// The union's second member keeps its own files.
	if got, err := cat(nsp, "/n/u/secret"); err != nil || got != "X/secret" {
		t.Errorf("cat /n/u/secret = %q, %v; want X's", got, err)
	}

	// One walk with ".." and names that are not names.
	d, err := walk(h, "/d")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Clunk()
	for _, names := range [][]string{
		{"hidden"}, {"..", "secret"}, {"..", "..", "d", "hidden"}, {"../secret"}, {"hidden/"},
	} {
		qids, f, err := d.Walk(ctx, names)
		if f != nil {
			f.Clunk()
			t.Errorf("Walk(%q) from /d = %v, a File; want none", names, qids)
		}
		_ = err
	}
	// A clone is as restricted as what it was cloned from.
	_, c, err := d.Walk(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, f, err := c.Walk(ctx, []string{"hidden"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk(hidden) from a clone of /d = %v, %v; want ErrNotExist", f, err)
	}
	c.Clunk()

	// Listings leave hidden names out, whoever lists them.
	for _, tc := range []struct {
		fsys     ns.FS
		p, names string
	}{
		{h, "/", "pub top d"}, {h, "/d", "visible"}, {h, "/d/..", "pub top d"},
		{nsp, "/n/h", "pub top d"}, {nsp, "/n/z", "visible"},
		{nsp, "/n/u", "pub top d secret"},
	} {
		if got := lsNames(tc.fsys, tc.p); got != tc.names {
			t.Errorf("ls %s = %q; want %q", tc.p, got, tc.names)
		}
	}

	// Changes that would bring a hidden file into sight, or tell it is
	// there, are refused.
	for _, p := range []string{"/secret", "/d/hidden", "/n/h/secret", "/n/z/hidden"} {
		var fsys ns.FS = h
		if p[1] == 'n' {
			fsys = nsp
		}
		if err := create(fsys, p, "x"); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("create(%s) = %v; want ErrPermission", p, err)
		}
	}
	for _, tc := range []struct{ p, name string }{
		{"/d/visible", "hidden"}, // onto a hidden name
		{"/d", "e"},              // would move d/hidden to e/hidden
		{"/pub", "secret"},
		{"/", "x"},
	} {
		f, err := walk(h, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		d := ns.NullDir()
		d.Name = tc.name
		if err := f.(ns.Wstater).Wstat(ctx, d); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Wstat(%s, name %s) = %v; want ErrPermission", tc.p, tc.name, err)
		}
		f.Clunk()
	}
	// Removing a directory above a hidden name (it would fail as not
	// empty, and so tell that something hidden is there).
	f, _ := walk(h, "/d")
	if err := f.(ns.Remover).Remove(ctx); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Remove(/d) = %v; want ErrPermission", err)
	}
	f.Clunk()
	f, _ = walk(h, "/d")
	if _, err := f.Open(ctx, ns.OREAD|ns.ORCLOSE); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Open(/d, ORCLOSE) = %v; want ErrPermission", err)
	}
	f.Clunk()
	// The hidden files are untouched.
	if got, err := cat(s, "/d/hidden"); err != nil || got != "S/d/hidden" {
		t.Errorf("the server's /d/hidden = %q, %v; want it untouched", got, err)
	}
	if got := lsNames(s, "/"); got != "pub secret top d" {
		t.Errorf("the server's / = %q", got)
	}
	// Changes elsewhere work.
	if err := create(h, "/d/new", "x"); err != nil {
		t.Errorf("create(/d/new) = %v", err)
	}
	if _, err := ns.Hide(s, "/").Attach(ctx, "loom", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Attach of a view hiding / = %v; want ErrNotExist", err)
	}
}

// TestReadOnlyEscapes tries every way to change a file through a
// read-only view; each must fail.
func TestReadOnlyEscapes(t *testing.T) {
	s := secrets(t)
	w := ram(t, "W", "top", "w")
	ro := ns.ReadOnly(s)
	nsp := build(t, map[string]ns.FS{
		"R":  ram(t, "R", "n/", "n/ro/", "n/u/", "n/z/"),
		"RO": ro, "W": w, "S": s,
	}, "mount -c R /\nmount -c RO /n/ro\nmount -c RO /n/u\nmount -ac W /n/u\nbind -c /n/ro/pub /n/z")

	refused := []struct {
		fsys ns.FS
		p    string
	}{
		{ro, "/top"}, {ro, "/pub/f"}, {ro, "/pub/../top"},
		{nsp, "/n/ro/top"}, {nsp, "/n/z/f"}, {nsp, "/n/z/../ro/top"},
		// top is in both members of the union; it is the read-only one's.
		{nsp, "/n/u/top"},
		{ns.ReadOnly(nsp), "/n/u/w"},
		{ns.Hide(ro, "/secret"), "/top"}, {ns.ReadOnly(ns.Hide(s, "/secret")), "/top"},
	}
	for _, tc := range refused {
		for _, mode := range []uint8{ns.OWRITE, ns.ORDWR, ns.OREAD | ns.OTRUNC, ns.OREAD | ns.ORCLOSE} {
			f, err := walk(tc.fsys, tc.p)
			if err != nil {
				t.Fatalf("walk(%s) = %v", tc.p, err)
			}
			if _, err := f.Open(ctx, mode); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Open(%s, %#x) = %v; want ErrPermission", tc.p, mode, err)
			}
			f.Clunk()
		}
		f, _ := walk(tc.fsys, tc.p)
		if _, err := f.Open(ctx, ns.OREAD); err != nil {
			t.Fatalf("Open(%s, OREAD) = %v", tc.p, err)
		}
		if _, err := f.Write(ctx, []byte("x"), 0); err == nil {
			t.Errorf("Write(%s) opened OREAD succeeded", tc.p)
		}
		f.Clunk()
		f, _ = walk(tc.fsys, tc.p)
		d := ns.NullDir()
		d.Length = 0
		if err := f.(ns.Wstater).Wstat(ctx, d); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Wstat(%s, length 0) = %v; want ErrPermission", tc.p, err)
		}
		d = ns.NullDir()
		d.Name = "renamed"
		if err := f.(ns.Wstater).Wstat(ctx, d); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Wstat(%s, rename) = %v; want ErrPermission", tc.p, err)
		}
		if err := f.(ns.Remover).Remove(ctx); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Remove(%s) = %v; want ErrPermission", tc.p, err)
		}
		f.Clunk()
	}
	// Creating: in the view, in a bind of it, and in a union whose first
	// MCREATE member is the view (the writable one after it is not
	// tried: a failed create fails).
	for _, tc := range []struct {
		fsys ns.FS
		p    string
	}{
		{ro, "/new"}, {ro, "/pub/new"}, {nsp, "/n/ro/new"}, {nsp, "/n/z/new"}, {nsp, "/n/u/new"},
		{ns.ReadOnly(nsp), "/n/new"},
	} {
		if err := create(tc.fsys, tc.p, "x"); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("create(%s) = %v; want ErrPermission", tc.p, err)
		}
	}
	// Nothing changed; reads work; the writable member is writable.
	if got, err := cat(nsp, "/n/u/top"); err != nil || got != "S/top" {
		t.Errorf("cat /n/u/top = %q, %v", got, err)
	}
	if got := lsNames(s, "/"); got != "pub secret top d" {
		t.Errorf("the server's / = %q", got)
	}
	f, err := walk(nsp, "/n/u/w")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(ctx, ns.OWRITE); err != nil {
		t.Errorf("Open(/n/u/w, OWRITE) = %v; want success", err)
	}
	f.Clunk()
}

// TestRestrictWrapsAtAttach checks that a view holds nothing from before
// it was made: a File of the server obtained earlier stays the server's,
// and everything reached through the view is the view's.
func TestRestrictWrapsAtAttach(t *testing.T) {
	s := secrets(t)
	before, err := walk(s, "/d")
	if err != nil {
		t.Fatal(err)
	}
	defer before.Clunk()
	h := ns.ReadOnly(ns.Hide(s, "/d/hidden"))
	nsp := build(t, map[string]ns.FS{"H": h}, "mount H /")
	// The File from before reaches the hidden file; it is not the view's.
	if _, f, err := before.Walk(ctx, []string{"hidden"}); err != nil {
		t.Errorf("Walk(hidden) from the server's own File = %v", err)
	} else {
		f.Clunk()
	}
	// The view's Files, however reached, do not.
	for _, p := range []string{"/d/hidden", "/d/../d/hidden", "/pub/../../d/hidden"} {
		if _, err := walk(nsp, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("walk(%s) through the view = %v; want ErrNotExist", p, err)
		}
	}
	f, err := walk(nsp, "/d/visible")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(ctx, ns.OWRITE); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Open(/d/visible, OWRITE) through the view = %v; want ErrPermission", err)
	}
	f.Clunk()
}
