package synth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"loom/ns"
	"loom/ns/nstest"
)

var ctx = context.Background()

// sample is a small tree with a piece of everything: a ctl file over a
// counter, a status file, a generated directory of sessions, a stream, an
// exclusive file, a file only its owner may read and a directory that
// makes files.
type sample struct {
	mu     sync.Mutex
	limit  int
	killed bool
	sess   []*Node
	made   []*Node
	stream *Stream
	fs     *FS
}

func newSample() *sample {
	s := &sample{limit: 1, stream: NewStream(64)}
	cmds := Commands{
		{Name: "kill"},
		{Name: "limit", MinArgs: 1, MaxArgs: 2, Run: func(args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return fmt.Errorf("bad number %q", args[0])
			}
			s.mu.Lock()
			s.limit = n
			s.mu.Unlock()
			return nil
		}},
		{Name: "new", Run: func(args []string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			n := len(s.sess)
			s.sess = append(s.sess, &Node{Name: strconv.Itoa(n), Mode: ns.DMDIR | 0555, Children: []*Node{
				TextFile("data", 0444, func(r *Req) string { return "session " + strconv.Itoa(n) + "\n" }),
			}})
			return nil
		}},
	}
	cmds[0].Run = func([]string) error {
		s.mu.Lock()
		s.killed = true
		s.mu.Unlock()
		return nil
	}
	status := func(r *Req) string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return fmt.Sprintf("limit %d killed %v user %s\n", s.limit, s.killed, r.User)
	}
	var made *Node
	made = &Node{Name: "made", Mode: ns.DMDIR | 0775,
		Gen: func(ctx context.Context, r *Req) ([]*Node, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return slices.Clone(s.made), nil
		},
		Create: func(ctx context.Context, r *Req, name string, perm ns.Perm) (*Node, error) {
			if perm.IsDir() {
				return nil, ns.ErrPerm
			}
			var n *Node
			n = &Node{Name: name, Mode: perm & 0664, Uid: r.User,
				Open: Text(func(ctx context.Context, r *Req) ([]byte, error) { return []byte(name), nil }),
				Remove: func(ctx context.Context, r *Req) error {
					s.mu.Lock()
					defer s.mu.Unlock()
					i := slices.Index(s.made, n)
					if i < 0 {
						return ns.ErrNotExist
					}
					s.made = slices.Delete(s.made, i, i+1)
					made.Touch()
					return nil
				}}
			s.mu.Lock()
			s.made = append(s.made, n)
			s.mu.Unlock()
			made.Touch()
			return n, nil
		}}
	root := &Node{Mode: ns.DMDIR | 0555, Children: []*Node{
		CtlFile("ctl", 0660, cmds, status),
		TextFile("status", 0444, status),
		{Name: "sess", Mode: ns.DMDIR | 0555, Gen: func(ctx context.Context, r *Req) ([]*Node, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return slices.Clone(s.sess), nil
		}},
		{Name: "stream", Mode: 0444, Open: s.stream.Open},
		{Name: "excl", Mode: ns.DMEXCL | 0666},
		func() *Node {
			n := TextFile("secret", 0600, func(*Req) string { return "x" })
			n.Uid = "glenda"
			return n
		}(),
		made,
	}}
	s.fs = New(root)
	return s
}

func TestConformance(t *testing.T) {
	s := newSample()
	for range 3 {
		if err := s.cmds("new"); err != nil {
			t.Fatal(err)
		}
	}
	// As "none", who may change nothing, the tree is read-only.
	// What none may not read is skipped, since fstest reads everything
	// listed.
	nstest.TestFS(t, s.fs, nstest.User("none"), nstest.ReadOnly(), nstest.Skip("stream", "ctl", "secret"),
		nstest.Expect("ctl", "status", "sess/0/data", "sess/2/data", "made"))
	// As the owner, everything is readable but the stream.
	nstest.TestFS(t, s.fs, nstest.User("glenda"), nstest.ReadOnly(), nstest.Skip("stream", "ctl"))
}

// cmds writes text to ctl as the owner.
func (s *sample) cmds(text string) error {
	f := mustOpen(nil, s.fs, "loom", "ctl", ns.OWRITE)
	defer f.Clunk()
	_, err := f.Write(ctx, []byte(text), 0)
	return err
}

// walkTo walks user's view of fsys to p ("" is the root).
func walkTo(fsys ns.FS, user, p string) (ns.File, error) {
	r, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return nil, err
	}
	if p == "" {
		return r, nil
	}
	defer r.Clunk()
	qids, f, err := r.Walk(ctx, strings.Split(p, "/"))
	if err == nil && f == nil {
		err = fmt.Errorf("walk stopped after %d names: %w", len(qids), ns.ErrNotExist)
	}
	return f, err
}

