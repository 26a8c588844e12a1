package ramfs

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"loom/ns"
	"loom/ns/nstest"
)

func TestConformance(t *testing.T) { nstest.TestFS(t, New()) }

func TestIOFS(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "a/b/c", "deep")
	mustPut(t, fsys, "loom", "top", "top file")
	if err := fstest.TestFS(ns.IOFS(context.Background(), fsys, "loom", ""), "a/b/c", "top"); err != nil {
		t.Error(err)
	}
}

var ctx = context.Background()

// walk walks user's view of fsys to p, a slash-separated path ("" is the
// root).
func walk(fsys *FS, user, p string) (ns.File, error) {
	r, _ := fsys.Attach(ctx, user, "")
	if p == "" || p == "." {
		return r, nil
	}
	// One name at a time, so that the error is that of the name that
	// failed rather than a partial walk's silence.
	f := r
	for _, name := range strings.Split(p, "/") {
		_, nf, err := f.Walk(ctx, []string{name})
		f.Clunk()
		if err != nil {
			return nil, err
		}
		f = nf
	}
	return f, nil
}

// mustPut makes the file p (and the directories above it) holding data.
func mustPut(t *testing.T, fsys *FS, user, p, data string) {
	t.Helper()
	dir := ""
	elems := strings.Split(p, "/")
	for i, name := range elems {
		d, err := walk(fsys, user, dir)
		if err != nil {
			t.Fatalf("walk(%q) = %v", dir, err)
		}
		perm, mode := ns.Perm(0666), uint8(ns.OWRITE)
		if i < len(elems)-1 {
			perm, mode = ns.DMDIR|0777, ns.OREAD
		}
		f, _, err := d.(ns.Creater).Create(ctx, name, perm, mode)
		d.Clunk()
		dir = path.Join(dir, name)
		if errors.Is(err, ns.ErrExist) && i < len(elems)-1 {
			continue
		}
		if err != nil {
			t.Fatalf("Create(%s) = %v", dir, err)
		}
		if i == len(elems)-1 {
			if _, err := f.Write(ctx, []byte(data), 0); err != nil {
				t.Fatalf("Write(%s) = %v", dir, err)
			}
		}
		f.Clunk()
	}
}

func mustStat(t *testing.T, fsys *FS, p string) ns.Dir {
	t.Helper()
	f, err := walk(fsys, "loom", p)
	if err != nil {
		t.Fatalf("walk(%q) = %v", p, err)
	}
	defer f.Clunk()
	d, _ := f.Stat(ctx)
	return d
}

func mustOpen(t *testing.T, fsys *FS, user, p string, mode uint8) ns.File {
	t.Helper()
	f, err := walk(fsys, user, p)
	if err != nil {
		t.Fatalf("walk(%q) as %s = %v", p, user, err)
	}
	if _, err := f.Open(ctx, mode); err != nil {
		t.Fatalf("Open(%q, %#x) as %s = %v", p, mode, user, err)
	}
	return f
}

func read(t *testing.T, fsys *FS, p string) string {
	t.Helper()
	f := mustOpen(t, fsys, "loom", p, ns.OREAD)
	defer f.Clunk()
	buf := make([]byte, 1024)
	n, err := f.Read(ctx, buf, 0)
	if err != nil {
		t.Fatalf("Read(%s) = %v", p, err)
	}
	return string(buf[:n])
}

// An op is one step of a permission scenario: user does something to a
// path and gets want.
type op struct {
	user string
	do   string // mkdir, create, open, walk, remove, rename, chmod, chgrp, truncate, mtime
	path string
	perm ns.Perm
	mode uint8
	arg  string // rename: new name; chgrp: new group
	n    uint64 // truncate: new length
	want error
}

func (o op) run() func(fsys *FS) error {
	return func(fsys *FS) error {
		switch o.do {
		case "mkdir", "create":
			d, err := walk(fsys, o.user, path.Dir(o.path))
			if err != nil {
				return err
			}
			defer d.Clunk()
			f, _, err := d.(ns.Creater).Create(ctx, path.Base(o.path), o.perm, o.mode)
			if err == nil {
				f.Clunk()
			}
			return err
		}
		f, err := walk(fsys, o.user, o.path)
		if err != nil {
			return err
		}
		defer f.Clunk()
		d := ns.NullDir()
		switch o.do {
		case "walk":
			return nil
		case "open":
			_, err := f.Open(ctx, o.mode)
			return err
		case "remove":
			return f.(ns.Remover).Remove(ctx)
		case "rename":
			d.Name = o.arg
		case "chmod":
			d.Mode = o.perm
		case "chgrp":
			d.Gid = o.arg
		case "truncate":
			d.Length = o.n
		case "mtime":
			d.Mtime = 12345
		default:
			panic("unknown op " + o.do)
		}
		return f.(ns.Wstater).Wstat(ctx, d)
	}
}

