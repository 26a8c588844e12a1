package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"

	"loom/components/synth"
	"loom/ns"
)

// Images over 9P: /systems/NAME/image of the tree reads as a save image
// of NAME taken when the file is opened, and load -n reads an image from
// a file of the current system's namespace. Together, with an import of
// another loom's tree, they clone a system from one server onto another
// with nothing but 9P between the two:
//
//	import tls!a.example!5640 /n/a
//	load -n /n/a/systems/web/image as web2

// imageFile is the Open of /systems/NAME/image: a snapshot taken at the
// open, not kept among the system's snapshots, read as WriteImage
// writes it.
func (t *Tree) imageFile(name string) synth.OpenFunc {
	return func(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
		sys, err := t.reg.Get(name)
		if err != nil {
			return nil, ns.ErrNotExist
		}
		sn, err := sys.capture(ctx)
		if err != nil {
			return nil, err
		}
		s := &imageStream{sn: sn}
		return &synth.Handle{Read: s.read, Clunk: s.close}, nil
	}
}

// An imageStream gives the bytes of a snapshot's image as they are
// written, rather than holding the whole image: reads in order take
// them as they come; a read before what was read already starts the
// writing again (the image of one snapshot is always the same bytes),
// and one beyond it skips ahead.
type imageStream struct {
	sn *Snapshot

	mu   sync.Mutex
	r    *io.PipeReader // nil before the first read and after close
	pos  int64          // the offset of the next byte of r
	done chan struct{}  // closed when the writer has returned
}

func (s *imageStream) read(ctx context.Context, p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil || off < s.pos {
		s.stop()
		s.start()
	}
	if off > s.pos {
		n, err := io.CopyN(io.Discard, s.r, off-s.pos)
		s.pos += n
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
	}
	n, err := io.ReadFull(s.r, p)
	s.pos += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return n, err
}

// start starts writing the image. Called with s.mu held.
func (s *imageStream) start() {
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.CloseWithError(WriteImage(w, s.sn, nil))
	}()
	s.r, s.pos, s.done = r, 0, done
}

// stop stops the writer, if any. Called with s.mu held.
func (s *imageStream) stop() {
	if s.r == nil {
		return
	}
	s.r.CloseWithError(ns.ErrClosed)
	<-s.done
	s.r = nil
}

func (s *imageStream) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop()
	return nil
}

// LoadNS makes and registers the system whose image is the file p of
// the namespace of the system cur (a /systems/NAME/image of another
// loom, imported), called as (the name it was saved as, if as is "").
// The image is read once, into an unlinked temporary file, since its
// checksum is checked before anything is made of it; nothing is made of
// a file that is not a whole, good image.
func (s *Systems) LoadNS(ctx context.Context, out io.Writer, cur, p, as string) (*System, error) {
	p = path.Clean("/" + p)
	sys, err := s.Get(cur)
	if err != nil {
		return nil, fmt.Errorf("load -n %s: %w", p, err)
	}
	tmp, err := spool(ctx, sys.NS, sys.NS.User(), p)
	if err != nil {
		return nil, fmt.Errorf("load -n %s: %w", p, err)
	}
	defer tmp.Close()
	st, err := tmp.Stat()
	if err != nil {
		return nil, fmt.Errorf("load -n %s: %w", p, err)
	}
	sn, err := decodeImage(tmp, st.Size(), out)
	if err != nil {
		return nil, fmt.Errorf("load -n %s: %w", p, err)
	}
	if as == "" {
		as = sn.System
	}
	if _, err := s.Get(as); err == nil {
		return nil, fmt.Errorf("load -n %s: %s: %w", p, as, ErrExist)
	}
	nsys, err := s.fromSnapshot(ctx, as, sn)
	if err != nil {
		return nil, fmt.Errorf("load -n %s: %w", p, err)
	}
	if err := s.add(nsys); err != nil {
		nsys.Close()
		return nil, fmt.Errorf("load -n %s: %w", p, err)
	}
	return nsys, nil
}

// spool copies the file p of fsys into a temporary file, already
// unlinked, and returns it.
func spool(ctx context.Context, fsys ns.FS, user, p string) (*os.File, error) {
	root, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return nil, err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "loom-image-*")
	if err != nil {
		return nil, err
	}
	os.Remove(tmp.Name())
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		n, err := f.Read(ctx, buf, off)
		if err != nil {
			tmp.Close()
			return nil, err
		}
		if n == 0 {
			break
		}
		if _, err := tmp.Write(buf[:n]); err != nil {
			tmp.Close()
			return nil, err
		}
		off += int64(n)
	}
	return tmp, nil
}

// cmdLoadNS: load -n PATH [as NEW]
func cmdLoadNS(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	as := ""
	switch {
	case len(args) == 3:
	case len(args) == 5 && args[3] == "as":
		as = args[4]
	default:
		return errors.New("usage: load [-n] file [as system]")
	}
	sys, err := s.LoadNS(ctx, out, cur, args[2], as)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", sys.Name)
	return err
}