func mustOpen(t *testing.T, fsys ns.FS, user, p string, mode uint8) ns.File {
	f, err := walkTo(fsys, user, p)
	if err == nil {
		_, err = f.Open(ctx, mode)
		if err != nil {
			f.Clunk()
		}
	}
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Helper()
		t.Fatalf("open %s as %s = %v", p, user, err)
	}
	return f
}

func readAll(t *testing.T, f ns.File) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 5)
	for {
		n, err := f.Read(ctx, buf, int64(len(out)))
		if err != nil {
			t.Fatalf("Read = %v", err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func TestTokenize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"  \t ", nil, nil},
		{"kill", []string{"kill"}, nil},
		{" limit  1\t2 ", []string{"limit", "1", "2"}, nil},
		{"echo 'a b' c", []string{"echo", "a b", "c"}, nil},
		{"x 'it''s'", []string{"x", "it's"}, nil},
		{"x ''", []string{"x", ""}, nil},
		{"x a'b c'd", []string{"x", "ab cd"}, nil},
		{"x 'open", nil, ErrQuote},
		{"x 'a'''", []string{"x", "a'"}, nil},
	} {
		got, err := Tokenize(tt.in)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("Tokenize(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	for _, s := range []string{"a", "", "a b", "it's", "'", "x\ty"} {
		w, err := Tokenize(Quote(s))
		if err != nil || len(w) != 1 || w[0] != s {
			t.Errorf("Tokenize(Quote(%q) = %q) = %q, %v; want [%q]", s, Quote(s), w, err, s)
		}
	}
}

func TestCommands(t *testing.T) {
	var ran []string
	run := func(name string) func([]string) error {
		return func(args []string) error {
			if len(args) > 0 && args[0] == "fail" {
				return errors.New("refused")
			}
			ran = append(ran, name+" "+strings.Join(args, ","))
			return nil
		}
	}
	cmds := Commands{
		{Name: "kill", Run: run("kill")},
		{Name: "two", Args: 2, Run: run("two")},
		{Name: "limit", MinArgs: 1, MaxArgs: 2, Run: run("limit")},
		{Name: "any", MaxArgs: -1, Run: run("any")},
		{Name: "some", MinArgs: 1, MaxArgs: -1, Run: run("some")},
		{Name: "check"}, // no Run: accepted, does nothing
	}
	for _, tt := range []struct {
		in      string
		ran     []string
		err     error
		errText string
	}{
		{"kill", []string{"kill "}, nil, ""},
		{"kill\n", []string{"kill "}, nil, ""},
		{"kill 1", nil, ErrBadArgs, `bad # args to command "kill 1"`},
		{"two a", nil, ErrBadArgs, `bad # args to command "two a"`},
		{"two a 'b c'", []string{"two a,b c"}, nil, ""},
		{"two a b c", nil, ErrBadArgs, `bad # args to command "two a b c"`},
		{"limit", nil, ErrBadArgs, `bad # args to command "limit"`},
		{"limit 1", []string{"limit 1"}, nil, ""},
		{"limit 1 2", []string{"limit 1,2"}, nil, ""},
		{"limit 1 2 3", nil, ErrBadArgs, `bad # args to command "limit 1 2 3"`},
		{"any", []string{"any "}, nil, ""},
		{"any 1 2 3 4 5", []string{"any 1,2,3,4,5"}, nil, ""},
		{"some", nil, ErrBadArgs, `bad # args to command "some"`},
		{"some 1 2 3", []string{"some 1,2,3"}, nil, ""},
		{"check", nil, nil, ""},
		{"frob x", nil, ErrUnknown, `unknown control message "frob x"`},
		{"frob 'a b'", nil, ErrUnknown, `unknown control message "frob 'a b'"`},
		{"limit 'x", nil, ErrQuote, `unmatched quote in command "limit 'x"`},
		{"", nil, nil, ""},
		{"\n\n", nil, nil, ""},
		// Every line is checked before any runs.
		{"kill\nlimit 1 2 3", nil, ErrBadArgs, `bad # args to command "limit 1 2 3"`},
		{"kill\nfrob", nil, ErrUnknown, `unknown control message "frob"`},
		{"kill\nlimit 3", []string{"kill ", "limit 3"}, nil, ""},
		// A command that fails stops the rest.
		{"limit fail", nil, nil, "limit: refused"},
		{"kill\nlimit fail\nany", []string{"kill "}, nil, "limit: refused"},
	} {
		ran = nil
		err := cmds.Run(tt.in)
		if !slices.Equal(ran, tt.ran) {
			t.Errorf("Run(%q) ran %q; want %q", tt.in, ran, tt.ran)
		}
		switch {
		case tt.errText == "" && err != nil:
			t.Errorf("Run(%q) = %v; want nil", tt.in, err)
		case tt.errText != "" && (err == nil || err.Error() != tt.errText):
			t.Errorf("Run(%q) = %v; want %s", tt.in, err, tt.errText)
		case tt.err != nil && (!errors.Is(err, tt.err) || !errors.Is(err, fs.ErrInvalid)):
			t.Errorf("Run(%q) = %v; want errors.Is %v and fs.ErrInvalid", tt.in, err, tt.err)
		}
	}
}

// TestCtlFile checks the ctl file of the sample: commands change the
// status, bad ones are refused with the command named and change nothing.
func TestCtlFile(t *testing.T) {
	s := newSample()
	status := func() string {
		f := mustOpen(t, s.fs, "loom", "status", ns.OREAD)
		defer f.Clunk()
		return readAll(t, f)
	}
	const start = "limit 1 killed false user loom\n"
	if got := status(); got != start {
		t.Fatalf("status = %q; want %q", got, start)
	}
	for _, tt := range []struct{ in, err string }{
		{"limit x", `limit: bad number "x"`},
		{"limit 2 3 4", `bad # args to command "limit 2 3 4"`},
		{"kill 9", `bad # args to command "kill 9"`},
		{"limit 5\nfrob", `unknown control message "frob"`},
		{"limit 5\nkill 1", `bad # args to command "kill 1"`},
	} {
		if err := s.cmds(tt.in); err == nil || err.Error() != tt.err {
			t.Errorf("write ctl %q = %v; want %s", tt.in, err, tt.err)
		}
		if got := status(); got != start {
			t.Errorf("status after write ctl %q = %q; want %q unchanged", tt.in, got, start)
		}
	}
	if err := s.cmds("limit 7\nkill\n"); err != nil {
		t.Errorf("write ctl = %v", err)
	}
	if got, want := status(), "limit 7 killed true user loom\n"; got != want {
		t.Errorf("status = %q; want %q", got, want)
	}

	// The ctl file's own reads are fixed at open.
	f := mustOpen(t, s.fs, "loom", "ctl", ns.ORDWR)
	defer f.Clunk()
	if _, err := f.Write(ctx, []byte("limit 9"), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, f), "limit 7 killed true user loom\n"; got != want {
		t.Errorf("ctl read = %q; want %q, the text at open", got, want)
	}

	// "none" may not open ctl at all.
	g, err := walkTo(s.fs, "none", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Clunk()
	for _, m := range []uint8{ns.OREAD, ns.OWRITE} {
		if _, err := g.Open(ctx, m); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open(ctl, %d) as none = %v; want permission denied", m, err)
		}
	}
}

func TestWalkAndQids(t *testing.T) {
	s := newSample()
	s.cmds("new")
	s.cmds("new")
	r, _ := s.fs.Attach(ctx, "loom", "")
	defer r.Clunk()
	rd, _ := r.Stat(ctx)
	if rd.Name != "/" || !rd.Qid.IsDir() {
		t.Errorf("root Stat() = %v; want / and a directory", rd)
	}
	qids, f, err := r.Walk(ctx, []string{"sess", "1", "..", "0", "data"})
	if err != nil || f == nil || len(qids) != 5 {
		t.Fatalf("Walk(sess/1/../0/data) = %v, %v, %v", qids, f, err)
	}
	defer f.Clunk()
	if qids[2] != qids[0] {
		t.Errorf("Walk(sess/1/..) = %v; want sess's qid %v", qids[2], qids[0])
	}
	if got := readAll(t, mustOpenFile(t, f)); got != "session 0\n" {
		t.Errorf("read sess/0/data = %q", got)
	}
	// A generated Node keeps its qid from one listing to the next.
	q2, g, _ := r.Walk(ctx, []string{"sess", "0", "data"})
	g.Clunk()
	if q2[2] != qids[4] {
		t.Errorf("sess/0/data qid = %v, then %v; want the same", qids[4], q2[2])
	}
	// Walking past a file stops there; a missing first name fails.
	q3, g, err := r.Walk(ctx, []string{"status", "x"})
	if err != nil || g != nil || len(q3) != 1 {
		t.Errorf("Walk(status, x) = %v, %v, %v; want one qid", q3, g, err)
	}
	if _, _, err := r.Walk(ctx, []string{"nope"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk(nope) = %v; want does not exist", err)
	}
	// Permission to read a file is checked for the attaching user.
	sec, _ := walkTo(s.fs, "loom", "secret")
	if _, err := sec.Open(ctx, ns.OREAD); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Open(secret) as loom = %v; want permission denied", err)
	}
	sec.Clunk()
	sec = mustOpen(t, s.fs, "glenda", "secret", ns.OREAD)
	if got := readAll(t, sec); got != "x" {
		t.Errorf("read secret as glenda = %q", got)
	}
	sec.Clunk()
}

func mustOpenFile(t *testing.T, f ns.File) ns.File {
	t.Helper()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReadDirPages(t *testing.T) {
	s := newSample()
	for range 5 {
		s.cmds("new")
	}
	d := mustOpen(t, s.fs, "loom", "sess", ns.OREAD)
	defer d.Clunk()
	first, err := d.ReadDir(ctx, 0, 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("ReadDir(0, 2) = %v, %v", first, err)
	}
	// New sessions after the first page do not show until a read from 0.
	s.cmds("new")
	rest, _ := d.ReadDir(ctx, 2, 100)
	if len(rest) != 3 {
		t.Errorf("ReadDir(2, 100) = %d entries; want 3 from the listing at 0", len(rest))
	}
	all, _ := d.ReadDir(ctx, 0, 100)
	if len(all) != 6 {
		t.Errorf("ReadDir(0, 100) = %d entries; want 6", len(all))
	}
}

func TestExclAndVersion(t *testing.T) {
	s := newSample()
	f := mustOpen(t, s.fs, "loom", "excl", ns.OREAD)
	g, _ := walkTo(s.fs, "loom", "excl")
	if _, err := g.Open(ctx, ns.OREAD); !errors.Is(err, ns.ErrInUse) {
		t.Errorf("second Open(excl) = %v; want %v", err, ns.ErrInUse)
	}
	f.Clunk()
	if _, err := g.Open(ctx, ns.OREAD); err != nil {
		t.Errorf("Open(excl) after the first clunked = %v", err)
	}
	g.Clunk()

	d, _ := walkTo(s.fs, "loom", "made")
	defer d.Clunk()
	st0, _ := d.Stat(ctx)
	nf, q, err := d.(ns.Creater).Create(ctx, "x", 0666, ns.OREAD|ns.ORCLOSE)
	if err != nil {
		t.Fatalf("Create(made/x) = %v", err)
	}
	st1, _ := d.Stat(ctx)
	if st1.Qid.Vers == st0.Qid.Vers {
		t.Errorf("made qid after a create = %v; want a new version after %v", st1.Qid, st0.Qid)
	}
	if got := readAll(t, nf); got != "x" {
		t.Errorf("read new file = %q", got)
	}
	if x, err := s.fs.Attach(ctx, "loom", ""); err == nil {
		qs, xf, _ := x.Walk(ctx, []string{"made", "x"})
		if xf == nil || qs[1].Path != q.Path {
			t.Errorf("Walk(made/x) = %v; want %v", qs, q)
		}
		if xf != nil {
			// Its Uid is the creator's, its mode 0664: others may not write.
			st, _ := xf.Stat(ctx)
			if st.Uid != "loom" || st.Mode != 0664 {
				t.Errorf("Stat(made/x) = %v; want uid loom mode 0664", st)
			}
			xf.Clunk()
		}
		x.Clunk()
	}
	if _, _, err := d.(ns.Creater).Create(ctx, "x", 0666, ns.OREAD); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create(made/x) again = %v; want exists", err)
	}
	if err := nf.Clunk(); err != nil {
		t.Errorf("Clunk with ORCLOSE = %v", err)
	}
	if _, err := walkTo(s.fs, "loom", "made/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk made/x after ORCLOSE = %v; want gone", err)
	}
	// "none" may not create in made, nor anything in the root.
	nd, _ := walkTo(s.fs, "none", "made")
	if _, _, err := nd.(ns.Creater).Create(ctx, "y", 0666, ns.OREAD); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Create(made/y) as none = %v; want permission denied", err)
	}
	nd.Clunk()
}

