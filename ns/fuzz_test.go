package ns_test

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"loom/ns"
)

// The fuzzed namespaces are made of these servers, whose names overlap:
// a is a directory in R and X and a file in Y; y a directory in X and a
// file in Y.
var fuzzServers = []struct {
	name  string
	paths []string
}{
	{"R", []string{"a/", "a/b/", "a/g", "c/", "d/", "f"}},
	{"X", []string{"a/", "a/b/", "x", "y/", "y/z"}},
	{"Y", []string{"y", "c/", "c/c/", "a", "b/"}},
}

// fuzzPaths are the names the fuzzed operations use.
var fuzzPaths = []string{
	"/", "/a", "/a/b", "/c", "/d", "/f", "/a/g", "/x", "/y", "/y/z", "/a/x", "/b", "/c/c",
	"/a/b/..", "/a/..", "/c/..", "/a/b/../..", "/d/../a/b", "/a/b/b", "/c/c/..", "/d/a/b",
}

// model is a plain reference namespace: a map from a file (an attach and
// a path in its server) to the list of files mounted on it, walked as
// bind(2) and the Plan 9 paper on ".." say.
type model struct {
	trees  []map[string]bool     // each attach's tree: path -> is a directory
	kids   []map[string][]string // each attach's directories: path -> names in order
	qpaths []map[string]uint64   // each attach's Qid.Paths
	table  map[loc][]loc
}

type loc struct {
	inst int // attach; 0 is the empty root
	p    string
}

func (m *model) isDir(l loc) bool { return m.trees[l.inst][l.p] }

// attach adds an attach of server s.
func (m *model) attach(s int, qpaths map[string]uint64) loc {
	tree := map[string]bool{"/": true}
	kids := map[string][]string{}
	for _, p := range fuzzServers[s].paths {
		q := "/" + strings.Trim(p, "/")
		tree[q] = strings.HasSuffix(p, "/")
		kids[path.Dir(q)] = append(kids[path.Dir(q)], path.Base(q))
	}
	m.trees = append(m.trees, tree)
	m.kids = append(m.kids, kids)
	m.qpaths = append(m.qpaths, qpaths)
	return loc{len(m.trees) - 1, "/"}
}

// resolve walks p from the root, one name at a time.
func (m *model) resolve(p string) (loc, bool) {
	cur := loc{0, "/"}
	type level struct {
		crossed bool
		from    loc
	}
	levels := []level{{}}
	for _, name := range strings.Split(p, "/") {
		if name == "" {
			continue
		}
		if !m.isDir(cur) {
			return loc{}, false
		}
		if name == ".." {
			if len(levels) == 1 {
				continue
			}
			levels = levels[:len(levels)-1]
			if top := &levels[len(levels)-1]; top.crossed {
				cur = top.from
				top.crossed = false
			} else {
				cur = loc{cur.inst, path.Dir(cur.p)}
			}
			continue
		}
		members, ok := m.table[cur]
		if ok {
			levels[len(levels)-1] = level{true, cur}
		} else {
			members = []loc{cur}
		}
		found := false
		for _, mb := range members {
			next := loc{mb.inst, path.Join(mb.p, name)}
			if _, ok := m.trees[next.inst][next.p]; ok {
				cur, found = next, true
				break
			}
		}
		if !found {
			return loc{}, false
		}
		levels = append(levels, level{})
	}
	return cur, true
}

// view is what the namespace shows at l: the first thing mounted on it.
func (m *model) view(l loc) loc {
	if ms, ok := m.table[l]; ok {
		return ms[0]
	}
	return l
}

