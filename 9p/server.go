// Package ninep serves loom's file servers over 9P and reaches remote ones.
//
// One listener speaks both dialects: the first message of a connection is
// the client's Tversion, and its version string chooses the engine.
// "9P2000" (and any other "9P2000.x" but ".L") is served by this package's
// own engine on the message codec of 9fans.net/go/plan9; "9P2000.L" is
// served by github.com/hugelgupf/p9 over an adapter to the same seam. Both
// serve the same ns.FS, so a file written through one dialect is read back
// through the other.
package ninep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"9fans.net/go/plan9"

	"loom/ns"
)

// Protocol limits and defaults.
const (
	// IOHDRSZ is the room a read or write message needs besides its data.
	IOHDRSZ = 24
	// DefaultMsize is the largest message size the server agrees to
	// unless told otherwise.
	DefaultMsize = 1<<20 + IOHDRSZ
	// MinMsize is the smallest msize a client may ask for: room for a
	// header and a useful amount of data.
	MinMsize = 256
	// DefaultMaxFids bounds the fids one connection may hold.
	DefaultMaxFids = 4096
	// DefaultMaxRequests bounds the requests outstanding on one
	// connection; beyond it the server stops reading until one finishes.
	DefaultMaxRequests = 64
)

// A Server serves one ns.FS over 9P.
type Server struct {
	fs      ns.FS
	msize   uint32
	maxFids int
	maxReqs int
	trace   io.Writer
	traceMu sync.Mutex
	logf    func(format string, args ...any)
	luser   string // the user of every 9P2000.L attach (serverl.go)
}

// An Option configures a Server.
type Option func(*Server)

// Msize sets the largest message size the server agrees to.
func Msize(n uint32) Option { return func(s *Server) { s.msize = max(n, MinMsize) } }

// MaxFids bounds the fids one connection may hold at once.
func MaxFids(n int) Option { return func(s *Server) { s.maxFids = max(n, 1) } }

// MaxRequests bounds the requests one connection may have outstanding.
func MaxRequests(n int) Option { return func(s *Server) { s.maxReqs = max(n, 1) } }

// Trace makes the server print every message it reads and writes to w,
// one per line, in Plan 9's Fcall text form ("<- Tread tag 1 fid 2 ...").
func Trace(w io.Writer) Option { return func(s *Server) { s.trace = w } }

// Logf sets where the server reports trouble that has no client to tell
// (a connection that failed, a panic in a file server). The default is
// to say nothing.
func Logf(f func(format string, args ...any)) Option { return func(s *Server) { s.logf = f } }

// NewServer returns a server of fs.
func NewServer(fs ns.FS, opts ...Option) *Server {
	s := &Server{
		fs:      fs,
		msize:   DefaultMsize,
		maxFids: DefaultMaxFids,
		maxReqs: DefaultMaxRequests,
		logf:    func(string, ...any) {},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Server) tracef(format string, args ...any) {
	if s.trace == nil {
		return
	}
	s.traceMu.Lock()
	fmt.Fprintf(s.trace, format+"\n", args...)
	s.traceMu.Unlock()
}

// Serve accepts connections on l and serves each until ctx is done or l
// fails. When ctx is done, l and every connection are closed.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeConn(ctx, c); err != nil {
				s.logf("9p: %s: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

// ServeConn serves one connection until the client hangs up, the
// connection fails or ctx is done, and closes it. The first message
// chooses the dialect.
func (s *Server) ServeConn(ctx context.Context, c io.ReadWriteCloser) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	raw, err := readMsg(br, s.msize)
	if err != nil {
		c.Close()
		if err == io.EOF {
			return nil
		}
		return err
	}
	if len(raw) > 7 && raw[4] == plan9.Tversion && checkMsg(raw) == nil {
		f, err := plan9.UnmarshalFcall(raw)
		if err == nil && strings.HasPrefix(f.Version, "9P2000.L") {
			return s.serveL(ctx, c, io.MultiReader(bytes.NewReader(raw), br))
		}
	}
	return s.serve9P(ctx, c, br, raw)
}

// errMsgSize is returned for a size field that no message may have.
var errMsgSize = errors.New("9p: bad message size")

// readMsg reads one whole message of at most msize bytes. It allocates
// only once the size field has been checked against msize.
func readMsg(r io.Reader, msize uint32) ([]byte, error) {
	return readMsgBuf(r, msize, nil)
}

// readMsgBuf is readMsg reading into buf when the message fits, so that
// a caller done with one message before it reads the next allocates once.
func readMsgBuf(r io.Reader, msize uint32, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n < 7 || n > msize {
		return nil, fmt.Errorf("%w %d", errMsgSize, n)
	}
	b := buf[:0]
	if uint32(cap(b)) < n {
		b = make([]byte, n)
	}
	b = b[:n]
	copy(b, hdr[:])
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}
