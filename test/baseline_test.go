package test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"9fans.net/go/plan9/srv9p"
	"github.com/hugelgupf/p9/fsimpl/templatefs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// The baselines that loom's listener is measured against, each serving
// the same tree as loom does in the benchmarks: a root directory holding
// "small" (smallLen bytes), "big" (the bulk-read file) and "sink" (empty,
// for bulk writes). Their contents come from pattern, so a reader can
// check every byte.

// pattern returns n bytes that differ from one offset to the next and
// from one seed to another.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ byte(i>>8)*7 ^ byte(i>>16)*13 ^ seed
	}
	return b
}

// Seeds of the files' contents.
const (
	smallSeed = 's'
	bigSeed   = 'b'
)

// serveUnix listens on a unix socket in a temporary directory and calls
// handle for each connection in its own goroutine, closing the connection
// when handle returns. At cleanup it closes the listener and every live
// connection and waits for the handlers.
func serveUnix(tb testing.TB, name string, handle func(net.Conn)) string {
	tb.Helper()
	addr := filepath.Join(tb.TempDir(), name)
	l, err := net.Listen("unix", addr)
	if err != nil {
		tb.Fatalf("listen(%q) = %v", addr, err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				handle(c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			})
		}
	})
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return addr
}

// --- stock 9P2000.L server: github.com/hugelgupf/p9 over memP9 ---

// memNode is a file of the in-memory tree served through p9.
type memNode struct {
	qid      p9.QID
	mode     p9.FileMode
	children map[string]*memNode // of a directory; fixed once served

	mu   sync.RWMutex
	data []byte
}

// memP9 is a p9.Attacher of a one-directory in-memory tree.
type memP9 struct {
	root *memNode
}

// newMemP9 returns the tree with the benchmark files.
func newMemP9(bigSize int) *memP9 {
	file := func(path uint64, data []byte) *memNode {
		return &memNode{qid: p9.QID{Type: p9.TypeRegular, Path: path}, mode: p9.ModeRegular | 0666, data: data}
	}
	return &memP9{root: &memNode{
		qid:  p9.QID{Type: p9.TypeDir, Path: 1},
		mode: p9.ModeDirectory | 0777,
		children: map[string]*memNode{
			"small": file(2, pattern(smallLen, smallSeed)),
			"big":   file(3, pattern(bigSize, bigSeed)),
			"sink":  file(4, nil),
		},
	}}
}

// Attach implements p9.Attacher.
func (m *memP9) Attach() (p9.File, error) { return &memP9File{n: m.root}, nil }

// memP9File is a fid's view of a memNode. The p9 server serialises
// walks and opens per fid and lets reads and writes run concurrently, so
// only the data needs a lock.
type memP9File struct {
	templatefs.NoopFile
	n *memNode
}

var _ p9.File = (*memP9File)(nil)

// Walk implements p9.File.
func (f *memP9File) Walk(names []string) ([]p9.QID, p9.File, error) {
	n := f.n
	var qids []p9.QID
	for _, name := range names {
		if n.children == nil {
			return nil, nil, linux.ENOTDIR
		}
		c, ok := n.children[name]
		if !ok {
			return nil, nil, linux.ENOENT
		}
		n = c
		qids = append(qids, n.qid)
	}
	return qids, &memP9File{n: n}, nil
}

// GetAttr implements p9.File.
func (f *memP9File) GetAttr(req p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	f.n.mu.RLock()
	size := len(f.n.data)
	f.n.mu.RUnlock()
	attr := p9.Attr{Mode: f.n.mode, NLink: 1, Size: uint64(size), BlockSize: 4096}
	return f.n.qid, p9.AttrMask{Mode: true, NLink: true, UID: true, GID: true, Size: true}, attr, nil
}

// Open implements p9.File; the server has checked that a directory is
// opened read-only.
func (f *memP9File) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	return f.n.qid, 0, nil
}

// ReadAt implements p9.File.
func (f *memP9File) ReadAt(p []byte, off int64) (int, error) {
	if f.n.children != nil {
		return 0, linux.EISDIR
	}
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	if off >= int64(len(f.n.data)) {
		return 0, nil
	}
	return copy(p, f.n.data[off:]), nil
}

