package ns

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// tinyFS is a read-only file server of a fixed table, for testing IOFS
// without any component.
type tinyFS struct {
	files map[string]tinyEntry // by slash-separated path; "" is the root
	order []string             // the paths in the order ReadDir gives them
}

type tinyEntry struct {
	mode Perm
	data string
	path uint64
}

// newTiny builds a tinyFS from (path, mode, data) triples; directories
// above each path are made as needed.
func newTiny(entries ...tinyEntryArg) *tinyFS {
	t := &tinyFS{files: map[string]tinyEntry{"": {mode: DMDIR | 0555}}}
	add := func(p string, mode Perm, data string) {
		if _, ok := t.files[p]; ok {
			return
		}
		t.files[p] = tinyEntry{mode: mode, data: data, path: uint64(len(t.files))}
		t.order = append(t.order, p)
	}
	for _, e := range entries {
		elems := strings.Split(e.path, "/")
		for i := 1; i < len(elems); i++ {
			add(strings.Join(elems[:i], "/"), DMDIR|0555, "")
		}
		add(e.path, e.mode, e.data)
	}
	return t
}

type tinyEntryArg struct {
	path string
	mode Perm
	data string
}

func (t *tinyFS) Attach(ctx context.Context, user, aname string) (File, error) {
	if aname != "" {
		return nil, ErrNotExist
	}
	return &tinyFile{fs: t}, nil
}

type tinyFile struct {
	fs   *tinyFS
	path string
	open bool
}

func parent(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return ""
}

func (f *tinyFile) qid(p string) Qid {
	e := f.fs.files[p]
	return Qid{Path: e.path, Type: e.mode.QidType()}
}

func (f *tinyFile) Walk(ctx context.Context, names []string) ([]Qid, File, error) {
	p := f.path
	var qids []Qid
	for _, n := range names {
		next := p + "/" + n
		if p == "" {
			next = n
		}
		if n == ".." {
			next = parent(p)
		}
		if _, ok := f.fs.files[next]; !ok || !f.fs.files[p].mode.IsDir() {
			if len(qids) == 0 {
				return nil, nil, ErrNotExist
			}
			return qids, nil, nil
		}
		p = next
		qids = append(qids, f.qid(p))
	}
	return qids, &tinyFile{fs: f.fs, path: p}, nil
}

func (f *tinyFile) Open(ctx context.Context, mode uint8) (Qid, error) {
	e := f.fs.files[f.path]
	if mode&3 != OREAD || mode&(OTRUNC|ORCLOSE) != 0 || e.mode&0444 == 0 {
		return Qid{}, ErrPerm
	}
	f.open = true
	return f.qid(f.path), nil
}

func (f *tinyFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	d := f.fs.files[f.path].data
	if off >= int64(len(d)) {
		return 0, nil
	}
	// Short reads, as a server over a small msize gives, so that the
	// adapter's read loops are exercised.
	return copy(p[:min(len(p), 3)], d[off:]), nil
}

func (f *tinyFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, ErrPerm
}

func (f *tinyFile) ReadDir(ctx context.Context, index, n int) ([]Dir, error) {
	var ds []Dir
	for _, p := range f.fs.order {
		if parent(p) == f.path {
			d, _ := (&tinyFile{fs: f.fs, path: p}).Stat(ctx)
			ds = append(ds, d)
		}
	}
	if index >= len(ds) {
		return nil, nil
	}
	return ds[index:min(len(ds), index+n)], nil
}

func (f *tinyFile) Stat(ctx context.Context) (Dir, error) {
	e := f.fs.files[f.path]
	name := f.path[strings.LastIndex(f.path, "/")+1:]
	if f.path == "" {
		name = "/"
	}
	d := Dir{Qid: f.qid(f.path), Mode: e.mode, Name: name, Uid: "tiny", Gid: "tiny", Muid: "tiny", Mtime: 1e9}
	if !e.mode.IsDir() {
		d.Length = uint64(len(e.data))
	}
	return d, nil
}

