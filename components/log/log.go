// Package log is loom's log component: one log shared by the components of
// a system, each writer's lines tagged with the time and the writer's
// name, bounded in size.
//
// A writer is a name. Components write through the Go API (Writer), and
// any client by creating the file NAME and writing to it. Each line
// written becomes a line of the log
//
//	2006-01-02T15:04:05.000Z NAME text
//
// with the time in UTC to the millisecond. A write may hold several lines;
// a line without its newline is kept, per open (per Writer), until the
// newline comes or the file is clunked (the Writer closed), and one
// longer than 64 KiB (or a quarter of MaxBytes, if less) is cut in pieces.
//
// Files:
//
//	all          every line, all writers interleaved in the order written
//	all.stream   the same as a stream
//	NAME         NAME's lines; writing appends lines as NAME
//	NAME.stream  NAME's lines as a stream
//
// A plain file (all, NAME) reads as the lines in the log when it was
// opened, then end of file: reading it twice in one open gives the same
// bytes, and `cat /log/all` ends. A stream file reads the lines in the log
// when it was opened and then blocks for new ones, without end: a read
// returns whole lines when they fit, ignores its offset, and returns
// ns.ErrInterrupt when its request is flushed.
//
// The log keeps at most MaxBytes bytes of lines (1 MiB by default): the
// oldest roll off as new ones come. A stream reader that falls behind the
// roll-off skips to the oldest line kept; it loses the lines in between
// and nothing else.
//
// Writer files are owned by their creator (the log's owner for writers of
// the Go API) with mode DMAPPEND|0664 at most; the root is DMDIR|0775, so
// only the owner (and its group) may add writers. Writers stay listed for
// the life of the log, at most 1024 of them.
package log

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"loom/components/synth"
	"loom/ns"
)

// Help describes the component for the shell's `help log`.
const Help = `log — one log for a system's components, bounded in size

	mount log DIR

Files:
	all          every writer's lines, in order; reading ends at the end
	all.stream   the same, then blocking for new lines
	NAME         writer NAME's lines; create it and write lines to log as NAME
	NAME.stream  NAME's lines, then blocking for new ones

Each line reads "2006-01-02T15:04:05.000Z NAME text". Old lines roll off
past the size bound (1 MiB by default); a stream that fell behind skips to
the oldest line kept.

Example:
	mount log /log
	echo started > /log/web
	cat /log/all
	cat /log/web.stream &
`

// DefaultMaxBytes is the bound on a log's lines when MaxBytes is not
// given.
const DefaultMaxBytes = 1 << 20

// maxWriters bounds the writers of a log, whose names stay.
const maxWriters = 1024

// timeFormat is a line's time stamp.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Option configures a Log.
type Option func(*Log)

// MaxBytes bounds the bytes of lines the log keeps (at least 1 KiB).
func MaxBytes(n int) Option { return func(l *Log) { l.max = max(n, 1<<10) } }

// Owner makes user the owner of the log ("loom" by default).
func Owner(user string) Option { return func(l *Log) { l.owner = user } }

// Clock makes now the source of the lines' times (time.Now by default),
// for tests.
func Clock(now func() time.Time) Option { return func(l *Log) { l.now = now } }

// ErrTooMany is the error of making a writer past the bound.
var ErrTooMany = errors.New("too many log writers")

// Log is a log component, an ns.FS.
type Log struct {
	*synth.FS
	max     int
	maxLine int
	owner   string
	now     func() time.Time

	mu      sync.Mutex
	cond    synth.Cond // a line was added
	lines   []line     // lines[head:] are kept, oldest first
	head    int
	first   uint64 // the sequence number of lines[head]
	size    int    // bytes kept
	writers map[string]*writer
	order   []*synth.Node // the root's entries after all and all.stream
}

type line struct {
	w    *writer
	text string // with its tag and newline
}

// writer is the state of a writer's name.
type writer struct {
	name   string
	size   int // bytes of its lines kept
	file   *synth.Node
	stream *synth.Node
}

