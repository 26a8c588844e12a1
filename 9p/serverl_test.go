package ninep_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
)

// lDial connects the p9 library's own client, unwrapped, to addr: the
// server seen as Linux's v9fs sees it.
func lDial(t *testing.T, addr string) (*p9.Client, p9.File) {
	t.Helper()
	network, address, err := ninep.ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial(network, address)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p9.NewClient(conn, p9.WithMessageSize(64<<10))
	if err != nil {
		conn.Close()
		t.Fatalf("p9.NewClient = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	root, err := c.Attach("")
	if err != nil {
		t.Fatalf("Attach = %v", err)
	}
	return c, root
}

func lWalk(t *testing.T, f p9.File, names ...string) p9.File {
	t.Helper()
	_, nf, err := f.Walk(names)
	if err != nil {
		t.Fatalf("Walk(%q) = %v", names, err)
	}
	return nf
}

func lRead(t *testing.T, dir p9.File, name string) string {
	t.Helper()
	f := lWalk(t, dir, name)
	defer f.Close()
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatalf("Open(%s) = %v", name, err)
	}
	b := make([]byte, 1000)
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		t.Fatalf("ReadAt(%s) = %v", name, err)
	}
	return string(b[:n])
}

func lCreate(t *testing.T, dir p9.File, name, data string) {
	t.Helper()
	_, clone, err := dir.Walk(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _, _, err := clone.Create(name, p9.ReadWrite, 0644, p9.NoUID, p9.NoGID)
	if err != nil {
		clone.Close()
		t.Fatalf("Create(%s) = %v", name, err)
	}
	defer f.Close()
	if n, err := f.WriteAt([]byte(data), 0); n != len(data) || err != nil {
		t.Fatalf("WriteAt(%s) = %d, %v", name, n, err)
	}
}

// TestLServer drives the 9P2000.L engine with the p9 library's client,
// for what only 9P2000.L can ask: numeric owners, POSIX renames and
// unlinks, setattr, readdir offsets.
func TestLServer(t *testing.T) {
	addr := clServe(t, "unix", ramfs.New(), ninep.AttachUser("glenda"))
	_, root := lDial(t, addr)

	if _, err := root.Mkdir("d", 0755, p9.NoUID, p9.NoGID); err != nil {
		t.Fatalf("Mkdir(d) = %v", err)
	}
	if _, err := root.Mkdir("e", 0755, p9.NoUID, p9.NoGID); err != nil {
		t.Fatalf("Mkdir(e) = %v", err)
	}
	d := lWalk(t, root, "d")
	defer d.Close()
	lCreate(t, d, "f", "hello")

	// Owners: the attaching user's files are the server process's own;
	// the root is ramfs's owner's, a made-up number.
	f := lWalk(t, d, "f")
	defer f.Close()
	_, valid, a, err := f.GetAttr(p9.AttrMaskAll)
	if err != nil || !valid.Mode || !valid.UID {
		t.Fatalf("GetAttr(d/f) = %v, %v", valid, err)
	}
	// The group is the directory's, as in Plan 9: ramfs's owner's.
	if a.Mode != p9.ModeRegular|0644 || a.Size != 5 || a.UID != p9.UID(os.Getuid()) || a.GID < 1<<20 {
		t.Errorf("GetAttr(d/f) = %v; want a regular 0644 file of 5 bytes owned by uid %d", a, os.Getuid())
	}
	_, _, ra, err := root.GetAttr(p9.AttrMaskAll)
	if err != nil || !ra.Mode.IsDir() || ra.UID < 1<<20 {
		t.Errorf("GetAttr(/) = %v, %v; want a directory with a made-up owner", ra, err)
	}

	// Setattr: mode, size, mtime; owners only to themselves.
	err = f.SetAttr(p9.SetAttrMask{Permissions: true, Size: true, MTime: true, MTimeNotSystemTime: true},
		p9.SetAttr{Permissions: 0600, Size: 2, MTimeSeconds: 1e9})
	if err != nil {
		t.Errorf("SetAttr = %v", err)
	}
	if _, _, a, _ := f.GetAttr(p9.AttrMaskAll); a.Mode != p9.ModeRegular|0600 || a.Size != 2 || a.MTimeSeconds != 1e9 {
		t.Errorf("GetAttr after SetAttr = %v; want mode 0600, size 2, mtime 1e9", a)
	}
	if err := f.SetAttr(p9.SetAttrMask{UID: true}, p9.SetAttr{UID: 12345}); !errors.Is(err, linux.EPERM) {
		t.Errorf("SetAttr(uid 12345) = %v; want EPERM", err)
	}
	if err := f.SetAttr(p9.SetAttrMask{UID: true}, p9.SetAttr{UID: a.UID}); err != nil {
		t.Errorf("SetAttr(uid %d), the same, = %v; want nil", a.UID, err)
	}

	// Open with O_TRUNC empties the file.
	tf := lWalk(t, d, "f")
	if _, _, err := tf.Open(p9.WriteOnly | 0x200); err != nil {
		t.Errorf("Open(O_TRUNC) = %v", err)
	}
	tf.Close()
	if got := lRead(t, d, "f"); got != "" {
		t.Errorf("d/f after O_TRUNC = %q; want empty", got)
	}

	// Renames: within a directory, over an existing name as rename(2)
	// does, and not across directories.
	lCreate(t, d, "g", "gee")
	if err := d.RenameAt("f", d, "f2"); err != nil {
		t.Errorf("RenameAt(f, f2) = %v", err)
	}
	if err := d.RenameAt("g", d, "f2"); err != nil {
		t.Errorf("RenameAt(g, f2) over f2 = %v", err)
	}
	if got := lRead(t, d, "f2"); got != "gee" {
		t.Errorf("d/f2 after rename over it = %q; want gee", got)
	}
	e := lWalk(t, root, "e")
	defer e.Close()
	if err := d.RenameAt("f2", e, "f3"); !errors.Is(err, linux.EXDEV) {
		t.Errorf("RenameAt(d/f2, e/f3) = %v; want EXDEV", err)
	}

	// Readdir hands out offsets to go on from.
	for _, n := range []string{"a", "b", "c", "e"} {
		lCreate(t, d, n, n)
	}
	ld := lWalk(t, root, "d")
	defer ld.Close()
	if _, _, err := ld.Open(p9.ReadOnly); err != nil {
		t.Fatalf("Open(d) = %v", err)
	}
	var names []string
	for off := uint64(0); ; {
		ents, err := ld.Readdir(off, 60) // room for two entries at a time
		if err != nil {
			t.Fatalf("Readdir(%d) = %v", off, err)
		}
		if len(ents) == 0 {
			break
		}
		if len(ents) > 2 {
			t.Errorf("Readdir(%d, 60 bytes) = %d entries; want at most 2", off, len(ents))
		}
		for _, e := range ents {
			names = append(names, e.Name)
			off = e.Offset
		}
	}
	slices.Sort(names)
	if want := []string{"a", "b", "c", "e", "f2"}; !slices.Equal(names, want) {
		t.Errorf("Readdir(d) = %q; want %q", names, want)
	}

	// Unlink: AT_REMOVEDIR only for directories; directories only empty.
	if err := d.UnlinkAt("a", 0x200); !errors.Is(err, linux.ENOTDIR) {
		t.Errorf("UnlinkAt(a, AT_REMOVEDIR) = %v; want ENOTDIR", err)
	}
	if err := d.UnlinkAt("a", 0); err != nil {
		t.Errorf("UnlinkAt(a) = %v", err)
	}
	if _, _, err := d.Walk([]string{"a"}); !errors.Is(err, linux.ENOENT) {
		t.Errorf("Walk(a) after unlink = %v; want ENOENT", err)
	}
	if err := root.UnlinkAt("d", 0x200); !errors.Is(err, linux.ENOTEMPTY) {
		t.Errorf("UnlinkAt(d) = %v; want ENOTEMPTY", err)
	}

	// What loom has no use for.
	if _, err := d.Symlink("f2", "s", p9.NoUID, p9.NoGID); !errors.Is(err, linux.EPERM) {
		t.Errorf("Symlink = %v; want EPERM", err)
	}
	if _, _, err := root.Walk([]string{".."}); !errors.Is(err, linux.EINVAL) {
		t.Errorf("Walk(..) = %v; want EINVAL from the library", err)
	}
	if st, err := root.StatFS(); err != nil || st.Type != 0x01021997 || st.BlockSize == 0 {
		t.Errorf("StatFS = %+v, %v; want v9fs's magic", st, err)
	}
}

func openTest(t *testing.T, root ns.File, name string) ns.File {
	t.Helper()
	f := clWalk(t, root, name)
	if _, err := f.Open(context.Background(), ns.OREAD); err != nil {
		t.Fatalf("Open(%s) = %v", name, err)
	}
	return f
}

// TestLServerPanic has the file server panic under the 9P2000.L engine,
// in a request and in the clunks made when the client hangs up: the
// client gets an error, and the server goes on.
func TestLServerPanic(t *testing.T) {
	var logged atomic.Int32
	addr := clServe(t, "unix", newTestFS(), ninep.Logf(func(string, ...any) { logged.Add(1) }))
	c := clDial(t, addr, ninep.Dialect(ninep.Dialect9P2000L))
	root := clAttach(t, c, "glenda")
	p := openTest(t, root, "panic")
	if _, err := p.Read(context.Background(), make([]byte, 10), 0); err == nil {
		t.Errorf("Read(panic) = nil; want an error")
	}
	if got := clGet(t, root, "data"); got != "data" {
		t.Errorf("read data after a panic = %q; want data", got)
	}
	c.Close() // the server clunks "panic", which panics again

	root2 := clAttach(t, clDial(t, addr, ninep.Dialect(ninep.Dialect9P2000L)), "glenda")
	if got := clGet(t, root2, "data"); got != "data" {
		t.Errorf("read data on a new connection = %q; want data", got)
	}
	if logged.Load() == 0 {
		t.Errorf("no panic was logged")
	}
}

// TestLServerHangup checks that a client hanging up releases the
// requests it left blocked in the file server.
func TestLServerHangup(t *testing.T) {
	fsys := newTestFS()
	addr := clServe(t, "unix", fsys)
	c := clDial(t, addr, ninep.Dialect(ninep.Dialect9P2000L))
	b := openTest(t, clAttach(t, c, "glenda"), "block")
	done := blockedRead(context.Background(), fsys, b)
	c.Close()
	if err := <-fsys.returned; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Read in the server returned %v; want context.Canceled", err)
	}
	if err := <-done; !errors.Is(err, fs.ErrClosed) {
		t.Errorf("client's Read = %v; want fs.ErrClosed", err)
	}
}