func TestClone(t *testing.T) {
	var n int
	var mu sync.Mutex
	var kids []*Node
	dir := &Node{Name: "conv", Mode: ns.DMDIR | 0555}
	dir.Gen = func(ctx context.Context, r *Req) ([]*Node, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(kids), nil
	}
	clone := &Node{Name: "clone", Mode: 0444, Open: func(ctx context.Context, r *Req) (*Handle, error) {
		mu.Lock()
		id := strconv.Itoa(n)
		n++
		ctl := TextFile("ctl", 0444, func(*Req) string { return id })
		kids = append(kids, &Node{Name: id, Mode: ns.DMDIR | 0555, Children: []*Node{ctl}})
		mu.Unlock()
		h, _ := ctl.Open(ctx, r)
		h.Node = ctl
		return h, nil
	}}
	fsys := New(&Node{Mode: ns.DMDIR | 0555, Children: []*Node{clone, dir}})
	for i := range 3 {
		f, _ := walkTo(fsys, "loom", "clone")
		q, err := f.Open(ctx, ns.OREAD)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, f); got != strconv.Itoa(i) {
			t.Errorf("read clone = %q; want %d", got, i)
		}
		st, _ := f.Stat(ctx)
		g, err := walkTo(fsys, "loom", "conv/"+strconv.Itoa(i)+"/ctl")
		if err != nil {
			t.Fatalf("walk to conversation %d = %v", i, err)
		}
		gs, _ := g.Stat(ctx)
		if st.Name != "ctl" || gs.Qid != q || st.Qid != q {
			t.Errorf("open clone = %v, Stat %v; want the conversation's ctl %v", q, st, gs)
		}
		g.Clunk()
		f.Clunk()
	}
}