func TestPermissions(t *testing.T) {
	// alice makes a private corner; bob tries his luck.
	setup := []op{
		{user: "alice", do: "mkdir", path: "a", perm: ns.DMDIR | 0755},
		{user: "alice", do: "create", path: "a/f", perm: 0640, mode: ns.OWRITE},
		{user: "alice", do: "create", path: "a/pub", perm: 0666, mode: ns.OWRITE},
		{user: "alice", do: "mkdir", path: "a/sub", perm: ns.DMDIR | 0777},
		{user: "alice", do: "create", path: "a/sub/x", perm: 0666, mode: ns.OWRITE},
		// Create masked those by a's 0755.
		{user: "alice", do: "chmod", path: "a/pub", perm: 0666},
		{user: "alice", do: "chmod", path: "a/sub", perm: ns.DMDIR | 0777},
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"owner reads and writes", []op{
			{user: "alice", do: "open", path: "a/f", mode: ns.ORDWR},
			{user: "alice", do: "open", path: "a/f", mode: ns.OWRITE | ns.OTRUNC},
		}},
		{"other is refused", []op{
			{user: "bob", do: "open", path: "a/f", mode: ns.OREAD, want: ns.ErrPerm},
			{user: "bob", do: "open", path: "a/f", mode: ns.OWRITE, want: ns.ErrPerm},
			{user: "bob", do: "open", path: "a/f", mode: ns.OEXEC, want: ns.ErrPerm},
			{user: "bob", do: "open", path: "a/pub", mode: ns.ORDWR},
		}},
		{"group bits", []op{
			{user: "bob", do: "chgrp", path: "a/f", arg: "bob", want: ns.ErrPerm},
			{user: "alice", do: "chgrp", path: "a/f", arg: "bob"},
			{user: "bob", do: "open", path: "a/f", mode: ns.OREAD},
			{user: "bob", do: "open", path: "a/f", mode: ns.OWRITE, want: ns.ErrPerm},
		}},
		{"truncate needs write", []op{
			{user: "bob", do: "open", path: "a/pub", mode: ns.OREAD | ns.OTRUNC},
			{user: "alice", do: "chmod", path: "a/pub", perm: 0644},
			{user: "bob", do: "open", path: "a/pub", mode: ns.OREAD | ns.OTRUNC, want: ns.ErrPerm},
			{user: "bob", do: "truncate", path: "a/pub", n: 3, want: ns.ErrPerm},
			{user: "alice", do: "truncate", path: "a/pub", n: 3},
		}},
		{"create needs write in the directory", []op{
			{user: "bob", do: "create", path: "a/bobs", perm: 0666, mode: ns.OWRITE, want: ns.ErrPerm},
			{user: "bob", do: "mkdir", path: "a/bobd", perm: ns.DMDIR | 0777, want: ns.ErrPerm},
			{user: "bob", do: "create", path: "a/sub/bobs", perm: 0666, mode: ns.OWRITE},
		}},
		{"remove needs write in the parent", []op{
			{user: "bob", do: "remove", path: "a/pub", want: ns.ErrPerm},
			{user: "bob", do: "remove", path: "a/sub/x"},
			{user: "alice", do: "remove", path: "a/pub"},
			{user: "alice", do: "remove", path: "", want: ns.ErrPerm},
		}},
		{"ORCLOSE needs write in the parent", []op{
			{user: "bob", do: "open", path: "a/pub", mode: ns.OREAD | ns.ORCLOSE, want: ns.ErrPerm},
			{user: "bob", do: "walk", path: "a/pub"},
			{user: "alice", do: "open", path: "a/pub", mode: ns.OREAD | ns.ORCLOSE},
			{user: "alice", do: "walk", path: "a/pub", want: ns.ErrNotExist},
			{user: "loom", do: "open", path: "", mode: ns.OREAD | ns.ORCLOSE, want: ns.ErrPerm},
		}},
		{"walk needs exec", []op{
			{user: "alice", do: "chmod", path: "a", perm: ns.DMDIR | 0700},
			{user: "bob", do: "walk", path: "a/pub", want: ns.ErrPerm},
			{user: "alice", do: "walk", path: "a/pub"},
			{user: "bob", do: "walk", path: "a"}, // the root allows it
		}},
		{"mode and gid: owner or fs owner", []op{
			{user: "bob", do: "chmod", path: "a/pub", perm: 0600, want: ns.ErrPerm},
			{user: "bob", do: "mtime", path: "a/pub", want: ns.ErrPerm},
			{user: "loom", do: "chmod", path: "a/pub", perm: 0600},
			{user: "bob", do: "open", path: "a/pub", mode: ns.OREAD, want: ns.ErrPerm},
			{user: "loom", do: "chgrp", path: "a/pub", arg: "bob"},
			{user: "alice", do: "mtime", path: "a/pub"},
		}},
		{"DMDIR cannot change", []op{
			{user: "alice", do: "chmod", path: "a/pub", perm: ns.DMDIR | 0777, want: ns.ErrInvalid},
			{user: "alice", do: "chmod", path: "a", perm: 0777, want: ns.ErrInvalid},
			{user: "alice", do: "chmod", path: "a/pub", perm: ns.DMAPPEND | ns.DMEXCL | 0600},
		}},
		{"rename", []op{
			{user: "bob", do: "rename", path: "a/pub", arg: "bobs", want: ns.ErrPerm},
			{user: "alice", do: "rename", path: "a/pub", arg: "f", want: ns.ErrExist},
			{user: "alice", do: "rename", path: "a/pub", arg: "x/y", want: ns.ErrBadName},
			{user: "alice", do: "rename", path: "a/pub", arg: "..", want: ns.ErrBadName},
			{user: "alice", do: "rename", path: "", arg: "root", want: ns.ErrPerm},
			{user: "bob", do: "rename", path: "a/sub/x", arg: "y"},
			{user: "bob", do: "walk", path: "a/sub/y"},
			{user: "bob", do: "walk", path: "a/sub/x", want: ns.ErrNotExist},
			{user: "alice", do: "rename", path: "a/pub", arg: "pub"}, // no change
		}},
		{"directories", []op{
			{user: "alice", do: "open", path: "a", mode: ns.OWRITE, want: ns.ErrIsDir},
			{user: "alice", do: "open", path: "a", mode: ns.OREAD | ns.OTRUNC, want: ns.ErrIsDir},
			{user: "alice", do: "mkdir", path: "a/d2", perm: ns.DMDIR | 0777, mode: ns.OWRITE, want: ns.ErrIsDir},
			{user: "alice", do: "remove", path: "a/sub", want: ns.ErrNotEmpty},
			{user: "alice", do: "truncate", path: "a/sub", n: 10, want: ns.ErrIsDir},
			{user: "alice", do: "create", path: "a/pub/x", perm: 0666, want: ns.ErrNotDir},
			{user: "alice", do: "create", path: "a/sub", perm: 0666, want: ns.ErrExist},
			{user: "alice", do: "create", path: "a/.", perm: 0666, want: ns.ErrBadName},
			{user: "alice", do: "open", path: "a/pub", mode: 0x80, want: ns.ErrBadMode},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := New()
			for _, o := range setup {
				if err := o.run()(fsys); err != nil {
					t.Fatalf("setup %s %s as %s = %v", o.do, o.path, o.user, err)
				}
			}
			for _, o := range tt.ops {
				err := o.run()(fsys)
				if o.want == nil && err != nil || o.want != nil && !errors.Is(err, o.want) {
					t.Errorf("%s %q as %s = %v; want %v", o.do, o.path, o.user, err, o.want)
				}
			}
		})
	}
}

