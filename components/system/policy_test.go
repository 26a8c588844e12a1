package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"loom/ns"
)

// A right is one thing a policy may grant.
type right struct {
	name    string
	granted func(Policy) bool
}

func pathVisible(p string) right {
	return right{"see " + p, func(pol Policy) bool { return visible(p, cleanPaths(pol.Allow)) }}
}

func pathWritable(p string) right {
	return right{"write " + p, func(pol Policy) bool {
		return visible(p, cleanPaths(pol.Allow)) && !visible(p, cleanPaths(pol.ReadOnly))
	}}
}

func device(d string) right {
	return right{"device " + d, func(pol Policy) bool { return allDevices(pol.Devices) || slices.Contains(pol.Devices, d) }}
}

func network(n Network) right {
	return right{"network " + n.String(), func(pol Policy) bool { return pol.Network >= n }}
}

func use(kind string, v int64) right {
	return right{"limit " + kind + " " + limitText(kind, v), func(pol Policy) bool {
		l, ok := pol.Limits[kind]
		return !ok || v <= l
	}}
}

func rules(t *testing.T, name string, allow, ro, devs []string, net string, limits map[string]int64) Policy {
	t.Helper()
	p, err := FromRules(name, allow, ro, devs, net, limits)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntersectNeverGains intersects every pair (and triple) of a set of
// policies and checks, for every kind of right, that the result grants
// a right exactly when both sides do: nesting never gains one, and loses
// none that both grant.
func TestIntersectNeverGains(t *testing.T) {
	pols := []Policy{
		Unrestricted(),
		rules(t, "tmp", []string{"/tmp", "/log"}, []string{"/log"}, []string{"cons", "null"}, "none",
			map[string]int64{"memory": 64 << 20, "processes": 32}),
		rules(t, "lib", []string{"/lib/html", "/tmp/a"}, []string{"/tmp"}, []string{"null", "zero"}, "loopback",
			map[string]int64{"memory": 128 << 20, "cpu": 10, "write": 1 << 20}),
		rules(t, "root", []string{"/"}, []string{"/lib"}, nil, "host", map[string]int64{"processes": 4}),
		rules(t, "nothing", []string{"/nowhere"}, nil, []string{"none"}, "none", nil),
		rules(t, "dots", []string{"/tmp/../lib", "tmp/./a/"}, []string{"/lib/../tmp/a"}, nil, "", nil),
	}
	var rights []right
	for _, p := range []string{"/", "/tmp", "/tmp/a", "/tmp/a/b", "/tmp/b", "/lib", "/lib/html", "/lib/html/x", "/log", "/log/proc", "/dev", "/nowhere", "/tmpx"} {
		rights = append(rights, pathVisible(p), pathWritable(p))
	}
	for _, d := range []string{"cons", "null", "zero", "random"} {
		rights = append(rights, device(d))
	}
	for _, n := range []Network{NetNone, NetLoopback, NetHost} {
		rights = append(rights, network(n))
	}
	for _, k := range []string{"memory", "processes", "cpu", "write"} {
		for _, v := range []int64{1, 4, 10, 32, 1 << 20, 64 << 20, 100 << 20, 128 << 20, 1 << 40} {
			rights = append(rights, use(k, v))
		}
	}
	check := func(name string, got Policy, parts ...Policy) {
		t.Helper()
		for _, r := range rights {
			want := true
			for _, p := range parts {
				want = want && r.granted(p)
			}
			if g := r.granted(got); g != want {
				t.Errorf("%s grants %q = %v; want %v (policy:\n%s)", name, r.name, g, want, got)
			}
		}
	}
	for _, a := range pols {
		for _, b := range pols {
			check("Intersect("+a.Name+", "+b.Name+")", Intersect(a, b), a, b)
			for _, c := range pols {
				check("Intersect(Intersect("+a.Name+", "+b.Name+"), "+c.Name+")", Intersect(Intersect(a, b), c), a, b, c)
			}
		}
	}
	// The table is not vacuous: every kind of right is refused by some
	// policy of the set, so a wrong Intersect would show.
	refused := map[string]bool{}
	for _, r := range rights {
		kind := strings.Fields(r.name)[0]
		for _, p := range pols {
			if !r.granted(p) {
				refused[kind] = true
			}
		}
	}
	for _, kind := range []string{"see", "write", "device", "network", "limit"} {
		if !refused[kind] {
			t.Errorf("no policy refuses a right of kind %q; the table proves nothing for it", kind)
		}
	}
}

func TestFromRules(t *testing.T) {
	p := rules(t, "offline", []string{"/tmp", "/lib/../log", "/tmp/x"}, []string{"/lib"}, []string{"cons"}, "none",
		map[string]int64{"memory": 64 << 20, "processes": 32})
	want := "allow /log /tmp\nreadonly /lib\ndevices cons\nnetwork none\nlimit memory 64M processes 32\n"
	if got := p.String(); got != want {
		t.Errorf("FromRules(...).String() = %q; want %q", got, want)
	}
	if got := rules(t, "open", nil, nil, nil, "", nil).String(); got != "allow /\nnetwork host\n" {
		t.Errorf("FromRules of no rules = %q; want everything granted", got)
	}
	if _, err := FromRules("bad", nil, nil, nil, "everywhere", nil); err == nil {
		t.Errorf("FromRules(network everywhere) = nil error; want one")
	}
}

// sys makes a system with files to hide and to protect.
func sys(t *testing.T) *System {
	t.Helper()
	reg := newSystems(t)
	s := mustNew(t, reg, "web")
	for _, p := range []string{"/lib/", "/lib/html/", "/lib/html/index", "/secret/", "/secret/key", "/tmp/a", "/tmp/d/", "/tmp/d/f"} {
		if err := put(s.NS, p, "was "+p); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	return s
}

// put creates p in nsp, a directory if it ends in /, else a file holding
// data.
func put(nsp ns.FS, p, data string) error {
	ctx := context.Background()
	dir, name := p[:strings.LastIndex(strings.TrimSuffix(p, "/"), "/")+1], strings.TrimSuffix(p[strings.LastIndex(strings.TrimSuffix(p, "/"), "/")+1:], "/")
	d, err := walk(ctx, nsp, "glenda", dir)
	if err != nil {
		return err
	}
	defer d.Clunk()
	c, ok := d.(ns.Creater)
	if !ok {
		return ns.ErrPerm
	}
	if strings.HasSuffix(p, "/") {
		f, _, err := c.Create(ctx, name, ns.DMDIR|0o777, ns.OREAD)
		if err != nil {
			return err
		}
		return f.Clunk()
	}
	f, _, err := c.Create(ctx, name, 0o666, ns.OWRITE)
	if err != nil {
		return err
	}
	defer f.Clunk()
	_, err = f.Write(ctx, []byte(data), 0)
	return err
}

// openFile walks to the file p of nsp as glenda and opens it with mode;
// the File is clunked again if the open fails.
func openFile(ctx context.Context, nsp ns.FS, p string, mode uint8) (ns.File, error) {
	f, err := walk(ctx, nsp, "glenda", p)
	if err != nil {
		return nil, err
	}
	if _, err := f.Open(ctx, mode); err != nil {
		f.Clunk()
		return nil, err
	}
	return f, nil
}

// mustOpen is openFile that fails the test on an error.
func mustOpen(t *testing.T, ctx context.Context, nsp ns.FS, p string, mode uint8) ns.File {
	t.Helper()
	f, err := openFile(ctx, nsp, p, mode)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func cat(nsp ns.FS, p string) (string, error) {
	ctx := context.Background()
	f, err := openFile(ctx, nsp, p, ns.OREAD)
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	buf := make([]byte, 8192)
	n, err := f.Read(ctx, buf, 0)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func ls(nsp *ns.Namespace, p string) string {
	names, err := list(context.Background(), nsp, p)
	if err != nil {
		return "error: " + err.Error()
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// TestApplyHides checks that what a policy does not allow is absent by
// every route: walk, "..", directory reads, creation.
func TestApplyHides(t *testing.T) {
	s := sys(t)
	p := rules(t, "web", []string{"/tmp", "/lib/html", "/dev"}, nil, []string{"null"}, "", nil)
	v, err := Apply(context.Background(), s.NS, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/secret", "/secret/key", "/env", "/proc", "/srv", "/log",
		"/tmp/../secret/key", "/lib/html/../../secret", "/../../secret/key", "/lib/html/../../../env/USER",
		"/dev/cons", "/dev/../dev/cons", "/lib/html/../other"} {
		if f, err := walk(context.Background(), v, "glenda", path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("walk(%s) in the sandbox = %v; want ErrNotExist", path, err)
			if f != nil {
				f.Clunk()
			}
		}
	}
	for _, tc := range []struct{ dir, want string }{
		{"/", "dev lib tmp"}, {"/lib", "html"}, {"/lib/html", "index"}, {"/dev", "null"}, {"/tmp", "a d"},
	} {
		if got := ls(v, tc.dir); got != tc.want {
			t.Errorf("ls %s in the sandbox = %q; want %q", tc.dir, got, tc.want)
		}
	}
	if got, err := cat(v, "/lib/html/index"); err != nil || got != "was /lib/html/index" {
		t.Errorf("cat /lib/html/index = %q, %v; want its contents", got, err)
	}
	if err := put(v, "/secret/", ""); !errors.Is(err, fs.ErrPermission) && !errors.Is(err, fs.ErrExist) {
		t.Errorf("mkdir /secret in the sandbox = %v; want a refusal", err)
	}
	// The allowed tree is writable, and what is written there shows in
	// the system itself: Apply is a view, not a copy.
	if err := put(v, "/tmp/new", "new"); err != nil {
		t.Errorf("create /tmp/new in the sandbox: %v", err)
	}
	if got, err := cat(s.NS, "/tmp/new"); err != nil || got != "new" {
		t.Errorf("cat /tmp/new outside = %q, %v; want new", got, err)
	}
	// The system's own namespace is untouched.
	if got, err := cat(s.NS, "/secret/key"); err != nil || got != "was /secret/key" {
		t.Errorf("cat /secret/key outside = %q, %v; want it there", got, err)
	}
	// Binds and mounts inside the sandbox reach nothing hidden: a
	// hidden path cannot be bound, and ".." out of a union or a new
	// mount comes back to the sandbox's view.
	if err := v.Bind("/secret", "/tmp", ns.MAFTER); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bind -a /secret /tmp in the sandbox = %v; want ErrNotExist", err)
	}
	if err := v.Bind("/lib/html", "/tmp", ns.MAFTER); err != nil {
		t.Fatal(err)
	}
	if err := v.Mount(ns.Named("ramfs", sub{s.NS, "/secret"}), "/lib/html", ns.MBEFORE, ""); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/tmp/../secret/key", "/lib/html/../../secret/key", "/lib/../env"} {
		if f, err := walk(context.Background(), v, "glenda", path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("walk(%s) after binds in the sandbox = %v; want ErrNotExist", path, err)
			if f != nil {
				f.Clunk()
			}
		}
	}
	if got := ls(v, "/tmp"); got != "a d index new" {
		t.Errorf("ls /tmp after bind -a /lib/html = %q; want a d index new", got)
	}

}

// TestApplyReadOnly checks that read-only paths refuse create, write,
// remove and wstat, and that paths beside them do not.
func TestApplyReadOnly(t *testing.T) {
	s := sys(t)
	p := rules(t, "ro", []string{"/tmp", "/lib"}, []string{"/tmp/d", "/lib"}, nil, "", nil)
	v, err := Apply(context.Background(), s.NS, p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, path := range []string{"/tmp/d/f", "/lib/html/index", "/tmp/d/../d/f"} {
		if err := put(v, path[:strings.LastIndex(path, "/")+1]+"x", "x"); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("create beside %s = %v; want ErrPermission", path, err)
		}
		f, err := walk(ctx, v, "glenda", path)
		if err != nil {
			t.Errorf("walk(%s) = %v; want it readable", path, err)
			continue
		}
		if _, err := f.Open(ctx, ns.OWRITE); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("open(%s, OWRITE) = %v; want ErrPermission", path, err)
		}
		nd := ns.NullDir()
		nd.Name = "moved"
		if err := f.(ns.Wstater).Wstat(ctx, nd); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("wstat(%s) = %v; want ErrPermission", path, err)
		}
		if err := f.(ns.Remover).Remove(ctx); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("remove(%s) = %v; want ErrPermission", path, err)
		}
		if got, err := cat(s.NS, path); err != nil || got != "was "+strings.Replace(path, "/tmp/d/../", "/tmp/", 1) {
			t.Errorf("cat %s outside after the refusals = %q, %v; want it unchanged", path, got, err)
		}
	}
	if err := put(v, "/tmp/b", "b"); err != nil {
		t.Errorf("create /tmp/b beside the read-only /tmp/d = %v; want it made", err)
	}
}

// appendTo writes data at the end of the file p of nsp, making it if need
// be, in one write.
func appendTo(nsp ns.FS, p, data string) error {
	ctx := context.Background()
	f, err := walk(ctx, nsp, "glenda", p)
	if errors.Is(err, fs.ErrNotExist) {
		return put(nsp, p, data)
	}
	if err != nil {
		return err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OWRITE); err != nil {
		return err
	}
	d, err := f.Stat(ctx)
	if err != nil {
		return err
	}
	_, err = f.Write(ctx, []byte(data), int64(d.Length))
	return err
}

// TestWriteLimit: the bytes written through a sandboxed namespace, to any
// of its files, count against one limit; a write that does not fit is
// refused whole with a Plan 9 style error and leaves nothing behind; the
// smaller of nested limits holds, and the count outlives a nesting.
func TestWriteLimit(t *testing.T) {
	type op struct {
		path string
		size int   // bytes appended in one write
		grow int64 // when not 0, a wstat to this length instead
		ok   bool
	}
	tests := []struct {
		name   string
		limits []int64 // the limits of the sandboxes, nested in order
		ops    []op
		spent  int64
	}{
		{"under", []int64{100}, []op{{"/tmp/w", 60, 0, true}, {"/tmp/w", 40, 0, true}}, 100},
		{"over refused whole", []int64{100}, []op{{"/tmp/w", 60, 0, true}, {"/tmp/w", 41, 0, false}, {"/tmp/w", 40, 0, true}}, 100},
		{"across files", []int64{100}, []op{{"/tmp/w", 50, 0, true}, {"/b", 50, 0, true}, {"/tmp/c", 1, 0, false}}, 100},
		{"one write too big", []int64{10}, []op{{"/tmp/w", 11, 0, false}, {"/tmp/w", 10, 0, true}}, 10},
		{"wstat lengthening counts", []int64{100}, []op{{"/tmp/w", 10, 0, true}, {"/tmp/w", 0, 200, false}, {"/tmp/w", 0, 100, true}, {"/tmp/w", 1, 0, false}}, 100},
		{"wstat shortening is free", []int64{20}, []op{{"/tmp/w", 20, 0, true}, {"/tmp/w", 0, 1, true}, {"/tmp/w", 1, 0, false}}, 20},
		{"nested takes the smaller", []int64{1 << 20, 50}, []op{{"/tmp/w", 50, 0, true}, {"/tmp/w", 1, 0, false}}, 50},
		{"nested wider gains nothing", []int64{50, 1 << 20}, []op{{"/tmp/w", 50, 0, true}, {"/tmp/w", 1, 0, false}}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sys(t)
			for i, l := range tt.limits {
				p := rules(t, fmt.Sprint("w", i), nil, nil, nil, "", map[string]int64{"write": l})
				if err := s.apply(context.Background(), p); err != nil {
					t.Fatal(err)
				}
			}
			for i, o := range tt.ops {
				before, _ := cat(s.NS, o.path)
				var err error
				if o.grow != 0 {
					err = truncate(s.NS, o.path, o.grow)
				} else {
					err = appendTo(s.NS, o.path, strings.Repeat("x", o.size))
				}
				if o.ok && err != nil {
					t.Errorf("op %d (%+v) = %v; want it done", i, o, err)
				}
				if !o.ok {
					if !errors.Is(err, ErrWriteLimit) || err.Error() != "write limit exceeded" {
						t.Errorf("op %d (%+v) = %v; want write limit exceeded", i, o, err)
					}
					if after, _ := cat(s.NS, o.path); after != before {
						t.Errorf("op %d (%+v) refused, but %s went from %d bytes to %d", i, o, o.path, len(before), len(after))
					}
				}
			}
			if got := s.Written(); got != tt.spent {
				t.Errorf("Written() = %d; want %d", got, tt.spent)
			}
		})
	}
}

