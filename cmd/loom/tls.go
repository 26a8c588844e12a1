package main

import (
	"flag"
	"net"
	"os"
	"sync"

	"loom/9p"
)

// secure holds serve's credentials: the flags -tlscert, -tlskey, -tlsca
// and -secret, each defaulting to the environment variable that names
// the same file for loom's clients (LOOM_TLSCERT, ...), so that one
// environment serves both ends.
type secure struct {
	cert, key, ca, secret *string

	once sync.Once
	keys *ninep.Keys
	err  error
}

// secureFlags defines serve's credential flags on fl.
func secureFlags(fl *flag.FlagSet) *secure {
	return &secure{
		cert:   fl.String("tlscert", os.Getenv(ninep.EnvCert), "`file` of the server's TLS certificate (PEM), for tls!host!port"),
		key:    fl.String("tlskey", os.Getenv(ninep.EnvKey), "`file` of the server's TLS key (PEM)"),
		ca:     fl.String("tlsca", os.Getenv(ninep.EnvCA), "`file` of the CA certificates that sign clients' certificates (PEM)"),
		secret: fl.String("secret", os.Getenv(ninep.EnvSecret), "`file` of a secret shared with clients (mode 0600), proven in 9P's auth"),
	}
}

// load reads the credentials once.
func (s *secure) load() (*ninep.Keys, error) {
	s.once.Do(func() {
		s.keys, s.err = ninep.LoadKeys(*s.cert, *s.key, *s.ca, *s.secret)
	})
	return s.keys, s.err
}

// given returns the credentials when any were given (by flag or by
// environment), for the registry's export and import; nil when none
// were, the registry then reading the environment at each use.
func (s *secure) given() (*ninep.Keys, error) {
	if *s.cert == "" && *s.key == "" && *s.ca == "" && *s.secret == "" {
		return nil, nil
	}
	return s.load()
}

// listen takes over from ninep.Listen's (l, err) for addr where that is
// not safe: a "tls!host!port" address is listened on under TLS with the
// credentials, and TCP off loopback is refused, with a message that
// says what is missing. Unix sockets and loopback TCP are left as they
// are.
func (s *secure) listen(addr string, l net.Listener, err error) (net.Listener, error) {
	network, address, perr := ninep.ParseAddr(addr)
	if !ninep.IsTLSAddr(addr) {
		if perr != nil || network != "tcp" {
			return l, err
		}
		if host, _, serr := net.SplitHostPort(address); serr == nil && isLoopback(host) {
			return l, err
		}
	}
	if l != nil {
		l.Close()
	}
	keys, kerr := s.load()
	if kerr != nil {
		return nil, kerr
	}
	return ninep.ListenSecure(addr, keys)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