// New returns an empty Log.
func New(opts ...Option) *Log {
	l := &Log{max: DefaultMaxBytes, owner: "loom", now: time.Now, writers: map[string]*writer{}}
	for _, o := range opts {
		o(l)
	}
	l.maxLine = min(64<<10, l.max/4)
	l.cond.L = &l.mu
	root := &synth.Node{
		Name: "/",
		Mode: ns.DMDIR | 0775,
		Children: []*synth.Node{
			{Name: "all", Mode: 0444, Open: l.openFile(nil), Length: func(*synth.Req) int64 { return l.length(nil) }},
			{Name: "all.stream", Mode: 0444, Open: l.openStream(nil)},
		},
		Gen: func(ctx context.Context, r *synth.Req) ([]*synth.Node, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.order, nil
		},
		Lookup: l.lookup,
		Create: func(ctx context.Context, r *synth.Req, name string, perm ns.Perm) (*synth.Node, error) {
			if perm.IsDir() {
				return nil, ns.ErrPerm
			}
			w, err := l.writer(name, r.User, ns.DMAPPEND|perm&0664, true)
			if err != nil {
				return nil, err
			}
			return w.file, nil
		},
	}
	l.FS = synth.New(root, synth.Owner(l.owner))
	return l
}

func (l *Log) lookup(ctx context.Context, r *synth.Req, name string) (*synth.Node, error) {
	for _, n := range r.Node.Children {
		if n.Name == name {
			return n, nil
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.writers[name]; w != nil {
		return w.file, nil
	}
	if w := l.writers[strings.TrimSuffix(name, ".stream")]; w != nil && strings.HasSuffix(name, ".stream") {
		return w.stream, nil
	}
	return nil, ns.ErrNotExist
}

// validWriter reports whether name may name a writer: a file name without
// blanks (it is a word of each line), not one of the log's own files and
// not ending in ".stream".
func validWriter(name string) bool {
	return name != "" && name != "." && name != ".." && name != "all" &&
		!strings.ContainsAny(name, "/\x00 \t\r\n") && !strings.HasSuffix(name, ".stream")
}

// writer returns the writer name, making it, owned by uid with mode, if
// need be. With excl, it must be new.
func (l *Log) writer(name, uid string, mode ns.Perm, excl bool) (*writer, error) {
	if !validWriter(name) {
		return nil, ns.ErrBadName
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.writers[name]; w != nil {
		if excl {
			return nil, ns.ErrExist
		}
		return w, nil
	}
	if len(l.writers) >= maxWriters {
		return nil, ErrTooMany
	}
	w := &writer{name: name}
	w.file = &synth.Node{Name: name, Mode: mode, Uid: uid, Open: l.openFile(w),
		Length: func(*synth.Req) int64 { return l.length(w) }}
	w.stream = &synth.Node{Name: name + ".stream", Mode: 0444, Uid: uid, Open: l.openStream(w)}
	l.writers[name] = w
	l.order = append(l.order[:len(l.order):len(l.order)], w.file, w.stream)
	return w, nil
}

// length gives the bytes of w's lines kept, or of all lines for nil.
func (l *Log) length(w *writer) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w == nil {
		return int64(l.size)
	}
	return int64(w.size)
}

// add adds one line (text without its newline) by w. The caller holds
// l.mu.
func (l *Log) add(w *writer, text []byte) {
	var stamp [40]byte
	ts := l.now().UTC().AppendFormat(stamp[:0], timeFormat)
	var b strings.Builder
	b.Grow(len(ts) + len(w.name) + len(text) + 3)
	b.Write(ts)
	b.WriteByte(' ')
	b.WriteString(w.name)
	b.WriteByte(' ')
	b.Write(text)
	b.WriteByte('\n')
	ln := line{w: w, text: b.String()}
	l.lines = append(l.lines, ln)
	l.size += len(ln.text)
	w.size += len(ln.text)
	for l.size > l.max && len(l.lines)-l.head > 1 {
		old := &l.lines[l.head]
		l.size -= len(old.text)
		old.w.size -= len(old.text)
		*old = line{}
		l.head++
		l.first++
	}
	// Give back the room of lines rolled off, so that the slice holds
	// at most about twice the lines kept.
	if l.head > 64 && l.head > len(l.lines)/2 {
		n := copy(l.lines, l.lines[l.head:])
		clear(l.lines[n:])
		l.lines = l.lines[:n]
		l.head = 0
	}
	l.cond.Broadcast()
}

// Writer writes lines to the log as one writer; make one with
// Log.Writer. Its methods may be called concurrently.
type Writer struct {
	l       *Log
	w       *writer
	mu      sync.Mutex
	partial []byte // a line not yet ended
}

// Writer returns a Writer that logs as name, making the writer's files if
// they are not there yet. Each Writer keeps its own unfinished line, so
// that Writers of one name do not mix their lines.
func (l *Log) Writer(name string) (*Writer, error) {
	w, err := l.writer(name, "", ns.DMAPPEND|0664, false)
	if err != nil {
		return nil, err
	}
	return &Writer{l: l, w: w}, nil
}

// Write logs the lines in p. A last line without newline waits for the
// rest of it.
func (wr *Writer) Write(p []byte) (int, error) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	n := len(p)
	l := wr.l
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			wr.partial = append(wr.partial, p...)
			for len(wr.partial) >= l.maxLine {
				l.add(wr.w, wr.partial[:l.maxLine])
				wr.partial = append(wr.partial[:0], wr.partial[l.maxLine:]...)
			}
			break
		}
		seg := p[:i]
		p = p[i+1:]
		if len(wr.partial) > 0 {
			wr.partial = append(wr.partial, seg...)
			seg = wr.partial
		}
		for len(seg) > l.maxLine {
			l.add(wr.w, seg[:l.maxLine])
			seg = seg[l.maxLine:]
		}
		l.add(wr.w, seg)
		wr.partial = wr.partial[:0]
	}
	if cap(wr.partial) > l.maxLine*2 {
		wr.partial = append([]byte(nil), wr.partial...)
	}
	return n, nil
}

