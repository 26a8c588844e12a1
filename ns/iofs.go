package ns

import (
	"context"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// maxWalk is the most names one Walk is given, as in 9P's Twalk.
const maxWalk = 16

// IOFS returns an io/fs view of the tree that fsys serves to user under
// aname, so that the standard library's file-system code (fs.WalkDir,
// fstest.TestFS, http.FS, ...) can read it. Every call made through it
// uses ctx.
//
// Each Open attaches afresh and walks from the root, so the view needs no
// closing and sees the tree as it is at the time. The returned fs.FS also
// implements fs.StatFS, fs.ReadDirFS and fs.ReadFileFS; its directories
// implement fs.ReadDirFile and its other files io.Seeker and io.ReaderAt.
// Errors are *fs.PathError values wrapping the file server's error, so
// errors.Is(err, fs.ErrNotExist) and the like work.
func IOFS(ctx context.Context, fsys FS, user, aname string) fs.FS {
	return &ioFS{ctx: ctx, fsys: fsys, user: user, aname: aname}
}

type ioFS struct {
	ctx   context.Context
	fsys  FS
	user  string
	aname string
}

var (
	_ fs.StatFS     = (*ioFS)(nil)
	_ fs.ReadDirFS  = (*ioFS)(nil)
	_ fs.ReadFileFS = (*ioFS)(nil)
)

// walk returns an unopened File for name, a valid io/fs path.
func (v *ioFS) walk(op, name string) (File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	f, err := v.fsys.Attach(v.ctx, v.user, v.aname)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if name == "." {
		return f, nil
	}
	names := strings.Split(name, "/")
	for len(names) > 0 {
		step := names[:min(len(names), maxWalk)]
		names = names[len(step):]
		_, nf, err := f.Walk(v.ctx, step)
		f.Clunk()
		if err == nil && nf == nil {
			err = ErrNotExist // a partial walk: some element is missing
		}
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		f = nf
	}
	return f, nil
}

// Open opens name for reading.
func (v *ioFS) Open(name string) (fs.File, error) {
	f, err := v.walk("open", name)
	if err != nil {
		return nil, err
	}
	q, err := f.Open(v.ctx, OREAD)
	if err == nil {
		var d Dir
		d, err = f.Stat(v.ctx)
		if err == nil {
			if q.IsDir() {
				return &ioDir{v: v, f: f, name: name, d: d}, nil
			}
			return &ioFile{v: v, f: f, name: name, d: d}, nil
		}
	}
	f.Clunk()
	return nil, &fs.PathError{Op: "open", Path: name, Err: err}
}

// Stat stats name without opening it, so that a file one may not read can
// still be stat'ed.
func (v *ioFS) Stat(name string) (fs.FileInfo, error) {
	f, err := v.walk("stat", name)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	d, err := f.Stat(v.ctx)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fileInfo{d}, nil
}

// ReadDir reads the directory name and returns its entries sorted by name.
func (v *ioFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := v.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, ok := f.(*ioDir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: ErrNotDir}
	}
	list, err := d.ReadDir(-1)
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, err
}

// ReadFile reads the whole of the file name.
func (v *ioFS) ReadFile(name string) ([]byte, error) {
	f, err := v.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rf, ok := f.(*ioFile)
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrIsDir}
	}
	// The length is only a hint: synthetic files often say 0.
	b := make([]byte, 0, min(rf.d.Length, 1<<20)+512)
	var off int64
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := rf.f.Read(v.ctx, b[len(b):cap(b)], off)
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
		off += int64(n)
	}
}

// fileInfo is a Dir seen as an fs.FileInfo.
type fileInfo struct{ d Dir }

func (i fileInfo) Name() string       { return i.d.Name }
func (i fileInfo) Size() int64        { return int64(i.d.Length) }
func (i fileInfo) Mode() fs.FileMode  { return fileMode(i.d.Mode) }
func (i fileInfo) ModTime() time.Time { return i.d.ModTime() }
func (i fileInfo) IsDir() bool        { return i.d.Mode.IsDir() }

