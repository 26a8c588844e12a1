package srv

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"loom/9p"
	"loom/components/ramfs"
	"loom/ns"
	"loom/ns/nstest"
)

var bg = context.Background()

// serve9P serves fsys over 9P on a unix socket until the test ends and
// returns its address.
func serve9P(t *testing.T, fsys ns.FS) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ninep.NewServer(fsys).Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	return "unix!" + sock
}

func open(fsys ns.FS, user, p string, mode uint8) (ns.File, error) {
	root, err := fsys.Attach(bg, user, "")
	if err != nil {
		return nil, err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(bg, root, p)
	if err != nil {
		return nil, err
	}
	if _, err := f.Open(bg, mode); err != nil {
		f.Clunk()
		return nil, err
	}
	return f, nil
}

func read(fsys ns.FS, p string) (string, error) {
	f, err := open(fsys, "loom", p, ns.OREAD)
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	buf := make([]byte, 1024)
	n, err := f.Read(bg, buf, 0)
	return string(buf[:n]), err
}

// create creates p as user and writes data into it, if not "".
func create(fsys ns.FS, user, p, data string) error {
	root, err := fsys.Attach(bg, user, "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	f, _, err := root.(ns.Creater).Create(bg, p, 0o666, ns.OWRITE)
	if err != nil {
		return err
	}
	defer f.Clunk()
	if data != "" {
		_, err = f.Write(bg, []byte(data), 0)
	}
	return err
}

func write(fsys ns.FS, p, data string) error {
	f, err := open(fsys, "loom", p, ns.OWRITE|ns.OTRUNC)
	if err != nil {
		return err
	}
	defer f.Clunk()
	_, err = f.Write(bg, []byte(data), 0)
	return err
}

func remove(fsys ns.FS, user, p string) error {
	root, _ := fsys.Attach(bg, user, "")
	defer root.Clunk()
	f, err := ns.WalkPath(bg, root, p)
	if err != nil {
		return err
	}
	defer f.Clunk()
	return f.(ns.Remover).Remove(bg)
}

// readFrom reads the file p of the server fsys as loom.
func readFrom(t *testing.T, fsys ns.FS, p string) string {
	t.Helper()
	s, err := read(fsys, p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return s
}

// seeded is a ramfs holding /greeting.
func seeded(t *testing.T, text string) ns.FS {
	t.Helper()
	r := ramfs.New()
	if err := create(r, "loom", "greeting", text); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConformance(t *testing.T) {
	s := New()
	defer s.Close()
	s.Post("local", ramfs.New())
	s.PostAddr("remote", "unix!/nonexistent/sock")
	if err := create(s, "loom", "empty", ""); err != nil {
		t.Fatal(err)
	}
	// Others may look but not post: a read-only tree for them.
	nstest.TestFS(t, s, nstest.User("other"), nstest.ReadOnly(), nstest.Expect("local", "remote", "empty"))
}

func TestPostLookup(t *testing.T) {
	s := New()
	defer s.Close()
	g := seeded(t, "local hello\n")
	if err := s.Post("g", g); err != nil {
		t.Fatal(err)
	}
	if err := s.Post("g", ramfs.New()); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Post(g) again = %v; want file already exists", err)
	}
	for _, bad := range []string{"", ".", "..", "a/b"} {
		if err := s.Post(bad, g); !errors.Is(err, ns.ErrBadName) {
			t.Errorf("Post(%q) = %v; want %v", bad, err, ns.ErrBadName)
		}
	}
	got, err := s.Lookup("g")
	if err != nil || got != g {
		t.Fatalf("Lookup(g) = %v, %v; want the posted server", got, err)
	}
	if got := readFrom(t, s, "g"); got != "local\n" {
		t.Errorf("read /g = %q; want local", got)
	}
	if _, err := s.Lookup("nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup(nothing) = %v; want file does not exist", err)
	}
	if err := s.Remove("g"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("g"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup(g) after Remove = %v; want file does not exist", err)
	}
	if names := s.Names(); len(names) != 0 {
		t.Errorf("Names() = %v; want none", names)
	}
}

// TestRegister: creating /NAME and writing a 9P address into it makes a
// remote server reachable by Lookup, dialed when first looked up.
func TestRegister(t *testing.T) {
	addr := serve9P(t, seeded(t, "remote hello\n"))
	s := New()
	defer s.Close()
	if err := create(s, "loom", "r", addr+"\n"); err != nil {
		t.Fatalf("create /r and write %s: %v", addr, err)
	}
	if got := readFrom(t, s, "r"); got != addr+"\n" {
		t.Errorf("read /r = %q; want %q", got, addr+"\n")
	}
	r, err := s.Lookup("r")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFrom(t, r, "greeting"); got != "remote hello\n" {
		t.Errorf("greeting through the looked-up server = %q; want remote hello", got)
	}
	if again, _ := s.Lookup("r"); again != r {
		t.Errorf("Lookup(r) again = %v; want the same connection %v", again, r)
	}
	// Removing the name leaves the connection to what was mounted.
	if err := remove(s, "loom", "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("r"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup(r) after remove = %v; want file does not exist", err)
	}
	if got := readFrom(t, r, "greeting"); got != "remote hello\n" {
		t.Errorf("greeting after the name went = %q; want remote hello", got)
	}
}

// TestBadWrites: writes that are not an address, or that would post over
// something posted, fail, name what was wrong, and change nothing.
func TestBadWrites(t *testing.T) {
	s := New()
	defer s.Close()
	s.Post("local", ramfs.New())
	s.PostAddr("remote", "tcp!localhost!564")
	create(s, "loom", "empty", "")
	for _, tc := range []struct{ file, data, want, after string }{
		{"empty", "nonsense", `bad address "nonsense"`, ""},
		{"empty", "tcp!host", `bad address "tcp!host"`, ""},
		{"local", "unix!/tmp/x", "srv local: already posted", "local\n"},
		{"remote", "unix!/tmp/x", "srv remote: already posted", "tcp!localhost!564\n"},
	} {
		err := write(s, tc.file, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("write /%s %q = %v; want an error with %q", tc.file, tc.data, err, tc.want)
		}
		if got := readFrom(t, s, tc.file); got != tc.after {
			t.Errorf("read /%s after the bad write = %q; want %q", tc.file, got, tc.after)
		}
	}
	if _, err := s.Lookup("empty"); err == nil || !strings.Contains(err.Error(), "nothing posted yet") {
		t.Errorf("Lookup(empty) = %v; want nothing posted yet", err)
	}
	if _, err := s.Lookup("remote"); err == nil {
		t.Errorf("Lookup(remote) of an address no server listens on succeeded")
	}
	if err := s.PostAddr("x", "not an address"); err == nil {
		t.Errorf("PostAddr with a bad address succeeded")
	}
	// Only the owner posts and removes.
	if err := create(s, "other", "o", ""); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("create as other = %v; want permission denied", err)
	}
	if err := remove(s, "other", "local"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("remove as other = %v; want permission denied", err)
	}
	if got := strings.Join(s.Names(), " "); got != "empty local remote" {
		t.Errorf("Names() = %q; want empty local remote", got)
	}
}

// TestRemovePosted: a File of a removed entry cannot remove a new entry
// of the same name.
func TestRemovePosted(t *testing.T) {
	s := New()
	defer s.Close()
	s.Post("x", ramfs.New())
	root, _ := s.Attach(bg, "loom", "")
	defer root.Clunk()
	old, err := ns.WalkPath(bg, root, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Clunk()
	s.Remove("x")
	s.Post("x", ramfs.New())
	if err := old.(ns.Remover).Remove(bg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove through the old File = %v; want file does not exist", err)
	}
	if _, err := s.Lookup("x"); err != nil {
		t.Errorf("Lookup(x) = %v; want the new entry", err)
	}
}

func TestClose(t *testing.T) {
	addr := serve9P(t, seeded(t, "x"))
	s := New()
	s.PostAddr("r", addr)
	r, err := s.Lookup("r")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := read(r, "greeting"); err == nil {
		t.Errorf("read through a connection after Close succeeded")
	}
	if err := s.Post("y", ramfs.New()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Post after Close = %v; want %v", err, ns.ErrClosed)
	}
}
