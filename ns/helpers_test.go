package ns_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"loom/components/ramfs"
	"loom/ns"
)

var ctx = context.Background()

// ram returns a ramfs holding paths: a path ending in "/" is a directory,
// any other a file holding prefix, a slash and the path.
func ram(t testing.TB, prefix string, paths ...string) *ramfs.FS {
	t.Helper()
	r, err := mkram(prefix, paths...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ramfsWith is ram for examples, with files holding their names.
func ramfsWith(paths ...string) *ramfs.FS {
	r, err := mkram("", paths...)
	if err != nil {
		panic(err)
	}
	return r
}

func mkram(prefix string, paths ...string) (*ramfs.FS, error) {
	r := ramfs.New()
	for _, p := range paths {
		data := prefix + "/" + strings.Trim(p, "/")
		if prefix == "" {
			data = ""
		}
		if strings.HasSuffix(p, "/") {
			err := mkdir(r, strings.Trim(p, "/"))
			if err != nil {
				return nil, fmt.Errorf("mkdir %s: %w", p, err)
			}
		} else if err := create(r, p, data); err != nil {
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
	}
	return r, nil
}

// mkdir makes the directory p of fsys.
func mkdir(fsys ns.FS, p string) error {
	parent, name := "", p
	if i := strings.LastIndex(p, "/"); i >= 0 {
		parent, name = p[:i], p[i+1:]
	}
	d, err := walk(fsys, parent)
	if err != nil {
		return err
	}
	defer d.Clunk()
	f, _, err := d.(ns.Creater).Create(ctx, name, ns.DMDIR|0777, ns.OREAD)
	if err != nil {
		return err
	}
	return f.Clunk()
}

// walk walks fsys from its root to the slash-separated name p, 16 names
// at a time; a walk that stops short gives ErrNotExist.
func walk(fsys ns.FS, p string) (ns.File, error) {
	f, err := fsys.Attach(ctx, "loom", "")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range strings.Split(p, "/") {
		if e != "" {
			names = append(names, e)
		}
	}
	for len(names) > 0 {
		step := names[:min(16, len(names))]
		names = names[len(step):]
		_, nf, err := f.Walk(ctx, step)
		f.Clunk()
		if err == nil && nf == nil {
			err = ns.ErrNotExist
		}
		if err != nil {
			return nil, err
		}
		f = nf
	}
	return f, nil
}

// cat returns the contents of the file p of fsys.
func cat(fsys ns.FS, p string) (string, error) {
	f, err := walk(fsys, p)
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return "", err
	}
	b, err := ns.ReadAll(ctx, f)
	return string(b), err
}

// ls returns the entries of the directory p of fsys, in order.
func ls(fsys ns.FS, p string) ([]ns.Dir, error) {
	f, err := walk(fsys, p)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil, err
	}
	var out []ns.Dir
	for {
		ds, err := f.ReadDir(ctx, len(out), 3)
		if err != nil {
			return nil, err
		}
		if len(ds) == 0 {
			return out, nil
		}
		out = append(out, ds...)
	}
}

// lsNames returns the names ls gives, joined by spaces, or the error.
func lsNames(fsys ns.FS, p string) string {
	ds, err := ls(fsys, p)
	if err != nil {
		return "error: " + err.Error()
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return strings.Join(names, " ")
}

// create creates the file p of fsys, writing data in it.
func create(fsys ns.FS, p string, data string) error {
	i := strings.LastIndex(p, "/")
	d, err := walk(fsys, p[:max(i, 0)])
	if err != nil {
		return err
	}
	defer d.Clunk()
	c, ok := d.(ns.Creater)
	if !ok {
		return ns.ErrNotSupp
	}
	f, _, err := c.Create(ctx, p[i+1:], 0666, ns.OWRITE)
	if err != nil {
		return err
	}
	defer f.Clunk()
	_, err = f.Write(ctx, []byte(data), 0)
	return err
}

// errName names the ns error err is, for tables.
func errName(err error) string {
	for _, e := range []struct {
		name string
		err  error
	}{
		{"notexist", fs.ErrNotExist}, {"perm", fs.ErrPermission},
		{"exist", fs.ErrExist}, {"nocreate", ns.ErrNoCreate},
		{"notdir", ns.ErrNotDir}, {"isdir", ns.ErrIsDir},
		{"notempty", ns.ErrNotEmpty}, {"badname", ns.ErrBadName},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// servers returns a resolver over the named servers.
func servers(m map[string]ns.FS) func(string) (ns.FS, error) {
	return func(name string) (ns.FS, error) {
		if s, ok := m[name]; ok {
			return s, nil
		}
		return nil, ns.ErrNotExist
	}
}

// build replays text in a new namespace.
func build(t testing.TB, srv map[string]ns.FS, text string) *ns.Namespace {
	t.Helper()
	nsp := ns.New("loom")
	cmds, err := ns.ParseText("test", []byte(text))
	if err != nil {
		t.Fatalf("ParseText(%q) = %v", text, err)
	}
	if err := ns.Replay(nsp, cmds, servers(srv)); err != nil {
		t.Fatalf("Replay(%q) = %v", text, err)
	}
	return nsp
}

func sorted(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return strings.Join(f, " ")
}