// Sys returns the Dir.
func (i fileInfo) Sys() any { return i.d }

// fileMode turns a Perm into an fs.FileMode.
func fileMode(p Perm) fs.FileMode {
	m := fs.FileMode(p & 0777)
	if p&DMDIR != 0 {
		m |= fs.ModeDir
	}
	if p&DMAPPEND != 0 {
		m |= fs.ModeAppend
	}
	if p&DMEXCL != 0 {
		m |= fs.ModeExclusive
	}
	if p&DMTMP != 0 {
		m |= fs.ModeTemporary
	}
	return m
}

// dirEntry is a Dir seen as an fs.DirEntry.
type dirEntry struct{ fileInfo }

func (e dirEntry) Type() fs.FileMode          { return e.Mode().Type() }
func (e dirEntry) Info() (fs.FileInfo, error) { return e.fileInfo, nil }

// ioFile is an open file other than a directory. Like an *os.File it keeps
// an offset for Read and Seek; ReadAt leaves it alone.
type ioFile struct {
	v      *ioFS
	f      File
	name   string
	d      Dir // as at Open, for the length at Seek from the end
	off    int64
	closed bool
}

func (f *ioFile) Stat() (fs.FileInfo, error) {
	if f.closed {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: fs.ErrClosed}
	}
	d, err := f.f.Stat(f.v.ctx)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: err}
	}
	return fileInfo{d}, nil
}

func (f *ioFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	if n == 0 && len(p) > 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// ReadAt reads len(p) bytes at off unless the file ends first, when it
// returns io.EOF with what there was.
func (f *ioFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrClosed}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	n := 0
	for n < len(p) {
		m, err := f.f.Read(f.v.ctx, p[n:], off+int64(n))
		n += m
		if err != nil {
			return n, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		if m == 0 {
			return n, io.EOF
		}
	}
	return n, nil
}

func (f *ioFile) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		d, err := f.f.Stat(f.v.ctx)
		if err != nil {
			return 0, &fs.PathError{Op: "seek", Path: f.name, Err: err}
		}
		offset += int64(d.Length)
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	f.off = offset
	return offset, nil
}

func (f *ioFile) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	if err := f.f.Clunk(); err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// ioDir is an open directory.
type ioDir struct {
	v      *ioFS
	f      File
	name   string
	d      Dir
	index  int
	closed bool
}

func (d *ioDir) Stat() (fs.FileInfo, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "stat", Path: d.name, Err: fs.ErrClosed}
	}
	dd, err := d.f.Stat(d.v.ctx)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: d.name, Err: err}
	}
	return fileInfo{dd}, nil
}

func (d *ioDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: ErrIsDir}
}

// dirChunk is how many entries ReadDir(-1) asks for at a time.
const dirChunk = 256

// ReadDir returns the next n entries, or with n <= 0 all the rest, in the
// file server's order.
func (d *ioDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	var list []fs.DirEntry
	for n <= 0 || len(list) < n {
		want := dirChunk
		if n > 0 {
			want = n - len(list)
		}
		ds, err := d.f.ReadDir(d.v.ctx, d.index, want)
		if err != nil {
			return list, &fs.PathError{Op: "readdir", Path: d.name, Err: err}
		}
		if len(ds) == 0 {
			break
		}
		d.index += len(ds)
		for _, e := range ds {
			list = append(list, dirEntry{fileInfo{e}})
		}
	}
	if n > 0 && len(list) == 0 {
		return nil, io.EOF
	}
	return list, nil
}

func (d *ioDir) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.name, Err: fs.ErrClosed}
	}
	d.closed = true
	if err := d.f.Clunk(); err != nil {
		return &fs.PathError{Op: "close", Path: d.name, Err: err}
	}
	return nil
}
