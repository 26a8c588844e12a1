package ninep

import "net"

// Dial connects to the 9P server at addr, given in Plan 9's dial form
// ("unix!/path", "tcp!host!port"; see ParseAddr, or "tls!host!port" with
// keys from the environment, see DialSecure), and returns a Client
// speaking the dialect the options choose (9P2000 unless told).
func Dial(addr string, opts ...DialOption) (*Client, error) {
	if IsTLSAddr(addr) {
		return dialEnv(addr, opts...) // tls.go: keys from the environment
	}
	cfg, err := newDialConfig(opts)
	if err != nil {
		return nil, err
	}
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: cfg.timeout}
	conn, err := d.Dial(network, address)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(conn, opts...)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}
