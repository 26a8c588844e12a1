package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"9fans.net/go/plan9/client"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
)

// pki is a certificate authority made for one test, and the files of the
// keys it signed: nothing that expires is ever committed.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string
	n      int
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "loom test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.CAFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	return p
}

func writePEM(t testing.TB, name, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue signs a key pair for name, valid from notBefore to notAfter, for
// the IP addresses ips (a server) or none (a client), and returns the
// files of its certificate and key.
func (p *pki) issue(t testing.TB, name string, notBefore, notAfter time.Time, ips ...string) (certFile, keyFile string) {
	t.Helper()
	p.n++
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(p.n + 1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, name+".pem")
	keyFile = filepath.Join(p.dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

// valid issues a key pair valid now.
func (p *pki) valid(t testing.TB, name string, ips ...string) (string, string) {
	return p.issue(t, name, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), ips...)
}

// writeSecret writes a secret file, mode 0600.
func writeSecret(t testing.TB, dir, secret string) string {
	t.Helper()
	name := filepath.Join(dir, "secret-"+secret[:4])
	if err := os.WriteFile(name, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func loadKeys(t testing.TB, cert, key, ca, secret string) *ninep.Keys {
	t.Helper()
	k, err := ninep.LoadKeys(cert, key, ca, secret)
	if err != nil {
		t.Fatalf("LoadKeys(%q, %q, %q, %q) = %v", cert, key, ca, secret, err)
	}
	return k
}

// countFS is a file server that counts its attaches: a refused client
// must leave it at zero.
type countFS struct {
	ns.FS
	attaches atomic.Int64
}

func (c *countFS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	c.attaches.Add(1)
	return c.FS.Attach(ctx, user, aname)
}

// serveSecure serves fs on a TLS listener of loopback guarded by k and
// returns its address.
func serveSecure(t testing.TB, fsys ns.FS, k *ninep.Keys) string {
	t.Helper()
	l, err := ninep.ListenSecure("tls!127.0.0.1!0", k)
	if err != nil {
		t.Fatalf("ListenSecure = %v", err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ninep.NewServer(fsys).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "tls!127.0.0.1!" + port
}

// authWorld is a server guarded by a CA and a secret, and the keys of
// every client the tests try.
type authWorld struct {
	fs   *countFS
	addr string // the server, demanding a client certificate or the secret
	keys map[string]*ninep.Keys
}

func newAuthWorld(t testing.TB) *authWorld {
	p := newPKI(t)
	srvCert, srvKey := p.valid(t, "server", "127.0.0.1")
	cliCert, cliKey := p.valid(t, "client")
	oldCert, oldKey := p.issue(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	rogue := newPKI(t)
	rogueCert, rogueKey := rogue.valid(t, "rogue")
	rogueSrvCert, rogueSrvKey := rogue.valid(t, "rogueserver", "127.0.0.1")
	secret := writeSecret(t, p.dir, "correct horse battery staple")
	wrong := writeSecret(t, p.dir, "incorrect horse battery staple")

	w := &authWorld{fs: &countFS{FS: ramfs.New()}, keys: map[string]*ninep.Keys{}}
	w.addr = serveSecure(t, w.fs, loadKeys(t, srvCert, srvKey, p.CAFile, secret))
	for name, k := range map[string][4]string{
		"cert":          {cliCert, cliKey, p.CAFile, ""},
		"secret":        {"", "", p.CAFile, secret},
		"secret-no-ca":  {"", "", "", secret},
		"no-key":        {"", "", p.CAFile, ""},
		"wrong-secret":  {"", "", p.CAFile, wrong},
		"wrong-key":     {rogueCert, rogueKey, p.CAFile, ""},
		"expired":       {oldCert, oldKey, p.CAFile, ""},
		"wrong-ca":      {cliCert, cliKey, rogue.CAFile, ""},
		"rogue-server":  {rogueSrvCert, rogueSrvKey, "", ""},
		"rogue-server2": {"", "", "", wrong},
	} {
		w.keys[name] = loadKeys(t, k[0], k[1], k[2], k[3])
	}
	return w
}

func TestAuthAccepted(t *testing.T) {
	w := newAuthWorld(t)
	for _, keys := range []string{"cert", "secret", "secret-no-ca"} {
		for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
			c, err := ninep.DialSecure(context.Background(), w.addr, w.keys[keys], ninep.Dialect(dialect))
			if err != nil {
				t.Errorf("DialSecure(%s, %s) = %v", keys, dialect, err)
				continue
			}
			name := "f-" + keys + "-" + strings.ReplaceAll(dialect, ".", "")
			if err := putGet(c, name, "hello "+name); err != nil {
				t.Errorf("%s %s: %v", keys, dialect, err)
			}
			c.Close()
		}
	}
	if n := w.fs.attaches.Load(); n == 0 {
		t.Errorf("attaches = 0; want some")
	}
}

// putGet writes data to a new file name through c and reads it back.
func putGet(c *ninep.Client, name, data string) error {
	ctx := context.Background()
	root, err := c.Attach(ctx, "glenda", "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	f, _, err := root.(ns.Creater).Create(ctx, name, 0o644, ns.ORDWR)
	if err != nil {
		return err
	}
	defer f.Clunk()
	if _, err := f.Write(ctx, []byte(data), 0); err != nil {
		return err
	}
	b := make([]byte, 100)
	n, err := f.Read(ctx, b, 0)
	if err != nil {
		return err
	}
	if string(b[:n]) != data {
		return errors.New("read " + string(b[:n]) + "; want " + data)
	}
	return nil
}

// TestAuthRefused tries the clients that must get nothing: each is
// refused, in the handshake or on attach, and the file server is never
// attached to.
func TestAuthRefused(t *testing.T) {
	w := newAuthWorld(t)
	for _, tc := range []struct {
		name string
		keys string
		want string // in the error
	}{
		{"no key", "no-key", "permission denied"},
		{"wrong secret", "wrong-secret", "authentication failed"},
		{"wrong key", "wrong-key", "tls"},
		{"expired certificate", "expired", "tls"},
		{"server not signed by the CA", "wrong-ca", "certificate"},
	} {
		for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
			ctx := context.Background()
			c, err := ninep.DialSecure(ctx, w.addr, w.keys[tc.keys], ninep.Dialect(dialect), ninep.DialTimeout(5*time.Second))
			if err == nil {
				_, err = c.Attach(ctx, "glenda", "")
				c.Close()
			}
			t.Logf("%s, %s: %v", tc.name, dialect, err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s, %s: DialSecure+Attach = %v; want an error with %q", tc.name, dialect, err, tc.want)
			}
			if tc.keys == "no-key" && !errors.Is(err, fs.ErrPermission) {
				t.Errorf("%s, %s: error %v is not fs.ErrPermission", tc.name, dialect, err)
			}
		}
	}
	if n := w.fs.attaches.Load(); n != 0 {
		t.Errorf("attaches = %d; want 0", n)
	}
}

// TestAuthPlainOnTLSPort speaks plain 9P, through loom's client and a
// stock one, to the TLS port: nothing is served.
func TestAuthPlainOnTLSPort(t *testing.T) {
	w := newAuthWorld(t)
	plain := "tcp!" + strings.TrimPrefix(w.addr, "tls!")
	for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
		c, err := ninep.Dial(plain, ninep.Dialect(dialect), ninep.DialTimeout(5*time.Second))
		if err == nil {
			_, err = c.Attach(context.Background(), "glenda", "")
			c.Close()
		}
		if err == nil {
			t.Errorf("plain %s on the TLS port: Dial+Attach = nil; want an error", dialect)
		}
	}
	_, hostport, _ := ninep.ParseAddr(plain)
	if c, err := client.Dial("tcp", hostport); err == nil {
		_, err = c.Attach(nil, "glenda", "")
		c.Close()
		if err == nil {
			t.Errorf("9fans client on the TLS port: Attach = nil; want an error")
		}
	}
	if n := w.fs.attaches.Load(); n != 0 {
		t.Errorf("attaches = %d; want 0", n)
	}
}

// TestAuthServerChecked: a client does not talk to a server it cannot
// check, whether by certificate or by the server's proof of the secret.
func TestAuthServerChecked(t *testing.T) {
	w := newAuthWorld(t)
	for _, tc := range []struct{ server, client string }{
		{"rogue-server", "cert"},          // a server certificate of another CA
		{"rogue-server2", "secret-no-ca"}, // a server that does not know the secret
	} {
		rogue := w.keys[tc.server]
		k := &ninep.Keys{Cert: w.keys["rogue-server"].Cert, CA: w.keys["cert"].CA, Secret: rogue.Secret}
		if k.Secret == nil {
			k.Secret = []byte("another secret entirely, long enough")
		}
		rfs := &countFS{FS: ramfs.New()}
		addr := serveSecure(t, rfs, k)
		c, err := ninep.DialSecure(context.Background(), addr, w.keys[tc.client], ninep.DialTimeout(5*time.Second))
		if err == nil {
			c.Close()
			t.Errorf("DialSecure(%s) with keys %s = nil; want an error", tc.server, tc.client)
		}
	}
}

// TestAuthReplay records a whole authenticated session from the wire and
// plays it again to the server: TLS 1.3 without resumption makes every
// session's keys new, so the replay is refused and nothing served.
func TestAuthReplay(t *testing.T) {
	w := newAuthWorld(t)
	_, target, _ := ninep.ParseAddr("tcp!" + strings.TrimPrefix(w.addr, "tls!"))

	// A proxy that records what the client sends.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var recorded []byte
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer s.Close()
		go io.Copy(c, s)
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			mu.Lock()
			recorded = append(recorded, buf[:n]...)
			mu.Unlock()
			if _, werr := s.Write(buf[:n]); err != nil || werr != nil {
				return
			}
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	c, err := ninep.DialSecure(context.Background(), "tls!127.0.0.1!"+port, w.keys["secret"])
	if err != nil {
		t.Fatalf("DialSecure through the proxy = %v", err)
	}
	if err := putGet(c, "replayed", "once"); err != nil {
		t.Fatalf("putGet = %v", err)
	}
	c.Close()
	before := w.fs.attaches.Load()

	mu.Lock()
	rec := append([]byte(nil), recorded...)
	mu.Unlock()
	s, err := net.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	s.Write(rec)
	got, _ := io.ReadAll(s)
	// The server answers the replayed hello with a handshake of its own
	// and then an alert; it never gets as far as 9P.
	if n := w.fs.attaches.Load(); n != before {
		t.Errorf("attaches after replay = %d; want %d", n, before)
	}
	if len(rec) == 0 || len(got) == 0 {
		t.Errorf("recorded %d bytes, replay answered with %d; want both > 0", len(rec), len(got))
	}
}

// TestListenSecureRefuses: TCP off loopback without TLS, and TLS without
// a key pair or a way to check clients, do not listen at all.
func TestListenSecureRefuses(t *testing.T) {
	p := newPKI(t)
	cert, key := p.valid(t, "server", "127.0.0.1")
	for _, tc := range []struct {
		addr string
		keys *ninep.Keys
	}{
		{"tcp!*!0", nil},
		{"tcp!0.0.0.0!0", nil},
		{"tls!127.0.0.1!0", nil},
		{"tls!127.0.0.1!0", loadKeys(t, cert, key, "", "")},
		{"tls!127.0.0.1!0", loadKeys(t, "", "", p.CAFile, "")},
	} {
		if l, err := ninep.ListenSecure(tc.addr, tc.keys); err == nil {
			l.Close()
			t.Errorf("ListenSecure(%q, %v) = nil; want an error", tc.addr, tc.keys != nil)
		}
	}
	if _, err := ninep.ListenSecure("tcp!0.0.0.0!0", nil); !errors.Is(err, ninep.ErrInsecure) {
		t.Errorf("ListenSecure(tcp!0.0.0.0!0) = %v; want ErrInsecure", err)
	}
	l, err := ninep.ListenSecure("tcp!127.0.0.1!0", nil)
	if err != nil {
		t.Errorf("ListenSecure(tcp!127.0.0.1!0) = %v; want nil", err)
	} else {
		l.Close()
	}
	sock := filepath.Join(t.TempDir(), "s")
	l, err = ninep.ListenSecure("unix!"+sock, nil)
	if err != nil {
		t.Fatalf("ListenSecure(unix) = %v", err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("unix socket mode = %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
	l.Close()
	if _, err := os.Stat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after Close: Stat = %v; want fs.ErrNotExist", err)
	}
	// Secrets others may read are refused.
	name := filepath.Join(t.TempDir(), "s")
	os.WriteFile(name, []byte("0123456789abcdef0123"), 0o644)
	if _, err := ninep.LoadKeys("", "", "", name); err == nil {
		t.Errorf("LoadKeys of a secret of mode 0644 = nil; want an error")
	}
}

// TestServeTLS runs loom serve with its credential flags and reaches it
// with loom 9p, whose keys come from the environment; serve refuses
// plain TCP off loopback, and a client without the secret gets nothing.
func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds loom: not in -short")
	}
	bin := buildLoom(t)
	p := newPKI(t)
	cert, key := p.valid(t, "server", "127.0.0.1")
	secret := writeSecret(t, p.dir, "served with a secret")

	out, err := exec.Command(bin, "serve", "-listen", "tcp!0.0.0.0!0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs credentials") {
		t.Errorf("loom serve -listen tcp!0.0.0.0!0 = %v, %q; want refused for want of credentials", err, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	addr := "tls!127.0.0.1!" + port
	srv := exec.Command(bin, "serve", "-listen", addr, "-tlscert", cert, "-tlskey", key, "-secret", secret)
	srv.Env = append(os.Environ(), "LOOM_TLSCERT=", "LOOM_TLSKEY=", "LOOM_TLSCA=", "LOOM_SECRET=")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = srv.Stdout
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := io.ReadAtLeast(stdout, b, 1)
		ready <- strings.Contains(string(b[:n]), "serving")
		io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("loom serve -listen %s did not start", addr)
		}
	case <-time.After(never):
		t.Fatalf("loom serve -listen %s: nothing printed in %v", addr, never)
	}

	for _, tc := range []struct {
		env []string
		ok  bool
	}{
		{[]string{"LOOM_SECRET=" + secret}, true},
		{[]string{"LOOM_SECRET=" + secret, "LOOM_TLSCA=" + p.CAFile}, true},
		{[]string{"LOOM_TLSCA=" + p.CAFile}, false},
		{nil, false},
	} {
		cmd := exec.Command(bin, "9p", "-a", addr, "ls", "/")
		cmd.Env = append(append(os.Environ(), "LOOM_TLSCERT=", "LOOM_TLSKEY=", "LOOM_TLSCA=", "LOOM_SECRET="), tc.env...)
		out, err := cmd.CombinedOutput()
		if got := err == nil && len(out) > 0; got != tc.ok {
			t.Errorf("LOOM env %q: loom 9p -a %s ls / = %v, %q; want success %v", tc.env, addr, err, out, tc.ok)
		}
	}
}
