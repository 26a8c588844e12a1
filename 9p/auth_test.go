package ninep

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"loom/components/ramfs"
	"loom/ns"
)

// selfSigned makes a key pair for 127.0.0.1, valid for the test only.
func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "loom"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// countingFS counts attaches that reach the file server.
type countingFS struct {
	ns.FS
	n atomic.Int64
}

func (c *countingFS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	c.n.Add(1)
	return c.FS.Attach(ctx, user, aname)
}

func serveGuarded(t *testing.T, k *Keys) (string, *countingFS) {
	t.Helper()
	l, err := ListenSecure("tls!127.0.0.1!0", k)
	if err != nil {
		t.Fatal(err)
	}
	fsys := &countingFS{FS: ramfs.New()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewServer(fsys).Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l.Addr().String(), fsys
}

// recorder keeps what is written through it.
type recorder struct {
	io.ReadWriter
	out bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.out.Write(p)
	return r.ReadWriter.Write(p)
}

func rawTLS(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// authRPC writes m to c and returns the type and body of the reply.
func authRPC(t *testing.T, c io.ReadWriter, m []byte) (byte, *dec) {
	t.Helper()
	if _, err := c.Write(m); err != nil {
		t.Fatal(err)
	}
	r, err := readMsg(c, guardMax)
	if err != nil {
		t.Fatal(err)
	}
	return r[4], &dec{b: r[7:]}
}

func tattach(fid, afid uint32) []byte {
	m := newMsg(msgTattach, 2)
	m.u32(fid)
	m.u32(afid)
	m.str("glenda")
	m.str("")
	return m.done()
}

// TestAuthProofReplay records a client's proof of the secret on one
// session and offers it on another: it is worth nothing there, and the
// attach that follows is refused. A proof made on its own session lets a
// client attach with its afid, as stock 9P clients do.
func TestAuthProofReplay(t *testing.T) {
	secret := []byte("a secret of some length")
	addr, fsys := serveGuarded(t, &Keys{Cert: selfSigned(t), Secret: secret})

	c1 := rawTLS(t, addr)
	rec := &recorder{ReadWriter: c1}
	if err := authenticate(rec, c1.ConnectionState(), secret, Dialect9P2000); err != nil {
		t.Fatalf("authenticate = %v", err)
	}
	// The recording: Tversion, Tauth, Twrite (the proof), Tread, Tclunk.
	var msgs [][]byte
	for b := rec.out.Bytes(); len(b) >= 4; {
		n := binary.LittleEndian.Uint32(b)
		msgs = append(msgs, b[:n])
		b = b[n:]
	}
	if len(msgs) != 5 || msgs[2][4] != msgTwrite {
		t.Fatalf("recorded %d messages; want 5 with a Twrite third", len(msgs))
	}

	c2 := rawTLS(t, addr)
	for i, m := range msgs[:2] {
		if typ, _ := authRPC(t, c2, m); typ != m[4]+1 {
			t.Fatalf("replayed message %d: reply type %d; want %d", i, typ, m[4]+1)
		}
	}
	if typ, d := authRPC(t, c2, msgs[2]); typ != msgRerror || d.str() != "authentication failed" {
		t.Errorf("replayed proof: reply type %d; want Rerror authentication failed", typ)
	}
	if typ, d := authRPC(t, c2, tattach(0, 1)); typ != msgRerror || d.str() != "permission denied" {
		t.Errorf("Tattach after a replayed proof: reply type %d; want Rerror permission denied", typ)
	}
	if n := fsys.n.Load(); n != 0 {
		t.Errorf("attaches = %d; want 0", n)
	}

	// The honest client on its own session, attaching with its afid.
	c3 := rawTLS(t, addr)
	ekm, err := sessionKey(c3.ConnectionState())
	if err != nil {
		t.Fatal(err)
	}
	authRPC(t, c3, msgs[0])
	authRPC(t, c3, msgs[1])
	w := newMsg(msgTwrite, 1)
	p := proof(secret, proofClient, ekm)
	w.u32(1)
	w.u64(0)
	w.u32(uint32(len(p)))
	w.raw(p)
	if typ, _ := authRPC(t, c3, w.done()); typ != msgRwrite {
		t.Fatalf("proof on its own session: reply type %d; want Rwrite", typ)
	}
	if typ, _ := authRPC(t, c3, tattach(0, 1)); typ != msgTattach+1 {
		t.Errorf("Tattach with the proven afid: reply type %d; want Rattach", typ)
	}
	if n := fsys.n.Load(); n != 1 {
		t.Errorf("attaches = %d; want 1", n)
	}
}

// TestAuthGuardBulk: the guard passes large messages both ways intact.
func TestAuthGuardBulk(t *testing.T) {
	secret := []byte("a secret of some length")
	addr, _ := serveGuarded(t, &Keys{Cert: selfSigned(t), Secret: secret})
	for _, dialect := range []string{Dialect9P2000, Dialect9P2000L} {
		c, err := DialSecure(context.Background(), "tls!"+addr[:len("127.0.0.1")]+"!"+addr[len("127.0.0.1:"):], &Keys{Secret: secret}, Dialect(dialect))
		if err != nil {
			t.Fatalf("DialSecure(%s) = %v", dialect, err)
		}
		ctx := context.Background()
		root, err := c.Attach(ctx, "glenda", "")
		if err != nil {
			t.Fatal(err)
		}
		f, _, err := root.(ns.Creater).Create(ctx, "big-"+dialect, 0o666, ns.ORDWR)
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
		for off := 0; off < len(data); {
			n, err := f.Write(ctx, data[off:], int64(off))
			if err != nil || n == 0 {
				t.Fatalf("Write at %d = %d, %v", off, n, err)
			}
			off += n
		}
		got := make([]byte, 0, len(data))
		buf := make([]byte, 1<<20)
		for int64(len(got)) < int64(len(data)) {
			n, err := f.Read(ctx, buf, int64(len(got)))
			if err != nil || n == 0 {
				t.Fatalf("Read at %d = %d, %v", len(got), n, err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: read back differs from what was written", dialect)
		}
		f.Clunk()
		root.Clunk()
		c.Close()
	}
}
