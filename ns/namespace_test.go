package ns_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"loom/ns"
)

// world returns the servers the table tests mount: R for the root and A
// and B, which share the names common and sub.
func world(t testing.TB) map[string]ns.FS {
	return map[string]ns.FS{
		"R": ram(t, "R", "n/", "n/x/", "n/y/", "n/y/yfile", "n/loop/", "bin/", "bin/rcfile",
			"lib/", "lib/deep/", "lib/deep/d1", "f1", "f2", "tmp/"),
		"A": ram(t, "A", "a", "common", "sub/", "sub/s"),
		"B": ram(t, "B", "b", "common", "sub/", "sub/t"),
	}
}

// TestBind goes through bind(1) and bind(2) case by case. Each case runs
// its commands (after mount -c R /) one by one, each with the error it
// should give after "!", then its checks:
//
//	ls P = names      the listing of P, in order
//	cat P = text      the contents of P
//	walk P = error    the error of walking to P
//	stat P = name     the name Stat gives P
//	create P = error  the error of creating P ("ok" for none)
//
// A check starting with "A:" or "B:" looks at that server directly.
func TestBind(t *testing.T) {
	tests := []struct {
		name   string
		cmds   []string
		checks []string
	}{
		{"replace", []string{"mount A /n/x"}, []string{
			"ls /n/x = a common sub", "cat /n/x/a = A/a", "walk /n/x/b = notexist",
			"create /n/x/new = nocreate", "ls /n = x y loop",
		}},
		{"replace-create", []string{"mount -c A /n/x"}, []string{
			"create /n/x/new = ok", "A:cat /new = new", "ls /n/x = a common sub new",
		}},
		{"before", []string{"mount A /n/x", "mount -b B /n/x"}, []string{
			"ls /n/x = b common sub a", "cat /n/x/common = B/common",
			"cat /n/x/a = A/a", "cat /n/x/sub/t = B/sub/t",
			// A union is not merged below its top: sub is B's.
			"walk /n/x/sub/s = notexist",
		}},
		{"after", []string{"mount A /n/x", "mount -a B /n/x"}, []string{
			"ls /n/x = a common sub b", "cat /n/x/common = A/common",
			"cat /n/x/b = B/b", "walk /n/x/sub/t = notexist",
		}},
		{"after-keeps-old", []string{"mount -a A /n/y"}, []string{
			"ls /n/y = yfile a common sub", "cat /n/y/yfile = R/n/y/yfile",
		}},
		{"before-keeps-old", []string{"mount -b A /n/y"}, []string{
			"ls /n/y = a common sub yfile",
		}},
		{"replace-drops-union", []string{"mount -a A /n/y", "mount B /n/y"}, []string{
			"ls /n/y = b common sub",
		}},
		{"create-none", []string{"mount -a A /n/y", "mount -b B /n/y"}, []string{
			"create /n/y/new = nocreate",
		}},
		{"create-before", []string{"mount -a A /n/y", "mount -bc B /n/y"}, []string{
			"create /n/y/new = ok", "B:cat /new = new", "A:walk /new = notexist",
		}},
		{"create-after", []string{"mount -b A /n/y", "mount -ac B /n/y"}, []string{
			"create /n/y/new = ok", "B:cat /new = new", "A:walk /new = notexist",
		}},
		{"create-first-of-two", []string{"mount -ac A /n/y", "mount -bc B /n/y"}, []string{
			"create /n/y/new = ok", "B:cat /new = new", "A:walk /new = notexist",
		}},
		{"create-bind-c", []string{"bind -bc /tmp /n/y"}, []string{
			"create /n/y/new = ok", "cat /tmp/new = new",
		}},
		{"create-existing-elsewhere", []string{"mount -bc A /n/y"}, []string{
			// yfile is in the old directory, a later member: create(2)
			// does not make a second one in front of it.
			"create /n/y/yfile = exist", "A:walk /yfile = notexist",
		}},
		{"unmount-all", []string{"mount A /n/x", "mount -a B /n/x", "unmount /n/x"}, []string{
			"ls /n/x = ",
		}},
		{"unmount-first", []string{"mount A /n/x", "mount -a B /n/x", "unmount /n/x /n/x"}, []string{
			"ls /n/x = b common sub",
		}},
		{"unmount-one", []string{"mount A /n/x", "mount B /n/y", "bind -a /n/y /n/x", "unmount /n/y /n/x"}, []string{
			"ls /n/x = a common sub", "ls /n/y = b common sub",
		}},
		{"unmount-old-member", []string{"bind -a /tmp /n/y", "unmount /n/y /n/y"}, []string{
			// The union kept what /n/y was; taking that out leaves /tmp.
			"ls /n/y = ", "create /n/y/z = nocreate",
		}},
		{"unmount-errors", []string{"unmount /n/x ! not mounted", "mount A /n/x", "unmount /tmp /n/x ! not in union",
			"unmount /n/nonesuch ! does not exist"}, nil},
		{"file-over-file", []string{"bind /f1 /f2"}, []string{
			"cat /f2 = R/f1", "cat /f1 = R/f1", "stat /f2 = f2",
		}},
		{"file-over-dir", []string{"bind /f1 /n/x ! is a directory", "bind /n /f1 ! not a directory",
			"bind -a /f1 /f2 ! not a directory", "bind -b /f1 /f2 ! not a directory"}, []string{
			"ls /n/x = ", "cat /f1 = R/f1",
		}},
		{"missing", []string{"bind /nonesuch /n/x ! does not exist", "bind /tmp /nonesuch ! does not exist",
			"mount Z /n/x ! does not exist"}, nil},
		{"bind-union", []string{"mount A /n/x", "mount -a B /n/x", "bind /n/x /n/y"}, []string{
			// Binding a union binds all of it.
			"ls /n/y = a common sub b",
		}},
		{"bind-onto-mounted", []string{"mount A /n/x", "bind -a /tmp /n/x"}, []string{
			"ls /n/x = a common sub", "create /n/x/q = nocreate",
		}},
		{"dotdot-mount", []string{"mount A /n/x"}, []string{
			// Plan 9: the mount point's parent. The server's parent
			// of its root is its root.
			"ls /n/x/.. = x y loop", "ls /n/x/sub/.. = a common sub",
			"ls /n/x/sub/../.. = x y loop", "ls /n/x/../x/sub = s",
			"A:ls /.. = a common sub",
		}},
		{"dotdot-bind", []string{"bind /lib/deep /n/x"}, []string{
			// Bound from elsewhere: the parent by the name walked,
			// /n, not the file's own parent, /lib.
			"ls /n/x = d1", "ls /n/x/.. = x y loop", "ls /lib/deep/.. = deep",
		}},
		{"dotdot-union-member", []string{"mount -a A /bin"}, []string{
			// sub is the second member's; its parent is the union.
			"ls /bin/sub/.. = rcfile a common sub", "A:ls /sub/.. = a common sub",
			"ls /bin/sub/../.. = n bin lib f1 f2 tmp",
		}},
		{"dotdot-root", []string{"mount A /n/x"}, []string{
			"ls /.. = n bin lib f1 f2 tmp", "ls /../../n/x/../.. = n bin lib f1 f2 tmp",
			"ls /n/x/../../.. = n bin lib f1 f2 tmp",
		}},
		{"bind-self", []string{"bind /n /n"}, []string{
			"ls /n = x y loop", "ls /n/x/.. = x y loop",
		}},
		{"bind-descendant", []string{"bind /n /n/loop"}, []string{
			// A cycle reachable by walking: as deep as asked.
			"ls /n/loop = x y loop", "ls /n/loop/loop/loop/loop = x y loop",
			"ls /n/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/loop/y = yfile",
			"ls /n/loop/loop/loop/.. = x y loop", "ls /n/loop/loop/../../.. = n bin lib f1 f2 tmp",
		}},
		{"mount-twice", []string{"mount A /n/x", "mount A /n/y"}, []string{
			"ls /n/x = a common sub", "ls /n/y = a common sub",
			"create /n/x/q = nocreate",
		}},
		{"mount-in-mount", []string{"mount A /n/x", "mount B /n/x/sub"}, []string{
			"ls /n/x/sub = b common sub", "ls /n/x/sub/.. = a common sub",
			"ls /n/x/sub/../.. = x y loop", "cat /n/x/sub/b = B/b",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := world(t)
			nsp := build(t, srv, "mount -c R /")
			for _, c := range tc.cmds {
				c, want, _ := strings.Cut(c, " ! ")
				cmds, err := ns.ParseText("test", []byte(c))
				if err != nil {
					t.Fatalf("ParseText(%q) = %v", c, err)
				}
				err = ns.Replay(nsp, cmds, servers(srv))
				switch {
				case want == "" && err != nil:
					t.Fatalf("%s = %v; want success", c, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Fatalf("%s = %v; want an error saying %q", c, err, want)
				}
			}
			for _, c := range tc.checks {
				check(t, nsp, srv, c)
			}
		})
	}
}

// check runs one check of TestBind.
func check(t *testing.T, nsp *ns.Namespace, srv map[string]ns.FS, c string) {
	t.Helper()
	var fsys ns.FS = nsp
	if s, rest, ok := strings.Cut(c, ":"); ok && len(s) == 1 {
		fsys, c = srv[s], rest
	}
	lhs, want, _ := strings.Cut(c, " = ")
	op, p, _ := strings.Cut(lhs, " ")
	var got string
	switch op {
	case "ls":
		got = lsNames(fsys, p)
	case "cat":
		var err error
		if got, err = cat(fsys, p); err != nil {
			got = "error: " + err.Error()
		}
	case "walk":
		f, err := walk(fsys, p)
		if err == nil {
			f.Clunk()
		}
		got = errName(err)
	case "stat":
		f, err := walk(fsys, p)
		if err != nil {
			t.Errorf("walk(%s) = %v", p, err)
			return
		}
		d, err := f.Stat(ctx)
		f.Clunk()
		got = d.Name
		if err != nil {
			got = err.Error()
		}
	case "create":
		got = errName(create(fsys, p, "new"))
	default:
		t.Fatalf("bad check %q", c)
	}
	if got != want {
		t.Errorf("%s = %q; want %q", lhs, got, want)
	}
}

func TestBindFlagErrors(t *testing.T) {
	srv := world(t)
	nsp := build(t, srv, "mount -c R /")
	for _, f := range []ns.Flag{ns.MBEFORE | ns.MAFTER, 0x100, -1} {
		if err := nsp.Bind("/tmp", "/n/x", f); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Bind(/tmp, /n/x, %#x) = %v; want ErrInvalid", f, err)
		}
	}
}

// TestEmpty checks a namespace with nothing in it.
func TestEmpty(t *testing.T) {
	nsp := ns.New("loom")
	if got := lsNames(nsp, "/"); got != "" {
		t.Errorf("ls / = %q; want nothing", got)
	}
	if got := lsNames(nsp, "/../.."); got != "" {
		t.Errorf("ls /../.. = %q; want nothing", got)
	}
	if _, err := walk(nsp, "/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk(/x) = %v; want ErrNotExist", err)
	}
	if err := nsp.Bind("/", "/x", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Bind(/, /x) = %v; want ErrNotExist", err)
	}
	if err := create(nsp, "/x", ""); err == nil {
		t.Errorf("create(/x) in an empty namespace succeeded")
	}
	if _, err := nsp.Attach(ctx, "loom", "other"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Attach(aname other) = %v; want ErrNotExist", err)
	}
}

