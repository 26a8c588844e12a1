package ninep

import "sync"

// smallBuf is the size of the buffers that carry most messages: every
// T-message but a large Twrite, and the replies to small reads.
const smallBuf = 8 << 10

// A bufPool holds message buffers of one size. Pooling by the exact
// negotiated msize, rather than by powers of two, keeps the promise that
// no buffer for one message is larger than msize.
type bufPool struct {
	size int
	p    sync.Pool
}

// sharedPools holds the pools shared between connections: the small size
// and the msizes servers are configured with. A size a client picks for
// itself gets a pool of the connection's own, so that clients cannot
// make this map grow.
var sharedPools sync.Map // int -> *bufPool

func sharedPool(size int) *bufPool {
	if p, ok := sharedPools.Load(size); ok {
		return p.(*bufPool)
	}
	p, _ := sharedPools.LoadOrStore(size, &bufPool{size: size})
	return p.(*bufPool)
}

func (p *bufPool) get() *[]byte {
	if b, ok := p.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, p.size)
	return &b
}

func (p *bufPool) put(b *[]byte) {
	if b != nil {
		p.p.Put(b)
	}
}

// pools gives the small and large pools for a connection whose messages
// are at most msize bytes on a server configured for smsize.
func pools(msize, smsize uint32) (small, big *bufPool) {
	switch {
	case msize == smsize:
		big = sharedPool(int(msize))
	default:
		big = &bufPool{size: int(msize)}
	}
	if msize <= smallBuf {
		return big, big
	}
	return sharedPool(smallBuf), big
}
