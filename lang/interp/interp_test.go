package interp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"loom/components/ramfs"
	"loom/lang"
	"loom/ns"
)

// newNS returns a real namespace: a ramfs on / that allows creating, with
// a /tmp that has another ramfs on it.
func newNS(t testing.TB) *ns.Namespace {
	t.Helper()
	n := ns.New("glenda")
	if err := n.Mount(ns.Named("ramfs", ramfs.New()), "/", ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root, err := n.Attach(ctx, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	d, _, err := root.(ns.Creater).Create(ctx, "tmp", ns.DMDIR|0o777, ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	d.Clunk()
	if err := n.Mount(ns.Named("ramfs", ramfs.New()), "/tmp", ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	return n
}

func resolveRamfs(ctx context.Context, src string, args []string) (ns.FS, string, error) {
	if src != "ramfs" {
		return nil, "", fmt.Errorf("%s: unknown kind", src)
	}
	return ramfs.New(), "", nil
}

// fakeExec stands in for host programs: upper copies its input in upper
// case, fail exits 1, args prints its arguments, block waits until
// cancelled; anything else is not found.
func fakeExec(ctx context.Context, sio IO, system string, args []string) error {
	switch args[0] {
	case "upper":
		b, err := io.ReadAll(sio.Stdin)
		if err != nil {
			return err
		}
		_, err = sio.Stdout.Write(bytes.ToUpper(b))
		return err
	case "fail":
		fmt.Fprintln(sio.Stderr, "fail: failing")
		return ExitStatus("1")
	case "args":
		_, err := fmt.Fprintf(sio.Stdout, "%q\n", args[1:])
		return err
	case "block":
		<-ctx.Done()
		return ctx.Err()
	case "yes":
		for {
			if _, err := sio.Stdout.Write([]byte("y\n")); err != nil {
				return err
			}
		}
	}
	return errors.New("not found")
}

// runScript runs src in a fresh shell and returns its output, error
// output and $status.
func runScript(t *testing.T, src string, opts ...Option) (stdout, stderr, status string) {
	t.Helper()
	f, err := lang.Parse([]byte(src), "test")
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	var out, errb syncBuffer
	opts = append([]Option{
		WithNamespace(FromNamespace(newNS(t), resolveRamfs)),
		WithExec(fakeExec),
		WithIO(strings.NewReader("line one\nline two\n"), &out, &errb),
	}, opts...)
	r := New(opts...)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Run(ctx, f); err != nil {
		t.Fatalf("Run(%q): %v", src, err)
	}
	r.Wait()
	return out.String(), errb.String(), r.Status()
}

// syncBuffer is a bytes.Buffer that background jobs may write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var runTests = []struct {
	name, src, out, err, status string
}{
	{"echo", "echo hello, world; echo -n a; echo b", "hello, world\nab\n", "", ""},
	{"lists", "x=(a b c); echo $x $#x $x(2) $x(3 1) $x(9)", "a b c 3 b c a\n", "", ""},
	{"join", `x=(a b); y=$"x; echo $#y $y`, "1 a b\n", "", ""},
	{"concat", "x=(a b); echo $x^.c pre-$x (1 2)^(x y) $x^$x", "a.c b.c pre-a pre-b 1x 2y aa bb\n", "", ""},
	{"concat mismatch", "x=(a b); y=(1 2 3); echo $x^$y", "", "echo: $x$y: mismatched list lengths in concatenation (2 and 3)\n",
		"echo: $x$y: mismatched list lengths in concatenation (2 and 3)"},
	{"null concat", "echo a^$nothing", "", "echo: a$nothing: null list in concatenation\n", "echo: a$nothing: null list in concatenation"},
	{"empty expands to nothing", "x=(); $x; echo $#x", "0\n", "", ""},
	{"quotes", "echo 'it''s' '$x' 'a b'", "it's $x a b\n", "", ""},
	{"args", "echo $#* $1 $2 $*", "2 a b a b\n", "", ""},
	{"local assign", "x=1; x=2 args $x; echo $x", "[\"1\"]\n1\n", "", ""},
	{"cmd subst", "x=`{echo a b; echo c}; echo $#x $x", "3 a b c\n", "", ""},
	{"cmd subst ifs", "ifs=:; x=`{echo -n a:b c}; echo $#x", "2\n", "", ""},
	{"functions", "fn greet { echo hello $1 $#* }; greet world x; fn greet; greet", "hello world 2\n",
		"greet: not found\n", "greet: not found"},
	{"fn return", "fn f { echo in; return 'bad thing'; echo not }; f; echo $status", "in\nbad thing\n", "", ""},
	{"fn scope", "fn f { x=inner; y=$1 }; x=outer; f arg; echo $x $y", "inner arg\n", "", ""},
	{"if", "if(~ a a) echo yes; if(~ a b) echo no; if not echo not", "yes\nnot\n", "", ""},
	{"if not after success", "if(~ a a) echo yes\nif not echo no", "yes\n", "", ""},
	{"for", "for(i in 1 2 3) echo -n $i; echo; for(j) echo $j", "123\na\nb\n", "", ""},
	{"while", "x=(); while(! ~ $#x 3) x=($x a); echo $x", "a a a\n", "", ""},
	{"switch", "for(f in a.c b.h z) switch($f) {\ncase *.c\n\techo C $f\ncase *.h *.x\n\techo H $f\ncase *\n\techo other $f\n}",
		"C a.c\nH b.h\nother z\n", "", ""},
	{"switch quoted", "switch('*') { case '*'; echo star; case *; echo any }", "star\n", "", ""},
	{"match", "~ abc a*; echo $status; ~ abc b*; echo $status; ~ a/b '*'; echo $status; ~ x '*' x", "\nno match\nno match\n", "", ""},
	{"match class", "~ b [abc] && ~ d [~abc] && ~ '*' '*' && ~ 'a\\b' 'a\\'* && echo ok", "ok\n", "", ""},
	{"and or not", "~ a b && echo no || echo yes; ! ~ a b && echo negated", "yes\nnegated\n", "", ""},
	{"status of pipeline", "fail | echo x; echo $status", "x\n1|\n", "fail: failing\n", ""},
	{"write and read", "echo hi > /tmp/x; echo there >> /tmp/x; cat /tmp/x; cat < /tmp/x", "hi\nthere\nhi\nthere\n", "", ""},
	{"truncate", "echo long line > /tmp/x; echo s > /tmp/x; cat /tmp/x", "s\n", "", ""},
	{"relative paths", "cd /tmp; echo a > f; pwd; cat f /tmp/f; cd; pwd", "/tmp\na\na\n/\n", "", ""},
	{"stderr redirect", "cat /nope >[2] /tmp/err; cat /tmp/err", "cat: /nope: file does not exist\n", "", ""},
	{"dup", "{echo out; cat /nope} > /tmp/both >[2=1]; cat /tmp/both", "out\ncat: /nope: file does not exist\n", "", ""},
	{"dup order", "cat /nope >[2=1] > /tmp/o; echo; cat /tmp/o", "cat: /nope: file does not exist\n\n", "", ""},
	{"redirect error", "echo hi > /nonexistent/dir/x; echo $status", "echo: /nonexistent/dir/x: file does not exist\n",
		"echo: /nonexistent/dir/x: file does not exist\n", ""},
	{"cat error", "cat /x/y", "", "cat: /x/y: file does not exist\n", "cat: /x/y: file does not exist"},
	{"pipeline to host", "echo hello | upper; cat /tmp/nope | upper", "HELLO\n", "cat: /tmp/nope: file does not exist\n",
		"cat: /tmp/nope: file does not exist|"},
	{"pipeline stderr", "fail |[2] upper", "FAIL: FAILING\n", "", "1|"},
	{"long pipeline", "echo a b c | upper | upper | cat > /tmp/p; cat /tmp/p", "A B C\n", "", ""},
	{"pipe closed early", "yes | read x; echo $status", "sys: write on closed pipe|\n", "", ""},
	{"pipeline is a subshell", "echo a | read x; echo $#x", "0\n", "", ""},
	{"read", "read a; read b; read; echo $a / $b", "line one / line two\n", "", ""},
	{"read eof", "read a; read b; read c; echo $status $#c", "eof 0\n", "", ""},
	{"read from file", "echo one > /tmp/r; read x < /tmp/r; echo $x", "one\n", "", ""},
	{"background", "echo bg > /tmp/b &; wait $apid; cat /tmp/b", "bg\n", "", ""},
	{"background wait all", "for(i in 1 2 3) echo $i > /tmp/$i &\nwait; cat /tmp/1 /tmp/2 /tmp/3", "1\n2\n3\n", "", ""},
	{"mkdir ls", "mkdir /tmp/d /tmp/d/e; echo > /tmp/d/f; ls /tmp/d; cd /tmp/d; ls; ls -p /tmp/d; ls -d /tmp/d",
		"/tmp/d/e\n/tmp/d/f\ne\nf\ne\nf\n/tmp/d\n", "", ""},
	{"mkdir -p", "mkdir -p /a/b/c; mkdir -p /a/b; ls /a/b", "/a/b/c\n", "", ""},
	{"mkdir exists", "mkdir /tmp", "", "mkdir: /tmp: file already exists\n", "mkdir: /tmp: file already exists"},
	{"rm", "mkdir -p /tmp/d/e; echo > /tmp/d/f; rm /tmp/d/f; ls /tmp/d; rm -r /tmp/d; ls /tmp; rm -f /tmp/none; rm /tmp/none",
		"/tmp/d/e\n", "rm: /tmp/none: file does not exist\n", "rm: /tmp/none: file does not exist"},
	{"glob", "mkdir /g; for(f in a.c b.c d.h) echo > /g/$f; echo /g/*.c; cd /g; echo *.h; echo '*'.h; echo /nomatch/*",
		"/g/a.c /g/b.c\nd.h\n*.h\n/nomatch/*\n", "", ""},
	{"glob dirs", "mkdir -p /g/x/1 /g/y/2; echo /g/*/[0-9]", "/g/x/1 /g/y/2\n", "", ""},
	{"bind union", "mkdir /a /b /u; echo > /a/1; echo > /b/2; bind /a /u; bind -a /b /u; ls -p /u; unmount /b /u; ls -p /u",
		"1\n2\n1\n", "", ""},
	{"bind errors", "bind /nope /tmp; bind -ab /tmp /tmp; bind /tmp", "",
		"bind: /nope: file does not exist\nbind: -a and -b together; usage: bind [-abcC] new old\nbind: usage: bind [-abcC] new old\n",
		"bind: usage: bind [-abcC] new old"},
	{"mount", "mkdir /n; mount -c ramfs /n; echo x > /n/f; cat /n/f; ns", "x\nmount -c ramfs /\nmount -c ramfs /tmp\nmount -c ramfs /n\n", "", ""},
	{"mount unknown", "mount frob /tmp", "", "mount: frob: unknown kind\n", "mount: frob: unknown kind"},
	{"mount path", "cd /tmp; mount ../srv/x /tmp", "", "mount: /srv/x: unknown kind\n", "mount: /srv/x: unknown kind"},
	{"post", "post x; post x /tmp; post", "", "post: not available yet\npost: not available yet\npost: usage: post name [path]\n",
		"post: usage: post name [path]"},
	{"mount without create", "mkdir /n; mount ramfs /n; echo x > /n/f", "", "echo: /n/f: mounted directory forbids creation\n",
		"echo: /n/f: mounted directory forbids creation"},
	{"unmount", "unmount /tmp; ls /tmp; unmount /tmp", "", "unmount: /tmp: not mounted\n", "unmount: /tmp: not mounted"},
	{"ns", "mkdir /x; bind -b /tmp /x; ns", "mount -c ramfs /\nmount -c ramfs /tmp\nbind -b /tmp /x\n", "", ""},
	{"cd errors", "cd /nope; echo > /tmp/f; cd /tmp/f", "", "cd: /nope: file does not exist\ncd: /tmp/f: not a directory\n",
		"cd: /tmp/f: not a directory"},
	{"host not found", "frobnicate x", "", "frobnicate: not found\n", "frobnicate: not found"},
	{"host exit status", "fail; echo $status", "1\n", "fail: failing\n", ""},
	{"exit", "echo a; exit 'all done'; echo b", "a\n", "", "all done"},
	{"exit in fn", "fn f { exit }; f; echo not", "", "", ""},
	{"eval", "x='echo a; echo b'; eval $x", "a\nb\n", "", ""},
	{"shift", "shift; echo $*; shift 5", "b\n", "shift: nothing to shift\n", "shift: nothing to shift"},
	{"builtin", "fn echo { builtin echo wrapped $* }; echo x", "wrapped x\n", "", ""},
	{"include", "echo 'echo included $1; y=set' > /tmp/inc; . /tmp/inc arg; echo $y", "included arg\nset\n", "", ""},
	{"include error", ". /tmp/none", "", ".: /tmp/none: file does not exist\n", ".: /tmp/none: file does not exist"},
	{"include syntax error", "echo 'echo {' > /tmp/bad; . /tmp/bad", "", "/tmp/bad:1:6: unexpected '{'\n", "/tmp/bad:1:6: unexpected '{'"},
	{"help", "help echo", "usage: echo [-n] [word ...]\nPrint the words, separated by blanks; -n leaves out the newline.\nexample: echo hello > /tmp/greeting\n", "", ""},
	{"help unknown", "help frob", "", "help: frob: no such builtin, keyword or topic\n", "help: frob: no such builtin, keyword or topic"},
	{"system", "system web { echo inside }", "", "system: not available yet\n", "system: not available yet"},
	{"sandbox", "sandbox s { allow /tmp; network none; limit memory 64M processes 32 }", "", "sandbox: not available yet\n", "sandbox: not available yet"},
	{"sandbox checked first", "sandbox s { network wide }", "", "sandbox s: network: \"wide\": want one of none, loopback, host\n",
		"sandbox s: network: \"wide\": want one of none, loopback, host"},
	{"sandbox limit", "sandbox s { limit memory lots }", "", "sandbox s: limit: memory lots: bad value\n", "sandbox s: limit: memory lots: bad value"},
	{"clone", "clone web as web2 in offline", "", "clone: not available yet\n", "clone: not available yet"},
	{"use", "use web2", "", "use: not available yet\n", "use: not available yet"},
	{"systems", "systems", "", "systems: not available yet\n", "systems: not available yet"},
	{"start ps kill", "start httpd busybox httpd; ps; kill httpd", "",
		"start: not available yet\nps: not available yet\nkill: not available yet\n", "kill: not available yet"},
}

func TestRun(t *testing.T) {
	for _, tt := range runTests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, status := runScript(t, tt.src, WithArgs("a", "b"))
			if out != tt.out || errOut != tt.err || status != tt.status {
				t.Errorf("run %q =\nstdout %q\nstderr %q\nstatus %q\nwant\nstdout %q\nstderr %q\nstatus %q",
					tt.src, out, errOut, status, tt.out, tt.err, tt.status)
			}
		})
	}
}

