package test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// A lean 9P client for the benchmarks. It speaks just enough of both
// dialects to set up a fid, then sends pre-encoded messages one at a time
// and reads each reply into one reused buffer, so that what the
// benchmarks time is the server and the socket, not a client library.
// Tread, Rread, Twrite, Rwrite, Twalk, Rwalk, Tclunk and Rclunk have the
// same wire form in 9P2000 and 9P2000.L; only version, attach, open and
// stat differ.

// Message types used here (intro(5) and the 9P2000.L additions).
const (
	tLerror   = 7 // Rlerror
	tLopen    = 12
	tGetattr  = 24
	tVersion  = 100
	tAttach   = 104
	tError    = 107 // Rerror
	tWalk     = 110
	tOpen     = 112
	tRead     = 116
	tWrite    = 118
	tClunk    = 120
	tStat     = 124
	noTag     = 0xFFFF
	noFid     = 0xFFFFFFFF
	ioHdrSize = 24  // room a read or write message needs besides its data
	rreadHdr  = 11  // size[4] type[1] tag[2] count[4]
	treadSize = 23  // size[4] type[1] tag[2] fid[4] offset[8] count[4]
	smallLen  = 128 // bytes in the small file, and in one small read
	benchUser = "bench"
)

// Dialect version strings.
const (
	v9P2000  = "9P2000"
	v9P2000L = "9P2000.L"
)

// encode builds a 9P message of type typ with tag, appending each field
// in its wire form: integers little-endian, strings as len[2] then bytes,
// []string as a count[2] then strings, []byte as is.
func encode(typ uint8, tag uint16, fields ...any) []byte {
	b := make([]byte, 7, 64)
	b[4] = typ
	binary.LittleEndian.PutUint16(b[5:], tag)
	for _, f := range fields {
		switch v := f.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case string:
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
			b = append(b, v...)
		case []string:
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
			for _, s := range v {
				b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
				b = append(b, s...)
			}
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("encode: field of type %T", f))
		}
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// treadMsg is a Tread of count bytes at off; setOffset changes its offset
// in place.
func treadMsg(fid uint32, off uint64, count uint32) []byte {
	return encode(tRead, 1, fid, off, count)
}

// twriteMsg is a Twrite of data at off.
func twriteMsg(fid uint32, off uint64, data []byte) []byte {
	return encode(tWrite, 1, fid, off, uint32(len(data)), data)
}

// setOffset sets the offset of a pre-encoded Tread or Twrite.
func setOffset(msg []byte, off uint64) { binary.LittleEndian.PutUint64(msg[11:], off) }

// rawConn is one connection of the lean client.
type rawConn struct {
	c       net.Conn
	r       *bufio.Reader
	buf     []byte // the last reply; reused
	dialect string // v9P2000 or v9P2000L once versioned
	msize   uint32
}

// dialRaw connects to the unix socket addr without saying anything.
func dialRaw(addr string) (*rawConn, error) {
	c, err := net.Dial("unix", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 64<<10), buf: make([]byte, 8<<10)}, nil
}