// Close logs the unfinished line, if any, as a line.
func (wr *Writer) Close() error {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if len(wr.partial) > 0 {
		wr.l.mu.Lock()
		wr.l.add(wr.w, wr.partial)
		wr.l.mu.Unlock()
		wr.partial = nil
	}
	return nil
}

// snapshot gives the lines kept by w (all lines for nil).
func (l *Log) snapshot(w *writer) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	size := l.size
	if w != nil {
		size = w.size
	}
	b := make([]byte, 0, size)
	for _, ln := range l.lines[l.head:] {
		if w == nil || ln.w == w {
			b = append(b, ln.text...)
		}
	}
	return b
}

// openFile opens all (w nil) or a writer's file: reads give the lines at
// open; writes log lines as w.
func (l *Log) openFile(w *writer) synth.OpenFunc {
	return func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
		h := &synth.Handle{}
		if r.Mode&3 != ns.OWRITE {
			data := l.snapshot(w)
			h.Read = func(ctx context.Context, p []byte, off int64) (int, error) {
				return synth.ReadAt(data, p, off), nil
			}
		}
		if w != nil && r.Mode&3 != ns.OREAD {
			wr := &Writer{l: l, w: w}
			h.Write = func(ctx context.Context, p []byte, off int64) (int, error) {
				return wr.Write(p)
			}
			h.Clunk = wr.Close
		}
		return h, nil
	}
}

// openStream opens all.stream (w nil) or a writer's stream.
func (l *Log) openStream(w *writer) synth.OpenFunc {
	return func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
		l.mu.Lock()
		s := &stream{l: l, w: w, next: l.first}
		l.mu.Unlock()
		return &synth.Handle{Read: s.read}, nil
	}
}

// stream is one open of a stream file: where it is in the log.
type stream struct {
	l    *Log
	w    *writer
	mu   sync.Mutex // one read at a time moves the place
	next uint64     // the sequence number of the next line to read
	off  int        // how much of that line was read
}

func (s *stream) read(ctx context.Context, p []byte, _ int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for {
		if s.next < l.first {
			// Fallen behind the roll-off: on from the oldest kept.
			s.next, s.off = l.first, 0
		}
		end := l.first + uint64(len(l.lines)-l.head)
		for ; s.next < end; s.next, s.off = s.next+1, 0 {
			ln := l.lines[l.head+int(s.next-l.first)]
			if s.w != nil && ln.w != s.w {
				continue
			}
			rest := ln.text[s.off:]
			if len(rest) > len(p)-n {
				if n > 0 {
					return n, nil
				}
				// A line longer than the reader's buffer comes in
				// pieces.
				s.off += copy(p, rest)
				return len(p), nil
			}
			n += copy(p[n:], rest)
		}
		if n > 0 {
			return n, nil
		}
		if err := l.cond.Wait(ctx); err != nil {
			return 0, err
		}
	}
}