func TestLsLong(t *testing.T) {
	out, errOut, _ := runScript(t, "echo hello > /tmp/greeting; mkdir /tmp/dir; ls -l /tmp")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if errOut != "" || len(lines) != 2 {
		t.Fatalf("ls -l = %q, %q; want two lines", out, errOut)
	}
	// mode, server type, server number, owner, group, length, time, name
	for i, want := range [][]string{
		{"d-rwxrwxrwx", "M", "0", "glenda", "loom", "0", "/tmp/dir"},
		{"--rw-rw-rw-", "M", "0", "glenda", "loom", "6", "/tmp/greeting"},
	} {
		f := strings.Fields(lines[i])
		if len(f) != 10 {
			t.Fatalf("ls -l line %q has %d fields; want 10", lines[i], len(f))
		}
		got := append(f[:6:6], f[9])
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("ls -l line %d = %q; want fields %q", i, lines[i], want)
		}
	}
	if strings.Index(lines[0], "/tmp") != strings.Index(lines[1], "/tmp") {
		t.Errorf("ls -l columns do not line up:\n%s", out)
	}
}

// TestInterrupt cancels a running command: the Runner stops, and the
// next run works.
func TestInterrupt(t *testing.T) {
	var out bytes.Buffer
	r := New(WithNamespace(FromNamespace(newNS(t), nil)), WithExec(fakeExec), WithIO(nil, &out, &out))
	defer r.Close()
	f, _ := lang.Parse([]byte("echo before; block; echo after"), "t")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx, f) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run cancelled = %v; want context.Canceled", err)
	}
	if strings.Contains(out.String(), "after") {
		t.Errorf("output %q: the command after the interrupted one ran", out.String())
	}
	f, _ = lang.Parse([]byte("echo again"), "t")
	if err := r.Run(context.Background(), f); err != nil || !strings.HasSuffix(out.String(), "again\n") {
		t.Errorf("Run after interrupt = %v, output %q; want again", err, out.String())
	}
}