func (m *model) bind(news []loc, old string, flag ns.Flag) error {
	o, ok := m.resolve(old)
	if !ok {
		return ns.ErrNotExist
	}
	switch {
	case m.isDir(o) != m.isDir(news[0]):
		return ns.ErrNotDir
	case !m.isDir(o) && flag&ns.MORDER != ns.MREPL:
		return ns.ErrNotDir
	}
	list, ok := m.table[o]
	if !ok && flag&ns.MORDER != ns.MREPL {
		list = []loc{o}
	}
	switch flag & ns.MORDER {
	case ns.MREPL:
		list = news
	case ns.MBEFORE:
		list = append(slices.Clone(news), list...)
	case ns.MAFTER:
		list = append(slices.Clone(list), news...)
	}
	if len(list) > ns.MaxUnion {
		return ns.ErrInvalid
	}
	m.table[o] = list
	return nil
}

func (m *model) unmount(new, old string) error {
	o, ok := m.resolve(old)
	if !ok {
		return ns.ErrNotExist
	}
	list, ok := m.table[o]
	if !ok {
		return ns.ErrNotExist
	}
	if new == "" {
		delete(m.table, o)
		return nil
	}
	n, ok := m.resolve(new)
	if !ok {
		return ns.ErrNotExist
	}
	n = m.view(n)
	i := slices.Index(list, n)
	if i < 0 {
		return ns.ErrNotExist
	}
	list = slices.Delete(slices.Clone(list), i, i+1)
	if len(list) == 0 {
		delete(m.table, o)
	} else {
		m.table[o] = list
	}
	return nil
}

