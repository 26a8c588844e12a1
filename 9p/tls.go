package ninep

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Keys are what one end of a connection between loom servers proves
// itself with and checks the other end against. A server off loopback
// needs a key pair (Cert) and a way to check its clients: a CA that
// signs their certificates, a shared Secret, or both. A client needs a
// way to check the server (CA, or Secret, which the server proves it
// knows) and a way to prove itself (Cert signed by the server's CA, or
// Secret).
type Keys struct {
	// Cert is this end's key pair.
	Cert *tls.Certificate
	// CA holds the certificates that sign the other end's.
	CA *x509.CertPool
	// Secret is shared by both ends and proven, never sent, in 9P's
	// auth exchange (see auth.go).
	Secret []byte
}

// The environment variables KeysFromEnv reads: files holding this end's
// certificate and key (PEM), the CA that signs the other end's
// certificates (PEM), and the shared secret.
const (
	EnvCert   = "LOOM_TLSCERT"
	EnvKey    = "LOOM_TLSKEY"
	EnvCA     = "LOOM_TLSCA"
	EnvSecret = "LOOM_SECRET"
)

// LoadKeys reads keys from files; an empty name leaves its part out.
// The secret file's content less a trailing newline is the secret; it
// must not be readable by others, nor shorter than 16 bytes.
func LoadKeys(certFile, keyFile, caFile, secretFile string) (*Keys, error) {
	k := &Keys{}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tls: a certificate needs its key and a key its certificate")
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		k.Cert = &c
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		k.CA = x509.NewCertPool()
		if !k.CA.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls: %s: no PEM certificates", caFile)
		}
	}
	if secretFile != "" {
		fi, err := os.Stat(secretFile)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("auth: %s: secret readable by others (mode %v); chmod 600", secretFile, fi.Mode().Perm())
		}
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		k.Secret = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(k.Secret) < minSecret {
			return nil, fmt.Errorf("auth: %s: secret shorter than %d bytes", secretFile, minSecret)
		}
	}
	return k, nil
}

// minSecret is the shortest secret accepted: it is checked by anyone who
// can reach the port, so it must not be guessable.
const minSecret = 16

// KeysFromEnv loads keys from the files the environment names (EnvCert,
// EnvKey, EnvCA, EnvSecret). With none of them set it returns nil keys.
func KeysFromEnv() (*Keys, error) {
	cert, key, ca, secret := os.Getenv(EnvCert), os.Getenv(EnvKey), os.Getenv(EnvCA), os.Getenv(EnvSecret)
	if cert == "" && key == "" && ca == "" && secret == "" {
		return nil, nil
	}
	return LoadKeys(cert, key, ca, secret)
}

// canServe says why k cannot guard a TLS listener, or nil.
func (k *Keys) canServe() error {
	switch {
	case k == nil || k.Cert == nil:
		return errors.New("a TLS key pair is needed (-tlscert and -tlskey)")
	case k.CA == nil && len(k.Secret) == 0:
		return errors.New("a way to check clients is needed: a client CA (-tlsca) or a shared secret (-secret)")
	}
	return nil
}

// ServerTLS returns the TLS configuration of a server with keys k: TLS
// 1.3 only, and no session tickets, so that no session is ever resumed
// and nothing recorded can be played again. A client certificate is
// checked against k.CA when one is given; a client without one must
// prove the secret before it may attach (see auth.go).
func ServerTLS(k *Keys) (*tls.Config, error) {
	if err := k.canServe(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{*k.Cert},
		SessionTicketsDisabled: true,
		ClientAuth:             tls.NoClientCert,
	}
	if k.CA != nil {
		cfg.ClientCAs = k.CA
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// ClientTLS returns the TLS configuration of a client with keys k
// dialling host. The server's certificate is checked against k.CA; with
// no CA but a secret, the server is instead made to prove the secret
// over this very session before anything else is sent (see auth.go).
func ClientTLS(k *Keys, host string) (*tls.Config, error) {
	if k == nil || k.CA == nil && len(k.Secret) == 0 {
		return nil, fmt.Errorf("tls: no way to check the server: set %s or %s", EnvCA, EnvSecret)
	}
	cfg := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		ServerName:             host,
		RootCAs:                k.CA,
		SessionTicketsDisabled: true,
		ClientSessionCache:     nil,
	}
	if k.CA == nil {
		// Checked by the server's proof of the secret instead.
		cfg.InsecureSkipVerify = true
	}
	if k.Cert != nil {
		cfg.Certificates = []tls.Certificate{*k.Cert}
	}
	return cfg, nil
}

// IsTLSAddr reports whether addr is in the TLS dial form
// "tls!host!port".
func IsTLSAddr(addr string) bool { return strings.HasPrefix(addr, "tls!") }

// parseSecure parses addr as ParseAddr does, and also "tls!host!port",
// which is TCP to host:port under TLS.
func parseSecure(addr string) (network, address string, secure bool, err error) {
	if IsTLSAddr(addr) {
		network, address, err = ParseAddr("tcp!" + strings.TrimPrefix(addr, "tls!"))
		if err != nil {
			return "", "", false, fmt.Errorf("bad address %q: want tls!host!port", addr)
		}
		return network, address, true, nil
	}
	network, address, err = ParseAddr(addr)
	return network, address, false, err
}

// ErrInsecure is the error of ListenSecure asked for TCP off loopback
// without TLS and a way to check clients.
var ErrInsecure = errors.New("listening off loopback needs credentials")

// ListenSecure listens on addr (see ParseAddr) as a server may safely:
//
//   - "tls!host!port" listens on TCP under TLS, with keys k (which must
//     hold a key pair and a client CA or a secret); a client that has
//     not proven itself gets an error on attach and nothing else.
//   - "tcp!host!port" listens only when host is a loopback address;
//     anything else is refused with ErrInsecure.
//   - a unix socket is made with mode 0600, before anyone can connect,
//     so that only its owner may.
//
// Serve the listener with Server.Serve as any other.
func ListenSecure(addr string, k *Keys) (net.Listener, error) {
	network, address, secure, err := parseSecure(addr)
	if err != nil {
		return nil, err
	}
	switch {
	case secure:
		cfg, err := ServerTLS(k)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		l, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		return &guardListener{Listener: l, cfg: cfg, keys: k}, nil
	case network == "tcp":
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if !isLoopback(host) {
			return nil, fmt.Errorf("listen %s: %w: use tls!%s with a key pair and a client CA or secret", addr, ErrInsecure, strings.TrimPrefix(strings.TrimPrefix(addr, "tcp!"), "net!"))
		}
		return net.Listen(network, address)
	default:
		return listenUnix(address)
	}
}

// isLoopback reports whether host names only loopback addresses.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenUnix listens on a unix socket at path with mode 0600. The socket
// is made under a temporary name, given its mode and renamed into place,
// so that there is no moment when others could connect to it.
func listenUnix(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, &net.OpError{Op: "listen", Net: "unix", Err: syscall.EADDRINUSE}
	}
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), os.Getpid()))
	os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		l.Close()
		os.Remove(tmp)
		return nil, &net.OpError{Op: "listen", Net: "unix", Err: fmt.Errorf("%s: exists and is not a socket", path)}
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, err
	}
	return &unixListener{UnixListener: ul, path: path}, nil
}

