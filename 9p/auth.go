package ninep

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// Authentication of clients of a TLS listener (ListenSecure).
//
// A client is authenticated by the TLS session it comes in on: either
// its certificate was verified against the server's client CA in the
// handshake, or it has proven, in 9P's own auth exchange, that it knows
// the shared secret. The proof is an HMAC, keyed by the secret, over
// keying material exported from this TLS session (RFC 9266's channel
// binding by exporter): it is worth nothing on any other session, so a
// recorded exchange cannot be played again, and it tells nothing of the
// secret. The server proves the secret back the same way, which is how
// a client with no CA checks the server.
//
// The exchange, in either dialect:
//
//	Tauth afid            -> Rauth
//	Twrite afid proof     -> Rwrite, or an error: "authentication failed"
//	Tread afid            -> Rread the server's proof
//	Tattach fid afid ...  -> served as an attach without afid
//
// A session once authenticated stays so, across Tversions: attaches
// need not name the afid (loom's own client proves the secret, then
// starts over with a Tversion of its own). Until then every Tattach is
// answered with an error, "permission denied", and the file server
// never sees it, so that nothing is served; a client that has no fid
// can do nothing else.
//
// This is done on the byte stream between the connection and the
// server's engines (guardConn), so that both dialects are guarded by
// the same few lines and neither engine knows of it.

// Labels of the proofs: the exporter label of the session's keying
// material, and the role each end's proof is made for, so that neither
// end's proof can stand for the other's.
const (
	ekmLabel    = "EXPORTER-loom-9p-auth"
	proofClient = "loom 9p client"
	proofServer = "loom 9p server"
)

// proof returns the proof of secret for role over a session's exported
// keying material.
func proof(secret []byte, role string, ekm []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(role))
	m.Write([]byte{0})
	m.Write(ekm)
	return m.Sum(nil)
}

func sessionKey(cs tls.ConnectionState) ([]byte, error) {
	return cs.ExportKeyingMaterial(ekmLabel, nil, 32)
}

// Message types the guard reads; the rest it passes on unread.
const (
	msgRversion = 101
	msgRauth    = 103
	msgTattach  = 104
	msgRerror   = 107
	msgTwalk    = 110
	msgTopen    = 112
	msgTread    = 116
	msgRread    = 117
	msgTwrite   = 118
	msgRwrite   = 119
	msgTclunk   = 120
	msgRclunk   = 121
	msgTremove  = 122
	msgTstat    = 124
	msgTwstat   = 126
)

const (
	noFid    = ^uint32(0)
	noTag    = ^uint16(0)
	noUname  = ^uint32(0)
	eACCES   = 13
	eNOENT   = 2
	guardMax = 64 << 10 // the largest message the guard reads whole
)

// The errors the guard answers with.
var (
	errAuthRequired = errors.New("permission denied")
	errAuthFailed   = errors.New("authentication failed")
)

// guardListener accepts TLS connections guarded by guardConn.
type guardListener struct {
	net.Listener
	cfg  *tls.Config
	keys *Keys
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: keepIdle, Interval: keepIdle, Count: 3})
	}
	return newGuardConn(tls.Server(c, l.cfg), l.keys), nil
}

// guardConn is a server's side of a TLS connection: what the server
// reads from it is the client's stream less the auth exchange, which it
// answers itself, and less every Tattach of a client not yet
// authenticated, which it refuses itself.
//
// Reads are the server's reader's alone; writes are the server's
// replies, each a whole message though maybe in several Writes, and the
// guard's own, which go between them (wmu).
type guardConn struct {
	*tls.Conn
	keys *Keys

	once sync.Once
	herr error
	br   *bufio.Reader
	ekm  []byte

	authed bool            // the session is authenticated
	dotL   bool            // the last Tversion asked for 9P2000.L
	afids  map[uint32]bool // auth fids, and whether each has been proven
	left   int             // bytes of a message being passed on unread
	pend   []byte          // a message read whole, being passed on

	wmu   sync.Mutex // held from the first byte of a server's reply to its last
	wheld bool
	whdr  [4]byte
	nwhdr int
	wleft int
}