func TestCreateAttributes(t *testing.T) {
	fsys := New()
	for _, o := range []op{
		{user: "alice", do: "mkdir", path: "d", perm: ns.DMDIR | 0751},
		{user: "alice", do: "chgrp", path: "d", arg: "staff"},
		{user: "alice", do: "create", path: "d/f", perm: 0777 | ns.DMAPPEND, mode: ns.OWRITE},
		{user: "alice", do: "mkdir", path: "d/sub", perm: ns.DMDIR | 0777},
	} {
		if err := o.run()(fsys); err != nil {
			t.Fatalf("%s %s = %v", o.do, o.path, err)
		}
	}
	tests := []struct {
		path           string
		mode           ns.Perm
		uid, gid, muid string
	}{
		{"", ns.DMDIR | 0777, "loom", "loom", "alice"},
		{"d", ns.DMDIR | 0751, "alice", "staff", "alice"},
		{"d/f", ns.DMAPPEND | 0640, "alice", "staff", "alice"}, // 0777 & 0666 & 0751
		{"d/sub", ns.DMDIR | 0751, "alice", "staff", "alice"},  // 0777 & 0751
	}
	for _, tt := range tests {
		d := mustStat(t, fsys, tt.path)
		if d.Mode != tt.mode || d.Uid != tt.uid || d.Gid != tt.gid || d.Muid != tt.muid {
			t.Errorf("Stat(%q) = %#o %s %s %s; want %#o %s %s %s", tt.path, uint32(d.Mode), d.Uid, d.Gid, d.Muid, uint32(tt.mode), tt.uid, tt.gid, tt.muid)
		}
		if d.Qid.Type != tt.mode.QidType() {
			t.Errorf("Stat(%q).Qid.Type = %#x; want %#x", tt.path, d.Qid.Type, tt.mode.QidType())
		}
	}
	if d := mustStat(t, fsys, ""); d.Name != "/" {
		t.Errorf("Stat(root).Name = %q; want \"/\"", d.Name)
	}

	// The Owner option makes another user the owner of the root and of
	// the FS.
	fsys = New(Owner("glenda"))
	if d := mustStat(t, fsys, ""); d.Uid != "glenda" || d.Gid != "glenda" {
		t.Errorf("New(Owner(glenda)) root = %s %s; want glenda glenda", d.Uid, d.Gid)
	}
	mustPut(t, fsys, "alice", "x", "")
	if err := (op{user: "glenda", do: "chmod", path: "x", perm: 0600}).run()(fsys); err != nil {
		t.Errorf("chmod by the fs owner = %v; want nil", err)
	}
	if err := (op{user: "loom", do: "chmod", path: "x", perm: 0666}).run()(fsys); !errors.Is(err, ns.ErrPerm) {
		t.Errorf("chmod by loom when glenda owns the fs = %v; want %v", err, ns.ErrPerm)
	}
}

