package ninep_test

import (
	"encoding/binary"
	"net"
	"testing"

	"9fans.net/go/plan9"

	ninep "loom/9p"
	"loom/components/ramfs"
)

// Raw messages for bad input, built by hand since plan9.Fcall will not
// encode them.

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func str(s string) []byte  { return append(le16(uint16(len(s))), s...) }

// msg builds a message of type typ with tag and body, sized right.
func msg(typ uint8, tag uint16, body ...[]byte) []byte {
	b := []byte{0, 0, 0, 0, typ}
	b = append(b, le16(tag)...)
	for _, p := range body {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// sized is msg with its size field set to size whatever the length.
func sized(size uint32, b []byte) []byte {
	b = append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(b, size)
	return b
}

func names(n int) []byte {
	var b []byte
	for range n {
		b = append(b, str("a")...)
	}
	return b
}

var badInputs = []struct {
	name    string
	version bool   // negotiate first
	in      []byte // what the client sends
	hangup  bool   // and then it closes its side
	want    string // the reply, or "closed" for a hang-up without one
}{
	{"zero size", true, []byte{0, 0, 0, 0}, false, "closed"},
	{"zero size first", false, []byte{0, 0, 0, 0}, false, "closed"},
	{"size 6", true, []byte{6, 0, 0, 0, plan9.Tclunk, 1, 0}, false, "closed"},
	{"size 4 first", false, []byte{4, 0, 0, 0, 0, 0, 0, 0}, false, "closed"},
	{"size over msize", true, sized(8193, msg(plan9.Twrite, 1, le32(0), le64(0), le32(8170), make([]byte, 8170))), false, "closed"},
	{"size 4 GiB", true, []byte{0xff, 0xff, 0xff, 0xff, plan9.Tclunk, 1, 0}, false, "closed"},
	{"size field cut short", true, []byte{7, 0}, true, "closed"},
	{"half a message then hang-up", true, msg(plan9.Tattach, 1, le32(1), le32(plan9.NOFID), str("glenda"), str(""))[:12], true, "closed"},
	{"header only then hang-up", true, le32(100), true, "closed"},
	{"unknown type", true, msg(200, 5, le32(0)), false, "Rerror tag 5 ename unknown message type"},
	{"unknown type first", false, msg(200, 5, le32(0)), false, "Rerror tag 5 ename unknown message type"},
	{"type 0", true, msg(0, 5), false, "Rerror tag 5 ename unknown message type"},
	{"Terror", true, msg(plan9.Terror, 5, str("x")), false, "Rerror tag 5 ename Terror is not a message"},
	{"R-message", true, msg(plan9.Rread, 5, le32(2), []byte("hi")), false, "Rerror tag 5 ename R-message sent to server"},
	{"Rversion", true, msg(plan9.Rversion, 5, le32(8192), str("9P2000")), false, "Rerror tag 5 ename R-message sent to server"},
	{"Rerror", true, msg(plan9.Rerror, 5, str("no")), false, "Rerror tag 5 ename R-message sent to server"},
	{"string longer than message", true, msg(plan9.Tattach, 5, le32(1), le32(plan9.NOFID), le16(1000), []byte("glenda"), str("")), false, "Rerror tag 5 ename message too short for its type"},
	{"string count cut", true, msg(plan9.Tversion, 5, le32(8192), []byte{6}), false, "Rerror tag 5 ename message too short for its type"},
	{"Tversion string longer than message", false, msg(plan9.Tversion, 5, le32(8192), le16(7), []byte("9P2000")), false, "Rerror tag 5 ename message too short for its type"},
	{"walk of 17 names", true, msg(plan9.Twalk, 5, le32(0), le32(1), le16(17), names(17)), false, "Rerror tag 5 ename too many names in walk"},
	{"walk count 65535", true, msg(plan9.Twalk, 5, le32(0), le32(1), le16(0xffff), names(2)), false, "Rerror tag 5 ename too many names in walk"},
	{"walk count over names", true, msg(plan9.Twalk, 5, le32(0), le32(1), le16(3), names(2)), false, "Rerror tag 5 ename message too short for its type"},
	{"walk count under names", true, msg(plan9.Twalk, 5, le32(0), le32(1), le16(1), names(2)), false, "Rerror tag 5 ename trailing bytes after message"},
	{"trailing bytes", true, msg(plan9.Tclunk, 5, le32(0), []byte{0}), false, "Rerror tag 5 ename trailing bytes after message"},
	{"trailing bytes first", false, msg(plan9.Tversion, 5, le32(8192), str("9P2000"), []byte("xx")), false, "Rerror tag 5 ename trailing bytes after message"},
	{"short Tread", true, msg(plan9.Tread, 5, le32(0), le64(0)), false, "Rerror tag 5 ename message too short for its type"},
	{"Twrite count over data", true, msg(plan9.Twrite, 5, le32(0), le64(0), le32(10), []byte("abc")), false, "Rerror tag 5 ename message too short for its type"},
	{"Twrite count under data", true, msg(plan9.Twrite, 5, le32(0), le64(0), le32(1), []byte("abc")), false, "Rerror tag 5 ename trailing bytes after message"},
	{"Twrite count 4 GiB", true, msg(plan9.Twrite, 5, le32(0), le64(0), le32(0xffffffff), []byte("abc")), false, "Rerror tag 5 ename message too short for its type"},
	{"Twstat count over stat", true, msg(plan9.Twstat, 5, le32(0), le16(100), []byte("abc")), false, "Rerror tag 5 ename message too short for its type"},
	{"Tflush short", true, msg(plan9.Tflush, 5, []byte{1}), false, "Rerror tag 5 ename message too short for its type"},
	{"bare header", true, msg(plan9.Tstat, 5), false, "Rerror tag 5 ename message too short for its type"},
	{"walk of empty name", true, msg(plan9.Twalk, 5, le32(0), le32(1), le16(1), str("")), false, "Rerror tag 5 ename bad character in file name"},
	{"walk of NUL name", true, msg(plan9.Twalk, 5, le32(0), le32(1), le16(1), str("a\x00b")), false, "Rerror tag 5 ename bad character in file name"},
}

// TestBadInput sends each bad input on its own connection and checks
// that the server answers it with Rerror on the right tag and serves on,
// or hangs up; and that another connection is served either way.
func TestBadInput(t *testing.T) {
	addr := startServer(t, ramfs.New(), ninep.Msize(8192))
	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			w := dial(t, addr)
			if tt.version {
				w.version(8192)
				w.attach(0)
			}
			w.sendRaw(tt.in)
			if tt.hangup {
				w.c.(*net.UnixConn).CloseWrite()
			}
			if tt.want == "closed" {
				w.expectClosed()
			} else {
				if r := w.recv(); r.String() != tt.want {
					t.Fatalf("got %v; want %s", r, tt.want)
				}
				// The connection goes on.
				w.version(8192)
			}
			healthy(t, addr)
		})
	}
}