// TestLaterMount checks that a File for a directory sees what is mounted
// on it after it was walked to, as Plan 9's dot does.
func TestLaterMount(t *testing.T) {
	srv := world(t)
	nsp := build(t, srv, "mount -c R /")
	dot, err := walk(nsp, "/n/x")
	if err != nil {
		t.Fatal(err)
	}
	defer dot.Clunk()
	if err := nsp.Mount(srv["A"], "/n/x", ns.MREPL, ""); err != nil {
		t.Fatal(err)
	}
	_, f, err := dot.Walk(ctx, []string{"a"})
	if err != nil {
		t.Fatalf("Walk(a) from a File walked before the mount = %v", err)
	}
	f.Clunk()
	if err := nsp.Unmount("", "/n/x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dot.Walk(ctx, []string{"a"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk(a) after the unmount = %v; want ErrNotExist", err)
	}
}

// TestOpenAfterUnmount checks that Files keep what they use after an
// unmount takes it out of the table.
func TestOpenAfterUnmount(t *testing.T) {
	srv := world(t)
	nsp := build(t, srv, "mount -c R /\nmount A /n/x\nmount -a B /n/x")
	sub, err := walk(nsp, "/n/x/sub")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Clunk()
	dir, err := walk(nsp, "/n/x")
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Clunk()
	if _, err := dir.Open(ctx, ns.OREAD); err != nil {
		t.Fatal(err)
	}
	if err := nsp.Unmount("", "/n/x"); err != nil {
		t.Fatal(err)
	}
	ds, err := dir.ReadDir(ctx, 0, 100)
	if err != nil || len(ds) != 4 {
		t.Errorf("ReadDir of the union opened before unmount = %v, %v; want its 4 entries", ds, err)
	}
	// sub still reaches A's files; ".." from it returns to the mount
	// point, where nothing is mounted any more.
	_, s, err := sub.Walk(ctx, []string{"s"})
	if err != nil {
		t.Fatalf("Walk(s) from /n/x/sub after the unmount = %v", err)
	}
	s.Clunk()
	qids, up, err := sub.Walk(ctx, []string{"..", "a"})
	if err != nil || up != nil || len(qids) != 1 {
		t.Errorf("Walk(.., a) from /n/x/sub after the unmount = %v, %v, %v; want the mount point and no a", qids, up, err)
	}
	// But walks from the root see it gone.
	if got := lsNames(nsp, "/n/x"); got != "" {
		t.Errorf("ls /n/x after unmount = %q; want nothing", got)
	}
}

