package ramfs

import (
	"slices"
	"sync/atomic"
)

// chunkSize is the unit in which file contents are shared between an FS
// and its clones: a write after Clone copies the chunks it touches, not
// the file.
const chunkSize = 64 << 10

// gens hands out generations: each node writes in place only the chunks
// of its own generation, and Clone gives both sides new ones, so that a
// chunk made before the clone is never written again by either.
var gens atomic.Uint64

func newGen() uint64 { return gens.Add(1) }

// A chunk is chunkSize bytes of a file or, at the end of the data a
// chunk holds, fewer: bytes past len(b) within the file are zeros.
type chunk struct {
	gen uint64 // of the node that made it, which alone may write it
	b   []byte
}

// content is a file's data, as chunks that clones share until written.
// A nil chunk is a run of zeros (a hole). The node's lock guards it.
type content struct {
	gen    uint64
	chunks []*chunk
	shared bool // chunks, the slice, is shared with a clone
	length int64
}

// share makes c and a copy of it, which the caller gives a clone, write
// their chunks only by copying them.
func (c *content) share() content {
	c.gen, c.shared = newGen(), true
	return content{gen: newGen(), chunks: c.chunks, shared: true, length: c.length}
}

// readAt copies the data at off into p, as far as the file goes.
func (c *content) readAt(p []byte, off int64) int {
	if off >= c.length {
		return 0
	}
	n := int(min(int64(len(p)), c.length-off))
	p = p[:n]
	for len(p) > 0 {
		i, o := off/chunkSize, int(off%chunkSize)
		m := min(len(p), chunkSize-o)
		var src []byte
		if ch := c.chunks[i]; ch != nil && o < len(ch.b) {
			src = ch.b[o:]
		}
		k := copy(p[:m], src)
		clear(p[k:m])
		p, off = p[m:], off+int64(m)
	}
	return n
}

// own makes chunk i the node's own, holding at least upto bytes, so that
// it may be written in place.
func (c *content) own(i int64, upto int) *chunk {
	if c.shared {
		c.chunks, c.shared = slices.Clone(c.chunks), false
	}
	ch := c.chunks[i]
	switch {
	case ch == nil:
		ch = &chunk{gen: c.gen, b: make([]byte, upto, chunkCap(upto))}
	case ch.gen != c.gen:
		b := make([]byte, max(upto, len(ch.b)), chunkCap(max(upto, len(ch.b))))
		copy(b, ch.b)
		ch = &chunk{gen: c.gen, b: b}
	case len(ch.b) < upto:
		old := len(ch.b)
		if upto <= cap(ch.b) {
			ch.b = ch.b[:upto]
			clear(ch.b[old:])
		} else {
			b := make([]byte, upto, chunkCap(max(upto, 2*old)))
			copy(b, ch.b)
			ch.b = b
		}
	}
	c.chunks[i] = ch
	return ch
}

// chunkCap is the capacity to give a chunk that must hold n bytes: room
// to grow, within a chunk.
func chunkCap(n int) int { return min(max(n, 64), chunkSize) }

// writeAt writes p at off, growing the file as needed. The caller has
// bounded off+len(p).
func (c *content) writeAt(p []byte, off int64) {
	if end := off + int64(len(p)); end > c.length {
		c.setLength(end)
	}
	for len(p) > 0 {
		i, o := off/chunkSize, int(off%chunkSize)
		m := min(len(p), chunkSize-o)
		ch := c.own(i, o+m)
		copy(ch.b[o:], p[:m])
		p, off = p[m:], off+int64(m)
	}
}

// setLength truncates or extends the file; what is new reads as zeros.
func (c *content) setLength(l int64) {
	if l == c.length {
		return
	}
	if l == 0 {
		*c = content{gen: c.gen}
		return
	}
	n := (l + chunkSize - 1) / chunkSize
	if c.shared {
		c.chunks, c.shared = slices.Clone(c.chunks), false
	}
	if l < c.length {
		clear(c.chunks[n:])
		c.chunks = c.chunks[:n]
		// The last chunk must not keep bytes past the new end, which
		// a later extension would show again.
		last := int(l - (n-1)*chunkSize)
		if ch := c.chunks[n-1]; ch != nil && len(ch.b) > last {
			if ch.gen == c.gen {
				ch.b = ch.b[:last]
			} else {
				c.chunks[n-1] = &chunk{gen: c.gen, b: slices.Clone(ch.b[:last])}
			}
		}
	} else {
		for int64(len(c.chunks)) < n {
			c.chunks = append(c.chunks, nil)
		}
	}
	c.length = l
}

// bytes returns the whole file, for those who must have it in one piece.
func (c *content) bytes() []byte {
	b := make([]byte, c.length)
	c.readAt(b, 0)
	return b
}