// WriteAt implements p9.File.
func (f *memP9File) WriteAt(p []byte, off int64) (int, error) {
	if f.n.children != nil {
		return 0, linux.EISDIR
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if end := int(off) + len(p); end > len(f.n.data) {
		f.n.data = slices.Grow(f.n.data, end-len(f.n.data))[:end]
	}
	return copy(f.n.data[off:], p), nil
}

// startP9 serves the tree with p9's stock server, one Handle per
// connection as p9's own Serve does.
func startP9(tb testing.TB, bigSize int) string {
	srv := p9.NewServer(newMemP9(bigSize))
	return serveUnix(tb, "p9.sock", func(c net.Conn) { srv.Handle(c, c) })
}

// --- stock 9P2000 server: 9fans.net/go/plan9/srv9p over its file tree ---

// srvData is the contents of a file of the srv9p tree, kept in File.Aux.
type srvData struct {
	mu   sync.RWMutex
	data []byte
}

// newSrv9PTree returns srv9p's tree with the benchmark files.
func newSrv9PTree(tb testing.TB, bigSize int) *srv9p.Tree {
	t := srv9p.NewTree(benchUser, benchUser, 0777, nil)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"small", pattern(smallLen, smallSeed)},
		{"big", pattern(bigSize, bigSeed)},
		{"sink", nil},
	} {
		file, err := t.Root.Create(f.name, benchUser, 0666, &srvData{data: f.data})
		if err != nil {
			tb.Fatalf("srv9p Create(%q) = %v", f.name, err)
		}
		file.Stat.Length = uint64(len(f.data))
	}
	return t
}

// newSrv9P returns a srv9p server, which serves one conversation, over
// the shared tree.
func newSrv9P(t *srv9p.Tree) *srv9p.Server {
	return &srv9p.Server{
		Tree:  t,
		Msize: 8 << 20,
		Read: func(ctx context.Context, fid *srv9p.Fid, p []byte, off int64) (int, error) {
			d := fid.File().Aux.(*srvData)
			d.mu.RLock()
			defer d.mu.RUnlock()
			return fid.ReadBytes(p, off, d.data)
		},
		Write: func(ctx context.Context, fid *srv9p.Fid, p []byte, off int64) (int, error) {
			d := fid.File().Aux.(*srvData)
			d.mu.Lock()
			defer d.mu.Unlock()
			if end := int(off) + len(p); end > len(d.data) {
				d.data = slices.Grow(d.data, end-len(d.data))[:end]
			}
			return copy(d.data[off:], p), nil
		},
	}
}

// startSrv9P serves the srv9p tree, one srv9p.Server per connection.
func startSrv9P(tb testing.TB, bigSize int) string {
	t := newSrv9PTree(tb, bigSize)
	return serveUnix(tb, "srv9p.sock", func(c net.Conn) { newSrv9P(t).Serve(c, c) })
}

// --- bare unix sockets ---

// startEcho serves the round-trip floor: for each message read, framed
// like a 9P message, it writes back an Rread-shaped reply of smallLen
// bytes with the same tag. Nothing is decoded, looked up or allocated.
func startEcho(tb testing.TB) string {
	return serveUnix(tb, "echo.sock", func(c net.Conn) {
		r := bufio.NewReaderSize(c, 64<<10)
		in := make([]byte, 8<<10)
		out := encode(tRead+1, 0, uint32(smallLen), pattern(smallLen, smallSeed))
		for {
			m, err := readFrame(r, in)
			if err != nil {
				return
			}
			copy(out[5:7], m[5:7])
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	})
}

// startStream serves the bulk-read floor: after one Tread-shaped request
// naming a count, it writes Rread-shaped frames of that many bytes as
// fast as the socket takes them, until the client hangs up.
func startStream(tb testing.TB) string {
	return serveUnix(tb, "stream.sock", func(c net.Conn) {
		in := make([]byte, treadSize)
		m, err := readFrame(c, in)
		if err != nil || len(m) != treadSize {
			return
		}
		n := binary.LittleEndian.Uint32(m[19:])
		out := encode(tRead+1, 1, n, pattern(int(n), bigSeed))
		for {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	})
}

// startSink serves the bulk-write floor: it reads Twrite-shaped frames
// and drops them, answering nothing.
func startSink(tb testing.TB) string {
	return serveUnix(tb, "sink.sock", func(c net.Conn) {
		r := bufio.NewReaderSize(c, 64<<10)
		in := make([]byte, 8<<10)
		for {
			m, err := readFrame(r, in)
			if err != nil {
				return
			}
			in = m[:cap(m)]
		}
	})
}

// readFrame reads one size-prefixed frame into buf, growing it if need
// be, and returns the frame.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(buf))
	if n < 7 || n > 64<<20 {
		return nil, errors.New("bad frame size")
	}
	if n > len(buf) {
		nb := make([]byte, n)
		copy(nb, buf[:4])
		buf = nb
	}
	if _, err := io.ReadFull(r, buf[4:n]); err != nil {
		return nil, err
	}
	return buf[:n], nil
}