// truncate sets the length of the file p of nsp by wstat.
func truncate(nsp ns.FS, p string, n int64) error {
	f, err := walk(context.Background(), nsp, "glenda", p)
	if err != nil {
		return err
	}
	defer f.Clunk()
	d := ns.NullDir()
	d.Length = uint64(n)
	return f.(ns.Wstater).Wstat(context.Background(), d)
}

// TestWriteLimitClone: a clone starts with what its original has written,
// so that cloning does not refill a budget, and the two count apart after.
func TestWriteLimitClone(t *testing.T) {
	reg := newSystems(t)
	if _, err := reg.New("a"); err != nil {
		t.Fatal(err)
	}
	reg.DefineSandbox(rules(t, "w", nil, nil, nil, "", map[string]int64{"write": 100}))
	ctx := context.Background()
	if err := reg.Clone(ctx, "a", "b", "w"); err != nil {
		t.Fatal(err)
	}
	b, _ := reg.Get("b")
	if err := put(b.NS, "/tmp/f", strings.Repeat("x", 70)); err != nil {
		t.Fatal(err)
	}
	if err := reg.Clone(ctx, "b", "c", ""); err != nil {
		t.Fatal(err)
	}
	c, _ := reg.Get("c")
	if got := c.Written(); got != 70 {
		t.Errorf("the clone's Written() = %d; want its original's 70", got)
	}
	if err := appendTo(c.NS, "/tmp/g", strings.Repeat("x", 31)); !errors.Is(err, ErrWriteLimit) {
		t.Errorf("31 bytes more in the clone = %v; want write limit exceeded", err)
	}
	if err := appendTo(c.NS, "/tmp/g", strings.Repeat("x", 30)); err != nil {
		t.Errorf("30 bytes more in the clone = %v; want them written", err)
	}
	if got := b.Written(); got != 70 {
		t.Errorf("the original's Written() after the clone wrote = %d; want 70", got)
	}
}

