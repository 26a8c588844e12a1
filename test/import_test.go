package test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
)

// The import's fault tests: whatever the remote does, a Redial answers
// within a bounded time, and comes back when the remote does.

// never is how long a test waits for what must come much sooner before
// it calls the wait a hang; it is a guard, not a measure.
const never = 20 * time.Second

// heldFS is a file server whose reads wait while it is held: a remote
// that has stopped answering.
type heldFS struct {
	ns.FS
	mu      sync.Mutex
	held    chan struct{} // closed on release; nil when not held
	reading chan struct{} // a read has begun waiting
}

func newHeldFS(t testing.TB, files map[string]string) *heldFS {
	t.Helper()
	r := ramfs.New()
	ctx := context.Background()
	root, err := r.Attach(ctx, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	for name, data := range files {
		f, _, err := root.(ns.Creater).Create(ctx, name, 0o666, ns.OWRITE)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(ctx, []byte(data), 0)
		f.Clunk()
	}
	return &heldFS{FS: r, reading: make(chan struct{}, 100)}
}

func (h *heldFS) hold() {
	h.mu.Lock()
	h.held = make(chan struct{})
	h.mu.Unlock()
}

func (h *heldFS) release() {
	h.mu.Lock()
	if h.held != nil {
		close(h.held)
		h.held = nil
	}
	h.mu.Unlock()
}

func (h *heldFS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	f, err := h.FS.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return &heldFile{File: f, h: h}, nil
}

type heldFile struct {
	ns.File
	h *heldFS
}

func (f *heldFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	q, nf, err := f.File.Walk(ctx, names)
	if nf != nil {
		nf = &heldFile{File: nf, h: f.h}
	}
	return q, nf, err
}

func (f *heldFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	f.h.mu.Lock()
	held := f.h.held
	f.h.mu.Unlock()
	if held != nil {
		f.h.reading <- struct{}{}
		select {
		case <-held:
		case <-ctx.Done():
			return 0, ns.ErrInterrupt
		}
	}
	return f.File.Read(ctx, p, off)
}

// remote serves fs on TCP loopback at port ("0": any) until stopped.
type remote struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func startRemote(t testing.TB, fsys ns.FS, port string) *remote {
	t.Helper()
	var l net.Listener
	var err error
	for range 50 { // a port just let go of may take a moment to be free
		if l, err = ninep.ListenSecure("tcp!127.0.0.1!"+port, nil); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ListenSecure = %v", err)
	}
	_, p, _ := net.SplitHostPort(l.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	r := &remote{addr: "tcp!127.0.0.1!" + p, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		ninep.NewServer(fsys).Serve(ctx, l)
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *remote) port() string { return r.addr[strings.LastIndex(r.addr, "!")+1:] }

func (r *remote) stop() {
	r.cancel()
	<-r.done
}

// within runs fn and fails the test if it has not returned by never.
func within[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(never):
		t.Fatalf("%s: no answer in %v", what, never)
		panic("unreachable")
	}
}

// importNS mounts a Redial of addr on /n of a fresh namespace.
func importNS(t *testing.T, addr string, opts ...ninep.RedialOption) (*ns.Namespace, *ninep.Redial) {
	t.Helper()
	n := ns.New("glenda")
	if err := n.Mount(ramfs.New(), "/", ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	root, err := n.Attach(context.Background(), "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := root.(ns.Creater).Create(context.Background(), "n", ns.DMDIR|0o777, ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	d.Clunk()
	root.Clunk()
	r := ninep.NewRedial(addr, opts...)
	t.Cleanup(func() { r.Close() })
	if err := n.Mount(r, "/n", ns.MREPL, ""); err != nil {
		t.Fatalf("Mount(Redial %s) = %v", addr, err)
	}
	return n, r
}

// openPath opens the file p of n for reading.
func openPath(tb testing.TB, n ns.FS, p string) ns.File {
	tb.Helper()
	ctx := context.Background()
	root, err := n.Attach(ctx, "glenda", "")
	if err != nil {
		tb.Fatal(err)
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		tb.Fatalf("walk %s = %v", p, err)
	}
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		tb.Fatalf("open %s = %v", p, err)
	}
	return f
}

type readResult struct {
	n   int
	err error
}

// TestImportRemoteKilled: the remote goes away while a read waits on it;
// the read fails, the file answers "remote hung up; reopen", and once
// the remote is back the next walk through the mount point reaches it.
func TestImportRemoteKilled(t *testing.T) {
	for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
		t.Run(dialect, func(t *testing.T) {
			h := newHeldFS(t, map[string]string{"f": "hello"})
			rem := startRemote(t, h, "0")
			n, _ := importNS(t, rem.addr, ninep.WithDial(ninep.Dialect(dialect)), ninep.IOTimeout(never))
			if got, err := nsRead(context.Background(), n, "/n/f"); got != "hello" || err != nil {
				t.Fatalf("read /n/f = %q, %v; want hello", got, err)
			}
			f := openPath(t, n, "/n/f")
			defer f.Clunk()
			h.hold()
			res := make(chan readResult, 1)
			go func() {
				n, err := f.Read(context.Background(), make([]byte, 10), 0)
				res <- readResult{n, err}
			}()
			<-h.reading
			rem.stop() // mid-read
			r := within(t, "read while the remote dies", func() readResult { return <-res })
			if r.err == nil {
				t.Errorf("read while the remote dies = %d, nil; want an error", r.n)
			}
			h.release()
			if _, err := f.Read(context.Background(), make([]byte, 10), 0); !errors.Is(err, fs.ErrClosed) || err.Error() != "remote hung up; reopen" {
				t.Errorf("read of the dead connection's file = %v; want %q", err, "remote hung up; reopen")
			}
			// Gone: the next walk fails at once rather than waiting.
			gone := within(t, "read with the remote gone", func() readResult {
				_, err := nsRead(context.Background(), n, "/n/f")
				return readResult{0, err}
			})
			if gone.err == nil {
				t.Errorf("read /n/f with the remote gone = nil; want an error")
			}
			startRemote(t, h, rem.port())
			if got, err := nsRead(context.Background(), n, "/n/f"); got != "hello" || err != nil {
				t.Errorf("read /n/f with the remote back = %q, %v; want hello", got, err)
			}
		})
	}
}

// TestImportSlowRemote: a remote that stops answering makes a read fail
// with ErrTimedOut after the IO timeout; once it answers again, the
// import works again.
func TestImportSlowRemote(t *testing.T) {
	for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
		t.Run(dialect, func(t *testing.T) {
			h := newHeldFS(t, map[string]string{"f": "hello"})
			rem := startRemote(t, h, "0")
			n, _ := importNS(t, rem.addr, ninep.WithDial(ninep.Dialect(dialect)), ninep.IOTimeout(200*time.Millisecond))
			h.hold()
			held := within(t, "read of a held remote", func() readResult {
				_, err := nsRead(context.Background(), n, "/n/f")
				return readResult{0, err}
			})
			if !errors.Is(held.err, ninep.ErrTimedOut) {
				t.Errorf("read of a held remote = %v; want ErrTimedOut", held.err)
			}
			h.release()
			if got, err := nsRead(context.Background(), n, "/n/f"); got != "hello" || err != nil {
				t.Errorf("read /n/f answered again = %q, %v; want hello", got, err)
			}
		})
	}
}

// TestImportRefusedDial: an import of nothing fails within the dial
// timeout, whether the port is closed or the address never answers.
func TestImportRefusedDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, addr := range []string{"tcp!127.0.0.1!1", "tcp!127.0.0.1!" + port} {
		r := ninep.NewRedial(addr, ninep.WithDial(ninep.DialTimeout(300*time.Millisecond)))
		err := within(t, "attach "+addr, func() error {
			_, err := r.Attach(context.Background(), "glenda", "")
			return err
		})
		if err == nil {
			t.Errorf("Attach(%s) = nil; want an error", addr)
		}
		r.Close()
	}
}