// dial9P connects to addr and agrees on version and msize.
func dial9P(addr, version string, msize uint32) (*rawConn, error) {
	c, err := dialRaw(addr)
	if err != nil {
		return nil, err
	}
	if err := c.version(version, msize); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close hangs up.
func (c *rawConn) Close() error { return c.c.Close() }

// recv reads one message into c.buf and returns it.
func (c *rawConn) recv() ([]byte, error) {
	if _, err := io.ReadFull(c.r, c.buf[:4]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(c.buf)
	if n < 7 || n > 64<<20 {
		return nil, fmt.Errorf("reply size %d", n)
	}
	if int(n) > len(c.buf) {
		nb := make([]byte, n)
		copy(nb, c.buf[:4])
		c.buf = nb
	}
	if _, err := io.ReadFull(c.r, c.buf[4:n]); err != nil {
		return nil, err
	}
	return c.buf[:n], nil
}

// rpc sends the encoded T-message msg and returns its R-message, or the
// error the server answered with.
func (c *rawConn) rpc(msg []byte) ([]byte, error) {
	if _, err := c.c.Write(msg); err != nil {
		return nil, err
	}
	r, err := c.recv()
	if err != nil {
		return nil, err
	}
	if r[5] != msg[5] || r[6] != msg[6] {
		return nil, fmt.Errorf("reply tag %d to a message of tag %d",
			binary.LittleEndian.Uint16(r[5:]), binary.LittleEndian.Uint16(msg[5:]))
	}
	switch {
	case r[4] == tError && len(r) >= 9:
		n := int(binary.LittleEndian.Uint16(r[7:]))
		if 9+n > len(r) {
			return nil, fmt.Errorf("short Rerror")
		}
		return nil, fmt.Errorf("Rerror %q", r[9:9+n])
	case r[4] == tLerror && len(r) >= 11:
		return nil, fmt.Errorf("Rlerror errno %d", binary.LittleEndian.Uint32(r[7:]))
	case r[4] != msg[4]+1:
		return nil, fmt.Errorf("reply type %d to a message of type %d", r[4], msg[4])
	}
	return r, nil
}

// version sends Tversion and checks that the server took the dialect.
func (c *rawConn) version(version string, msize uint32) error {
	r, err := c.rpc(encode(tVersion, noTag, msize, version))
	if err != nil {
		return err
	}
	if len(r) < 13 {
		return fmt.Errorf("short Rversion")
	}
	got := string(r[13:min(len(r), 13+int(binary.LittleEndian.Uint16(r[11:])))])
	if got != version {
		return fmt.Errorf("Rversion %q; want %q", got, version)
	}
	c.dialect = version
	c.msize = binary.LittleEndian.Uint32(r[7:])
	return nil
}

// attach attaches fid to the default tree as benchUser.
func (c *rawConn) attach(fid uint32) error {
	var m []byte
	if c.dialect == v9P2000L {
		m = encode(tAttach, 1, fid, uint32(noFid), benchUser, "", uint32(noFid))
	} else {
		m = encode(tAttach, 1, fid, uint32(noFid), benchUser, "")
	}
	_, err := c.rpc(m)
	return err
}

// walkMsg is a Twalk from fid to newfid through names.
func walkMsg(fid, newfid uint32, names ...string) []byte {
	return encode(tWalk, 1, fid, newfid, names)
}

// walk walks fid to newfid through names and wants every name reached.
func (c *rawConn) walk(fid, newfid uint32, names ...string) error {
	r, err := c.rpc(walkMsg(fid, newfid, names...))
	if err != nil {
		return err
	}
	if n := int(binary.LittleEndian.Uint16(r[7:])); n != len(names) {
		return fmt.Errorf("walk %q reached %d names", names, n)
	}
	return nil
}

// openMsg opens fid with the Plan 9 mode (OREAD, OWRITE, ORDWR), as
// Topen in 9P2000 and as Tlopen with the same access bits in 9P2000.L.
func (c *rawConn) openMsg(fid uint32, mode uint8) []byte {
	if c.dialect == v9P2000L {
		return encode(tLopen, 1, fid, uint32(mode&3))
	}
	return encode(tOpen, 1, fid, mode)
}

// open opens fid with mode.
func (c *rawConn) open(fid uint32, mode uint8) error {
	_, err := c.rpc(c.openMsg(fid, mode))
	return err
}

// statMsg asks for fid's metadata: Tstat, or Tgetattr of the basic fields.
func (c *rawConn) statMsg(fid uint32) []byte {
	if c.dialect == v9P2000L {
		return encode(tGetattr, 1, fid, uint64(0x7ff))
	}
	return encode(tStat, 1, fid)
}

// clunkMsg is a Tclunk of fid.
func clunkMsg(fid uint32) []byte { return encode(tClunk, 1, fid) }

// clunk clunks fid.
func (c *rawConn) clunk(fid uint32) error {
	_, err := c.rpc(clunkMsg(fid))
	return err
}

// pread reads count bytes at off from the open fid and returns the data,
// which lives in c's buffer until the next message.
func (c *rawConn) pread(fid uint32, off uint64, count uint32) ([]byte, error) {
	r, err := c.rpc(treadMsg(fid, off, count))
	if err != nil {
		return nil, err
	}
	return rreadData(r)
}

// rreadData returns the data of the Rread r.
func rreadData(r []byte) ([]byte, error) {
	if len(r) < rreadHdr {
		return nil, fmt.Errorf("short Rread")
	}
	n := int(binary.LittleEndian.Uint32(r[7:]))
	if rreadHdr+n != len(r) {
		return nil, fmt.Errorf("Rread count %d in a message of %d bytes", n, len(r))
	}
	return r[rreadHdr:], nil
}

// pwrite writes data at off to the open fid and returns the count.
func (c *rawConn) pwrite(fid uint32, off uint64, data []byte) (int, error) {
	r, err := c.rpc(twriteMsg(fid, off, data))
	if err != nil {
		return 0, err
	}
	return rwriteCount(r)
}

// rwriteCount returns the count of the Rwrite r.
func rwriteCount(r []byte) (int, error) {
	if len(r) != 11 {
		return 0, fmt.Errorf("Rwrite of %d bytes", len(r))
	}
	return int(binary.LittleEndian.Uint32(r[7:])), nil
}
