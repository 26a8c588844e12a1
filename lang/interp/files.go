package interp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"loom/lang"
	"loom/ns"
)

// noNamespace is the namespace of a Runner given none: nothing exists.
type noNamespace struct{}

func (noNamespace) Walk(context.Context, string) (ns.File, error) { return nil, ns.ErrNotExist }
func (noNamespace) Bind(string, string, ns.Flag) error            { return errNoNS }
func (noNamespace) Unmount(string, string) error                  { return errNoNS }
func (noNamespace) Text() ([]byte, error)                         { return nil, errNoNS }
func (noNamespace) Mount(context.Context, string, string, ns.Flag, []string) error {
	return errNoNS
}

var errNoNS = errors.New("no namespace")

// pathErr names the path in an error: "/x/y: file does not exist".
func pathErr(p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", p, err)
}

// open walks to p and opens it with mode.
func (r *Runner) open(ctx context.Context, p string, mode uint8) (ns.File, error) {
	f, err := r.ns.Walk(ctx, r.abs(p))
	if err != nil {
		return nil, pathErr(p, err)
	}
	if _, err := f.Open(ctx, mode); err != nil {
		f.Clunk()
		return nil, pathErr(p, err)
	}
	return f, nil
}

// create makes the file p, or truncates it if it exists, and opens it
// for writing.
func (r *Runner) create(ctx context.Context, p string, perm ns.Perm, mode uint8) (ns.File, error) {
	if f, err := r.ns.Walk(ctx, r.abs(p)); err == nil {
		if perm.IsDir() {
			f.Clunk()
			return nil, pathErr(p, ns.ErrExist)
		}
		if _, err := f.Open(ctx, mode|ns.OTRUNC); err != nil {
			f.Clunk()
			return nil, pathErr(p, err)
		}
		return f, nil
	}
	dir, name := path.Split(r.abs(p))
	d, err := r.ns.Walk(ctx, dir)
	if err != nil {
		return nil, pathErr(p, err)
	}
	defer d.Clunk()
	c, ok := d.(ns.Creater)
	if !ok {
		return nil, pathErr(p, ns.ErrPerm)
	}
	f, _, err := c.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, pathErr(p, err)
	}
	return f, nil
}

// readFile reads all of the file p.
func (r *Runner) readFile(ctx context.Context, p string) ([]byte, error) {
	f, err := r.open(ctx, p, ns.OREAD)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	b, err := io.ReadAll(&fileReader{ctx: ctx, f: f})
	if err != nil {
		return nil, pathErr(p, err)
	}
	return b, nil
}

// readDir lists the directory p, sorted by name.
func (r *Runner) readDir(ctx context.Context, p string) ([]ns.Dir, error) {
	f, err := r.open(ctx, p, ns.OREAD)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	var all []ns.Dir
	for {
		ds, err := f.ReadDir(ctx, len(all), 256)
		if err != nil {
			return nil, pathErr(p, err)
		}
		if len(ds) == 0 {
			break
		}
		all = append(all, ds...)
	}
	slices.SortFunc(all, func(a, b ns.Dir) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// fileReader reads an open File from the start, as an io.Reader.
type fileReader struct {
	ctx context.Context
	f   ns.File
	off int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.f.Read(r.ctx, p, r.off)
	r.off += int64(n)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

// fileWriter writes an open File from off on, as an io.Writer.
type fileWriter struct {
	ctx context.Context
	f   ns.File
	off int64
}

func (w *fileWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := w.f.Write(w.ctx, p[done:], w.off)
		done += n
		w.off += int64(n)
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.ErrShortWrite
		}
	}
	return done, nil
}

// redirect applies redirections, in order, to io; what names the command
// in messages. On failure it reports the error itself and returns it.
func (r *Runner) redirect(ctx context.Context, rs []*lang.Redirect, io IO, what string) (IO, func(), error) {
	var files []ns.File
	closeAll := func() {
		for _, f := range files {
			f.Clunk()
		}
	}
	for _, rd := range rs {
		if rd.Op == ">=" {
			src, err := fdOf(io, rd.DupFd)
			if err == nil {
				err = setFd(&io, rd.Fd, src)
			}
			if err != nil {
				closeAll()
				return io, nil, r.failed(io, what, err)
			}
			continue
		}
		p, err := r.single(ctx, rd.Word, io, rd.Op)
		if err != nil {
			closeAll()
			return io, nil, r.failed(io, what, err)
		}
		var f ns.File
		switch rd.Op {
		case "<":
			if rd.Fd != 0 {
				err = fmt.Errorf("<[%d]: only standard input can be read", rd.Fd)
				break
			}
			if f, err = r.open(ctx, p, ns.OREAD); err == nil {
				io.Stdin = &fileReader{ctx: ctx, f: f}
			}
		case ">", ">>":
			if rd.Op == ">" {
				f, err = r.create(ctx, p, 0o666, ns.OWRITE)
			} else if f, err = r.open(ctx, p, ns.OWRITE); errors.Is(err, fs.ErrNotExist) {
				f, err = r.create(ctx, p, 0o666, ns.OWRITE)
			}
			if err != nil {
				break
			}
			w := &fileWriter{ctx: ctx, f: f}
			if rd.Op == ">>" {
				d, serr := f.Stat(ctx)
				if serr != nil {
					err = pathErr(p, serr)
					break
				}
				w.off = int64(d.Length)
			}
			err = setFd(&io, rd.Fd, w)
		}
		if f != nil {
			files = append(files, f)
		}
		if err != nil {
			closeAll()
			return io, nil, r.failed(io, what, err)
		}
	}
	return io, closeAll, nil
}

// failed reports err as fail does and returns it.
func (r *Runner) failed(io IO, what string, err error) error {
	r.fail(io, what, err)
	return err
}

func fdOf(io IO, fd int) (io.Writer, error) {
	switch fd {
	case 1:
		return io.Stdout, nil
	case 2:
		return io.Stderr, nil
	}
	return nil, fmt.Errorf("file descriptor %d: only 1 and 2 can be written", fd)
}

func setFd(io *IO, fd int, w io.Writer) error {
	switch fd {
	case 1:
		io.Stdout = w
	case 2:
		io.Stderr = w
	default:
		return fmt.Errorf("file descriptor %d: only 1 and 2 can be written", fd)
	}
	return nil
}
