package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"loom/ns"
)

// lineScript is a Script for the tree's own tests, where the language is
// out of reach (it lives above this package): each line is a command of
// the registry's, words split at blanks, or echo. Like the language's
// runner it checks the whole text before running any of it: a line with
// a quote is a syntax error at its position, and a text with more "{"
// than "}" is unfinished (ErrIncomplete), as the language's would be.
type lineScript struct {
	reg *Systems

	mu  sync.Mutex
	ran []string // system: line, for each line run
}

func (l *lineScript) run(ctx context.Context, system, file string, src []byte, out io.Writer) error {
	if strings.Count(string(src), "{") > strings.Count(string(src), "}") {
		return Incomplete(fmt.Errorf("%s: unclosed {", file))
	}
	lines := strings.Split(strings.TrimSuffix(string(src), "\n"), "\n")
	for i, line := range lines {
		if c := strings.IndexByte(line, '\''); c >= 0 {
			return fmt.Errorf("%s:%d:%d: quotes are not for this runner", file, i+1, c+1)
		}
	}
	for _, line := range lines {
		args := strings.Fields(line)
		if len(args) == 0 || line == "}" || line == "{" {
			continue
		}
		l.mu.Lock()
		l.ran = append(l.ran, system+": "+line)
		l.mu.Unlock()
		if args[0] == "echo" {
			fmt.Fprintln(out, strings.Join(args[1:], " "))
			continue
		}
		if args[0] == "sandbox" {
			// The rules, as the tree hands them on: sandbox NAME {RULES}.
			p := Unrestricted()
			p.Name = args[1]
			if len(args) > 4 && args[3] == "network" {
				n, err := ParseNetwork(args[4])
				if err != nil {
					return err
				}
				p.Network = n
			}
			l.reg.DefineSandbox(p)
			continue
		}
		if err := l.reg.Command(ctx, out, system, args); err != nil {
			return err
		}
	}
	return nil
}

func newTestTree(t *testing.T) (*Systems, *Tree, *lineScript) {
	t.Helper()
	reg := newSystems(t)
	for _, n := range []string{"loom", "web"} {
		if _, err := reg.New(n); err != nil {
			t.Fatal(err)
		}
	}
	l := &lineScript{reg: reg}
	return reg, NewTree(reg, WithScript(l.run), DefaultSystem("loom")), l
}

// treeOpen walks to p in the tree and opens it.
func treeOpen(t *testing.T, fsys ns.FS, aname, p string, mode uint8) ns.File {
	t.Helper()
	ctx := context.Background()
	root, err := fsys.Attach(ctx, "glenda", aname)
	if err != nil {
		t.Fatalf("Attach(%q) = %v", aname, err)
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		t.Fatalf("walk %s = %v", p, err)
	}
	if _, err := f.Open(ctx, mode); err != nil {
		f.Clunk()
		t.Fatalf("open %s = %v", p, err)
	}
	return f
}

func readOpen(t *testing.T, f ns.File) string {
	t.Helper()
	var b bytes.Buffer
	buf := make([]byte, 100)
	for off := int64(0); ; {
		n, err := f.Read(context.Background(), buf, off)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n == 0 {
			return b.String()
		}
		b.Write(buf[:n])
		off += int64(n)
	}
}

func treeRead(t *testing.T, fsys ns.FS, p string) string {
	t.Helper()
	f := treeOpen(t, fsys, "", p, ns.OREAD)
	defer f.Clunk()
	return readOpen(t, f)
}

