package env

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"testing"

	"loom/ns"
	"loom/ns/nstest"
)

var ctx = context.Background()

func TestConformance(t *testing.T) {
	nstest.TestFS(t, New(Vars("HOME=/usr/glenda", "PATH=/bin")), nstest.Expect("HOME", "PATH"))
}

func TestInitial(t *testing.T) {
	e := New(Vars("HOME=/usr/glenda", "EMPTY=", "EQ=a=b", "junk", "=x", "PATH=/bin"))
	want := []string{"EMPTY=", "EQ=a=b", "HOME=/usr/glenda", "PATH=/bin"}
	if got := e.Environ(); !slices.Equal(got, want) {
		t.Errorf("Environ() = %q; want %q", got, want)
	}
	for _, tt := range []struct {
		name, value string
		ok          bool
	}{
		{"HOME", "/usr/glenda", true},
		{"EMPTY", "", true},
		{"EQ", "a=b", true},
		{"junk", "", false},
		{"nope", "", false},
		{"a=b", "", false},
		{"", "", false},
	} {
		if v, ok := e.Get(tt.name); v != tt.value || ok != tt.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tt.name, v, ok, tt.value, tt.ok)
		}
	}
}

// root attaches to e as user.
func root(t *testing.T, e *Env, user string) ns.File {
	t.Helper()
	r, err := e.Attach(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Clunk() })
	return r
}

func open(t *testing.T, e *Env, name string, mode uint8) ns.File {
	t.Helper()
	_, f, err := root(t, e, "glenda").Walk(ctx, []string{name})
	if err != nil {
		t.Fatalf("Walk(%s) = %v", name, err)
	}
	if _, err := f.Open(ctx, mode); err != nil {
		t.Fatalf("Open(%s, %d) = %v", name, mode, err)
	}
	return f
}

func TestFiles(t *testing.T) {
	e := New()
	r := root(t, e, "glenda")
	f, _, err := r.(ns.Creater).Create(ctx, "x", 0666, ns.ORDWR)
	if err != nil {
		t.Fatalf("Create(x) = %v", err)
	}
	value := func() string {
		v, _ := e.Get("x")
		return v
	}
	for _, tt := range []struct {
		data string
		off  int64
		want string
	}{
		{"hello", 0, "hello"},
		{"hi", 0, "hi"}, // at 0: replaces
		{"!!", 2, "hi!!"},
		{"?", 1, "h?!!"},
		{"x", 6, "h?!!\x00\x00x"},
		{"", 0, ""},
		{"again", 0, "again"},
	} {
		if n, err := f.Write(ctx, []byte(tt.data), tt.off); n != len(tt.data) || err != nil {
			t.Errorf("Write(%q, %d) = %d, %v", tt.data, tt.off, n, err)
		}
		if got := value(); got != tt.want {
			t.Errorf("after Write(%q, %d): Get(x) = %q; want %q", tt.data, tt.off, got, tt.want)
		}
	}
	f.Clunk()

	// A name with "=" cannot be a variable.
	if _, _, err := r.(ns.Creater).Create(ctx, "a=b", 0666, ns.OWRITE); !errors.Is(err, ns.ErrBadName) {
		t.Errorf("Create(a=b) = %v; want %v", err, ns.ErrBadName)
	}
	// Directories are not variables.
	d, _, err := r.(ns.Creater).Create(ctx, "dir", ns.DMDIR|0777, ns.OREAD)
	if err != nil {
		t.Fatalf("Create(dir) = %v", err)
	}
	d.Clunk()
	// Lists keep their elements apart by NULs, which become blanks.
	if err := e.Set("list", "a\x00b c\x00d\x00"); err != nil {
		t.Fatal(err)
	}
	if got, want := e.Environ(), []string{"list=a b c d", "x=again"}; !slices.Equal(got, want) {
		t.Errorf("Environ() = %q; want %q", got, want)
	}
	// OTRUNC empties; remove unsets.
	open(t, e, "x", ns.OWRITE|ns.OTRUNC).Clunk()
	if v, ok := e.Get("x"); v != "" || !ok {
		t.Errorf("Get(x) after OTRUNC = %q, %v; want \"\", true", v, ok)
	}
	g := open(t, e, "x", ns.OREAD)
	_, h, _ := r.Walk(ctx, []string{"x"})
	if err := h.(ns.Remover).Remove(ctx); err != nil {
		t.Errorf("Remove(x) = %v", err)
	}
	h.Clunk()
	g.Clunk()
	if _, ok := e.Get("x"); ok {
		t.Errorf("Get(x) after Remove is set")
	}
	if err := e.Unset("list"); err != nil {
		t.Errorf("Unset(list) = %v", err)
	}
	if err := e.Unset("list"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Unset(list) again = %v; want does not exist", err)
	}
	if got := e.Environ(); len(got) != 0 {
		t.Errorf("Environ() = %q; want none", got)
	}
	if err := e.Set("a=b", "x"); !errors.Is(err, ns.ErrBadName) {
		t.Errorf("Set(a=b) = %v; want %v", err, ns.ErrBadName)
	}
}

// TestSetThroughFile checks that Set and writes through files agree.
func TestSetThroughFile(t *testing.T) {
	e := New(Vars("v=old"))
	f := open(t, e, "v", ns.OREAD)
	defer f.Clunk()
	e.Set("v", "new value")
	buf := make([]byte, 64)
	n, _ := f.Read(ctx, buf, 0)
	if string(buf[:n]) != "new value" {
		t.Errorf("read v after Set = %q; want new value", buf[:n])
	}
	st, _ := f.Stat(ctx)
	if st.Length != 9 {
		t.Errorf("Stat(v).Length = %d; want 9", st.Length)
	}
}

// TestReplaceIsAtomic checks that readers never see a replacing write
// half done.
func TestReplaceIsAtomic(t *testing.T) {
	e := New(Vars("v=aaaaaaaa"))
	w := open(t, e, "v", ns.OWRITE)
	defer w.Clunk()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			r := open(t, e, "v", ns.OREAD)
			defer r.Clunk()
			buf := make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, err := r.Read(ctx, buf, 0)
				if s := string(buf[:n]); err != nil || s != "aaaaaaaa" && s != "bb" {
					t.Errorf("Read(v) = %q, %v; want aaaaaaaa or bb", s, err)
					return
				}
			}
		})
	}
	for i := range 500 {
		v := "aaaaaaaa"
		if i%2 == 0 {
			v = "bb"
		}
		if _, err := w.Write(ctx, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