// TestLServerMaxRequests checks that the 9P2000.L engine stops reading
// requests while MaxRequests of them are unanswered.
func TestLServerMaxRequests(t *testing.T) {
	fsys := newTestFS()
	addr := clServe(t, "unix", fsys, ninep.MaxRequests(2))
	c := clDial(t, addr, ninep.Dialect(ninep.Dialect9P2000L))
	root := clAttach(t, c, "glenda")
	var bs []ns.File
	for range 4 {
		bs = append(bs, openTest(t, root, "block"))
	}
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() {
			if _, err := b.Read(context.Background(), make([]byte, 10), 0); err != nil {
				t.Errorf("Read(block) = %v", err)
			}
		})
	}
	<-fsys.arrived
	<-fsys.arrived
	// Two more reads are on their way; give them a moment to arrive,
	// which they must not do.
	time.Sleep(50 * time.Millisecond)
	fsys.letGo()
	wg.Wait()
	if got := fsys.most.Load(); got != 2 {
		t.Errorf("most reads in the server at once = %d; want 2", got)
	}
}

// TestLServerTrace checks that the 9P2000.L engine traces each message
// both ways.
func TestLServerTrace(t *testing.T) {
	var buf traceBuf
	addr := clServe(t, "unix", ramfs.New(), ninep.Trace(&buf))
	c := clDial(t, addr, ninep.Dialect(ninep.Dialect9P2000L))
	clPut(t, clAttach(t, c, "glenda"), "f", "x")
	c.Close()
	out := buf.String()
	for _, want := range []string{"<- Tversion tag ", "-> Rversion tag ", "<- Tattach tag ", "-> Rattach tag ", "<- Twrite tag ", "-> Rwrite tag "} {
		if !strings.Contains(out, want) {
			t.Errorf("trace has no %q:\n%s", want, out)
		}
	}
}

