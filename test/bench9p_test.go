package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/hugelgupf/p9/p9"
)

// Benchmarks of loom's 9P listener against baselines in the same run.
//
// Names are Benchmark<Op>/<server>/<parameter>, where server is one of
//
//	loom9P  loom's listener, spoken to in 9P2000
//	loomL   loom's listener, spoken to in 9P2000.L
//	p9      github.com/hugelgupf/p9's stock server (9P2000.L)
//	srv9p   9fans.net/go/plan9/srv9p (9P2000)
//	bare    a unix socket with nothing behind it but an echo or a stream
//
// so that test/cmd/benchtable can line the servers up. Every server holds
// the same tree (see baseline_test.go), and every row but the
// ClientRoundTrip ones drives it with the lean client of raw9p_test.go.

// bigSize is the length of the bulk-read file and the most the bulk
// writes write.
const bigSize = 64 << 20

// target is a 9P server to measure and the dialect to speak to it.
type target struct {
	name    string
	addr    string
	version string
}

// startTargets starts loom and the two stock servers, each holding the
// benchmark tree with a big file of bigLen bytes.
func startTargets(tb testing.TB, bigLen int) []target {
	tb.Helper()
	loom := startLoom(tb, bigLen)
	return []target{
		{"loom9P", loom, v9P2000},
		{"loomL", loom, v9P2000L},
		{"p9", startP9(tb, bigLen), v9P2000L},
		{"srv9p", startSrv9P(tb, bigLen), v9P2000},
	}
}

// Fids the lean client uses: the root, and the file at hand.
const (
	rootFid = 0
	fileFid = 1
)