// TestQids checks that the namespace's Qids stay unique across servers
// that number their files alike, and agree between walk, stat, open and
// directory reads.
func TestQids(t *testing.T) {
	srv := world(t)
	nsp := build(t, srv, "mount -c R /\nmount A /n/x\nmount B /n/y\nbind /f1 /f2")
	seen := map[uint64]string{}
	for _, p := range []string{"/", "/n", "/n/x", "/n/y", "/n/x/a", "/n/y/b", "/n/x/common", "/n/y/common", "/f1"} {
		f, err := walk(nsp, p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.Stat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if q, ok := seen[d.Qid.Path]; ok {
			t.Errorf("Stat(%s).Qid = %v; the same as %s's", p, d.Qid, q)
		}
		seen[d.Qid.Path] = p
		q, err := f.Open(ctx, ns.OREAD)
		if err != nil || q != d.Qid {
			t.Errorf("Open(%s) = %v, %v; want Stat's %v", p, q, err, d.Qid)
		}
		f.Clunk()
	}
	// Mount points are listed as what is mounted on them; a bound file
	// as the file bound.
	for _, tc := range []struct{ dir, name, as string }{{"/n", "x", "/n/x"}, {"/", "f2", "/f1"}} {
		ds, err := ls(nsp, tc.dir)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := walk(nsp, tc.as)
		d, _ := f.Stat(ctx)
		f.Clunk()
		for _, e := range ds {
			if e.Name == tc.name && (e.Qid != d.Qid || e.Length != d.Length) {
				t.Errorf("ls %s: %s has %v, length %d; want %s's %v, %d", tc.dir, e.Name, e.Qid, e.Length, tc.as, d.Qid, d.Length)
			}
		}
	}
	r, _ := nsp.Attach(ctx, "loom", "")
	qids, f, err := r.Walk(ctx, []string{"n", "x", "sub", "..", ".."})
	r.Clunk()
	if err != nil {
		t.Fatal(err)
	}
	f.Clunk()
	want := []string{"/n", "/n/x", "", "/n/x", "/n"}
	for i, q := range qids {
		if want[i] != "" && seen[q.Path] != want[i] {
			t.Errorf("Walk(n x sub .. ..) qid %d = %v (%s); want %s's", i, q, seen[q.Path], want[i])
		}
	}
}

// TestFork checks that a fork changes independently of its parent, and
// that holders of the same Namespace share its changes.
func TestFork(t *testing.T) {
	srv := world(t)
	nsp := build(t, srv, "mount -c R /\nmount A /n/x")
	shared := nsp
	child := nsp.Fork()
	if err := child.Mount(srv["B"], "/n/x", ns.MAFTER, ""); err != nil {
		t.Fatal(err)
	}
	if err := nsp.Bind("/tmp", "/n/y", ns.MREPL); err != nil {
		t.Fatal(err)
	}
	grandchild := child.Fork()
	if err := grandchild.Unmount("", "/n/x"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		nsp  *ns.Namespace
		p    string
		want string
	}{
		{"parent", nsp, "/n/x", "a common sub"},
		{"shared", shared, "/n/y", ""},
		{"parent", nsp, "/n/y", ""},
		{"child", child, "/n/x", "a common sub b"},
		{"child", child, "/n/y", "yfile"},
		{"grandchild", grandchild, "/n/x", ""},
		{"grandchild", grandchild, "/n/y", "yfile"},
	} {
		if got := lsNames(tc.nsp, tc.p); got != tc.want {
			t.Errorf("%s: ls %s = %q; want %q", tc.name, tc.p, got, tc.want)
		}
	}
	// The servers are the same: a file made through one is seen in all.
	if err := create(child, "/new", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := cat(grandchild, "/new"); err != nil {
		t.Errorf("cat /new in grandchild = %v", err)
	}
}

// TestConcurrent walks, reads and forks while others bind and unmount,
// for the race detector.
func TestConcurrent(t *testing.T) {
	srv := world(t)
	nsp := build(t, srv, "mount -c R /")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				switch (w + i) % 4 {
				case 0:
					lsNames(nsp, "/n/x")
				case 1:
					if f, err := walk(nsp, "/n/x/sub/../common"); err == nil {
						f.Clunk()
					}
				case 2:
					cat(nsp, "/n/y/b")
				case 3:
					f := nsp.Fork()
					f.Bind("/tmp", "/n/x", ns.MBEFORE)
					lsNames(f, "/n/x")
				}
			}
		}()
	}
	for i := range 200 {
		switch i % 5 {
		case 0:
			nsp.Mount(srv["A"], "/n/x", ns.MAFTER, "")
		case 1:
			nsp.Mount(srv["B"], "/n/y", ns.MBEFORE, "")
		case 2:
			nsp.Unmount("", "/n/x")
		case 3:
			nsp.Bind("/n/y", "/n/x", ns.MREPL)
		case 4:
			nsp.Unmount("", "/n/y")
		}
	}
	wg.Wait()
}