// tversion is a 9P Tversion message.
func tversion(msize uint32, version string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0)
	b = append(b, 100, 0xff, 0xff)
	b = binary.LittleEndian.AppendUint32(b, msize)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(version)))
	b = append(b, version...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	network, address, _ := ninep.ParseAddr(addr)
	conn, err := net.Dial(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readRaw(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	b := make([]byte, binary.LittleEndian.Uint32(size[:]))
	copy(b, size[:])
	if _, err := io.ReadFull(conn, b[4:]); err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	return b
}

// TestLServerMsize checks that a 9P2000.L client gets no more than the
// server's msize, and that the clients keep to what was agreed.
func TestLServerMsize(t *testing.T) {
	addr := clServe(t, "unix", ramfs.New(), ninep.Msize(8192))
	conn := rawDial(t, addr)
	conn.Write(tversion(1<<20, "9P2000.L"))
	r := readRaw(t, conn)
	if len(r) < 11 || r[4] != 101 || binary.LittleEndian.Uint32(r[7:]) != 8192 {
		t.Errorf("Rversion = % x; want msize 8192", r)
	}

	for _, dialect := range clDialects {
		c := clDial(t, addr, ninep.Dialect(dialect), ninep.DialMsize(1<<20))
		if got := c.Msize(); got != 8192 {
			t.Errorf("%s: Msize() = %d; want 8192", dialect, got)
		}
		root := clAttach(t, c, "glenda")
		data := strings.Repeat("0123456789", 5000)
		clPut(t, root, "big"+dialect, data)
		f := openTest(t, root, "big"+dialect)
		buf := make([]byte, len(data))
		n, err := f.Read(context.Background(), buf, 0)
		if err != nil || n == 0 || n > 8192 || string(buf[:n]) != data[:n] {
			t.Errorf("%s: Read(%d bytes) = %d, %v; want one message's worth", dialect, len(buf), n, err)
		}
		f.Clunk()
		if got := clGet(t, root, "big"+dialect); got != data {
			t.Errorf("%s: read back %d bytes; want %d", dialect, len(got), len(data))
		}
	}
}

// TestLServerBadInput sends the 9P2000.L engine what no client should:
// the connection may end, but the server must go on.
func TestLServerBadInput(t *testing.T) {
	addr := clServe(t, "unix", ramfs.New())
	inputs := [][]byte{
		{0xff, 0xff, 0xff, 0x7f, 110, 0, 0},              // a size past any msize
		{7, 0, 0, 0, 250, 1, 0},                          // an unknown type
		{9, 0, 0, 0, 110, 1, 0, 1, 0},                    // a Twalk cut short
		{20, 0, 0, 0, 104, 1, 0, 1, 0, 0, 0, 0xff, 0xff}, // a Tattach with more string than message
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		b := make([]byte, 7+rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		binary.LittleEndian.PutUint32(b, uint32(len(b)))
		b[4] = byte(rng.IntN(30)*2 + 6) // a T-message type of 9P2000.L, or near one
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		conn := rawDial(t, addr)
		conn.Write(tversion(8192, "9P2000.L"))
		readRaw(t, conn)
		conn.Write(in)
		conn.Close()
	}
	root := clAttach(t, clDial(t, addr, ninep.Dialect(ninep.Dialect9P2000L)), "glenda")
	clPut(t, root, "f", "still here")
	if got := clGet(t, root, "f"); got != "still here" {
		t.Errorf("after bad input, read f = %q; want still here", got)
	}
}