func TestQidVersions(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "d/f", "data")
	vers := func(p string) uint32 { return mustStat(t, fsys, p).Qid.Vers }
	paths := map[string]uint64{}
	tests := []struct {
		what    string
		do      func()
		changed []string // paths whose vers must change
		same    []string // paths whose vers must not
	}{
		{"read", func() { read(t, fsys, "d/f") }, nil, []string{"d/f", "d"}},
		{"write", func() {
			f := mustOpen(t, fsys, "bob", "d/f", ns.OWRITE)
			f.Write(ctx, []byte("x"), 0)
			f.Clunk()
		}, []string{"d/f"}, []string{"d"}},
		{"truncate", func() { (op{user: "loom", do: "truncate", path: "d/f", n: 1}).run()(fsys) }, []string{"d/f"}, []string{"d"}},
		{"OTRUNC", func() { mustOpen(t, fsys, "loom", "d/f", ns.OWRITE|ns.OTRUNC).Clunk() }, []string{"d/f"}, nil},
		{"chmod", func() { (op{user: "loom", do: "chmod", path: "d/f", perm: 0600}).run()(fsys) }, []string{"d/f"}, nil},
		{"create child", func() { mustPut(t, fsys, "loom", "d/g", "") }, []string{"d"}, []string{"d/f"}},
		{"rename child", func() { (op{user: "loom", do: "rename", path: "d/g", arg: "h"}).run()(fsys) }, []string{"d"}, nil},
		{"remove child", func() { (op{user: "loom", do: "remove", path: "d/h"}).run()(fsys) }, []string{"d"}, []string{"d/f"}},
		{"mtime", func() { (op{user: "loom", do: "mtime", path: "d/f"}).run()(fsys) }, []string{"d/f"}, nil},
	}
	for _, tt := range tests {
		before := map[string]uint32{}
		for _, p := range append(tt.changed, tt.same...) {
			before[p] = vers(p)
			paths[p] = mustStat(t, fsys, p).Qid.Path
		}
		tt.do()
		for _, p := range tt.changed {
			if v := vers(p); v == before[p] {
				t.Errorf("after %s: %s Qid.Vers = %d; want a change", tt.what, p, v)
			}
		}
		for _, p := range tt.same {
			if v := vers(p); v != before[p] {
				t.Errorf("after %s: %s Qid.Vers = %d; want %d", tt.what, p, v, before[p])
			}
		}
	}
	if muid := mustStat(t, fsys, "d/f").Muid; muid != "loom" {
		t.Errorf("Muid after loom's change = %q; want loom", muid)
	}
	// Qid paths are never reused.
	mustPut(t, fsys, "loom", "d/h", "")
	seen := map[uint64]bool{}
	for _, p := range []string{"", "d", "d/f", "d/h"} {
		q := mustStat(t, fsys, p).Qid.Path
		if seen[q] {
			t.Errorf("Qid.Path %d of %s used twice", q, p)
		}
		seen[q] = true
	}
	if q := mustStat(t, fsys, "d/h").Qid.Path; q == paths["d/g"] {
		t.Errorf("recreated d/h has Qid.Path %d of the removed d/g", q)
	}
}