func (f *tinyFile) Clunk() error { return nil }

var tinyTable = []tinyEntryArg{
	{"zeta", 0644, "last letter"},
	{"alpha", 0444, "first letter\n"},
	{"dir/empty", 0644, ""},
	{"dir/sub/file", 0600, strings.Repeat("0123456789", 10)},
	{"log", DMAPPEND | 0644, "one\ntwo\n"},
	{"lock", DMEXCL | 0600, "held"},
	{"tmp", DMTMP | 0644, "scratch"},
	{"emptydir/.keep", 0644, ""},
	{strings.Repeat("d/", 20) + "bottom", 0644, "deep down"},
}

func TestIOFSFstest(t *testing.T) {
	fsys := IOFS(context.Background(), newTiny(tinyTable...), "glenda", "")
	if err := fstest.TestFS(fsys, "alpha", "zeta", "dir/sub/file", "log", "lock", "tmp",
		strings.Repeat("d/", 20)+"bottom"); err != nil {
		t.Error(err)
	}
}

func TestIOFSStat(t *testing.T) {
	fsys := IOFS(context.Background(), newTiny(append(tinyTable, tinyEntryArg{"secret", 0, "x"})...), "glenda", "")
	tests := []struct {
		path string
		mode fs.FileMode
		size int64
		name string
	}{
		{".", fs.ModeDir | 0555, 0, "/"},
		{"alpha", 0444, 13, "alpha"},
		{"dir", fs.ModeDir | 0555, 0, "dir"},
		{"log", fs.ModeAppend | 0644, 8, "log"},
		{"lock", fs.ModeExclusive | 0600, 4, "lock"},
		{"tmp", fs.ModeTemporary | 0644, 7, "tmp"},
		{"secret", 0, 1, "secret"}, // stat needs no read permission
	}
	for _, tt := range tests {
		fi, err := fs.Stat(fsys, tt.path)
		if err != nil {
			t.Errorf("Stat(%q) = %v", tt.path, err)
			continue
		}
		if fi.Mode() != tt.mode || fi.Size() != tt.size || fi.Name() != tt.name || fi.IsDir() != tt.mode.IsDir() {
			t.Errorf("Stat(%q) = %v %d %q; want %v %d %q", tt.path, fi.Mode(), fi.Size(), fi.Name(), tt.mode, tt.size, tt.name)
		}
		if !fi.ModTime().Equal(time.Unix(1e9, 0)) {
			t.Errorf("Stat(%q).ModTime() = %v; want %v", tt.path, fi.ModTime(), time.Unix(1e9, 0))
		}
		if d, ok := fi.Sys().(Dir); !ok || d.Uid != "tiny" {
			t.Errorf("Stat(%q).Sys() = %#v; want the ns.Dir", tt.path, fi.Sys())
		}
	}
}

func TestIOFSErrors(t *testing.T) {
	fsys := IOFS(context.Background(), newTiny(append(tinyTable, tinyEntryArg{"secret", 0, "x"})...), "glenda", "")
	tests := []struct {
		path string
		want error
	}{
		{"missing", fs.ErrNotExist},
		{"dir/missing", fs.ErrNotExist},
		{"alpha/x", fs.ErrNotExist},
		{"/alpha", fs.ErrInvalid},
		{"dir/../alpha", fs.ErrInvalid},
		{"secret", fs.ErrPermission},
	}
	for _, tt := range tests {
		f, err := fsys.Open(tt.path)
		if f != nil {
			f.Close()
		}
		var pe *fs.PathError
		if !errors.Is(err, tt.want) || !errors.As(err, &pe) || pe.Path != tt.path || pe.Op != "open" {
			t.Errorf("Open(%q) = %v; want a *fs.PathError for open %q satisfying %v", tt.path, err, tt.path, tt.want)
		}
	}
	if _, err := IOFS(context.Background(), newTiny(), "glenda", "other").Open("."); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(.) of a missing aname = %v; want fs.ErrNotExist", err)
	}
	if _, err := fs.ReadFile(fsys, "dir"); err == nil {
		t.Errorf("ReadFile(dir) = nil error; want one")
	}
	if _, err := fs.ReadDir(fsys, "alpha"); err == nil {
		t.Errorf("ReadDir(alpha) = nil error; want one")
	}
}