// unixListener removes its socket, under the name it was renamed to, on
// Close.
type unixListener struct {
	*net.UnixListener
	path string
}

func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	os.Remove(l.path)
	return err
}

// Timeouts of a connection between loom servers.
const (
	// DefaultDialTimeout bounds dialling, the TLS handshake, the auth
	// exchange and the version exchange of DialSecure when ctx does
	// not bound them sooner.
	DefaultDialTimeout = 10 * time.Second
	// handshakeTimeout bounds a server's TLS handshake and a client's
	// auth exchange, so that a client that says nothing holds nothing.
	handshakeTimeout = 10 * time.Second
	// userTimeout is how long data sent may stay unacknowledged before
	// the kernel gives up on a TCP connection (TCP_USER_TIMEOUT), and
	// keepIdle how long a quiet one goes unprobed: a cut link then fails
	// the connection in seconds rather than the kernel's quarter-hour.
	userTimeout = 15 * time.Second
	keepIdle    = 5 * time.Second
)

// dialer is the net.Dialer of connections to loom servers: keepalive
// probes, and TCP_USER_TIMEOUT so that writes to a peer gone silent fail.
func dialer() *net.Dialer {
	return &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepIdle, Interval: keepIdle, Count: 3},
		Control: func(network, address string, rc syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") {
				return nil
			}
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout/time.Millisecond))
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
}

// DialSecure connects to the 9P server at addr as Dial does, and also to
// "tls!host!port" under TLS with keys k: the server is checked (its
// certificate against k.CA, or its proof of k.Secret), and this end
// proves itself (k.Cert, or k.Secret in 9P's auth exchange) before the
// Client is returned. Everything is bounded by ctx and by the
// DialTimeout option (DefaultDialTimeout unless told).
func DialSecure(ctx context.Context, addr string, k *Keys, opts ...DialOption) (*Client, error) {
	cfg, err := newDialConfig(opts)
	if err != nil {
		return nil, err
	}
	network, address, secure, err := parseSecure(addr)
	if err != nil {
		return nil, err
	}
	timeout := cfg.timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dialer().DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if secure {
		host, _, _ := net.SplitHostPort(address)
		tcfg, err := ClientTLS(k, host)
		if err != nil {
			conn.Close()
			return nil, err
		}
		tc := tls.Client(conn, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		conn = tc
		if len(k.Secret) > 0 {
			dl, _ := ctx.Deadline()
			conn.SetDeadline(dl)
			err := authenticate(conn, tc.ConnectionState(), k.Secret, cfg.dialect)
			conn.SetDeadline(time.Time{})
			if err != nil {
				conn.Close()
				return nil, fmt.Errorf("auth with %s: %w", addr, err)
			}
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, DialTimeout(time.Until(dl)))
	}
	c, err := NewClient(conn, opts...)
	if err != nil {
		conn.Close()
		if secure {
			// TLS 1.3 tells a client that its certificate was
			// refused only when it first reads or writes.
			return nil, fmt.Errorf("tls session with %s (refused client certificate?): %w", addr, err)
		}
		return nil, err
	}
	return c, nil
}

// dialEnv is Dial of a "tls!" address: the keys come from the
// environment (KeysFromEnv).
func dialEnv(addr string, opts ...DialOption) (*Client, error) {
	k, err := KeysFromEnv()
	if err != nil {
		return nil, err
	}
	return DialSecure(context.Background(), addr, k, opts...)
}
