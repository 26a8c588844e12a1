package ninep_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
	"loom/ns/nstest"
)

var clDialects = []string{ninep.Dialect9P2000, ninep.Dialect9P2000L}

// serve starts a server of fsys listening on network ("unix" or "tcp"),
// stopped when the test ends, and returns its address in dial form.
func clServe(t *testing.T, network string, fsys ns.FS, opts ...ninep.Option) string {
	t.Helper()
	var addr string
	switch network {
	case "unix":
		addr = "unix!" + filepath.Join(t.TempDir(), "9p")
	case "tcp":
		addr = "tcp!127.0.0.1!0"
	}
	l, err := ninep.Listen(addr)
	if err != nil {
		t.Fatalf("Listen(%q) = %v", addr, err)
	}
	if network == "tcp" {
		addr = "tcp!127.0.0.1!" + clPort(l.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := ninep.NewServer(fsys, opts...)
	go func() {
		defer close(done)
		srv.Serve(ctx, l)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return addr
}

func clPort(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

func clDial(t *testing.T, addr string, opts ...ninep.DialOption) *ninep.Client {
	t.Helper()
	c, err := ninep.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("Dial(%q) = %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func clAttach(t *testing.T, c *ninep.Client, user string) ns.File {
	t.Helper()
	root, err := c.Attach(context.Background(), user, "")
	if err != nil {
		t.Fatalf("Attach(%q) = %v", user, err)
	}
	t.Cleanup(func() { root.Clunk() })
	return root
}

func clWalk(t *testing.T, f ns.File, names ...string) ns.File {
	t.Helper()
	qids, nf, err := f.Walk(context.Background(), names)
	if err != nil || nf == nil {
		t.Fatalf("Walk(%q) = %v, %v, %v", names, qids, nf, err)
	}
	return nf
}

func clCreate(t *testing.T, dir ns.File, name string, perm ns.Perm, mode uint8) ns.File {
	t.Helper()
	f, _, err := dir.(ns.Creater).Create(context.Background(), name, perm, mode)
	if err != nil {
		t.Fatalf("Create(%q, %v) = %v", name, perm, err)
	}
	return f
}

// put makes the file name in dir hold data.
func clPut(t *testing.T, dir ns.File, name, data string) {
	t.Helper()
	if err := clPutErr(dir, name, data); err != nil {
		t.Fatal(err)
	}
}

func clPutErr(dir ns.File, name, data string) error {
	ctx := context.Background()
	f, _, err := dir.(ns.Creater).Create(ctx, name, 0666, ns.OWRITE)
	if err != nil {
		return fmt.Errorf("Create(%q) = %w", name, err)
	}
	defer f.Clunk()
	if n, err := f.Write(ctx, []byte(data), 0); n != len(data) || err != nil {
		return fmt.Errorf("Write(%q) = %d, %v", name, n, err)
	}
	return nil
}

// get reads the file at names from root whole.
func clGet(t *testing.T, root ns.File, names ...string) string {
	t.Helper()
	s, err := clGetErr(root, names...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clGetErr(root ns.File, names ...string) (string, error) {
	ctx := context.Background()
	_, f, err := root.Walk(ctx, names)
	if err != nil || f == nil {
		return "", fmt.Errorf("Walk(%q) = %v, %v", names, f, err)
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return "", fmt.Errorf("Open(%q) = %w", names, err)
	}
	var b bytes.Buffer
	buf := make([]byte, 7) // small, to read in several messages
	for {
		n, err := f.Read(ctx, buf, int64(b.Len()))
		if err != nil {
			return "", fmt.Errorf("Read(%q) = %w", names, err)
		}
		if n == 0 {
			return b.String(), nil
		}
		b.Write(buf[:n])
	}
}

func clList(t *testing.T, root ns.File, names ...string) []string {
	t.Helper()
	ctx := context.Background()
	d := clWalk(t, root, names...)
	defer d.Clunk()
	if _, err := d.Open(ctx, ns.OREAD); err != nil {
		t.Fatalf("Open(%q) = %v", names, err)
	}
	var out []string
	for {
		ds, err := d.ReadDir(ctx, len(out), 2)
		if err != nil {
			t.Fatalf("ReadDir(%q, %d) = %v", names, len(out), err)
		}
		if len(ds) == 0 {
			break
		}
		for _, e := range ds {
			out = append(out, e.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestClient runs each client over each kind of socket against a server
// of a ramfs, through the whole life of a file.
func TestClient(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		for _, dialect := range clDialects {
			t.Run(network+"/"+dialect, func(t *testing.T) {
				addr := clServe(t, network, ramfs.New())
				c := clDial(t, addr, ninep.Dialect(dialect))
				if got := c.Dialect(); got != dialect {
					t.Errorf("Dialect() = %q; want %q", got, dialect)
				}
				clLife(t, clAttach(t, c, "glenda"))
			})
		}
	}
}

func clLife(t *testing.T, root ns.File) {
	ctx := context.Background()

	if _, _, err := root.Walk(ctx, []string{"nonesuch"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk(nonesuch) = %v; want fs.ErrNotExist", err)
	}

	d := clCreate(t, root, "d", ns.DMDIR|0755, ns.OREAD)
	if dd, err := d.Stat(ctx); err != nil || !dd.Mode.IsDir() || dd.Name != "d" {
		t.Errorf("Stat(d) = %v, %v; want a directory d", dd, err)
	}
	d.Clunk()

	f := clCreate(t, clWalk(t, root, "d"), "f", 0644, ns.ORDWR)
	if n, err := f.Write(ctx, []byte("hello, world"), 0); n != 12 || err != nil {
		t.Errorf("Write = %d, %v; want 12, nil", n, err)
	}
	buf := make([]byte, 100)
	if n, err := f.Read(ctx, buf, 7); err != nil || string(buf[:n]) != "world" {
		t.Errorf("Read(7) = %q, %v; want world", buf[:n], err)
	}
	if n, err := f.Read(ctx, buf, 12); n != 0 || err != nil {
		t.Errorf("Read at end = %d, %v; want 0, nil", n, err)
	}
	if fd, err := f.Stat(ctx); err != nil || fd.Length != 12 || fd.Name != "f" || fd.Mode.IsDir() {
		t.Errorf("Stat(f) = %v, %v; want f of length 12", fd, err)
	}
	f.Clunk()

	if got, want := clGet(t, root, "d", "f"), "hello, world"; got != want {
		t.Errorf("read d/f = %q; want %q", got, want)
	}
	if got, want := clList(t, root), []string{"d"}; !slices.Equal(got, want) {
		t.Errorf("ReadDir(/) = %q; want %q", got, want)
	}
	for _, name := range []string{"a", "b", "c", "e"} {
		clPut(t, clWalk(t, root, "d"), name, name)
	}
	if got, want := clList(t, root, "d"), []string{"a", "b", "c", "e", "f"}; !slices.Equal(got, want) {
		t.Errorf("ReadDir(d) = %q; want %q", got, want)
	}

	// Going back in a directory starts it again from the top.
	dir := clWalk(t, root, "d")
	if _, err := dir.Open(ctx, ns.OREAD); err != nil {
		t.Fatalf("Open(d) = %v", err)
	}
	var all []string
	ents, err := dir.ReadDir(ctx, 0, 100)
	for _, e := range ents {
		all = append(all, e.Name)
	}
	if err != nil || len(all) != 5 {
		t.Fatalf("ReadDir(d, 0, 100) = %q, %v; want 5 names", all, err)
	}
	for _, index := range []int{0, 3, 1, 0, 4, 2} {
		ds, err := dir.ReadDir(ctx, index, 1)
		if err != nil || len(ds) != 1 || ds[0].Name != all[index] {
			t.Errorf("ReadDir(%d, 1) = %v, %v; want %s", index, ds, err, all[index])
		}
	}
	if ds, err := dir.ReadDir(ctx, len(all), 1); err != nil || len(ds) != 0 {
		t.Errorf("ReadDir(%d, 1) = %v, %v; want the end", len(all), ds, err)
	}
	dir.Clunk()

	// Walks of several names give a qid for each.
	qids, nf, err := root.Walk(ctx, []string{"d", "f"})
	if err != nil || nf == nil || len(qids) != 2 || !qids[0].IsDir() || qids[1].IsDir() {
		t.Errorf("Walk(d, f) = %v, %v, %v; want a dir's and a file's qids", qids, nf, err)
	}
	if nf != nil {
		nf.Clunk()
	}
	qids, nf, err = root.Walk(ctx, []string{"d", "nonesuch", "x"})
	if err != nil || nf != nil || len(qids) != 1 || !qids[0].IsDir() {
		t.Errorf("Walk(d, nonesuch, x) = %v, %v, %v; want one qid, no file, no error", qids, nf, err)
	}
	rootDir, err := root.Stat(ctx)
	if err != nil {
		t.Fatalf("Stat(/) = %v", err)
	}
	qids, nf, err = root.Walk(ctx, []string{"d", "..", "d", "f"})
	if err != nil || nf == nil || len(qids) != 4 || qids[1].Path != rootDir.Qid.Path || qids[2].Path != qids[0].Path || qids[3].IsDir() {
		t.Errorf("Walk(d, .., d, f) = %v, %v, %v; want four qids and a file", qids, nf, err)
	}
	if nf != nil {
		nf.Clunk()
	}
	rq, up, err := clWalk(t, root, "d").Walk(ctx, []string{".."})
	if err != nil || up == nil || len(rq) != 1 || rq[0].Path != rootDir.Qid.Path {
		t.Errorf("Walk(d/..) = %v, %v, %v; want the root", rq, up, err)
	}
	if up != nil {
		if ud, err := up.Stat(ctx); err != nil || !ud.Mode.IsDir() {
			t.Errorf("Stat(d/..) = %v, %v; want the root", ud, err)
		}
		up.Clunk()
	}

	// Wstat renames and truncates.
	nd := ns.NullDir()
	nd.Name = "g"
	g := clWalk(t, root, "d", "f")
	if err := g.(ns.Wstater).Wstat(ctx, nd); err != nil {
		t.Errorf("Wstat(name g) = %v", err)
	}
	if _, _, err := root.Walk(ctx, []string{"d", "f"}); err != nil {
		t.Errorf("Walk(d, f) after rename = %v; want a partial walk", err)
	}
	nd = ns.NullDir()
	nd.Length = 5
	if err := g.(ns.Wstater).Wstat(ctx, nd); err != nil {
		t.Errorf("Wstat(length 5) = %v", err)
	}
	if got, want := clGet(t, root, "d", "g"), "hello"; got != want {
		t.Errorf("read d/g after truncation = %q; want %q", got, want)
	}
	if gd, err := g.Stat(ctx); err != nil || gd.Name != "g" || gd.Length != 5 {
		t.Errorf("Stat(d/g) = %v, %v; want g of length 5", gd, err)
	}

	// Remove, and the name is gone.
	if err := g.(ns.Remover).Remove(ctx); err != nil {
		t.Errorf("Remove(d/g) = %v", err)
	}
	g.Clunk()
	if _, _, err := clWalk(t, root, "d").Walk(ctx, []string{"g"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk(g) after Remove = %v; want fs.ErrNotExist", err)
	}
	if got, want := clList(t, root, "d"), []string{"a", "b", "c", "e"}; !slices.Equal(got, want) {
		t.Errorf("ReadDir(d) = %q; want %q", got, want)
	}

	// Errors keep their meaning over the wire.
	_, _, err = clWalk(t, root).(ns.Creater).Create(ctx, "d", ns.DMDIR|0755, ns.OREAD)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create(d) again = %v; want fs.ErrExist", err)
	}
	dd := clWalk(t, root, "d")
	if err := dd.(ns.Remover).Remove(ctx); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Remove(d) = %v; want %v", err, ns.ErrNotEmpty)
	}
	dd.Clunk()
}

// TestSharedState has both clDialects share one listener: what one writes
// the other reads.
func TestSharedState(t *testing.T) {
	addr := clServe(t, "unix", ramfs.New(), ninep.AttachUser("glenda"))
	r9 := clAttach(t, clDial(t, addr), "glenda")
	rl := clAttach(t, clDial(t, addr, ninep.Dialect(ninep.Dialect9P2000L)), "glenda")

	clPut(t, rl, "fromL", "written through 9P2000.L")
	if got, want := clGet(t, r9, "fromL"), "written through 9P2000.L"; got != want {
		t.Errorf("9P2000 read of fromL = %q; want %q", got, want)
	}
	clPut(t, r9, "from9", "written through 9P2000")
	if got, want := clGet(t, rl, "from9"), "written through 9P2000"; got != want {
		t.Errorf("9P2000.L read of from9 = %q; want %q", got, want)
	}
	want := []string{"from9", "fromL"}
	if got := clList(t, r9); !slices.Equal(got, want) {
		t.Errorf("9P2000 ReadDir(/) = %q; want %q", got, want)
	}
	if got := clList(t, rl); !slices.Equal(got, want) {
		t.Errorf("9P2000.L ReadDir(/) = %q; want %q", got, want)
	}
}

// TestConformance runs the seam's conformance suite over each client:
// both server engines and both clients at once.
func TestConformance(t *testing.T) {
	for _, dialect := range clDialects {
		t.Run(dialect, func(t *testing.T) {
			// fstest reads every file a byte at a time, a round trip
			// each: the dialects share the wait.
			t.Parallel()
			addr := clServe(t, "unix", ramfs.New(), ninep.AttachUser("loom"))
			nstest.TestFS(t, clDial(t, addr, ninep.Dialect(dialect)))
		})
	}
}

// TestConcurrentClients has several goroutines use one client at once.
func TestConcurrentClients(t *testing.T) {
	for _, dialect := range clDialects {
		t.Run(dialect, func(t *testing.T) {
			addr := clServe(t, "tcp", ramfs.New())
			c := clDial(t, addr, ninep.Dialect(dialect))
			root := clAttach(t, c, "glenda")
			var wg sync.WaitGroup
			for i := range 8 {
				name := string(rune('a' + i))
				wg.Go(func() {
					r, err := c.Attach(context.Background(), "glenda", "")
					if err != nil {
						t.Errorf("Attach = %v", err)
						return
					}
					defer r.Clunk()
					data := strings.Repeat(name, 1000*(i+1))
					if err := clPutErr(r, name, data); err != nil {
						t.Error(err)
						return
					}
					if got, err := clGetErr(r, name); got != data || err != nil {
						t.Errorf("read %s = %d bytes, %v; want %d", name, len(got), err, len(data))
					}
				})
			}
			wg.Wait()
			if got := clList(t, root); len(got) != 8 {
				t.Errorf("ReadDir(/) = %q; want 8 files", got)
			}
		})
	}
}

// TestClientCancel checks that a cancelled ctx gives up waiting on a
// request the server does not answer, and that the client is still good.
func TestClientCancel(t *testing.T) {
	for _, dialect := range clDialects {
		t.Run(dialect, func(t *testing.T) {
			fsys := newTestFS()
			addr := clServe(t, "unix", fsys)
			root := clAttach(t, clDial(t, addr, ninep.Dialect(dialect)), "glenda")
			b := openTest(t, root, "block")
			ctx, cancel := context.WithCancel(context.Background())
			done := blockedRead(ctx, fsys, b)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Read with a cancelled ctx = %v; want ErrInterrupt", err)
			}
			if got := clGet(t, root, "data"); got != "data" {
				t.Errorf("read data after a cancel = %q; want data", got)
			}
			if _, err := b.Read(ctx, make([]byte, 10), 0); !errors.Is(err, context.Canceled) {
				t.Errorf("Read with a ctx cancelled before = %v; want ErrInterrupt", err)
			}
		})
	}
}

// TestClientClosed checks what a Client's files do once it has hung up.
func TestClientClosed(t *testing.T) {
	for _, dialect := range clDialects {
		t.Run(dialect, func(t *testing.T) {
			addr := clServe(t, "unix", ramfs.New())
			c := clDial(t, addr, ninep.Dialect(dialect))
			root := clAttach(t, c, "glenda")
			clPut(t, root, "f", "x")
			f := clWalk(t, root, "f")
			if err := c.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			if _, _, err := root.Walk(context.Background(), []string{"f"}); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("Walk after Close = %v; want fs.ErrClosed", err)
			}
			if _, err := f.Stat(context.Background()); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("Stat after Close = %v; want fs.ErrClosed", err)
			}
			f.Clunk()
			if _, err := c.Attach(context.Background(), "glenda", ""); err == nil {
				t.Errorf("Attach after Close = nil; want an error")
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	addr := clServe(t, "unix", ramfs.New())
	for _, tc := range []struct {
		addr string
		opts []ninep.DialOption
	}{
		{"nonsense", nil},
		{"unix!" + filepath.Join(t.TempDir(), "none"), nil},
		{addr, []ninep.DialOption{ninep.Dialect("9P2000.u")}},
	} {
		if c, err := ninep.Dial(tc.addr, tc.opts...); err == nil {
			c.Close()
			t.Errorf("Dial(%q) = nil error; want one", tc.addr)
		}
	}

	// A server that never answers the Tversion: DialTimeout bounds the
	// wait.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	silent := "tcp!127.0.0.1!" + clPort(l.Addr())
	for _, dialect := range clDialects {
		if c, err := ninep.Dial(silent, ninep.Dialect(dialect), ninep.DialTimeout(100*time.Millisecond)); err == nil {
			c.Close()
			t.Errorf("%s: Dial of a silent server = nil error; want a timeout", dialect)
		}
	}
}

// TestNewClient makes clients of connections made elsewhere: one end of
// a pipe served by ServeConn.
func TestNewClient(t *testing.T) {
	for _, dialect := range clDialects {
		t.Run(dialect, func(t *testing.T) {
			cs, cc := net.Pipe()
			srv := ninep.NewServer(ramfs.New())
			done := make(chan struct{})
			go func() {
				defer close(done)
				srv.ServeConn(context.Background(), cs)
			}()
			c, err := ninep.NewClient(cc, ninep.Dialect(dialect), ninep.DialMsize(8192))
			if err != nil {
				t.Fatalf("NewClient = %v", err)
			}
			root, err := c.Attach(context.Background(), "glenda", "")
			if err != nil {
				t.Fatalf("Attach = %v", err)
			}
			clPut(t, root, "f", strings.Repeat("x", 20000))
			if got := clGet(t, root, "f"); len(got) != 20000 {
				t.Errorf("read back %d bytes; want 20000", len(got))
			}
			root.Clunk()
			c.Close()
			<-done
		})
	}
}