func TestIOFSFile(t *testing.T) {
	fsys := IOFS(context.Background(), newTiny(tinyTable...), "glenda", "")
	f, err := fsys.Open("dir/sub/file")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("0123456789", 10)
	rs, ok := f.(io.ReadSeeker)
	ra, ok2 := f.(io.ReaderAt)
	if !ok || !ok2 {
		t.Fatalf("Open(file) = %T; want an io.ReadSeeker and io.ReaderAt", f)
	}
	buf := make([]byte, 10)
	if n, err := ra.ReadAt(buf, 95); n != 5 || err != io.EOF || string(buf[:n]) != "56789" {
		t.Errorf("ReadAt(10 bytes, 95) = %d, %v, %q; want 5, EOF, \"56789\"", n, err, buf[:n])
	}
	if n, err := ra.ReadAt(buf, 11); n != 10 || err != nil || string(buf) != "1234567890" {
		t.Errorf("ReadAt(10 bytes, 11) = %d, %v, %q; want 10, nil, \"1234567890\"", n, err, buf[:n])
	}
	if off, err := rs.Seek(-4, io.SeekEnd); off != 96 || err != nil {
		t.Errorf("Seek(-4, end) = %d, %v; want 96", off, err)
	}
	if b, err := io.ReadAll(rs); string(b) != "6789" || err != nil {
		t.Errorf("ReadAll after Seek = %q, %v; want \"6789\"", b, err)
	}
	if _, err := rs.Seek(-1, io.SeekStart); err == nil {
		t.Errorf("Seek(-1, start) = nil error; want one")
	}
	rs.Seek(0, io.SeekStart)
	if b, err := io.ReadAll(rs); string(b) != want || err != nil {
		t.Errorf("ReadAll from the start = %q, %v; want %q", b, err, want)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close() = %v; want fs.ErrClosed", err)
	}
	if _, err := f.Read(buf); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close = %v; want fs.ErrClosed", err)
	}
	if b, err := fs.ReadFile(fsys, "dir/sub/file"); string(b) != want || err != nil {
		t.Errorf("ReadFile = %q, %v; want %q", b, err, want)
	}
}

func TestIOFSReadDir(t *testing.T) {
	fsys := IOFS(context.Background(), newTiny(tinyTable...), "glenda", "")
	f, err := fsys.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, ok := f.(fs.ReadDirFile)
	if !ok {
		t.Fatalf("Open(.) = %T; want an fs.ReadDirFile", f)
	}
	var got []string
	for {
		es, err := d.ReadDir(2)
		if err == io.EOF {
			break
		}
		if err != nil || len(es) == 0 || len(es) > 2 {
			t.Fatalf("ReadDir(2) = %d entries, %v", len(es), err)
		}
		for _, e := range es {
			got = append(got, e.Name())
		}
	}
	// The server's order, unsorted.
	want := []string{"zeta", "alpha", "dir", "log", "lock", "tmp", "emptydir", "d"}
	if !slices.Equal(got, want) {
		t.Errorf("ReadDir(2) until EOF = %v; want %v", got, want)
	}
	if es, err := d.ReadDir(-1); len(es) != 0 || err != nil {
		t.Errorf("ReadDir(-1) at the end = %d entries, %v; want none, nil", len(es), err)
	}
	// fs.ReadDir sorts.
	es, err := fs.ReadDir(fsys, ".")
	got = nil
	for _, e := range es {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) || err != nil {
		t.Errorf("fs.ReadDir(.) = %v, %v; want %v", got, err, want)
	}
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Errorf("Read of a directory = nil error; want one")
	}
}
