package ninep

import (
	"testing"

	"9fans.net/go/plan9"
)

// FuzzDecodeReply feeds the 9P2000 client's reply decoder arbitrary
// messages: it must never panic, and what it accepts must encode again
// to a message it reads back the same.
func FuzzDecodeReply(f *testing.F) {
	for _, fc := range []*plan9.Fcall{
		{Type: plan9.Rversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"},
		{Type: plan9.Rerror, Tag: 1, Ename: "file does not exist"},
		{Type: plan9.Rattach, Tag: 2, Qid: plan9.Qid{Path: 1, Type: plan9.QTDIR}},
		{Type: plan9.Rwalk, Tag: 3, Wqid: []plan9.Qid{{Path: 2}, {Path: 3, Vers: 1}}},
		{Type: plan9.Ropen, Tag: 4, Qid: plan9.Qid{Path: 3}, Iounit: 8168},
		{Type: plan9.Rread, Tag: 5, Data: []byte("hello")},
		{Type: plan9.Rwrite, Tag: 6, Count: 5},
		{Type: plan9.Rclunk, Tag: 7},
		{Type: plan9.Rstat, Tag: 8, Stat: []byte{0, 0}},
		{Type: plan9.Rflush, Tag: 9},
	} {
		b, err := fc.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{7, 0, 0, 0, plan9.Tread, 1, 0})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeReply(b)
		if err != nil {
			return
		}
		enc, err := r.Bytes()
		if err != nil {
			t.Fatalf("decodeReply(%x) = %v, which does not encode: %v", b, r, err)
		}
		again, err := decodeReply(enc)
		if err != nil || again.String() != r.String() {
			t.Errorf("decodeReply(%x) = %v; encoded and read again: %v, %v", b, r, again, err)
		}
	})
}