// list is the listing of the directory at l: the members' names in
// order, each once.
func (m *model) list(l loc) []string {
	members, ok := m.table[l]
	if !ok {
		members = []loc{l}
	}
	var out []string
	for _, mb := range members {
		for _, k := range m.kids[mb.inst][mb.p] {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// qidPath is the Qid.Path the namespace gives the file l.
func (m *model) qidPath(l loc) uint64 {
	if l.inst == 0 {
		return 0
	}
	return uint64(l.inst)<<48 | m.qpaths[l.inst][l.p]
}

// FuzzNamespaceOps applies operations decoded from bytes to a Namespace
// and to the model, and compares what walks find: whether each name
// exists, which server's file it is, and what a directory lists.
func FuzzNamespaceOps(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 1, 1, 3, 1, 0})                   // mount R /; mount X /a; check /a
	f.Add([]byte{1, 0, 0, 9, 1, 1, 5, 2, 1, 3, 1, 0, 2, 0, 1}) // unions at /a
	f.Add([]byte{1, 0, 0, 0, 1, 2, 0, 2, 3, 3, 16, 0, 3, 13, 0})
	f.Add([]byte{1, 0, 0, 8, 2, 2, 0, 3, 1, 3, 14, 0, 2, 1, 3, 3, 3, 0})
	f.Add([]byte{1, 0, 0, 4, 1, 3, 4, 2, 13, 1, 2, 1, 2, 0, 1, 2, 3, 1, 3, 6, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 120 {
			data = data[:120]
		}
		fuzzOps(t, data)
	})
}

func fuzzOps(t *testing.T, data []byte) {
	srv := map[string]ns.FS{}
	qpaths := make([]map[string]uint64, len(fuzzServers))
	for i, s := range fuzzServers {
		r := ram(t, s.name, s.paths...)
		srv[s.name] = ns.Named(s.name, r)
		qpaths[i] = map[string]uint64{}
		for _, p := range append([]string{"/"}, s.paths...) {
			p = "/" + strings.Trim(p, "/")
			f, err := walk(r, p)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := f.Stat(ctx)
			f.Clunk()
			qpaths[i][p] = d.Qid.Path
		}
	}
	m := &model{
		// The empty root.
		trees:  []map[string]bool{{"/": true}},
		kids:   []map[string][]string{{}},
		qpaths: []map[string]uint64{{"/": 0}},
		table:  map[loc][]loc{},
	}
	nsp := ns.New("loom")
	var log []string
	flagOf := func(b byte) ns.Flag {
		f := []ns.Flag{ns.MREPL, ns.MBEFORE, ns.MAFTER}[int(b)%3]
		if b&4 != 0 {
			f |= ns.MCREATE
		}
		return f
	}
	P := func(b byte) string { return fuzzPaths[int(b)%len(fuzzPaths)] }
	for ; len(data) >= 3; data = data[3:] {
		k, a, b := data[0], data[1], data[2]
		var err, want error
		switch k % 4 {
		case 0:
			log = append(log, fmt.Sprintf("bind %v %s %s", flagOf(k/4), P(a), P(b)))
			err = nsp.Bind(P(a), P(b), flagOf(k/4))
			if n, ok := m.resolve(P(a)); !ok {
				want = ns.ErrNotExist
			} else {
				news := []loc{n}
				if ms, ok := m.table[n]; ok {
					news = slices.Clone(ms)
				}
				want = m.bind(news, P(b), flagOf(k/4))
			}
		case 1:
			s := int(a) % len(fuzzServers)
			log = append(log, fmt.Sprintf("mount %v %s %s", flagOf(k/4), fuzzServers[s].name, P(b)))
			err = nsp.Mount(srv[fuzzServers[s].name], P(b), flagOf(k/4), "")
			want = m.bind([]loc{m.attach(s, qpaths[s])}, P(b), flagOf(k/4))
		case 2:
			new := P(a)
			if a%3 == 0 {
				new = ""
			}
			log = append(log, fmt.Sprintf("unmount %q %s", new, P(b)))
			err = nsp.Unmount(new, P(b))
			want = m.unmount(new, P(b))
		case 3:
			compare(t, nsp, m, P(a), log)
			continue
		}
		if (err == nil) != (want == nil) {
			t.Fatalf("%s = %v; the model says %v\nafter %s", log[len(log)-1], err, want, strings.Join(log, "\n"))
		}
	}
	for _, p := range fuzzPaths {
		compare(t, nsp, m, p, log)
	}

	// What prints replays to the same thing.
	text, err := nsp.Text()
	if err != nil {
		return
	}
	again := ns.New("loom")
	cmds, err := ns.ParseText("text", text)
	if err != nil {
		t.Fatalf("ParseText(Text()) = %v\n%s", err, text)
	}
	if err := ns.Replay(again, cmds, servers(srv)); err != nil {
		t.Fatalf("Replay(Text()) = %v\n%s\nafter %s", err, text, strings.Join(log, "\n"))
	}
	for _, p := range fuzzPaths {
		if a, b := lsNames(nsp, p), lsNames(again, p); a != b {
			t.Fatalf("ls %s = %q after replaying %q; want %q\nafter %s", p, b, text, a, strings.Join(log, "\n"))
		}
		ca, ea := cat(nsp, p)
		cb, eb := cat(again, p)
		if ca != cb || (ea == nil) != (eb == nil) {
			t.Fatalf("cat %s = %q, %v after replaying %q; want %q, %v", p, cb, eb, text, ca, ea)
		}
	}
}

// compare checks the namespace against the model at p.
func compare(t *testing.T, nsp *ns.Namespace, m *model, p string, log []string) {
	t.Helper()
	l, ok := m.resolve(p)
	f, err := walk(nsp, p)
	if (err == nil) != ok {
		t.Fatalf("walk(%s) = %v; the model says exists=%v (%v)\nafter %s", p, err, ok, l, strings.Join(log, "\n"))
	}
	if !ok {
		return
	}
	d, err := f.Stat(ctx)
	f.Clunk()
	if err != nil {
		t.Fatalf("Stat(%s) = %v", p, err)
	}
	v := m.view(l)
	if d.Qid.Path != m.qidPath(v) {
		t.Fatalf("Stat(%s).Qid = %#x; the model says %v (%#x)\nafter %s", p, d.Qid.Path, v, m.qidPath(v), strings.Join(log, "\n"))
	}
	if m.isDir(v) {
		got, want := lsNames(nsp, p), strings.Join(m.list(l), " ")
		if got != want {
			t.Fatalf("ls %s = %q; the model says %q\nafter %s", p, got, want, strings.Join(log, "\n"))
		}
	}
}
