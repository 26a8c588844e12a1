package ninep

import (
	"sync"
	"sync/atomic"

	"9fans.net/go/plan9"

	"loom/ns"
)

// Fid states. A fid is born unopened (by attach or walk) or open (by
// create); opening marks a Topen or Tcreate in progress so that no
// other request opens, walks or creates from it meanwhile.
const (
	fidUnopened = iota
	fidOpening
	fidOpen
)

// A fid is what one 9P fid of a connection points at. The File behind a
// fid never changes: a walk onto the same fid number or a create makes a
// new fid and swaps it into the table.
//
// A fid is reference counted: the table holds one reference and every
// request using it holds one more, so that File.Clunk runs only after
// every other call on the File has returned, as ns requires.
type fid struct {
	num   uint32
	file  ns.File
	isDir bool
	refs  atomic.Int32

	// state holds the fid state in its low byte and, once open, the
	// open mode in the next; one atomic word so that the read and write
	// paths check it without a lock.
	state atomic.Uint32

	// Directory reading. dirMu serialises reads of one directory fid,
	// which make no sense concurrently anyway; ReadDir may block.
	dirMu      sync.Mutex
	dirEnd     uint64   // offset at which the previous read ended
	dirIndex   int      // index of the next entry to ask ReadDir for
	dirPending []ns.Dir // entries fetched but not yet sent
}

func newFid(num uint32, f ns.File, isDir bool) *fid {
	fd := &fid{num: num, file: f, isDir: isDir}
	fd.refs.Store(1) // the table's
	return fd
}

func (fd *fid) openMode() (state int, mode uint8) {
	v := fd.state.Load()
	return int(v & 0xff), uint8(v >> 8)
}

// begin moves an unopened fid to opening; it fails if the fid is open or
// being opened.
func (fd *fid) begin() bool { return fd.state.CompareAndSwap(fidUnopened, fidOpening) }

// abort returns an opening fid to unopened.
func (fd *fid) abort() { fd.state.Store(fidUnopened) }

// opened marks the fid open with mode.
func (fd *fid) opened(mode uint8) { fd.state.Store(fidOpen | uint32(mode)<<8) }

// fidTable is the fids of one connection.
type fidTable struct {
	mu   sync.RWMutex
	m    map[uint32]*fid
	max  int
	logf func(string, ...any)
}

// get returns the fid numbered num with a reference taken, or nil.
func (t *fidTable) get(num uint32) *fid {
	t.mu.RLock()
	fd := t.m[num]
	if fd != nil {
		fd.refs.Add(1)
	}
	t.mu.RUnlock()
	return fd
}

// canAdd reports why num cannot become a new fid, if it cannot.
func (t *fidTable) canAdd(num uint32) error {
	if num == plan9.NOFID {
		return errBadFid
	}
	t.mu.RLock()
	_, used := t.m[num]
	full := len(t.m) >= t.max
	t.mu.RUnlock()
	switch {
	case used:
		return errFidInUse
	case full:
		return errTooManyFids
	}
	return nil
}

// add enters fd under its number, failing if the number is taken or the
// table is full.
func (t *fidTable) add(fd *fid) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[fd.num]; ok {
		return errFidInUse
	}
	if len(t.m) >= t.max {
		return errTooManyFids
	}
	t.m[fd.num] = fd
	return nil
}

// swap replaces old by nfd under the same number, failing if old is no
// longer in the table (a concurrent clunk took it). On success the
// table's reference to old is handed to the caller.
func (t *fidTable) swap(old, nfd *fid) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[old.num] != old {
		return false
	}
	t.m[old.num] = nfd
	return true
}

// take removes the fid numbered num and hands the table's reference to
// the caller.
func (t *fidTable) take(num uint32) *fid {
	t.mu.Lock()
	fd := t.m[num]
	delete(t.m, num)
	t.mu.Unlock()
	return fd
}

// takeAll empties the table, handing its references to the caller.
func (t *fidTable) takeAll() []*fid {
	t.mu.Lock()
	fds := make([]*fid, 0, len(t.m))
	for _, fd := range t.m {
		fds = append(fds, fd)
	}
	clear(t.m)
	t.mu.Unlock()
	return fds
}

// unref drops one reference to fd and clunks its File when that was the
// last. The error is Clunk's, when this call clunked.
func (t *fidTable) unref(fd *fid) error {
	if fd.refs.Add(-1) != 0 {
		return nil
	}
	return safeClunk(fd.file, t.logf)
}

// safeClunk clunks f, turning a panic in the file server into an error.
func safeClunk(f ns.File, logf func(string, ...any)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			logf("9p: panic in Clunk: %v", p)
			err = errInternal
		}
	}()
	return f.Clunk()
}
