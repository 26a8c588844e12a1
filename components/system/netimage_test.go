package system

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	ninep "loom/9p"
	"loom/ns"
)

// TestImageOver9P: one registry's tree served over 9P, imported into a
// system of another; load -n of /systems/web/image there makes a system
// with web's state, nothing else passing between the two.
func TestImageOver9P(t *testing.T) {
	ctx := context.Background()
	regA, web := webSystem(t)
	sock := filepath.Join(t.TempDir(), "a.sock")
	l, err := ninep.Listen("unix!" + sock)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ninep.NewServer(NewTree(regA)).Serve(sctx, l)
	}()
	defer func() { cancel(); <-done }()

	regB := New(User("glenda"))
	defer regB.Close()
	b := mustNew(t, regB, "b")
	for _, p := range []string{"/n/", "/n/a/"} {
		if err := put(b.NS, p, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Import("unix!"+sock, "/n/a", "", ns.MREPL); err != nil {
		t.Fatal(err)
	}
	out, err := command(t, regB, "b", "load", "-n", "/n/a/systems/web/image", "as", "web2")
	if err != nil || out != "web2\n" {
		t.Fatalf("load -n /n/a/systems/web/image as web2 = %q, %v; want web2", out, err)
	}
	web2, err := regB.Get("web2")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/www/index", "/lib/index", "/tmp/a", "/tmp/d/f", "/secret/key"} {
		want, werr := cat(web.NS, p)
		got, err := cat(web2.NS, p)
		if err != nil || werr != nil || got != want {
			t.Errorf("cat %s in the copy = %q, %v; want web's %q, %v", p, got, err, want, werr)
		}
	}
	want, _ := web.NS.Text()
	if got, _ := web2.NS.Text(); string(got) != string(want) {
		t.Errorf("the copy's namespace =\n%s\nwant web's\n%s", got, want)
	}
	if got, want := web2.Def.Env.Vars.Environ(), web.Def.Env.Vars.Environ(); !slices.Equal(got, want) {
		t.Errorf("the copy's environment = %q; want web's %q", got, want)
	}
	if got, want := procNames(web2), procNames(web); !slices.Equal(got, want) {
		t.Errorf("the copy's processes = %q; want web's %q, started again", got, want)
	}

	// What is not an image is refused, and nothing is made of it.
	if _, err := command(t, regB, "b", "load", "-n", "/n/a/systems/web/ns", "as", "bad"); !errors.Is(err, ErrImage) {
		t.Errorf("load -n of a namespace's text = %v; want ErrImage", err)
	}
	if _, err := regB.Get("bad"); err == nil {
		t.Errorf("a system bad was made of a file that is not an image")
	}
	if _, err := command(t, regB, "b", "load", "-n", "/n/a/systems/nosuch/image"); err == nil {
		t.Errorf("load -n of a system that does not exist succeeded")
	}
	if _, err := command(t, regB, "b", "load", "-n", "/n/a/systems/web/image", "as", "web2"); !errors.Is(err, ErrExist) {
		t.Errorf("load -n as a system that exists = %v; want ErrExist", err)
	}
}

// TestImageFile: one open of /systems/NAME/image reads as the same bytes
// however it is read (in order, again from the start, from the middle),
// and they are an image load reads.
func TestImageFile(t *testing.T) {
	ctx := context.Background()
	reg, _ := webSystem(t)
	tree := NewTree(reg)
	f := treeOpen(t, tree, "", "/systems/web/image", ns.OREAD)
	defer f.Clunk()
	read := func(off int64, n int) []byte {
		t.Helper()
		buf := make([]byte, n)
		got, err := f.Read(ctx, buf, off)
		if err != nil {
			t.Fatalf("Read(%d, %d) = %v", off, n, err)
		}
		return buf[:got]
	}
	var whole []byte
	for {
		b := read(int64(len(whole)), 1000)
		if len(b) == 0 {
			break
		}
		whole = append(whole, b...)
	}
	if len(whole) < 100 {
		t.Fatalf("the image is %d bytes; want a whole image", len(whole))
	}
	mid := int64(len(whole) / 2)
	if got := read(mid, 50); string(got) != string(whole[mid:mid+50]) {
		t.Errorf("Read(%d) after the end = %q; want %q", mid, got, whole[mid:mid+50])
	}
	if got := read(0, 50); string(got) != string(whole[:50]) {
		t.Errorf("Read(0) again = %q; want %q", got, whole[:50])
	}
	if got := read(int64(len(whole)), 10); len(got) != 0 {
		t.Errorf("Read at the end = %q; want nothing", got)
	}
	sn, err := decodeImage(bytes.NewReader(whole), int64(len(whole)), nil)
	if err != nil {
		t.Fatalf("decode the file's bytes = %v", err)
	}
	if sn.System != "web" {
		t.Errorf("the image's system = %q; want web", sn.System)
	}
	if got := treeList(t, tree, "/systems/web/snapshots"); len(got) != 0 {
		t.Errorf("snapshots after reading the image = %q; want none kept", got)
	}
}