func TestStream(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newSample()
	f := mustOpen(t, s.fs, "loom", "stream", ns.OREAD)
	defer f.Clunk()
	buf := make([]byte, 100)

	// A read with nothing to read blocks until a write, then returns it.
	done := make(chan string)
	go func() {
		n, err := f.Read(ctx, buf, 0)
		done <- fmt.Sprint(string(buf[:n]), err)
	}()
	time.Sleep(10 * time.Millisecond)
	s.stream.Write([]byte("hello"))
	if got := <-done; got != "hello<nil>" {
		t.Errorf("blocked Read = %q; want hello", got)
	}

	// A blocked read returns when its context is cancelled.
	c, cancel := context.WithCancel(ctx)
	go func() {
		_, err := f.Read(c, buf, 5)
		done <- fmt.Sprint(err)
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if got := <-done; got != ns.ErrInterrupt.Error() {
		t.Errorf("Read after cancel = %q; want %v", got, ns.ErrInterrupt)
	}

	// Past the 64 bytes kept, a reader skips to the oldest kept and
	// reads on without repeats.
	for i := range 20 {
		fmt.Fprintf(s.stream, "%02d.", i)
	}
	var got []byte
	off := int64(5)
	guard, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	for !strings.HasSuffix(string(got), "19.") {
		n, err := f.Read(guard, buf[:7], off)
		if err != nil || n == 0 {
			t.Fatalf("Read(%d) = %d, %v after %q", off, n, err, got)
		}
		got = append(got, buf[:n]...)
		off += int64(n)
	}
	if len(got) > 64 || len(got) < 48 || strings.Contains(string(got), "00.01.") {
		t.Errorf("read after roll-off = %q; want the last bytes kept, at most 64", got)
	}
	// The skipped reader knows no repeats: what it read is a suffix.
	all := ""
	for i := range 20 {
		all += fmt.Sprintf("%02d.", i)
	}
	if !strings.HasSuffix(all, string(got)) {
		t.Errorf("read after roll-off = %q; want a suffix of %q", got, all)
	}
	if s.stream.Len() != 65 {
		t.Errorf("Len() = %d; want 65", s.stream.Len())
	}
	// Close: the rest, then end of file.
	s.stream.Close()
	if n, err := f.Read(ctx, buf, off); n != 0 || err != nil {
		t.Errorf("Read at end after Close = %d, %v; want 0, nil", n, err)
	}
	if _, err := s.stream.Write([]byte("x")); !errors.Is(err, ns.ErrClosed) {
		t.Errorf("Write after Close = %v; want %v", err, ns.ErrClosed)
	}
	f.Clunk()
	nstest.Settle(t, before)
}

func TestWstat(t *testing.T) {
	s := newSample()
	f, _ := walkTo(s.fs, "loom", "ctl")
	defer f.Clunk()
	w := f.(ns.Wstater)
	d := ns.NullDir()
	if err := w.Wstat(ctx, d); err != nil {
		t.Errorf("Wstat(nothing) = %v", err)
	}
	d.Length = 0
	if err := w.Wstat(ctx, d); err != nil {
		t.Errorf("Wstat(Length 0) of a writable file = %v", err)
	}
	d = ns.NullDir()
	d.Name = "other"
	if err := w.Wstat(ctx, d); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Wstat(Name) = %v; want permission denied", err)
	}
}