// attachTo connects to t with msize and attaches rootFid.
func attachTo(tb testing.TB, t target, msize uint32) *rawConn {
	tb.Helper()
	c, err := dial9P(t.addr, t.version, msize)
	if err != nil {
		tb.Fatalf("%s: dial: %v", t.name, err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.attach(rootFid); err != nil {
		tb.Fatalf("%s: attach: %v", t.name, err)
	}
	return c
}

// openOn connects to t with msize and leaves fileFid open on name with
// the Plan 9 mode.
func openOn(tb testing.TB, t target, msize uint32, name string, mode uint8) *rawConn {
	tb.Helper()
	c := attachTo(tb, t, msize)
	if err := c.walk(rootFid, fileFid, name); err != nil {
		tb.Fatalf("%s: walk %s: %v", t.name, name, err)
	}
	if err := c.open(fileFid, mode); err != nil {
		tb.Fatalf("%s: open %s: %v", t.name, name, err)
	}
	return c
}

// dialBare connects to a bare socket.
func dialBare(tb testing.TB, addr string) *rawConn {
	tb.Helper()
	c, err := dialRaw(addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// smallRead returns one round trip: a Tread of the small file's smallLen
// bytes on fileFid, with every byte of the answer checked.
func smallRead(c *rawConn) func() error {
	msg := treadMsg(fileFid, 0, smallLen)
	want := pattern(smallLen, smallSeed)
	return func() error {
		r, err := c.rpc(msg)
		if err != nil {
			return err
		}
		d, err := rreadData(r)
		if err != nil {
			return err
		}
		if !bytes.Equal(d, want) {
			return fmt.Errorf("read small = %x; want %x", d, want)
		}
		return nil
	}
}

// walkStatClunk returns the sequence walk root→small, stat, clunk.
func walkStatClunk(c *rawConn) func() error {
	walk := walkMsg(rootFid, fileFid, "small")
	stat := c.statMsg(fileFid)
	clunk := clunkMsg(fileFid)
	return func() error {
		r, err := c.rpc(walk)
		if err != nil {
			return err
		}
		if n := binary.LittleEndian.Uint16(r[7:]); n != 1 {
			return fmt.Errorf("walk small reached %d names; want 1", n)
		}
		if _, err := c.rpc(stat); err != nil {
			return err
		}
		_, err = c.rpc(clunk)
		return err
	}
}

// openReadClunk returns the sequence walk root→small, open, read it
// whole, clunk.
func openReadClunk(c *rawConn) func() error {
	walk := walkMsg(rootFid, fileFid, "small")
	open := c.openMsg(fileFid, plan9.OREAD)
	read := smallRead(c)
	clunk := clunkMsg(fileFid)
	return func() error {
		if _, err := c.rpc(walk); err != nil {
			return err
		}
		if _, err := c.rpc(open); err != nil {
			return err
		}
		if err := read(); err != nil {
			return err
		}
		_, err := c.rpc(clunk)
		return err
	}
}

// bulkRead returns the i'th read of msize-ioHdrSize bytes of the big
// file on fileFid, going round the file. With verify it checks every
// byte; the benchmarks check only the count, so as to time the server.
func bulkRead(c *rawConn, bigLen int, verify bool) func(i int) error {
	chunk := int(c.msize) - ioHdrSize
	n := bigLen / chunk
	msg := treadMsg(fileFid, 0, uint32(chunk))
	var want []byte
	if verify {
		want = pattern(bigLen, bigSeed)
	}
	return func(i int) error {
		off := i % n * chunk
		setOffset(msg, uint64(off))
		r, err := c.rpc(msg)
		if err != nil {
			return err
		}
		d, err := rreadData(r)
		if err != nil {
			return err
		}
		if len(d) != chunk {
			return fmt.Errorf("read %d at %d gave %d bytes", chunk, off, len(d))
		}
		if verify && !bytes.Equal(d, want[off:off+chunk]) {
			return fmt.Errorf("read %d at %d: wrong data", chunk, off)
		}
		return nil
	}
}

// bulkWrite returns the i'th write of msize-ioHdrSize bytes to the sink
// on fileFid, going round the first bigLen bytes.
func bulkWrite(c *rawConn, bigLen int, data []byte) func(i int) error {
	chunk := len(data)
	n := bigLen / chunk
	msg := twriteMsg(fileFid, 0, data)
	return func(i int) error {
		off := i % n * chunk
		setOffset(msg, uint64(off))
		r, err := c.rpc(msg)
		if err != nil {
			return err
		}
		if got, err := rwriteCount(r); err != nil || got != chunk {
			return fmt.Errorf("write %d at %d = %d, %v", chunk, off, got, err)
		}
		return nil
	}
}

// startTimer starts timing afresh after a collection, so that garbage
// from setting up (the files are big) is not collected on the clock.
func startTimer(b *testing.B) {
	runtime.GC()
	b.ResetTimer()
}

// runSequential runs op b.N times.
func runSequential(b *testing.B, op func() error) {
	startTimer(b)
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// runBulk runs op(i) for i from 0 to b.N-1, each moving n bytes.
func runBulk(b *testing.B, n int, op func(i int) error) {
	b.SetBytes(int64(n))
	startTimer(b)
	for i := range b.N {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
}

// runClients runs b.N ops split among one goroutine per op, each on its
// own connection, and reports time per op overall.
func runClients(b *testing.B, ops []func() error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	startTimer(b)
	for i, op := range ops {
		n := b.N / len(ops)
		if i < b.N%len(ops) {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := op(); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// roundTripMsize is the msize of the small-message benchmarks.
const roundTripMsize = 64 << 10

// BenchmarkRoundTrip times a 128-byte pread: Tread, Rread, with one
// client and with 16 clients on 16 connections at once. The bare row is
// the same exchange of message sizes with an echo.
func BenchmarkRoundTrip(b *testing.B) {
	ts := startTargets(b, 0)
	echo := startEcho(b)
	for _, clients := range []int{1, 16} {
		for _, t := range ts {
			b.Run(fmt.Sprintf("%s/clients=%d", t.name, clients), func(b *testing.B) {
				ops := make([]func() error, clients)
				for i := range ops {
					ops[i] = smallRead(openOn(b, t, roundTripMsize, "small", plan9.OREAD))
				}
				runClients(b, ops)
			})
		}
		b.Run(fmt.Sprintf("bare/clients=%d", clients), func(b *testing.B) {
			ops := make([]func() error, clients)
			for i := range ops {
				ops[i] = smallRead(dialBare(b, echo))
			}
			runClients(b, ops)
		})
	}
}

// BenchmarkWalkStatClunk times walk to a 1-name path, stat, clunk: three
// round trips.
func BenchmarkWalkStatClunk(b *testing.B) {
	for _, t := range startTargets(b, 0) {
		b.Run(t.name, func(b *testing.B) {
			runSequential(b, walkStatClunk(attachTo(b, t, roundTripMsize)))
		})
	}
}

// BenchmarkOpenReadClunk times walk to a small file, open, read it,
// clunk: four round trips.
func BenchmarkOpenReadClunk(b *testing.B) {
	for _, t := range startTargets(b, 0) {
		b.Run(t.name, func(b *testing.B) {
			runSequential(b, openReadClunk(attachTo(b, t, roundTripMsize)))
		})
	}
}

// bulkMsizes are the message sizes of the bulk benchmarks, by name.
var bulkMsizes = []struct {
	name  string
	msize uint32
}{
	{"64K", 64 << 10},
	{"1M", 1 << 20},
}

// BenchmarkBulkRead times reading a 64 MiB file in msize-ioHdrSize
// chunks, one outstanding read at a time. The bare row is a unix socket
// streaming frames of the same size one way.
func BenchmarkBulkRead(b *testing.B) {
	ts := startTargets(b, bigSize)
	stream := startStream(b)
	for _, m := range bulkMsizes {
		chunk := int(m.msize) - ioHdrSize
		for _, t := range ts {
			b.Run(fmt.Sprintf("%s/msize=%s", t.name, m.name), func(b *testing.B) {
				c := openOn(b, t, m.msize, "big", plan9.OREAD)
				if c.msize != m.msize {
					b.Fatalf("%s: msize %d; want %d", t.name, c.msize, m.msize)
				}
				runBulk(b, chunk, bulkRead(c, bigSize, false))
			})
		}
		b.Run(fmt.Sprintf("bare/msize=%s", m.name), func(b *testing.B) {
			c := dialBare(b, stream)
			if _, err := c.c.Write(treadMsg(0, 0, uint32(chunk))); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(chunk))
			startTimer(b)
			for range b.N {
				r, err := c.recv()
				if err != nil {
					b.Fatal(err)
				}
				if len(r) != rreadHdr+chunk {
					b.Fatalf("frame of %d bytes; want %d", len(r), rreadHdr+chunk)
				}
			}
		})
	}
}

// BenchmarkBulkWrite times writing msize-ioHdrSize chunks round the
// first 64 MiB of a file, one outstanding write at a time. The bare row
// is a unix socket taking frames of the same size one way.
func BenchmarkBulkWrite(b *testing.B) {
	ts := startTargets(b, 0)
	sink := startSink(b)
	for _, m := range bulkMsizes {
		data := pattern(int(m.msize)-ioHdrSize, 'w')
		for _, t := range ts {
			b.Run(fmt.Sprintf("%s/msize=%s", t.name, m.name), func(b *testing.B) {
				c := openOn(b, t, m.msize, "sink", plan9.OWRITE)
				if c.msize != m.msize {
					b.Fatalf("%s: msize %d; want %d", t.name, c.msize, m.msize)
				}
				runBulk(b, len(data), bulkWrite(c, bigSize, data))
			})
		}
		b.Run(fmt.Sprintf("bare/msize=%s", m.name), func(b *testing.B) {
			c := dialBare(b, sink)
			msg := twriteMsg(0, 0, data)
			b.SetBytes(int64(len(data)))
			startTimer(b)
			for range b.N {
				if _, err := c.c.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// smallReader reads the small file through a third-party client.
type smallReader struct {
	read  func(p []byte) (int, error)
	close func()
}

// dial9fans opens the small file of a 9P2000 target with the 9fans
// client.
func dial9fans(tb testing.TB, t target) smallReader {
	tb.Helper()
	nc, err := net.Dial("unix", t.addr)
	if err != nil {
		tb.Fatal(err)
	}
	cc, err := client.NewConn(nc)
	if err != nil {
		nc.Close()
		tb.Fatalf("%s: 9fans NewConn: %v", t.name, err)
	}
	fsys, err := cc.Attach(nil, benchUser, "")
	if err != nil {
		cc.Close()
		tb.Fatalf("%s: 9fans Attach: %v", t.name, err)
	}
	fid, err := fsys.Open("small", plan9.OREAD)
	if err != nil {
		cc.Close()
		tb.Fatalf("%s: 9fans Open: %v", t.name, err)
	}
	return smallReader{
		read:  func(p []byte) (int, error) { return fid.ReadAt(p, 0) },
		close: func() { fid.Close(); cc.Close() },
	}
}

// dialP9 opens the small file of a 9P2000.L target with the p9 client.
func dialP9(tb testing.TB, t target) smallReader {
	tb.Helper()
	nc, err := net.Dial("unix", t.addr)
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := p9.NewClient(nc, p9.WithMessageSize(roundTripMsize))
	if err != nil {
		nc.Close()
		tb.Fatalf("%s: p9 NewClient: %v", t.name, err)
	}
	root, err := pc.Attach("")
	if err != nil {
		pc.Close()
		tb.Fatalf("%s: p9 Attach: %v", t.name, err)
	}
	_, f, err := root.Walk([]string{"small"})
	if err != nil {
		pc.Close()
		tb.Fatalf("%s: p9 Walk: %v", t.name, err)
	}
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		pc.Close()
		tb.Fatalf("%s: p9 Open: %v", t.name, err)
	}
	return smallReader{
		read:  func(p []byte) (int, error) { return f.ReadAt(p, 0) },
		close: func() { f.Close(); root.Close(); pc.Close() },
	}
}

// readSmall reads the small file whole through r and checks it.
func readSmall(r smallReader, buf []byte) error {
	n, err := r.read(buf[:smallLen])
	if err != nil {
		return err
	}
	if n != smallLen || !bytes.Equal(buf[:n], pattern(smallLen, smallSeed)) {
		return fmt.Errorf("read small = %d bytes %x", n, buf[:n])
	}
	return nil
}

// BenchmarkClientRoundTrip times the same 128-byte pread as RoundTrip,
// one client, through the third-party client libraries instead of the
// lean client: the 9fans client against the 9P2000 servers, the p9
// client against the 9P2000.L ones. These rows include each client's
// own cost.
func BenchmarkClientRoundTrip(b *testing.B) {
	for _, t := range startTargets(b, 0) {
		name, dial := t.name+"/client=9fans", dial9fans
		if t.version == v9P2000L {
			name, dial = t.name+"/client=p9", dialP9
		}
		b.Run(name, func(b *testing.B) {
			r := dial(b, t)
			defer r.close()
			buf := make([]byte, smallLen)
			want := pattern(smallLen, smallSeed)
			startTimer(b)
			for range b.N {
				n, err := r.read(buf)
				if err != nil || n != smallLen {
					b.Fatalf("read = %d, %v; want %d", n, err, smallLen)
				}
			}
			b.StopTimer()
			if !bytes.Equal(buf, want) {
				b.Fatalf("read small = %x; want %x", buf, want)
			}
		})
	}
}

// TestBenchTargets checks that every server the benchmarks measure,
// loom and the baselines alike, answers each benchmark's requests with
// the right bytes, so that no row of the table times a server that is
// failing fast.
func TestBenchTargets(t *testing.T) {
	const bigLen = 1<<20 + 4321 // not a multiple of any chunk
	for _, tg := range startTargets(t, bigLen) {
		t.Run(tg.name, func(t *testing.T) {
			if tg.name == "p9" && raceOn {
				// p9 v0.3.0's Server.Handle returns while request
				// goroutines it started still run, which the race
				// detector reports now and then at a hang-up: the
				// library's race, not this harness's. loomL, loom's
				// adapter over the same library, drains its requests
				// before a hang-up and is checked here either way.
				t.Skip("p9's stock server races with itself at hang-up; checked by go test without -race")
			}
			c := openOn(t, tg, roundTripMsize, "small", plan9.OREAD)
			if err := smallRead(c)(); err != nil {
				t.Errorf("round trip: %v", err)
			}
			d, err := c.pread(fileFid, 100, smallLen)
			if want := pattern(smallLen, smallSeed)[100:]; err != nil || !bytes.Equal(d, want) {
				t.Errorf("pread(100, %d) = %x, %v; want %x", smallLen, d, err, want)
			}
			d, err = c.pread(fileFid, smallLen, smallLen)
			if err != nil || len(d) != 0 {
				t.Errorf("pread at end = %x, %v; want no bytes", d, err)
			}

			c = attachTo(t, tg, roundTripMsize)
			for i := range 3 {
				if err := walkStatClunk(c)(); err != nil {
					t.Errorf("walk+stat+clunk #%d: %v", i, err)
				}
				if err := openReadClunk(c)(); err != nil {
					t.Errorf("open+read+clunk #%d: %v", i, err)
				}
			}
			if err := c.walk(rootFid, fileFid, "nonexistent"); err == nil {
				t.Errorf("walk nonexistent = nil; want an error")
			}

			for _, m := range bulkMsizes {
				c := openOn(t, tg, m.msize, "big", plan9.OREAD)
				if c.msize != m.msize {
					t.Fatalf("msize %d; want %d", c.msize, m.msize)
				}
				read := bulkRead(c, bigLen, true)
				for i := range bigLen/(int(m.msize)-ioHdrSize) + 1 {
					if err := read(i); err != nil {
						t.Fatalf("msize %s: bulk read #%d: %v", m.name, i, err)
					}
				}
			}

			w := openOn(t, tg, 64<<10, "sink", plan9.OWRITE)
			data := pattern(64<<10-ioHdrSize, byte(len(tg.name)))
			write := bulkWrite(w, 4*len(data), data)
			for i := range 4 {
				if err := write(i); err != nil {
					t.Fatalf("bulk write #%d: %v", i, err)
				}
			}
			r := openOn(t, tg, 64<<10, "sink", plan9.OREAD)
			for i := range 4 {
				d, err := r.pread(fileFid, uint64(i*len(data)), uint32(len(data)))
				if err != nil || !bytes.Equal(d, data) {
					t.Errorf("read back chunk %d = %d bytes, %v; want what was written", i, len(d), err)
				}
			}

			dial := dial9fans
			if tg.version == v9P2000L {
				dial = dialP9
			}
			sr := dial(t, tg)
			defer sr.close()
			if err := readSmall(sr, make([]byte, smallLen)); err != nil {
				t.Errorf("third-party client: %v", err)
			}
		})
	}

	t.Run("bare", func(t *testing.T) {
		c := dialBare(t, startEcho(t))
		for range 3 {
			if err := smallRead(c)(); err != nil {
				t.Errorf("echo: %v", err)
			}
		}
		s := dialBare(t, startStream(t))
		const chunk = 1000
		if _, err := s.c.Write(treadMsg(0, 0, chunk)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			r, err := s.recv()
			if err != nil {
				t.Fatal(err)
			}
			if d, err := rreadData(r); err != nil || !bytes.Equal(d, pattern(chunk, bigSeed)) {
				t.Errorf("stream frame = %d bytes, %v; want %d bytes of the pattern", len(d), err, chunk)
			}
		}
		k := dialBare(t, startSink(t))
		for range 3 {
			if _, err := k.c.Write(twriteMsg(0, 0, pattern(chunk, 'w'))); err != nil {
				t.Errorf("sink write: %v", err)
			}
		}
	})
}
