package ninep

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"testing"

	"loom/components/ramfs"
	"loom/ns"
	"loom/ns/nstest"
)

// serveTCP serves fsys on loopback TCP and returns its dial string.
func serveTCP(t *testing.T, fsys ns.FS, opts ...Option) string {
	t.Helper()
	l, err := ListenSecure("tcp!127.0.0.1!0", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewServer(fsys, opts...).Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); <-done })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return "tcp!127.0.0.1!" + port
}

// TestRedialConformance runs the seam's conformance suite over a
// Redial, plain and under TLS with the secret. (Each dialect's client
// passes it on its own in TestConformance; a Redial only wraps them.)
func TestRedialConformance(t *testing.T) {
	secret := []byte("a secret of some length")
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		r := NewRedial(serveTCP(t, ramfs.New(), AttachUser("loom")))
		defer r.Close()
		nstest.TestFS(t, r)
	})
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		addr, _ := serveGuarded(t, &Keys{Cert: selfSigned(t), Secret: secret})
		_, port, _ := net.SplitHostPort(addr)
		r := NewRedial("tls!127.0.0.1!"+port, WithKeys(&Keys{Secret: secret}))
		defer r.Close()
		nstest.TestFS(t, r)
	})
}

// TestRedialClose: after Close, every File answers ErrHungup and
// nothing dials again.
func TestRedialClose(t *testing.T) {
	r := NewRedial(serveTCP(t, ramfs.New()))
	ctx := context.Background()
	root, err := r.Attach(ctx, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	_, clone, err := root.Walk(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer clone.Clunk()
	r.Close()
	for _, f := range []ns.File{root, clone} {
		if _, err := f.Stat(ctx); !errors.Is(err, ErrHungup) || !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Stat after Close = %v; want ErrHungup", err)
		}
	}
	if _, err := r.Attach(ctx, "glenda", ""); !errors.Is(err, ErrHungup) {
		t.Errorf("Attach after Close = %v; want ErrHungup", err)
	}
}
