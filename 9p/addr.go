package ninep

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// ParseAddr turns an address in Plan 9's dial form into a Go network and
// address: "unix!/path" is ("unix", "/path"); "tcp!host!port" is ("tcp",
// "host:port"); "tcp!*!port" listens on every address. A bare path
// beginning with "/" is taken as a unix socket; "host:port" as TCP.
func ParseAddr(addr string) (network, address string, err error) {
	f := strings.Split(addr, "!")
	switch {
	case len(f) == 2 && f[0] == "unix" && f[1] != "":
		return "unix", f[1], nil
	case len(f) == 3 && (f[0] == "tcp" || f[0] == "net") && f[2] != "":
		host := f[1]
		if host == "*" {
			host = ""
		}
		return "tcp", net.JoinHostPort(host, f[2]), nil
	case len(f) == 1 && strings.HasPrefix(addr, "/"):
		return "unix", addr, nil
	case len(f) == 1 && strings.Contains(addr, ":"):
		if _, _, err := net.SplitHostPort(addr); err == nil {
			return "tcp", addr, nil
		}
	}
	return "", "", fmt.Errorf("bad address %q: want unix!/path or tcp!host!port", addr)
}

// Listen listens on addr, given in dial form (see ParseAddr). A unix
// socket left behind by an earlier server that is no longer listening is
// replaced; a live one is not.
func Listen(addr string) (net.Listener, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen(network, address)
	if err != nil && network == "unix" {
		if c, derr := net.Dial("unix", address); derr == nil {
			c.Close()
			return nil, err
		}
		if fi, serr := os.Lstat(address); serr == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(address)
			l, err = net.Listen(network, address)
		}
	}
	return l, err
}