func newGuardConn(c *tls.Conn, k *Keys) *guardConn {
	return &guardConn{Conn: c, keys: k, afids: map[uint32]bool{}}
}

// handshake completes the TLS handshake within handshakeTimeout and
// learns what the session proves.
func (g *guardConn) handshake() error {
	g.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if g.herr = g.Conn.HandshakeContext(ctx); g.herr != nil {
			return
		}
		cs := g.Conn.ConnectionState()
		g.authed = g.keys.CA != nil && len(cs.VerifiedChains) > 0
		if len(g.keys.Secret) > 0 {
			g.ekm, g.herr = sessionKey(cs)
		}
		g.br = bufio.NewReaderSize(g.Conn, 64<<10)
	})
	return g.herr
}

func (g *guardConn) Read(p []byte) (int, error) {
	if err := g.handshake(); err != nil {
		return 0, err
	}
	for {
		if len(g.pend) > 0 {
			n := copy(p, g.pend)
			g.pend = g.pend[n:]
			return n, nil
		}
		if g.left > 0 {
			n, err := g.br.Read(p[:min(len(p), g.left)])
			g.left -= n
			return n, err
		}
		hdr, err := g.br.Peek(7)
		if err != nil {
			if len(hdr) > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		size := int(binary.LittleEndian.Uint32(hdr))
		if size < 7 {
			return 0, fmt.Errorf("%w %d", errMsgSize, size)
		}
		typ := hdr[4]
		switch {
		case typ == msgTversion || typ == msgTauth || typ == msgTattach:
		case len(g.afids) > 0 && size >= 11 && usesFid(typ):
			b, err := g.br.Peek(11)
			if err != nil {
				return 0, err
			}
			if _, ok := g.afids[binary.LittleEndian.Uint32(b[7:])]; ok {
				break
			}
			g.left = size
			continue
		default:
			g.left = size
			continue
		}
		if size > guardMax {
			return 0, fmt.Errorf("%w %d", errMsgSize, size)
		}
		m := make([]byte, size)
		if _, err := io.ReadFull(g.br, m); err != nil {
			return 0, err
		}
		if pass, err := g.inspect(m); err != nil {
			return 0, err
		} else if pass {
			g.pend = m
		}
	}
}

// usesFid reports whether a message of type typ names a fid first.
func usesFid(typ byte) bool {
	switch typ {
	case msgTread, msgTwrite, msgTclunk, msgTremove, msgTstat, msgTwstat, msgTwalk, msgTopen:
		return true
	}
	return false
}

// inspect acts on a message the guard reads whole: it answers it itself
// and returns false, or returns true to pass it on (perhaps rewritten).
func (g *guardConn) inspect(m []byte) (pass bool, err error) {
	tag := binary.LittleEndian.Uint16(m[5:])
	d := &dec{b: m[7:]}
	switch m[4] {
	case msgTversion:
		d.u32()
		v := d.str()
		g.dotL = strings.HasPrefix(v, Dialect9P2000L)
		clear(g.afids) // a version clunks every fid
		return true, nil
	case msgTattach:
		d.u32()
		afid := d.u32()
		if d.short {
			return true, nil // the engine refuses it
		}
		if !g.authed && !g.afids[afid] {
			return false, g.rerror(tag, errAuthRequired, eACCES)
		}
		// The engines know of no auth fids: the session is what was
		// authenticated.
		binary.LittleEndian.PutUint32(m[11:], noFid)
		return true, nil
	case msgTauth:
		afid := d.u32()
		switch {
		case d.short:
			return false, g.rerror(tag, ErrBadAuthMsg, eACCES)
		case g.authed && len(g.keys.Secret) == 0:
			return false, g.rerror(tag, errNoAuth, eNOENT)
		case len(g.keys.Secret) == 0:
			return false, g.rerror(tag, errAuthRequired, eACCES)
		case afid == noFid:
			return false, g.rerror(tag, errBadFid, eACCES)
		}
		if _, ok := g.afids[afid]; ok {
			return false, g.rerror(tag, errFidInUse, eACCES)
		}
		if len(g.afids) >= maxAfids {
			return false, g.rerror(tag, errTooManyFids, eACCES)
		}
		g.afids[afid] = false
		r := newMsg(msgRauth, tag)
		r.u8(0x08) // QTAUTH
		r.u32(0)
		r.u64(uint64(afid))
		return false, g.write(r.done())
	}
	// A message for an auth fid.
	afid := d.u32()
	switch m[4] {
	case msgTwrite:
		d.u64()
		n := d.u32()
		data := d.bytes(int(n))
		if d.short {
			return false, g.rerror(tag, ErrBadAuthMsg, eACCES)
		}
		if !hmac.Equal(data, proof(g.keys.Secret, proofClient, g.ekm)) {
			return false, g.rerror(tag, errAuthFailed, eACCES)
		}
		g.afids[afid] = true
		g.authed = true
		r := newMsg(msgRwrite, tag)
		r.u32(n)
		return false, g.write(r.done())
	case msgTread:
		d.u64()
		n := d.u32()
		if !g.afids[afid] {
			return false, g.rerror(tag, errAuthRequired, eACCES)
		}
		p := proof(g.keys.Secret, proofServer, g.ekm)
		p = p[:min(len(p), int(n))]
		r := newMsg(msgRread, tag)
		r.u32(uint32(len(p)))
		r.raw(p)
		return false, g.write(r.done())
	case msgTclunk, msgTremove:
		delete(g.afids, afid)
		if m[4] == msgTremove {
			return false, g.rerror(tag, errAuthRequired, eACCES)
		}
		return false, g.write(newMsg(msgRclunk, tag).done())
	}
	return false, g.rerror(tag, errAuthRequired, eACCES)
}

// maxAfids bounds the auth fids of one connection.
const maxAfids = 16

// ErrBadAuthMsg is the error of an auth message that is not well formed.
var ErrBadAuthMsg = errors.New("bad auth message")

// rerror answers tag with err, as the dialect of the connection says
// errors: Rerror's text, or Rlerror's errno.
func (g *guardConn) rerror(tag uint16, err error, errno uint32) error {
	if g.dotL {
		r := newMsg(msgRlerror, tag)
		r.u32(errno)
		return g.write(r.done())
	}
	r := newMsg(msgRerror, tag)
	r.str(err.Error())
	return g.write(r.done())
}

// write writes one whole message of the guard's between the server's.
func (g *guardConn) write(m []byte) error {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	_, err := g.Conn.Write(m)
	return err
}

// Write writes the server's replies, holding wmu from the first byte of
// each to its last so that the guard's own go between them.
func (g *guardConn) Write(b []byte) (int, error) {
	if !g.wheld {
		g.wmu.Lock()
		g.wheld = true
	}
	n, err := g.Conn.Write(b)
	for p := b[:n]; len(p) > 0; {
		if g.nwhdr < 4 {
			k := copy(g.whdr[g.nwhdr:], p)
			g.nwhdr += k
			p = p[k:]
			if g.nwhdr == 4 {
				g.wleft = int(binary.LittleEndian.Uint32(g.whdr[:])) - 4
			}
		} else {
			k := min(g.wleft, len(p))
			g.wleft -= k
			p = p[k:]
		}
		if g.nwhdr == 4 && g.wleft <= 0 {
			g.nwhdr, g.wleft = 0, 0
		}
	}
	if err != nil || g.nwhdr == 0 {
		g.wheld = false
		g.wmu.Unlock()
	}
	return n, err
}

// authenticate proves secret to the server at the other end of conn, a
// TLS session whose state is cs, and checks the server's proof, in 9P's
// auth exchange in dialect. The caller starts its own session with a
// Tversion afterwards.
func authenticate(conn io.ReadWriter, cs tls.ConnectionState, secret []byte, dialect string) error {
	ekm, err := sessionKey(cs)
	if err != nil {
		return err
	}
	const afid, tag = 1, 1
	dotL := dialect == Dialect9P2000L
	rpc := func(m []byte, want byte) (*dec, error) {
		if _, err := conn.Write(m); err != nil {
			return nil, err
		}
		r, err := readMsg(conn, guardMax)
		if err != nil {
			return nil, err
		}
		d := &dec{b: r[7:]}
		switch r[4] {
		case want:
			return d, nil
		case msgRerror:
			return nil, errors.New(d.str())
		case msgRlerror:
			if e := d.u32(); e == eACCES {
				return nil, errAuthFailed
			} else {
				return nil, fmt.Errorf("errno %d", e)
			}
		}
		return nil, fmt.Errorf("unexpected reply type %d", r[4])
	}
	v := newMsg(msgTversion, noTag)
	v.u32(8192)
	v.str(dialect)
	d, err := rpc(v.done(), msgRversion)
	if err != nil {
		return err
	}
	d.u32()
	if got := d.str(); got != dialect {
		return fmt.Errorf("server speaks %q, not %q", got, dialect)
	}
	a := newMsg(msgTauth, tag)
	a.u32(afid)
	a.str("none")
	a.str("")
	if dotL {
		a.u32(noUname)
	}
	if _, err := rpc(a.done(), msgRauth); err != nil {
		return fmt.Errorf("server refused auth: %w", err)
	}
	p := proof(secret, proofClient, ekm)
	w := newMsg(msgTwrite, tag)
	w.u32(afid)
	w.u64(0)
	w.u32(uint32(len(p)))
	w.raw(p)
	if _, err := rpc(w.done(), msgRwrite); err != nil {
		return err
	}
	r := newMsg(msgTread, tag)
	r.u32(afid)
	r.u64(0)
	r.u32(64)
	d, err = rpc(r.done(), msgRread)
	if err != nil {
		return err
	}
	n := d.u32()
	if got := d.bytes(int(n)); d.short || !hmac.Equal(got, proof(secret, proofServer, ekm)) {
		return errors.New("server does not know the secret")
	}
	c := newMsg(msgTclunk, tag)
	c.u32(afid)
	_, err = rpc(c.done(), msgRclunk)
	return err
}

// msg builds one 9P message.
type msg struct{ b []byte }

func newMsg(typ byte, tag uint16) *msg {
	m := &msg{b: make([]byte, 7, 64)}
	m.b[4] = typ
	binary.LittleEndian.PutUint16(m.b[5:], tag)
	return m
}

func (m *msg) u8(v uint8)   { m.b = append(m.b, v) }
func (m *msg) u32(v uint32) { m.b = binary.LittleEndian.AppendUint32(m.b, v) }
func (m *msg) u64(v uint64) { m.b = binary.LittleEndian.AppendUint64(m.b, v) }
func (m *msg) raw(p []byte) { m.b = append(m.b, p...) }
func (m *msg) str(s string) {
	m.b = append(binary.LittleEndian.AppendUint16(m.b, uint16(len(s))), s...)
}
func (m *msg) done() []byte { binary.LittleEndian.PutUint32(m.b, uint32(len(m.b))); return m.b }
func (d *dec) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.short = true
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// dec reads the fields of a message; short is set, and zero values
// returned, once a field runs past its end.
type dec struct {
	b     []byte
	short bool
}

func (d *dec) u32() uint32 {
	p := d.bytes(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (d *dec) u64() uint64 {
	p := d.bytes(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (d *dec) str() string {
	p := d.bytes(2)
	if p == nil {
		return ""
	}
	return string(d.bytes(int(binary.LittleEndian.Uint16(p))))
}