func TestTimes(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "f", "data")
	d := ns.NullDir()
	d.Atime, d.Mtime = 1, 1
	if err := (op{user: "loom", do: "walk", path: "f"}).run()(fsys); err != nil {
		t.Fatal(err)
	}
	f, _ := walk(fsys, "loom", "f")
	if err := f.(ns.Wstater).Wstat(ctx, d); err != nil {
		t.Fatalf("Wstat(times) = %v", err)
	}
	f.Clunk()
	if got := mustStat(t, fsys, "f"); got.Atime != 1 || got.Mtime != 1 {
		t.Fatalf("after Wstat: atime %d mtime %d; want 1 1", got.Atime, got.Mtime)
	}
	read(t, fsys, "f")
	if got := mustStat(t, fsys, "f"); got.Atime <= 1 || got.Mtime != 1 {
		t.Errorf("after a read: atime %d mtime %d; want now and 1", got.Atime, got.Mtime)
	}
	(op{user: "loom", do: "chmod", path: "f", perm: 0600}).run()(fsys)
	if got := mustStat(t, fsys, "f"); got.Mtime != 1 {
		t.Errorf("after chmod: mtime %d; want 1 (metadata is not content)", got.Mtime)
	}
	(op{user: "loom", do: "truncate", path: "f", n: 2}).run()(fsys)
	if got := mustStat(t, fsys, "f"); got.Mtime <= 1 {
		t.Errorf("after a truncation: mtime %d; want now", got.Mtime)
	}
}

func TestWstatAllOrNothing(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "alice", "f", "0123456789")
	mustPut(t, fsys, "alice", "g", "")
	tests := []struct {
		user string
		set  func(*ns.Dir)
		want error
	}{
		{"alice", func(d *ns.Dir) { d.Length = 2; d.Name = "g" }, ns.ErrExist},
		{"alice", func(d *ns.Dir) { d.Length = 2; d.Mode = ns.DMDIR | 0777 }, ns.ErrInvalid},
		{"bob", func(d *ns.Dir) { d.Name = "h"; d.Mode = 0777 }, ns.ErrPerm},
		{"alice", func(d *ns.Dir) { d.Name = "h"; d.Uid = "bob" }, ns.ErrPerm},
		{"alice", func(d *ns.Dir) { d.Gid = "x"; d.Qid.Path = 99 }, ns.ErrPerm},
		{"alice", func(d *ns.Dir) { d.Gid = "x"; d.Muid = "bob" }, ns.ErrPerm},
		{"alice", func(d *ns.Dir) { d.Gid = "x"; d.Length = 1 << 40 }, ns.ErrInvalid},
	}
	for i, tt := range tests {
		before := mustStat(t, fsys, "f")
		f, _ := walk(fsys, tt.user, "f")
		d := ns.NullDir()
		tt.set(&d)
		err := f.(ns.Wstater).Wstat(ctx, d)
		f.Clunk()
		if !errors.Is(err, tt.want) {
			t.Errorf("%d: Wstat(%v) as %s = %v; want %v", i, d, tt.user, err, tt.want)
		}
		if after := mustStat(t, fsys, "f"); after != before {
			t.Errorf("%d: after a refused Wstat: %v; want %v", i, after, before)
		}
	}
}

// TestWstatWriteBack checks that a whole Dir from Stat, written back with
// one field changed, changes that field alone, even for a user who may
// change nothing else.
func TestWstatWriteBack(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "alice", "d/f", "data")
	(op{user: "alice", do: "chmod", path: "d", perm: ns.DMDIR | 0777}).run()(fsys)
	f, _ := walk(fsys, "bob", "d/f")
	defer f.Clunk()
	d, _ := f.Stat(ctx)
	d.Name = "g"
	if err := f.(ns.Wstater).Wstat(ctx, d); err != nil {
		t.Fatalf("Wstat(whole Dir with a new Name) as bob = %v; want nil", err)
	}
	got := mustStat(t, fsys, "d/g")
	if got.Name != "g" || got.Mode != d.Mode || got.Mtime != d.Mtime || got.Uid != "alice" {
		t.Errorf("after the write-back: %v; want %v renamed", got, d)
	}
}

