package system

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"loom/components/kinds"
	"loom/components/proc"
	"loom/components/ramfs"
	"loom/ns"
)

// snapFile reads the file p (from the tree's root) of the snapshot's
// component comp.
func snapFile(t *testing.T, sn *Snapshot, comp, p string) string {
	t.Helper()
	for _, c := range sn.Comps {
		if c.Name == comp {
			s, err := cat(c.FS, p)
			if err != nil {
				t.Fatalf("%s in %s of the snapshot: %v", p, comp, err)
			}
			return s
		}
	}
	t.Fatalf("snapshot has no component %s", comp)
	return ""
}

// overwrite writes data at the start of the file p in one request: the
// counters only grow longer, so no truncation (another request) is
// needed.
func overwrite(nsp ns.FS, p, data string) error {
	ctx := context.Background()
	f, err := openFile(ctx, nsp, p, ns.OWRITE)
	if err != nil {
		return err
	}
	defer f.Clunk()
	_, err = f.Write(ctx, []byte(data), 0)
	return err
}

// TestSnapshotConcurrentWriters takes snapshots while writers write a
// file in / (one tree) and then one in /tmp (another), each pair with
// the same counter: a snapshot at one moment shows, for each writer,
// /tmp's counter equal to /'s or one behind, never ahead.
func TestSnapshotConcurrentWriters(t *testing.T) {
	reg := New(User("glenda"))
	defer reg.Close()
	sys := mustNew(t, reg, "web")
	const writers, steps = 8, 400
	// Many files in / make its clone take a while, so that writers
	// waiting for it pile up and rush on when it ends, while the
	// snapshot goes on to /tmp.
	for i := range 2000 {
		if err := put(sys.NS, fmt.Sprintf("/f%d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	for w := range writers {
		for _, p := range []string{fmt.Sprintf("/a%d", w), fmt.Sprintf("/tmp/b%d", w)} {
			if err := put(sys.NS, p, "0"); err != nil {
				t.Fatal(err)
			}
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= steps; i++ {
				for _, p := range []string{fmt.Sprintf("/a%d", w), fmt.Sprintf("/tmp/b%d", w)} {
					if err := overwrite(sys.NS, p, strconv.Itoa(i)); err != nil {
						errc <- err
						return
					}
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	ctx := context.Background()
	for n := 0; ; n++ {
		select {
		case <-done:
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatal("no snapshot taken while the writers wrote")
			}
			return
		default:
		}
		sn, err := sys.Snapshot(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for w := range writers {
			a, _ := strconv.Atoi(snapFile(t, sn, "ramfs.1", fmt.Sprintf("a%d", w)))
			b, _ := strconv.Atoi(snapFile(t, sn, "ramfs.2", fmt.Sprintf("b%d", w)))
			if b != a && b != a-1 {
				t.Fatalf("snapshot %s: writer %d: /a = %d, /tmp/b = %d; want /tmp/b = /a or /a-1", sn.Name, w, a, b)
			}
		}
		sys.RemoveSnapshot(sn.Name)
	}
}

// TestRollback changes a system in every way a snapshot keeps, then
// rolls it back.
func TestRollback(t *testing.T) {
	reg, sys := webSystem(t)
	ctx := context.Background()
	text, _ := sys.Def.NS.Text()
	sn, err := sys.Snapshot(ctx, "before")
	if err != nil {
		t.Fatal(err)
	}
	// A File open across the snapshot and the rollback.
	f := mustOpen(t, ctx, sys.NS, "/tmp/a", ns.ORDWR)
	defer f.Clunk()
	if _, err := f.Write(ctx, []byte("through an open file"), 0); err != nil {
		t.Fatal(err)
	}
	if got := snapFile(t, sn, "ramfs.2", "a"); got != "was /tmp/a" {
		t.Errorf("the snapshot sees a later write: /tmp/a = %q", got)
	}
	for _, p := range []string{"/www/index", "/new"} {
		if err := write(sys.NS, p, "after"); err != nil {
			t.Fatal(err)
		}
	}
	if err := sys.NS.Unmount("", "/lib"); err != nil {
		t.Fatal(err)
	}
	sys.Def.Env.Vars.Set("site", "changed")
	sys.Def.Env.Vars.Set("extra", "1")
	sys.Def.Env.Srv.Remove("www")
	sys.Def.Env.Srv.PostAddr("elsewhere", "tcp!localhost!1")
	sys.Def.Env.Proc.KillAll()
	if _, err := sys.Def.Env.Proc.Start(ctx, []string{"sleep", "61"}, proc.StartOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := reg.Command(ctx, &bytes.Buffer{}, "web", []string{"rollback", "web", "to", "before"}); err != nil {
		t.Fatalf("rollback = %v", err)
	}
	for p, want := range map[string]string{"/tmp/a": "was /tmp/a", "/www/index": "hello", "/lib/index": "hello"} {
		if got, err := cat(sys.NS, p); err != nil || got != want {
			t.Errorf("cat %s after rollback = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := cat(sys.NS, "/new"); !errors.Is(err, ns.ErrNotExist) {
		t.Errorf("cat /new after rollback = %v; want ErrNotExist", err)
	}
	if got, _ := sys.Def.NS.Text(); !bytes.Equal(got, text) {
		t.Errorf("namespace after rollback:\n%s\nwant:\n%s", got, text)
	}
	env := sys.Def.Env.Vars.Environ()
	if !slices.Contains(env, "site=web") || slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, "extra=") }) {
		t.Errorf("environment after rollback = %q; want site=web and no extra", env)
	}
	if got := sys.Def.Env.Srv.Names(); !slices.Equal(got, []string{"www"}) {
		t.Errorf("srv after rollback = %q; want [www]", got)
	}
	var running []string
	for _, in := range sys.Def.Env.Proc.List() {
		if in.State != "Moribund" {
			running = append(running, in.Name+" "+strings.Join(in.Args, " "))
		}
	}
	if !slices.Equal(running, []string{"sleeper sleep 60"}) {
		t.Errorf("processes after rollback = %q; want [sleeper sleep 60]", running)
	}
	// The snapshot stays as it was, for another rollback.
	if err := write(sys.NS, "/tmp/a", "again"); err != nil {
		t.Fatal(err)
	}
	if got := snapFile(t, sn, "ramfs.2", "a"); got != "was /tmp/a" {
		t.Errorf("the snapshot sees a write after the rollback: /tmp/a = %q", got)
	}
	// A paused system rolls back too, and stays paused.
	if err := sys.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := sys.Rollback(ctx, "before"); err != nil {
		t.Fatalf("rollback of a paused system = %v", err)
	}
	if !sys.Paused() || !sys.Def.Env.Proc.Paused() {
		t.Errorf("after a rollback, paused = %v, processes paused = %v; want both", sys.Paused(), sys.Def.Env.Proc.Paused())
	}
	if err := sys.Resume(); err != nil {
		t.Fatal(err)
	}
	if got, err := cat(sys.NS, "/tmp/a"); err != nil || got != "was /tmp/a" {
		t.Errorf("cat /tmp/a after a rollback while paused = %q, %v", got, err)
	}
	if err := sys.Rollback(ctx, "nonesuch"); !errors.Is(err, ns.ErrNotExist) {
		t.Errorf("Rollback(nonesuch) = %v; want ErrNotExist", err)
	}
}

// TestRollbackConcurrentReaders rolls a system back to one snapshot
// after another, each with a counter of its own in a file in / (one
// tree) and in /tmp (another), while readers read /a, /tmp/b and /a
// again. The rollbacks go to ever higher counters, so a reader that
// finds /a the same twice saw one state all along, and must find /tmp/b
// the same too; and no read may fail, as one would in a namespace half
// rebuilt.
func TestRollbackConcurrentReaders(t *testing.T) {
	reg := New(User("glenda"))
	defer reg.Close()
	sys := mustNew(t, reg, "web")
	ctx := context.Background()
	const states, readers = 40, 4
	for k := 1; k <= states; k++ {
		for _, p := range []string{"/a", "/tmp/b"} {
			set := write
			if k == 1 {
				set = put
			}
			if err := set(sys.NS, p, strconv.Itoa(k)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := sys.Snapshot(ctx, fmt.Sprintf("s%d", k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sys.Rollback(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	read := func(p string) (int, error) {
		s, err := cat(sys.NS, p)
		if err != nil {
			return 0, fmt.Errorf("cat %s: %w", p, err)
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > states {
			return 0, fmt.Errorf("cat %s = %q; want a counter from 1 to %d", p, s, states)
		}
		return n, nil
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		checked int
		seen    = map[int]bool{}
	)
	errc := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				a1, err := read("/a")
				if err != nil {
					errc <- err
					return
				}
				b, err := read("/tmp/b")
				if err != nil {
					errc <- err
					return
				}
				a2, err := read("/a")
				if err != nil {
					errc <- err
					return
				}
				if a1 == a2 && b != a1 {
					errc <- fmt.Errorf("/a = %d, /tmp/b = %d, /a = %d; want /tmp/b = %d", a1, b, a2, a1)
					return
				}
				mu.Lock()
				seen[a1], seen[a2] = true, true
				if a1 == a2 {
					checked++
				}
				mu.Unlock()
			}
		}()
	}
	for k := 2; k <= states; k++ {
		if err := sys.Rollback(ctx, fmt.Sprintf("s%d", k)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // for the readers to read the state whole too
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("checked %d, seen %d", checked, len(seen))
	if checked == 0 || len(seen) < 2 {
		t.Errorf("the readers checked %d times and saw %d states; want some checks across several states", checked, len(seen))
	}
	for p, want := range map[string]string{"/a": strconv.Itoa(states), "/tmp/b": strconv.Itoa(states)} {
		if got, err := cat(sys.NS, p); err != nil || got != want {
			t.Errorf("cat %s after the last rollback = %q, %v; want %q", p, got, err, want)
		}
	}
}

// TestPause checks that a paused system holds requests and stops its
// processes, and that resume lets both go on.
func TestPause(t *testing.T) {
	reg := New(User("glenda"))
	defer reg.Close()
	sys := mustNew(t, reg, "web")
	ctx := context.Background()
	if err := put(sys.NS, "/tmp/f", "before"); err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(t.TempDir(), "count")
	script := `i=0; while :; do i=$((i+1)); echo $i > ` + count + `.new; mv ` + count + `.new ` + count + `; done`
	if _, err := sys.Def.Env.Proc.Start(ctx, []string{"/bin/sh", "-c", script}, proc.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	counted := func() int {
		b, _ := os.ReadFile(count)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	for counted() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	// A tree mounted after the system was made is behind the gate too,
	// from the next snapshot or pause on.
	if err := put(sys.NS, "/n/", ""); err != nil {
		t.Fatal(err)
	}
	n, _, err := sys.Resolve(ctx, "ramfs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.NS.Mount(n, "/n", ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	if err := put(sys.NS, "/n/f", "in n"); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Snapshot(ctx, ""); err != nil {
		t.Fatal(err)
	}
	nf := mustOpen(t, ctx, sys.NS, "/n/f", ns.OREAD)
	defer nf.Clunk()
	out := &bytes.Buffer{}
	if err := reg.Command(ctx, out, "other", []string{"pause", "web"}); err != nil {
		t.Fatalf("pause = %v", err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	rerr := make(chan error)
	go func() {
		_, err := nf.Read(rctx, make([]byte, 8), 0)
		rerr <- err
	}()
	rcancel()
	if err := <-rerr; !errors.Is(err, ns.ErrInterrupt) {
		t.Errorf("read of /n/f, open since before the pause, flushed = %v; want ErrInterrupt", err)
	}
	if !sys.Paused() {
		t.Fatal("Paused() = false after pause")
	}
	// A request held until its ctx ends fails so; had it gone through,
	// it would have read the file.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() {
		_, err := walk(cctx, sys.NS, "glenda", "/tmp/f")
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, ns.ErrInterrupt) {
		t.Errorf("walk while paused, flushed = %v; want ErrInterrupt", err)
	}
	// A write held is done once the system resumes.
	go func() { errc <- write(sys.NS, "/tmp/f", "written while paused") }()
	before := counted()
	time.Sleep(200 * time.Millisecond) // time to count, were it running
	if got := counted(); got != before {
		t.Errorf("count while paused went from %d to %d; want no change", before, got)
	}
	if err := reg.Command(ctx, out, "other", []string{"resume", "web"}); err != nil {
		t.Fatalf("resume = %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("write held across pause = %v", err)
	}
	if got, err := cat(sys.NS, "/tmp/f"); err != nil || got != "written while paused" {
		t.Errorf("cat /tmp/f after resume = %q, %v", got, err)
	}
	for counted() <= before {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSaveLoad saves a system and a snapshot of it, loads both into
// another registry, and compares.
func TestSaveLoad(t *testing.T) {
	reg, sys := webSystem(t)
	ctx := context.Background()
	big := strings.Repeat("0123456789", 30000)
	if err := put(sys.NS, "/tmp/big", big); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Snapshot(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := write(sys.NS, "/tmp/a", "after s1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := &bytes.Buffer{}
	for _, c := range [][]string{{"save", "web", dir + "/now"}, {"save", "web@s1", dir + "/s1"}} {
		if err := reg.Command(ctx, out, "web", c); err != nil {
			t.Fatalf("%q = %v", c, err)
		}
	}
	other := New(User("glenda"))
	defer other.Close()
	for _, tc := range []struct {
		file, as, a string
	}{{"now", "", "after s1"}, {"s1", "copy", "was /tmp/a"}} {
		args := []string{"load", dir + "/" + tc.file}
		if tc.as != "" {
			args = append(args, "as", tc.as)
		}
		if err := other.Command(ctx, out, "", args); err != nil {
			t.Fatalf("%q = %v", args, err)
		}
		name := tc.as
		if name == "" {
			name = "web"
		}
		got, err := other.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]string{"/tmp/a": tc.a, "/www/index": "hello", "/lib/index": "hello", "/secret/key": "was /secret/key"} {
			if s, err := cat(got.NS, p); err != nil || s != want {
				t.Errorf("%s: cat %s = %q, %v; want %q", name, p, s, err, want)
			}
		}
		if s, err := readAll(got.NS, "/tmp/big"); err != nil || s != big {
			t.Errorf("%s: /tmp/big differs (%d bytes, %v)", name, len(s), err)
		}
		wt, _ := sys.Def.NS.Text()
		if gt, _ := got.Def.NS.Text(); !bytes.Equal(gt, wt) {
			t.Errorf("%s: namespace:\n%s\nwant:\n%s", name, gt, wt)
		}
		if !slices.Contains(got.Def.Env.Vars.Environ(), "site=web") {
			t.Errorf("%s: environment lacks site=web", name)
		}
		if l, err := readAll(got.NS, "/log/httpd"); err != nil || !strings.Contains(l, " httpd started\n") {
			t.Errorf("%s: /log/httpd = %q, %v; want the line started", name, l, err)
		}
		if ps := procNames(got); !slices.Equal(ps, []string{"sleeper sleep 60"}) {
			t.Errorf("%s: processes = %q; want [sleeper sleep 60]", name, ps)
		}
	}
	wl, _ := readAll(sys.NS, "/log/httpd")
	gl, _ := readAll(mustGet(t, other, "web").NS, "/log/httpd")
	if wl != gl {
		t.Errorf("loaded log = %q; want the saved one's times and lines %q", gl, wl)
	}
	if err := other.Command(ctx, out, "", []string{"load", dir + "/now"}); !errors.Is(err, ErrExist) {
		t.Errorf("load of a name taken = %v; want ErrExist", err)
	}
}

// mustNew makes the system name in reg, failing the test if it cannot.
func mustNew(t *testing.T, reg *Systems, name string) *System {
	t.Helper()
	s, err := reg.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustGet(t *testing.T, reg *Systems, name string) *System {
	t.Helper()
	s, err := reg.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// image returns a small image, as bytes.
func image(t testing.TB) []byte {
	t.Helper()
	sn := &Snapshot{Name: "s", System: "web", Time: time.Unix(1700000000, 0), NS: []byte("mount -c ramfs.1 /\n"),
		View: []byte("bind -a /d /n\n"), Policy: Unrestricted(), Vars: []string{"a=1"}, Log: []LogLine{{time.Unix(1700000000, 0), "w", "line\n"}},
		Srv: []SrvEntry{{Name: "x", Addr: "tcp!h!1"}}, Procs: []proc.Def{{Name: "sleep", Args: []string{"sleep", "1"}, Env: []string{"PATH=/bin"}, Dir: "/tmp"}}}
	tree := ramfs.New()
	if err := put(tree, "/d/", ""); err != nil {
		t.Fatal(err)
	}
	if err := put(tree, "/d/f", "data of f"); err != nil {
		t.Fatal(err)
	}
	sn.Comps = append(sn.Comps, kindsComp("ramfs.1", "ramfs", tree))
	var b bytes.Buffer
	if err := WriteImage(&b, sn, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImageBad checks that truncated, bit-flipped and future-version
// images are refused, and that nothing of them is registered.
func TestImageBad(t *testing.T) {
	good := image(t)
	if _, err := decodeImage(bytes.NewReader(good), int64(len(good)), nil); err != nil {
		t.Fatalf("decode of a good image = %v", err)
	}
	dir := t.TempDir()
	reg := New(User("glenda"))
	defer reg.Close()
	try := func(what string, b []byte, want string) {
		t.Helper()
		f := filepath.Join(dir, "img")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := reg.Load(context.Background(), nil, f, "")
		if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), want) {
			t.Errorf("load of %s = %v; want ErrImage saying %q", what, err, want)
		}
		if l := reg.List(); len(l) != 0 {
			t.Fatalf("load of %s registered %q", what, l)
		}
	}
	for _, n := range []int{0, 5, len(imageMagic) + 4, len(good) / 2, len(good) - 33, len(good) - 1} {
		try(fmt.Sprintf("the first %d bytes", n), good[:n], "")
	}
	for i := 0; i < len(good); i += 7 {
		b := slices.Clone(good)
		b[i] ^= 0x10
		try(fmt.Sprintf("a bit flipped at %d", i), b, "")
	}
	future := slices.Clone(good)
	future[len(imageMagic)+3] = 2
	try("version 2", future, "version 2 is newer")
	try("a text file", []byte("mount -c ramfs.1 /\n"+strings.Repeat("x", 64)), "not a loom image")
}

// TestSnapshotsFS lists, reads and removes snapshots through the tree.
func TestSnapshotsFS(t *testing.T) {
	reg := New(User("glenda"))
	defer reg.Close()
	sys := mustNew(t, reg, "web")
	ctx := context.Background()
	out := &bytes.Buffer{}
	for _, c := range [][]string{{"snapshot"}, {"snapshot", "as", "named"}, {"snapshot", "web", "as", "other"}} {
		if err := reg.Command(ctx, out, "web", c); err != nil {
			t.Fatalf("%q = %v", c, err)
		}
	}
	if got, want := out.String(), "web@1\nweb@named\nweb@other\n"; got != want {
		t.Errorf("snapshot printed %q; want %q", got, want)
	}
	if err := reg.Command(ctx, out, "web", []string{"snapshot", "as", "named"}); !errors.Is(err, ns.ErrExist) {
		t.Errorf("snapshot as a name taken = %v; want ErrExist", err)
	}
	sfs := sys.SnapshotsFS()
	line, err := cat(sfs, "/named")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(line); len(f) != 2 || !strings.HasSuffix(line, "\n") {
		t.Errorf("cat named = %q; want a time and a size", line)
	} else if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
		t.Errorf("cat named: time %q: %v", f[0], err)
	}
	f, err := walk(ctx, sfs, "glenda", "/named")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.(ns.Remover).Remove(ctx); err != nil {
		t.Fatalf("remove named = %v", err)
	}
	f.Clunk()
	if got := sys.Snapshots(); !slices.Equal(got, []string{"1", "other"}) {
		t.Errorf("Snapshots() = %q; want [1 other]", got)
	}
	if sys.SnapshotsFS() != sfs {
		t.Errorf("SnapshotsFS() gives a new server at each call")
	}
}

// FuzzLoad feeds the loader arbitrary images: it must refuse or accept
// them without panicking or allocating by lengths it has not bounded.
// With fix set the checksum is made right, so that the decoding behind
// it is reached.
func FuzzLoad(f *testing.F) {
	good := image(f)
	f.Add(good, false)
	f.Add(good[:len(good)/2], true)
	f.Add(good[:len(good)-hashSize], true)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix && len(b) >= hashSize {
			sum := sha256Sum(b[:len(b)-hashSize])
			b = append(b[:len(b)-hashSize:len(b)-hashSize], sum...)
		}
		sn, err := decodeImage(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			if !errors.Is(err, ErrImage) {
				t.Fatalf("decode = %v; want an ErrImage", err)
			}
			return
		}
		// What decodes writes again to an image that decodes.
		var w bytes.Buffer
		if err := WriteImage(&w, sn, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := decodeImage(bytes.NewReader(w.Bytes()), int64(w.Len()), nil); err != nil {
			t.Fatalf("decode of a re-encoded image = %v", err)
		}
	})
}

func kindsComp(name, kind string, fsys ns.FS) kinds.Component {
	return kinds.Component{Name: name, Kind: kind, FS: fsys}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestImageRoundTrip writes a snapshot with every part filled in and
// reads it back.
func TestImageRoundTrip(t *testing.T) {
	pol, err := FromRules("offline", []string{"/tmp", "/env"}, []string{"/tmp"}, []string{"null"}, "none",
		map[string]int64{"memory": 256 << 20, "processes": 64})
	if err != nil {
		t.Fatal(err)
	}
	tree := ramfs.New()
	if err := put(tree, "/f", "data"); err != nil {
		t.Fatal(err)
	}
	want := &Snapshot{Name: "s", System: "web", Time: time.Unix(1700000000, 12345), NS: []byte("mount -c ramfs.1 /\nmount pipe.1 /n\n"),
		Policy: pol, Vars: []string{"a=1", "b=two words"},
		Log: []LogLine{{time.Unix(1700000000, 0).UTC(), "w", "line one\n"}, {time.Unix(1700000001, 0).UTC(), "v", "two\n"}},
		Srv: []SrvEntry{{Name: "x", Addr: "tcp!h!1"}, {Name: "local", Local: tree}},
		Procs: []proc.Def{{Name: "sleeper", Args: []string{"sleep", "1"}, Env: []string{"X=one", "PATH=/usr/bin:/bin"}, Dir: "/srv/www"},
			{Name: "bare", Args: []string{"true"}}},
		Comps: []kinds.Component{kindsComp("ramfs.1", "ramfs", tree), {Name: "pipe.1", Kind: "pipe", Args: []string{"-s", "1024"}}}}
	var b bytes.Buffer
	if err := WriteImage(&b, want, nil); err != nil {
		t.Fatal(err)
	}
	got, err := decodeImage(bytes.NewReader(b.Bytes()), int64(b.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != want.Name || got.System != want.System || !got.Time.Equal(want.Time) || !bytes.Equal(got.NS, want.NS) {
		t.Errorf("head = %q %q %v %q; want %q %q %v %q", got.Name, got.System, got.Time, got.NS, want.Name, want.System, want.Time, want.NS)
	}
	if got.Policy.String() != want.Policy.String() || got.Policy.Name != "offline" {
		t.Errorf("policy = %s %q; want %s %q", got.Policy.Name, got.Policy, want.Policy.Name, want.Policy)
	}
	if !slices.Equal(got.Vars, want.Vars) || !slices.Equal(got.Log, want.Log) {
		t.Errorf("vars, log = %q %v; want %q %v", got.Vars, got.Log, want.Vars, want.Log)
	}
	if len(got.Srv) != 1 || got.Srv[0] != want.Srv[0] {
		t.Errorf("srv = %v; want only the address %v (a local server is not saved)", got.Srv, want.Srv[0])
	}
	if !slices.EqualFunc(got.Procs, want.Procs, func(a, b proc.Def) bool {
		return a.Name == b.Name && a.Dir == b.Dir && slices.Equal(a.Args, b.Args) && slices.Equal(a.Env, b.Env)
	}) {
		t.Errorf("procs = %q; want %q", got.Procs, want.Procs)
	}
	if len(got.Comps) != 2 || got.Comps[1].Name != "pipe.1" || !slices.Equal(got.Comps[1].Args, []string{"-s", "1024"}) || got.Comps[1].FS != nil {
		t.Fatalf("comps = %v; want ramfs.1 and pipe.1 -s 1024", got.Comps)
	}
	if s, err := cat(got.Comps[0].FS, "/f"); err != nil || s != "data" {
		t.Errorf("ramfs.1 /f = %q, %v; want data", s, err)
	}
}

// TestGated checks that a server Gated wraps waits while the system is
// paused.
func TestGated(t *testing.T) {
	reg := New(User("glenda"))
	defer reg.Close()
	sys := mustNew(t, reg, "web")
	fsys := sys.Gated(ramfs.New())
	ctx := context.Background()
	if err := sys.Pause(); err != nil {
		t.Fatal(err)
	}
	defer sys.Resume()
	root, err := fsys.Attach(ctx, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() {
		_, err := root.Stat(cctx)
		errc <- err
	}()
	for sys.Held() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, ns.ErrInterrupt) {
		t.Errorf("Stat of a Gated server while paused, flushed = %v; want ErrInterrupt", err)
	}
}

// TestRollbackSandboxed checks that a sandboxed system's view follows a
// rollback: its read-only paths show the snapshot's files, and still
// refuse writes.
func TestRollbackSandboxed(t *testing.T) {
	reg, _ := webSystem(t)
	reg.DefineSandbox(rules(t, "offline", []string{"/tmp", "/lib"}, []string{"/lib"}, nil, "none", nil))
	ctx := context.Background()
	if err := reg.Clone(ctx, "web", "web2", "offline"); err != nil {
		t.Fatal(err)
	}
	web2, _ := reg.Get("web2")
	if _, err := web2.Snapshot(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	// Below the sandbox, where /lib is writable.
	if err := write(web2.Def.NS, "/lib/index", "changed"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cat(web2.NS, "/lib/index"); got != "changed" {
		t.Fatalf("cat /lib/index in the sandbox before rollback = %q; want changed", got)
	}
	if err := web2.Rollback(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got, err := cat(web2.NS, "/lib/index"); err != nil || got != "hello" {
		t.Errorf("cat /lib/index in the sandbox after rollback = %q, %v; want hello", got, err)
	}
	if err := write(web2.NS, "/lib/index", "defaced"); !errors.Is(err, ns.ErrPerm) {
		t.Errorf("write /lib/index in the sandbox after rollback = %v; want permission denied", err)
	}
	if _, err := cat(web2.NS, "/secret/key"); !errors.Is(err, ns.ErrNotExist) {
		t.Errorf("cat /secret/key in the sandbox after rollback = %v; want ErrNotExist", err)
	}
}

// TestRollbackView checks that a rollback of a sandboxed system makes
// its view what it was at the snapshot: the mounts and binds made in it
// then, over the trees as they were, and not those made since.
func TestRollbackView(t *testing.T) {
	_, w2 := viewSystem(t)
	ctx := context.Background()
	want, err := w2.NS.Text()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Snapshot(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := overwrite(w2.NS, "/n/x/file", "changed"); err != nil {
		t.Fatal(err)
	}
	if err := w2.NS.Unmount("", "/n/d"); err != nil {
		t.Fatal(err)
	}
	y, _, err := w2.Resolve(ctx, "ramfs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.NS.Mount(y, "/n", ns.MAFTER, ""); err != nil {
		t.Fatal(err)
	}
	if err := w2.Rollback(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	checkView(t, w2, "data")
	checkViewGated(t, w2)
	if got, err := w2.NS.Text(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("w2's view text after rollback =\n%s(%v); want as at the snapshot\n%s", got, err, want)
	}
}

// TestSaveLoadView checks that an image of a sandboxed system carries
// what was done in its view, and that the system loaded from it has it,
// in a ramfs of its own.
func TestSaveLoadView(t *testing.T) {
	reg, w2 := viewSystem(t)
	ctx := context.Background()
	f := filepath.Join(t.TempDir(), "w2.img")
	if err := reg.Save(ctx, nil, "w2", f); err != nil {
		t.Fatal(err)
	}
	sn, err := ReadImage(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "mount -c ramfs.3 /n/x\nbind /tmp/d /n/d\n"; string(sn.View) != want {
		t.Errorf("the image's view = %q; want %q", sn.View, want)
	}
	w5, err := reg.Load(ctx, nil, f, "w5")
	if err != nil {
		t.Fatal(err)
	}
	checkView(t, w5, "data")
	checkViewGated(t, w5)
	if err := overwrite(w5.NS, "/n/x/file", "w5's"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cat(w2.NS, "/n/x/file"); got != "data" {
		t.Errorf("cat /n/x/file in w2 after w5 wrote it = %q; want data", got)
	}
	want, _ := w2.NS.Text()
	if got, _ := w5.NS.Text(); !bytes.Equal(got, want) {
		t.Errorf("w5's view text =\n%s; want w2's\n%s", got, want)
	}
}

// TestImageViewBad checks that an image whose view holds more than
// binds and mounts, or names a component otherwise than KIND.N (as the
// policy's own servers are named), is refused.
func TestImageViewBad(t *testing.T) {
	for _, tc := range []struct {
		view, comp, want string
	}{
		{"unmount /n\n", "ramfs.1", "only binds and mounts"},
		{"bind /a\n", "ramfs.1", "view"},
		{"", "sandbox", "not named ramfs.N"},
		{"", "ramfs.01", "not named ramfs.N"},
		{"", "ramfs.x", "not named ramfs.N"},
	} {
		sn := &Snapshot{NS: []byte("mount -c " + tc.comp + " /\n"), View: []byte(tc.view), Policy: Unrestricted(),
			Comps: []kinds.Component{kindsComp(tc.comp, "ramfs", ramfs.New())}}
		var b bytes.Buffer
		if err := WriteImage(&b, sn, nil); err != nil {
			t.Fatal(err)
		}
		_, err := decodeImage(bytes.NewReader(b.Bytes()), int64(b.Len()), nil)
		if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decode of view %q, component %s = %v; want ErrImage saying %q", tc.view, tc.comp, err, tc.want)
		}
	}
	for _, name := range []string{sandboxServer, readonlyServer} {
		if _, ok := kinds.Lookup(name); ok {
			t.Errorf("kinds.Lookup(%q) finds a kind; want none: a policy's view reserves the name", name)
		}
	}
}