// TestConcurrentPipeline checks that a pipeline's commands run at once: a
// reader that echoes each line it gets lets the writer go on.
func TestConcurrentPipeline(t *testing.T) {
	pr, pw := io.Pipe()
	var out syncBuffer
	r := New(WithNamespace(FromNamespace(newNS(t), nil)), WithIO(pr, &out, &out))
	defer r.Close()
	f, _ := lang.Parse([]byte("cat | cat > /tmp/x; cat /tmp/x"), "t")
	done := make(chan error)
	go func() { done <- r.Run(context.Background(), f) }()
	w := bufio.NewWriter(pw)
	for i := range 100 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	w.Flush()
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 100 {
		t.Errorf("pipeline output has %d lines; want 100", n)
	}
}

// TestState checks what a Runner keeps between runs.
func TestState(t *testing.T) {
	r := New(WithNamespace(FromNamespace(newNS(t), nil)))
	defer r.Close()
	for _, src := range []string{"x=(a b)", "fn f { echo }", "cd /tmp"} {
		f, _ := lang.Parse([]byte(src), "t")
		if err := r.Run(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Get("x"); strings.Join(got, " ") != "a b" {
		t.Errorf("Get(x) = %q; want [a b]", got)
	}
	if got := r.Functions(); len(got) != 1 || got[0] != "f" {
		t.Errorf("Functions() = %q; want [f]", got)
	}
	if r.Dir() != "/tmp" || r.SystemName() != "loom" {
		t.Errorf("Dir, SystemName = %q, %q; want /tmp, loom", r.Dir(), r.SystemName())
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"*", "a/b", true}, {"a*c", "abbc", true}, {"a*c", "abb", false},
		{"?", "é", true}, {"[a-c]x", "bx", true}, {"[~a-c]x", "bx", false}, {"[^a]", "b", true},
		{"\\*", "*", true}, {"\\*", "a", false}, {"[", "[", true}, {"a[", "a[", true}, {"[]]", "]", true},
	} {
		if got := match(tt.pat, tt.s); got != tt.want {
			t.Errorf("match(%q, %q) = %v; want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}