// TestServeKeys: loom serve with its credentials given by flags alone
// (none in the environment) says its TLS listener in TLS's dial form,
// and its exports use the same credentials: a client proving itself to
// those keys reads an exported system's file.
func TestServeKeys(t *testing.T) {
	bin := tourBuild(t)
	p := newPKI(t)
	secret := writeSecret(t, p.dir, "serve keys secret")
	srvCert, srvKey := p.valid(t, "server", "127.0.0.1")
	cliCert, cliKey := p.valid(t, "client", "127.0.0.1")
	cli := loadKeys(t, cliCert, cliKey, p.CAFile, secret)

	cmd := exec.Command(bin, "serve", "-listen", "tls!127.0.0.1!0",
		"-tlscert", srvCert, "-tlskey", srvKey, "-tlsca", p.CAFile, "-secret", secret)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LOOM_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	addr := startServing(t, cmd)
	if !strings.HasPrefix(addr, "tls!127.0.0.1!") {
		t.Fatalf("loom serve says it serves on %q; want tls!127.0.0.1!PORT", addr)
	}

	ctx := context.Background()
	tree, err := ninep.DialSecure(ctx, addr, cli)
	if err != nil {
		t.Fatalf("DialSecure(%s) = %v", addr, err)
	}
	defer tree.Close()
	ctl := func(p, script string) string {
		t.Helper()
		root, err := tree.Attach(ctx, "glenda", "")
		if err != nil {
			t.Fatal(err)
		}
		defer root.Clunk()
		f, err := ns.WalkPath(ctx, root, p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Clunk()
		if _, err := f.Open(ctx, ns.ORDWR); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(ctx, []byte(script), 0); err != nil {
			t.Fatalf("write %q to %s: %v", script, p, err)
		}
		b, err := ns.ReadAll(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ctl("/systems/loom/ctl", "echo exported > /tmp/motd\n")
	got := ctl("/ctl", "export loom tls!127.0.0.1!0\n")
	f := strings.Fields(got)
	if len(f) != 3 || f[0] != "export" || !strings.HasPrefix(f[2], "tls!127.0.0.1!") {
		t.Fatalf("export loom tls!127.0.0.1!0 printed %q; want export loom tls!127.0.0.1!PORT", got)
	}
	exp, err := ninep.DialSecure(ctx, f[2], cli)
	if err != nil {
		t.Fatalf("DialSecure(%s), the export = %v", f[2], err)
	}
	defer exp.Close()
	if got, err := nsRead(context.Background(), exp, "/tmp/motd"); err != nil || got != "exported\n" {
		t.Errorf("read /tmp/motd of the export = %q, %v; want exported", got, err)
	}
}

// TestImportServerProcessKilled: the remote is a real loom serve, killed
// with SIGKILL while a read through the import waits on one of its
// pipes; the read fails within the guard, and once a new server listens
// at the same address the import reaches it on the next use.
func TestImportServerProcessKilled(t *testing.T) {
	bin := tourBuild(t)
	sock := "unix!" + t.TempDir() + "/loom.sock"
	serve := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "-listen", sock)
		startServing(t, cmd)
		return cmd
	}
	first := serve()
	n, _ := importNS(t, sock, ninep.IOTimeout(never))
	ctl := "/n/systems/loom/ctl"
	if err := writePath(n, ctl, "mkdir -p /n/p\nmount pipe /n/p\n"); err != nil {
		t.Fatalf("write %s = %v", ctl, err)
	}
	f := openPath(t, n, "/n/systems/loom/root/n/p/data1")
	defer f.Clunk()
	res := make(chan readResult, 1)
	go func() {
		n, err := f.Read(context.Background(), make([]byte, 10), 0)
		res <- readResult{n, err}
	}()
	select {
	case r := <-res:
		t.Fatalf("read of an empty pipe = %d, %v before the kill; want it to wait", r.n, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	first.Process.Kill() // mid-read
	r := within(t, "read while the server is killed", func() readResult { return <-res })
	if r.err == nil {
		t.Errorf("read while the server is killed = %d, nil; want an error", r.n)
	}
	serve()
	if got, err := nsRead(context.Background(), n, "/n/systems/loom/root/dev/user"); err != nil || got == "" {
		t.Errorf("read through the import with a new server = %q, %v; want the server's user", got, err)
	}
}

// writePath writes data to the file p of n.
func writePath(n ns.FS, p, data string) error {
	ctx := context.Background()
	return useFile(ctx, n, "glenda", p, ns.OWRITE, func(f ns.File) error {
		_, err := f.Write(ctx, []byte(data), 0)
		return err
	})
}