func treeList(t *testing.T, fsys ns.FS, p string) []string {
	t.Helper()
	f := treeOpen(t, fsys, "", p, ns.OREAD)
	defer f.Clunk()
	var names []string
	for {
		ds, err := f.ReadDir(context.Background(), len(names), 10)
		if err != nil {
			t.Fatalf("ReadDir(%s) = %v", p, err)
		}
		if len(ds) == 0 {
			return names
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
	}
}

func TestTreeLayout(t *testing.T) {
	reg, tree, _ := newTestTree(t)
	for _, tt := range []struct {
		dir  string
		want []string
	}{
		{"/", []string{"ctl", "systems", "sandboxes"}},
		{"/systems", []string{"loom", "web"}},
		{"/systems/web", []string{"ctl", "status", "ns", "image", "root", "snapshots"}},
		{"/systems/web/root", []string{"dev", "env", "srv", "log", "proc", "tmp"}},
		{"/systems/web/root/dev", []string{"cons", "null", "random", "sysname", "time", "user", "zero"}},
		{"/sandboxes", nil},
	} {
		if got := treeList(t, tree, tt.dir); !slices.Equal(got, tt.want) {
			t.Errorf("ls %s = %q; want %q", tt.dir, got, tt.want)
		}
	}
	if err := reg.Stop("web"); err != nil {
		t.Fatal(err)
	}
	if got := treeList(t, tree, "/systems"); !slices.Equal(got, []string{"loom"}) {
		t.Errorf("ls /systems after stop web = %q; want loom", got)
	}
	root, _ := tree.Attach(context.Background(), "glenda", "")
	defer root.Clunk()
	if _, err := ns.WalkPath(context.Background(), root, "/systems/web/root"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk /systems/web/root after stop = %v; want not exist", err)
	}
}

// TestTreeRoot: root/ is the system's namespace itself, the same files
// the registry's System has, with its policy applied.
func TestTreeRoot(t *testing.T) {
	reg, tree, _ := newTestTree(t)
	web, _ := reg.Get("web")
	if err := put(web.NS, "/tmp/greeting", "hello"); err != nil {
		t.Fatal(err)
	}
	if got := treeRead(t, tree, "/systems/web/root/tmp/greeting"); got != "hello" {
		t.Errorf("read /systems/web/root/tmp/greeting = %q; want hello", got)
	}
	// Written through the tree, seen in the system.
	f := treeOpen(t, tree, "", "/systems/web/root/tmp/greeting", ns.OWRITE|ns.OTRUNC)
	if _, err := f.Write(context.Background(), []byte("bye"), 0); err != nil {
		t.Fatal(err)
	}
	f.Clunk()
	if got, err := readAll(web.NS, "/tmp/greeting"); got != "bye" || err != nil {
		t.Errorf("system's /tmp/greeting = %q, %v; want bye", got, err)
	}
	// The aname names a system: its root directly.
	g := treeOpen(t, tree, "web", "/tmp/greeting", ns.OREAD)
	if got := readOpen(t, g); got != "bye" {
		t.Errorf("attach web, read /tmp/greeting = %q; want bye", got)
	}
	g.Clunk()
	if _, err := tree.Attach(context.Background(), "glenda", "nosuch"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Attach(nosuch) = %v; want not exist", err)
	}
	// A walk that fails inside root/ is partial, as any walk.
	root, _ := tree.Attach(context.Background(), "glenda", "")
	defer root.Clunk()
	qids, nf, err := root.Walk(context.Background(), []string{"systems", "web", "root", "tmp", "nosuch"})
	if err != nil || nf != nil || len(qids) != 4 {
		t.Errorf("Walk(systems/web/root/tmp/nosuch) = %d qids, %v, %v; want 4 qids, no file, no error", len(qids), nf, err)
	}
	if _, nf, err := root.Walk(context.Background(), []string{"nosuch"}); err == nil || nf != nil {
		t.Errorf("Walk(nosuch) = %v, %v; want an error", nf, err)
	}
	// root/ is named so, and .. leads out of it back into the tree.
	rf, err := ns.WalkPath(context.Background(), root, "/systems/web/root")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := rf.Stat(context.Background()); err != nil || d.Name != "root" || !d.Mode.IsDir() {
		t.Errorf("stat /systems/web/root = %v, %v; want a directory named root", d, err)
	}
	for _, names := range [][]string{{".."}, {"tmp", "..", ".."}, {"tmp", "..", "..", "..", "web"}} {
		qids, up, err := rf.Walk(context.Background(), names)
		if err != nil || up == nil || len(qids) != len(names) {
			t.Errorf("Walk(root, %q) = %d qids, %v, %v; want the system's directory", names, len(qids), up, err)
			continue
		}
		if d, err := up.Stat(context.Background()); err != nil || d.Name != "web" {
			t.Errorf("Walk(root, %q) reached %v, %v; want web", names, d, err)
		}
		up.Clunk()
	}
	if _, up, err := rf.Walk(context.Background(), []string{"tmp", "..", "..", "ctl"}); err != nil || up == nil {
		t.Errorf("Walk(root, tmp/../../ctl) = %v, %v; want web's ctl", up, err)
	} else {
		up.Clunk()
	}
	rf.Clunk()

	// The policy holds in root/ as in the system.
	p, err := FromRules("offline", []string{"/tmp"}, nil, nil, "none", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.DefineSandbox(p)
	if err := reg.Clone(context.Background(), "web", "web2", "offline"); err != nil {
		t.Fatal(err)
	}
	if got := treeList(t, tree, "/systems/web2/root"); !slices.Equal(got, []string{"tmp"}) {
		t.Errorf("ls /systems/web2/root = %q; want tmp alone", got)
	}
}

// TestTreeCtl: a ctl write runs a script in its system; a read gives what
// that open's last write printed; a failing write returns the error.
func TestTreeCtl(t *testing.T) {
	reg, tree, l := newTestTree(t)
	f := treeOpen(t, tree, "", "/systems/web/ctl", ns.ORDWR)
	defer f.Clunk()
	g := treeOpen(t, tree, "", "/systems/web/ctl", ns.ORDWR)
	defer g.Clunk()
	ctx := context.Background()
	if _, err := f.Write(ctx, []byte("echo one\necho two\n"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write(ctx, []byte("echo other"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readOpen(t, f); got != "one\ntwo\n" {
		t.Errorf("read ctl after its write = %q; want one, two", got)
	}
	if got := readOpen(t, f); got != "one\ntwo\n" {
		t.Errorf("second read of ctl = %q; want the same", got)
	}
	if got := readOpen(t, g); got != "other\n" {
		t.Errorf("read of the other open = %q; want other", got)
	}
	// A command of the registry's, for this system.
	if _, err := f.Write(ctx, []byte("start -n s sh -c true"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readOpen(t, f); got != "1\n" {
		t.Errorf("read ctl after start = %q; want 1", got)
	}
	web, _ := reg.Get("web")
	if ps := web.Def.Env.Proc.List(); len(ps) != 1 || ps[0].Name != "s" {
		t.Errorf("web's processes after start = %v; want one, s", ps)
	}
	// An error is the write's.
	if _, err := f.Write(ctx, []byte("stop web"), 0); err == nil || !strings.Contains(err.Error(), "the shell is in it") {
		t.Errorf("write stop web to web's ctl = %v; want refused", err)
	}
	// A syntax error changes nothing and says where.
	n := len(l.ran)
	if _, err := f.Write(ctx, []byte("echo fine\necho 'bad'\n"), 0); err == nil || err.Error() != "/systems/web/ctl:2:6: quotes are not for this runner" {
		t.Errorf("write with a syntax error = %v; want its position", err)
	}
	if len(l.ran) != n {
		t.Errorf("a script with a syntax error ran %q", l.ran[n:])
	}
	// /ctl runs in the default system.
	c := treeOpen(t, tree, "", "/ctl", ns.ORDWR)
	defer c.Clunk()
	if _, err := c.Write(ctx, []byte("stop web"), 0); err != nil {
		t.Fatalf("write stop web to /ctl = %v", err)
	}
	if got := l.ran[len(l.ran)-1]; got != "loom: stop web" {
		t.Errorf("/ctl ran %q; want it in the system loom", got)
	}
	if _, err := reg.Get("web"); err == nil {
		t.Errorf("web still exists after stop through /ctl")
	}
	// With the default system gone, /ctl runs in none.
	if err := reg.Stop("loom"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, []byte("echo still"), 0); err != nil {
		t.Errorf("write /ctl without its default system = %v", err)
	}
	if got := l.ran[len(l.ran)-1]; got != ": echo still" {
		t.Errorf("/ctl ran %q; want it in no system", got)
	}
	// The open ctl of a stopped system runs nothing.
	if _, err := f.Write(ctx, []byte("echo late"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write to a stopped system's ctl = %v; want not exist", err)
	}
}

// TestTreeCtlPieces: a script written in pieces runs once it is whole,
// wherever the pieces were cut: within a line, or within a block the
// language finds unfinished.
func TestTreeCtlPieces(t *testing.T) {
	ctx := context.Background()
	script := "echo one\n{\necho two\necho three\n}\necho four\n"
	want := []string{"web: echo one", "web: echo two", "web: echo three", "web: echo four"}
	for _, tt := range []struct {
		name string
		cuts []int // where the script is cut into writes
	}{
		{"whole", nil},
		{"within a line", []int{14}},
		{"within the block", []int{11, 20}},
		{"every byte after the first line", func() []int {
			var c []int
			for i := 9; i < len(script); i++ {
				c = append(c, i)
			}
			return c
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, tree, l := newTestTree(t)
			f := treeOpen(t, tree, "", "/systems/web/ctl", ns.ORDWR)
			prev, off := 0, int64(0)
			for _, c := range append(tt.cuts, len(script)) {
				n, err := f.Write(ctx, []byte(script[prev:c]), off)
				if err != nil || n != c-prev {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", script[prev:c], n, err, c-prev)
				}
				off += int64(n)
				prev = c
			}
			if got := readOpen(t, f); !strings.HasSuffix(got, "four\n") {
				t.Errorf("read after the last piece = %q; want what it printed", got)
			}
			f.Clunk()
			if !slices.Equal(l.ran, want) {
				t.Errorf("ran %q; want %q", l.ran, want)
			}
		})
	}
}

// TestTreeCtlHeld: a read while a script is unfinished says so; a last
// line with no newline runs at the clunk; a script held past MaxPending
// is refused and forgotten.
func TestTreeCtlHeld(t *testing.T) {
	ctx := context.Background()
	_, tree, l := newTestTree(t)
	f := treeOpen(t, tree, "", "/systems/web/ctl", ns.ORDWR)
	if _, err := f.Write(ctx, []byte("{\necho x\n"), 0); err != nil {
		t.Fatalf("Write(unfinished) = %v; want it held", err)
	}
	if _, err := f.Read(ctx, make([]byte, 10), 0); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Read while held = %v; want ErrIncomplete", err)
	}
	if len(l.ran) != 0 {
		t.Errorf("ran %q while held; want nothing", l.ran)
	}
	if err := f.Clunk(); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Clunk while held = %v; want ErrIncomplete", err)
	}

	f = treeOpen(t, tree, "", "/systems/web/ctl", ns.ORDWR)
	if _, err := f.Write(ctx, []byte("echo a\necho b"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readOpen(t, f); got != "a\n" {
		t.Errorf("read = %q; want the whole lines' output", got)
	}
	if err := f.Clunk(); err != nil {
		t.Errorf("Clunk running the last line = %v", err)
	}
	if want := []string{"web: echo a", "web: echo b"}; !slices.Equal(l.ran, want) {
		t.Errorf("ran %q; want %q, the last line at the clunk", l.ran, want)
	}

	f = treeOpen(t, tree, "", "/systems/web/ctl", ns.ORDWR)
	defer f.Clunk()
	piece := []byte("{\n" + strings.Repeat("echo filler\n", 8000))
	var err error
	off := int64(0)
	for off <= MaxPending && err == nil {
		var n int
		n, err = f.Write(ctx, piece, off)
		off += int64(n)
		piece = []byte(strings.Repeat("echo filler\n", 8000))
	}
	if !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "unfinished") {
		t.Errorf("Write past MaxPending = %v; want it refused", err)
	}
	ran := len(l.ran)
	if _, err := f.Write(ctx, []byte("echo fresh\n"), off); err != nil {
		t.Errorf("Write after the refusal = %v; want a fresh start", err)
	}
	if got := l.ran[ran:]; !slices.Equal(got, []string{"web: echo fresh"}) {
		t.Errorf("ran %q after the refusal; want only the fresh script", got)
	}
}

func TestTreeNoScript(t *testing.T) {
	reg := New(User("glenda"))
	defer reg.Close()
	tree := NewTree(reg)
	f := treeOpen(t, tree, "", "/ctl", ns.OWRITE)
	defer f.Clunk()
	if _, err := f.Write(context.Background(), []byte("echo x"), 0); err == nil {
		t.Errorf("write /ctl with no runner = nil; want an error")
	}
}

func TestTreeStatusNS(t *testing.T) {
	reg, tree, _ := newTestTree(t)
	web, _ := reg.Get("web")
	if err := put(web.NS, "/tmp/a", "12345"); err != nil {
		t.Fatal(err)
	}
	if err := web.Def.Env.Vars.Set("site", "web"); err != nil {
		t.Fatal(err)
	}
	got := treeRead(t, tree, "/systems/web/status")
	for _, re := range []string{
		`(?m)^ramfs\.1 ramfs running files=\d+ bytes=\d+$`,
		`(?m)^ramfs\.2 ramfs running files=1 bytes=5$`,
		`(?m)^dev dev running -$`,
		`(?m)^env env running vars=\d+$`,
		`(?m)^srv srv running posted=0$`,
		`(?m)^log log running files=\d+ bytes=\d+$`,
		`(?m)^proc proc running procs=0 running=0$`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("status =\n%s\nwant a line matching %s", got, re)
		}
	}
	want, _ := web.NS.Text()
	if got := treeRead(t, tree, "/systems/web/ns"); got != string(want) {
		t.Errorf("ns = %q; want the namespace's text %q", got, want)
	}
	if got := treeList(t, tree, "/systems/web/snapshots"); len(got) != 0 {
		t.Errorf("ls snapshots = %q; want it empty", got)
	}
}

// TestTreeStatusKinds: a component of any kind shows its kind, whatever
// the namespace's text calls the server; an address shows as 9p.
func TestTreeStatusKinds(t *testing.T) {
	ctx := context.Background()
	reg, tree, _ := newTestTree(t)
	web, _ := reg.Get("web")
	for _, m := range []struct {
		dir, kind string
		args      []string
	}{
		{"/n/host", "hostfs", []string{t.TempDir(), "-ro"}},
		{"/n/pipe", "pipe", nil},
		{"/n/upper", "exec", []string{"tr", "a-z", "A-Z"}},
	} {
		if err := put(web.NS, "/n/", ""); err != nil && !errors.Is(err, fs.ErrExist) {
			t.Fatal(err)
		}
		if err := put(web.NS, m.dir+"/", ""); err != nil {
			t.Fatal(err)
		}
		fsys, aname, err := web.Resolve(ctx, m.kind, m.args)
		if err != nil {
			t.Fatal(err)
		}
		if err := web.NS.Mount(fsys, m.dir, ns.MREPL, aname); err != nil {
			t.Fatal(err)
		}
	}
	got := treeRead(t, tree, "/systems/web/status")
	for _, re := range []string{
		`(?m)^hostfs\.1 hostfs running -$`,
		`(?m)^pipe\.1 pipe running -$`,
		`(?m)^exec\.1 exec running -$`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("status =\n%s\nwant a line matching %s", got, re)
		}
	}
	if strings.Contains(got, " 9p ") {
		t.Errorf("status =\n%s\nwant no component shown as 9p", got)
	}
}

// TestTreeSandboxes: a sandbox's file reads as its rules; writing it
// redefines the policy through the runner; creating it defines one.
func TestTreeSandboxes(t *testing.T) {
	reg, tree, l := newTestTree(t)
	p, err := FromRules("offline", []string{"/tmp"}, nil, nil, "none", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.DefineSandbox(p)
	if got := treeList(t, tree, "/sandboxes"); !slices.Equal(got, []string{"offline"}) {
		t.Errorf("ls /sandboxes = %q; want offline", got)
	}
	if got := treeRead(t, tree, "/sandboxes/offline"); got != "allow /tmp\nnetwork none\n" {
		t.Errorf("read /sandboxes/offline = %q", got)
	}
	ctx := context.Background()
	root, _ := tree.Attach(ctx, "glenda", "")
	defer root.Clunk()
	d, err := ns.WalkPath(ctx, root, "/sandboxes")
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := d.(ns.Creater).Create(ctx, "lan", 0o666, ns.OWRITE)
	d.Clunk()
	if err != nil {
		t.Fatalf("create /sandboxes/lan = %v", err)
	}
	if q, err := reg.Sandbox("lan"); err != nil || q.Network != NetHost {
		t.Errorf("sandbox lan after create = %v, %v; want unrestricted", q, err)
	}
	if _, err := f.Write(ctx, []byte(" network loopback"), 0); err != nil {
		t.Fatalf("write /sandboxes/lan = %v", err)
	}
	f.Clunk()
	if got := l.ran[len(l.ran)-1]; got != "loom: sandbox lan { network loopback" {
		t.Errorf("the runner got %q; want the declaration", got)
	}
	if q, err := reg.Sandbox("lan"); err != nil || q.Network != NetLoopback {
		t.Errorf("sandbox lan after write = %v, %v; want network loopback", q, err)
	}
}

// TestTreeConcurrent: the tree is used from many connections at once,
// while systems come and go.
func TestTreeConcurrent(t *testing.T) {
	reg, tree, _ := newTestTree(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			root, err := tree.Attach(ctx, "glenda", "")
			if err != nil {
				t.Error(err)
				return
			}
			defer root.Clunk()
			for range 20 {
				for _, p := range []string{"/systems/web/root/tmp", "/systems/web/status", "/systems", "/sandboxes"} {
					f, err := ns.WalkPath(ctx, root, p)
					if err != nil {
						continue // web may be gone for a moment
					}
					if _, err := f.Open(ctx, ns.OREAD); err == nil {
						if d, _ := f.Stat(ctx); d.Mode.IsDir() {
							f.ReadDir(ctx, 0, 100)
						} else {
							f.Read(ctx, make([]byte, 512), 0)
						}
					}
					f.Clunk()
				}
				if f, err := ns.WalkPath(ctx, root, "/systems/loom/ctl"); err == nil {
					if _, err := f.Open(ctx, ns.ORDWR); err == nil {
						if _, err := f.Write(ctx, []byte(fmt.Sprintf("echo %d", i)), 0); err != nil {
							t.Errorf("write loom's ctl: %v", err)
						}
					}
					f.Clunk()
				}
			}
		}()
	}
	for range 10 {
		if err := reg.Stop("web"); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.New("web"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// TestTreeRemoveSystem: removing /systems/NAME stops the system, as stop
// does; the default system's directory stays.
func TestTreeRemoveSystem(t *testing.T) {
	reg, tree, _ := newTestTree(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"web", true}, {"loom", false}} {
		root, _ := tree.Attach(ctx, "glenda", "")
		f, err := ns.WalkPath(ctx, root, "/systems/"+tt.name)
		root.Clunk()
		if err != nil {
			t.Fatal(err)
		}
		err = f.(ns.Remover).Remove(ctx)
		f.Clunk()
		_, gerr := reg.Get(tt.name)
		if tt.ok && (err != nil || gerr == nil) {
			t.Errorf("remove /systems/%s = %v, and the system: %v; want it stopped", tt.name, err, gerr)
		}
		if !tt.ok && (!errors.Is(err, fs.ErrPermission) || gerr != nil) {
			t.Errorf("remove /systems/%s = %v, and the system: %v; want permission denied, the system kept", tt.name, err, gerr)
		}
	}
	if got := treeList(t, tree, "/systems"); !slices.Equal(got, []string{"loom"}) {
		t.Errorf("ls /systems after rm web = %q; want loom", got)
	}
}

// TestTreeWriteNS: a write to /systems/NAME/ns makes the namespace what
// the text says, in one step; a bad text is refused with its position
// and changes nothing; a sandboxed system refuses.
func TestTreeWriteNS(t *testing.T) {
	reg, tree, _ := newTestTree(t)
	ctx := context.Background()
	write := func(p, text string) error {
		f := treeOpen(t, tree, "", p, ns.OWRITE)
		defer f.Clunk()
		_, err := f.Write(ctx, []byte(text), 0)
		return err
	}
	old := treeRead(t, tree, "/systems/web/ns")
	// Without /tmp's ramfs, and with /dev bound on /tmp as well.
	var keep []string
	for _, l := range strings.Split(strings.TrimSuffix(old, "\n"), "\n") {
		if !strings.HasSuffix(l, " /tmp") {
			keep = append(keep, l)
		}
	}
	text := strings.Join(keep, "\n") + "\nbind /dev /tmp\n"
	if err := write("/systems/web/ns", text); err != nil {
		t.Fatalf("write /systems/web/ns = %v", err)
	}
	if got := treeRead(t, tree, "/systems/web/ns"); got != text {
		t.Errorf("/systems/web/ns after the write =\n%s\nwant\n%s", got, text)
	}
	if got := treeList(t, tree, "/systems/web/root/tmp"); !slices.Contains(got, "null") {
		t.Errorf("ls /systems/web/root/tmp = %q; want /dev's files", got)
	}
	for _, bad := range []string{"mount ramfs.1 /\nbind\n", "mount nosuch.7 /x\n"} {
		err := write("/systems/web/ns", bad)
		if err == nil {
			t.Errorf("write %q to /systems/web/ns = nil; want an error", bad)
		}
		if got := treeRead(t, tree, "/systems/web/ns"); got != text {
			t.Errorf("/systems/web/ns after the bad write %q =\n%s\nwant it unchanged", bad, got)
		}
	}
	if err := write("/systems/web/ns", "mount ramfs.1 /\nbind\n"); err == nil || !strings.Contains(err.Error(), "/systems/web/ns:2:") {
		t.Errorf("write of a bad line 2 = %v; want its position, /systems/web/ns:2:...", err)
	}
	reg.DefineSandbox(rules(t, "jail", []string{"/tmp"}, nil, nil, "none", nil))
	if err := reg.Clone(ctx, "web", "jailed", "jail"); err != nil {
		t.Fatal(err)
	}
	if err := write("/systems/jailed/ns", "bind / /tmp\n"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("write /systems/jailed/ns = %v; want permission denied", err)
	}
}
