package ninep

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
)

// msgWriter writes 9P messages that its caller writes in pieces (the p9
// library writes header, body and payload of one message separately) as
// one vectored write each, so that a message is one system call and,
// over TCP, not split into several segments.
//
// It keeps the caller's slices until the message they belong to is
// complete, which the p9 library allows: it writes a whole message
// before it touches the buffers again.
type msgWriter struct {
	mu   sync.Mutex // held while a whole message goes out
	w    io.Writer
	sent func(n int) // told of each batch of n messages written; may be nil
	segs net.Buffers
	hdr  [4]byte // size field of the message being gathered
	nhdr int     // bytes of hdr seen
	left int     // bytes of the message after its size field still to come
	done int     // messages complete in segs
}

func (w *msgWriter) Write(b []byte) (int, error) {
	w.segs = append(w.segs, b)
	for p := b; len(p) > 0; {
		if w.nhdr < 4 {
			k := copy(w.hdr[w.nhdr:], p)
			w.nhdr += k
			p = p[k:]
			if w.nhdr == 4 {
				w.left = int(binary.LittleEndian.Uint32(w.hdr[:])) - 4
			}
		} else {
			k := min(w.left, len(p))
			w.left -= k
			p = p[k:]
		}
		if w.nhdr == 4 && w.left <= 0 {
			w.nhdr, w.left = 0, 0
			w.done++
		}
	}
	if w.nhdr != 0 || w.done == 0 {
		return len(b), nil
	}
	segs, n := w.segs, w.done
	w.segs, w.done = nil, 0
	w.mu.Lock()
	_, err := segs.WriteTo(w.w)
	w.mu.Unlock()
	if w.sent != nil {
		w.sent(n)
	}
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// writeMsg writes one whole message of our own between the caller's.
func (w *msgWriter) writeMsg(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.w.Write(b)
	return err
}