func TestOpenModes(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "log", "")
	mustPut(t, fsys, "loom", "lock", "")
	mustPut(t, fsys, "loom", "doc", "hello, world")
	for _, o := range []op{
		{user: "loom", do: "chmod", path: "log", perm: ns.DMAPPEND | 0666},
		{user: "loom", do: "chmod", path: "lock", perm: ns.DMEXCL | 0666},
	} {
		if err := o.run()(fsys); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("append", func(t *testing.T) {
		f := mustOpen(t, fsys, "loom", "log", ns.OWRITE)
		defer f.Clunk()
		for _, s := range []string{"one\n", "two\n"} {
			if n, err := f.Write(ctx, []byte(s), 0); n != len(s) || err != nil {
				t.Errorf("Write(%q, 0) = %d, %v", s, n, err)
			}
		}
		if got := read(t, fsys, "log"); got != "one\ntwo\n" {
			t.Errorf("append-only file = %q; want %q", got, "one\ntwo\n")
		}
		if q := mustStat(t, fsys, "log").Qid.Type; q != ns.QTAPPEND {
			t.Errorf("Qid.Type = %#x; want QTAPPEND", q)
		}
	})

	t.Run("exclusive", func(t *testing.T) {
		f := mustOpen(t, fsys, "loom", "lock", ns.OREAD)
		g, _ := walk(fsys, "bob", "lock")
		if _, err := g.Open(ctx, ns.OREAD); !errors.Is(err, ns.ErrInUse) {
			t.Errorf("second Open of a DMEXCL file = %v; want %v", err, ns.ErrInUse)
		}
		g.Clunk()
		f.Clunk()
		mustOpen(t, fsys, "bob", "lock", ns.OREAD).Clunk()

		// A DMEXCL file is in use from its Create on.
		d, _ := walk(fsys, "loom", "")
		c, _, err := d.(ns.Creater).Create(ctx, "xl", ns.DMEXCL|0666, ns.ORDWR)
		d.Clunk()
		if err != nil {
			t.Fatal(err)
		}
		g, _ = walk(fsys, "loom", "xl")
		if _, err := g.Open(ctx, ns.OREAD); !errors.Is(err, ns.ErrInUse) {
			t.Errorf("Open of a DMEXCL file open since Create = %v; want %v", err, ns.ErrInUse)
		}
		g.Clunk()
		c.Clunk()
	})

	t.Run("orclose", func(t *testing.T) {
		mustPut(t, fsys, "loom", "tmp", "x")
		f := mustOpen(t, fsys, "loom", "tmp", ns.OREAD|ns.ORCLOSE)
		if got := read(t, fsys, "tmp"); got != "x" {
			t.Errorf("ORCLOSE file before Clunk = %q; want x", got)
		}
		if err := f.Clunk(); err != nil {
			t.Errorf("Clunk() = %v", err)
		}
		if _, err := walk(fsys, "loom", "tmp"); !errors.Is(err, ns.ErrNotExist) {
			t.Errorf("walk(tmp) after ORCLOSE Clunk = %v; want %v", err, ns.ErrNotExist)
		}
		// Removed already: the Clunk has nothing left to do.
		mustPut(t, fsys, "loom", "tmp2", "x")
		f = mustOpen(t, fsys, "loom", "tmp2", ns.OREAD|ns.ORCLOSE)
		(op{user: "loom", do: "remove", path: "tmp2"}).run()(fsys)
		if err := f.Clunk(); err != nil {
			t.Errorf("Clunk() of a removed ORCLOSE file = %v; want nil", err)
		}
	})

	t.Run("io", func(t *testing.T) {
		f := mustOpen(t, fsys, "loom", "doc", ns.OREAD)
		defer f.Clunk()
		buf := make([]byte, 5)
		tests := []struct {
			off  int64
			want string
			err  error
		}{
			{0, "hello", nil},
			{7, "world", nil},
			{10, "ld", nil},
			{12, "", nil},
			{1000, "", nil},
			{-1, "", ns.ErrInvalid},
		}
		for _, tt := range tests {
			n, err := f.Read(ctx, buf, tt.off)
			if string(buf[:n]) != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("Read(off %d) = %q, %v; want %q, %v", tt.off, buf[:n], err, tt.want, tt.err)
			}
		}
		if _, err := f.Write(ctx, []byte("x"), 0); !errors.Is(err, ns.ErrBadMode) {
			t.Errorf("Write on an OREAD file = %v; want %v", err, ns.ErrBadMode)
		}
		if _, err := f.ReadDir(ctx, 0, 1); !errors.Is(err, ns.ErrNotDir) {
			t.Errorf("ReadDir on a file = %v; want %v", err, ns.ErrNotDir)
		}
		g, _ := walk(fsys, "loom", "doc")
		if _, err := g.Read(ctx, buf, 0); !errors.Is(err, ns.ErrNotOpen) {
			t.Errorf("Read before Open = %v; want %v", err, ns.ErrNotOpen)
		}
		g.Clunk()
		w := mustOpen(t, fsys, "loom", "doc", ns.OWRITE)
		if _, err := w.Write(ctx, []byte("x"), maxLength); !errors.Is(err, ns.ErrInvalid) {
			t.Errorf("Write past the largest length = %v; want %v", err, ns.ErrInvalid)
		}
		w.Clunk()
	})
}