// TestNested mounts a namespace inside another, and inside itself.
func TestNested(t *testing.T) {
	srv := world(t)
	inner := build(t, srv, "mount -c R /\nmount A /n/x")
	outer := build(t, map[string]ns.FS{"R": ram(t, "O", "m/"), "inner": inner}, "mount -c R /\nmount inner /m")
	for _, tc := range []struct{ op, p, want string }{
		{"ls", "/m/n/x", "a common sub"},
		{"ls", "/m/n/x/..", "x y loop"},
		{"ls", "/m/..", "m"},
		{"cat", "/m/n/x/sub/s", "A/sub/s"},
	} {
		got := lsNames(outer, tc.p)
		if tc.op == "cat" {
			got, _ = cat(outer, tc.p)
		}
		if got != tc.want {
			t.Errorf("%s %s = %q; want %q", tc.op, tc.p, got, tc.want)
		}
	}
	// Mounted in itself: each walk goes one level further in.
	if err := inner.Mount(inner, "/n/y", ns.MREPL, ""); err != nil {
		t.Fatal(err)
	}
	p := strings.Repeat("/n/y", 10) + "/n/x/a"
	if got, err := cat(inner, p); err != nil || got != "A/a" {
		t.Errorf("cat %s = %q, %v; want A/a", p, got, err)
	}
	if err := inner.Unmount("", "/n/y"); err != nil {
		t.Fatal(err)
	}
}

func ExampleNamespace() {
	root := ns.Named("root", ramfsWith("n/", "n/x/", "bin/", "bin/ls"))
	nsp := ns.New("loom")
	nsp.Mount(root, "/", ns.MREPL|ns.MCREATE, "")
	nsp.Mount(ns.Named("tools", ramfsWith("rc", "ls")), "/bin", ns.MAFTER, "")
	ds, _ := ls(nsp, "/bin")
	for _, d := range ds {
		fmt.Println(d.Name)
	}
	text, _ := nsp.Text()
	fmt.Print(string(text))
	// Output:
	// ls
	// rc
	// mount -c root /
	// mount -a tools /bin
}