// TestSandboxedNamespaceOps: in a sandboxed system, what a shell does in
// the view cannot take the policy's mounts out or replace them, nor
// mount the system's components, shared kinds or a hidden /srv file to
// reach what the view hides; what widens nothing still works.
func TestSandboxedNamespaceOps(t *testing.T) {
	reg, _ := webSystem(t)
	reg.DefineSandbox(rules(t, "offline", []string{"/tmp", "/lib"}, []string{"/lib"}, nil, "none", nil))
	ctx := context.Background()
	if err := reg.Clone(ctx, "web", "web2", "offline"); err != nil {
		t.Fatal(err)
	}
	sys, _ := reg.Get("web2")
	if err := put(sys.NS, "/tmp/nx/", ""); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		what string
		err  error
	}{
		{"unmount /lib", sys.NS.Unmount("", "/lib")},
		{"unmount /", sys.NS.Unmount("", "/")},
		{"bind /tmp /lib", sys.NS.Bind("/tmp", "/lib", ns.MREPL)},
	} {
		if !errors.Is(tt.err, fs.ErrPermission) {
			t.Errorf("%s in the sandbox = %v; want permission denied", tt.what, tt.err)
		}
	}
	if err := write(sys.NS, "/lib/index", "defaced"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("write /lib/index after the attempts = %v; want permission denied", err)
	}
	for _, src := range []string{"ramfs.1", "dev", "env", "srv", "log", "proc", "hostfs", "/srv/www", "tcp!127.0.0.1!1"} {
		if _, _, err := sys.Resolve(ctx, src, nil); !errors.Is(err, fs.ErrPermission) && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("mount %s in the sandbox = %v; want it refused", src, err)
		}
	}
	// What widens nothing: a new ramfs, binds around the policy's
	// mounts, and their undoing.
	r, _, err := sys.Resolve(ctx, "ramfs", nil)
	if err != nil {
		t.Fatalf("mount ramfs in the sandbox = %v; want it made", err)
	}
	if err := sys.NS.Mount(r, "/tmp/nx", ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	if err := sys.NS.Bind("/tmp/nx", "/lib", ns.MAFTER); err != nil {
		t.Errorf("bind -a /tmp/nx /lib = %v; want it made", err)
	}
	if err := sys.NS.Unmount("/tmp/nx", "/lib"); err != nil {
		t.Errorf("unmount /tmp/nx /lib = %v; want it undone", err)
	}
	// Outside any sandbox the same mounts are made.
	web, _ := reg.Get("web")
	for _, src := range []string{"ramfs.1", "dev", "/srv/www"} {
		if _, _, err := web.Resolve(ctx, src, nil); err != nil {
			t.Errorf("mount %s outside a sandbox = %v; want it made", src, err)
		}
	}
}