func TestRemoved(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "d/f", "still here")
	d, _ := walk(fsys, "loom", "d")
	f := mustOpen(t, fsys, "loom", "d/f", ns.ORDWR)
	stale, _ := walk(fsys, "loom", "d/f")
	defer d.Clunk()
	defer f.Clunk()
	defer stale.Clunk()
	if err := (op{user: "loom", do: "remove", path: "d/f"}).run()(fsys); err != nil {
		t.Fatal(err)
	}
	// An open File goes on with the data until its Clunk.
	buf := make([]byte, 64)
	if n, err := f.Read(ctx, buf, 0); string(buf[:n]) != "still here" || err != nil {
		t.Errorf("Read of a removed open file = %q, %v; want \"still here\"", buf[:n], err)
	}
	if n, err := f.Write(ctx, []byte("S"), 0); n != 1 || err != nil {
		t.Errorf("Write of a removed open file = %d, %v; want 1, nil", n, err)
	}
	// But a removed file cannot be reached again.
	for _, tt := range []struct {
		what string
		err  error
	}{
		{"Walk(nil)", func() error { _, _, err := stale.Walk(ctx, nil); return err }()},
		{"Open", func() error { _, err := stale.Open(ctx, ns.OREAD); return err }()},
		{"Remove", stale.(ns.Remover).Remove(ctx)},
		{"Wstat", stale.(ns.Wstater).Wstat(ctx, ns.NullDir())},
		{"walk(d/f)", func() error { _, err := walk(fsys, "loom", "d/f"); return err }()},
	} {
		if !errors.Is(tt.err, ns.ErrNotExist) {
			t.Errorf("%s of a removed file = %v; want %v", tt.what, tt.err, ns.ErrNotExist)
		}
	}
	// Its directory is empty now and can go; walking from it then fails.
	if err := (op{user: "loom", do: "remove", path: "d"}).run()(fsys); err != nil {
		t.Errorf("remove of the emptied d = %v", err)
	}
	if _, _, err := d.Walk(ctx, []string{".."}); !errors.Is(err, ns.ErrNotExist) {
		t.Errorf("Walk(..) from a removed directory = %v; want %v", err, ns.ErrNotExist)
	}
	c := d.(ns.Creater)
	if _, _, err := c.Create(ctx, "new", 0666, ns.OWRITE); !errors.Is(err, ns.ErrNotExist) {
		t.Errorf("Create in a removed directory = %v; want %v", err, ns.ErrNotExist)
	}
}

func TestWalk(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "a/b/c", "")
	root, _ := fsys.Attach(ctx, "loom", "")
	defer root.Clunk()
	qp := func(p string) uint64 { return mustStat(t, fsys, p).Qid.Path }
	tests := []struct {
		names []string
		want  []string // paths of the qids
		file  bool
		err   error
	}{
		{nil, nil, true, nil},
		{[]string{"a", "b", "c"}, []string{"a", "a/b", "a/b/c"}, true, nil},
		{[]string{".."}, []string{""}, true, nil},
		{[]string{"a", "..", "..", "a"}, []string{"a", "", "", "a"}, true, nil},
		{[]string{"a", "x", "c"}, []string{"a"}, false, nil},
		{[]string{"a", "b", "c", "d"}, []string{"a", "a/b", "a/b/c"}, false, nil},
		{[]string{"x"}, nil, false, ns.ErrNotExist},
	}
	for _, tt := range tests {
		qids, f, err := root.Walk(ctx, tt.names)
		var got []string
		for _, q := range qids {
			got = append(got, fmt.Sprint(q.Path))
		}
		var want []string
		for _, p := range tt.want {
			want = append(want, fmt.Sprint(qp(p)))
		}
		if !slices.Equal(got, want) || (f != nil) != tt.file || !errors.Is(err, tt.err) {
			t.Errorf("Walk(%q) = %v, file %v, %v; want %v, file %v, %v", tt.names, got, f != nil, err, want, tt.file, tt.err)
		}
		if f != nil {
			f.Clunk()
		}
	}
}

func TestReadDir(t *testing.T) {
	fsys := New()
	for _, n := range []string{"z", "a", "m", "b"} {
		mustPut(t, fsys, "loom", n, n)
	}
	(op{user: "loom", do: "remove", path: "m"}).run()(fsys)
	mustPut(t, fsys, "loom", "m", "m")
	d := mustOpen(t, fsys, "loom", "", ns.OREAD)
	defer d.Clunk()
	tests := []struct {
		index, n int
		want     []string
	}{
		{0, 10, []string{"z", "a", "b", "m"}}, // creation order
		{1, 2, []string{"a", "b"}},
		{3, 10, []string{"m"}},
		{4, 10, nil},
		{100, 10, nil},
		{0, 0, nil},
	}
	for _, tt := range tests {
		ds, err := d.ReadDir(ctx, tt.index, tt.n)
		var got []string
		for _, e := range ds {
			got = append(got, e.Name)
			if e.Length != 1 {
				t.Errorf("ReadDir entry %s Length = %d; want 1", e.Name, e.Length)
			}
		}
		if !slices.Equal(got, tt.want) || err != nil {
			t.Errorf("ReadDir(%d, %d) = %v, %v; want %v", tt.index, tt.n, got, err, tt.want)
		}
	}
	if _, err := d.Read(ctx, make([]byte, 10), 0); !errors.Is(err, ns.ErrIsDir) {
		t.Errorf("Read of a directory = %v; want %v", err, ns.ErrIsDir)
	}
}

// TestConcurrentSameFile hammers one file with readers, writers and
// metadata changes at once; under -race it finds unguarded state.
func TestConcurrentSameFile(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "f", strings.Repeat("x", 4096))
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			f := mustOpen(t, fsys, "loom", "f", ns.ORDWR)
			defer f.Clunk()
			buf := make([]byte, 128)
			for j := range 200 {
				switch i % 3 {
				case 0:
					f.Read(ctx, buf, int64(j*16))
				case 1:
					f.Write(ctx, buf[:16], int64(j*16))
				case 2:
					f.Stat(ctx)
					d := ns.NullDir()
					d.Length = uint64(4096 + j)
					f.(ns.Wstater).Wstat(ctx, d)
					root, _ := walk(fsys, "loom", "")
					root.Walk(ctx, []string{"f"})
					root.Clunk()
				}
			}
		})
	}
	wg.Wait()
}

// TestReadNoAlloc checks that reads and writes within a file's length
// allocate nothing, as the 9P benchmarks count on.
func TestReadNoAlloc(t *testing.T) {
	fsys := New()
	mustPut(t, fsys, "loom", "f", strings.Repeat("x", 1<<20))
	f := mustOpen(t, fsys, "loom", "f", ns.ORDWR)
	defer f.Clunk()
	buf := make([]byte, 128)
	if a := testing.AllocsPerRun(100, func() { f.Read(ctx, buf, 4096) }); a != 0 {
		t.Errorf("allocations per 128-byte Read = %v; want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { f.Write(ctx, buf, 4096) }); a != 0 {
		t.Errorf("allocations per 128-byte Write = %v; want 0", a)
	}
}

func BenchmarkRead128(b *testing.B) {
	fsys := New()
	f, _ := walk(fsys, "loom", "")
	nf, _, _ := f.(ns.Creater).Create(ctx, "f", 0666, ns.ORDWR)
	nf.Write(ctx, make([]byte, 1<<20), 0)
	buf := make([]byte, 128)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			nf.Read(ctx, buf, 512)
		}
	})
}
