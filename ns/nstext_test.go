package ns_test

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"loom/ns"
)

func bind(f ns.Flag, args ...string) ns.Cmd  { return ns.Cmd{Op: "bind", Flag: f, Args: args} }
func mount(f ns.Flag, args ...string) ns.Cmd { return ns.Cmd{Op: "mount", Flag: f, Args: args} }
func cmd(op string, args ...string) ns.Cmd   { return ns.Cmd{Op: op, Args: args} }

// parseTests are texts and the commands they parse to; their first
// commands' texts seed FuzzParseText.
var parseTests = []struct {
	text string
	want []ns.Cmd
}{
	{"", nil},
	{"\n\n  \t\n", nil},
	{"bind /a /b", []ns.Cmd{bind(ns.MREPL, "/a", "/b")}},
	{"bind -a /a /b\n", []ns.Cmd{bind(ns.MAFTER, "/a", "/b")}},
	{"bind -b /a /b", []ns.Cmd{bind(ns.MBEFORE, "/a", "/b")}},
	{"bind -c /a /b", []ns.Cmd{bind(ns.MCREATE, "/a", "/b")}},
	{"bind -ac /a /b", []ns.Cmd{bind(ns.MAFTER|ns.MCREATE, "/a", "/b")}},
	{"bind -bc /a /b", []ns.Cmd{bind(ns.MBEFORE|ns.MCREATE, "/a", "/b")}},
	{"bind -cb /a /b", []ns.Cmd{bind(ns.MBEFORE|ns.MCREATE, "/a", "/b")}},
	{"bind -a -c /a /b", []ns.Cmd{bind(ns.MAFTER|ns.MCREATE, "/a", "/b")}},
	{"mount -C srv /n", []ns.Cmd{mount(ns.MCACHE, "srv", "/n")}},
	{"mount -acC srv /n spec", []ns.Cmd{mount(ns.MAFTER|ns.MCREATE|ns.MCACHE, "srv", "/n", "spec")}},
	{"mount #s/boot /root", []ns.Cmd{mount(0, "#s/boot", "/root")}},
	{"unmount /n", []ns.Cmd{cmd("unmount", "/n")}},
	{"unmount /a /n", []ns.Cmd{cmd("unmount", "/a", "/n")}},
	{"clear", []ns.Cmd{cmd("clear")}},
	{"cd /usr/glenda", []ns.Cmd{cmd("cd", "/usr/glenda")}},
	{". /lib/namespace.local", []ns.Cmd{cmd(".", "/lib/namespace.local")}},
	{"# a comment\n  # another\nbind /a /b # not a comment", nil}, // an error: 4 names
	{"# a comment\n\t# another\nbind /a /b\n#last", []ns.Cmd{bind(0, "/a", "/b")}},
	{"bind '/a b' '/it''s'", []ns.Cmd{bind(0, "/a b", "/it's")}},
	{"bind /x'y z'w /b", []ns.Cmd{bind(0, "/xy zw", "/b")}},
	{"bind '' '-a'", []ns.Cmd{bind(0, "", "-a")}},
	{"bind 'line\nbreak' /b", []ns.Cmd{bind(0, "line\nbreak", "/b")}},
	{"bind\t/a\t/b\r\nmount s /c\n", []ns.Cmd{bind(0, "/a", "/b"), mount(0, "s", "/c")}},
	{"unmount -x", []ns.Cmd{cmd("unmount", "-x")}},
	{"'bind' /a /b", []ns.Cmd{bind(0, "/a", "/b")}},
}

func TestParseText(t *testing.T) {
	for _, tc := range parseTests {
		got, err := ns.ParseText("t", []byte(tc.text))
		if tc.want == nil && strings.Contains(tc.text, "not a comment") {
			if err == nil {
				t.Errorf("ParseText(%q) = %v; want an error", tc.text, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseText(%q) = %v", tc.text, err)
			continue
		}
		for i := range got {
			got[i].Pos = ns.Pos{}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseText(%q) = %#v; want %#v", tc.text, got, tc.want)
		}
		// Printed and parsed again: the same commands, the same text.
		text := ns.PrintText(got)
		again, err := ns.ParseText("t", text)
		for i := range again {
			again[i].Pos = ns.Pos{}
		}
		if err != nil || !reflect.DeepEqual(again, tc.want) {
			t.Errorf("ParseText(PrintText(%q)) = %#v, %v; want %#v", text, again, err, tc.want)
		}
		if text2 := ns.PrintText(again); string(text2) != string(text) {
			t.Errorf("PrintText not stable: %q then %q", text, text2)
		}
	}
}

func TestParseTextErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"bind /a", "f:1:1: usage: bind [-abcC] new old"},
		{"bind /a /b /c", "f:1:1: usage: bind [-abcC] new old"},
		{"\n  mount s", "f:2:3: usage: mount [-abcC] servername old [spec]"},
		{"mount a b c d", "f:1:1: usage: mount [-abcC] servername old [spec]"},
		{"unmount", "f:1:1: usage: unmount [new] old"},
		{"unmount a b c", "f:1:1: usage: unmount [new] old"},
		{"clear x", "f:1:1: usage: clear"},
		{"cd", "f:1:1: usage: cd dir"},
		{". a b", "f:1:1: usage: . file"},
		{"bind -ab /a /b", "f:1:6: -a and -b together"},
		{"bind -a -b /a /b", "f:1:9: -a and -b together"},
		{"bind -x /a /b", "f:1:6: bad flag -x; usage: bind [-abcC] new old"},
		{"bind - /a /b", "f:1:6: bad flag -"},
		{"import host /n", `f:1:1: unknown command "import"`},
		{"bind /a /b\n\nbind 'x /y", "f:3:6: unterminated quote"},
		{"bind 'a\nb' c\nfoo", `f:3:1: unknown command "foo"`},
	} {
		_, err := ns.ParseText("f", []byte(tc.text))
		var pe *ns.ParseError
		if !errors.As(err, &pe) || err.Error() != tc.want {
			t.Errorf("ParseText(%q) = %v; want %s", tc.text, err, tc.want)
		}
	}
}

func TestPrintText(t *testing.T) {
	cmds := []ns.Cmd{
		mount(ns.MCREATE, "root", "/"),
		bind(ns.MAFTER|ns.MCREATE, "/a b", "/c"),
		bind(ns.MBEFORE, "-x", "/it's"),
		mount(ns.MAFTER|ns.MCACHE, "#s/boot", "/n", ""),
		cmd("unmount", "/n"),
		cmd("clear"),
		cmd(".", "/lib/ns"),
	}
	want := `mount -c root /
bind -ac 'a b' /c
bind -b '-x' '/it''s'
mount -aC #s/boot /n ''
unmount /n
clear
. /lib/ns
`
	want = strings.Replace(want, "'a b'", "'/a b'", 1)
	if got := string(ns.PrintText(cmds)); got != want {
		t.Errorf("PrintText = %q; want %q", got, want)
	}
}

// FuzzParseText checks that whatever parses prints as text that parses to
// the same commands, and prints the same again.
func FuzzParseText(f *testing.F) {
	for _, tc := range parseTests {
		f.Add([]byte(tc.text))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cmds, err := ns.ParseText("f", src)
		if err != nil {
			var pe *ns.ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("ParseText(%q) = %v; want a *ParseError with a position", src, err)
			}
			return
		}
		for i := range cmds {
			cmds[i].Pos = ns.Pos{}
		}
		text := ns.PrintText(cmds)
		again, err := ns.ParseText("f", text)
		if err != nil {
			t.Fatalf("ParseText(PrintText(ParseText(%q))) = %v; text %q", src, err, text)
		}
		for i := range again {
			again[i].Pos = ns.Pos{}
		}
		if !reflect.DeepEqual(cmds, again) {
			t.Fatalf("ParseText(PrintText(%#v)) = %#v", cmds, again)
		}
		if text2 := ns.PrintText(again); string(text2) != string(text) {
			t.Fatalf("PrintText not stable: %q then %q", text, text2)
		}
	})
}

// TestTextReplay builds namespaces, prints them, replays the text in new
// namespaces and checks that they print and list the same.
func TestTextReplay(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		ls         []string
		want       string // the text, if not the same as given
	}{
		{"plain", "mount -c R /\nmount A /n/x\nmount -bc B /n/x\n", []string{"/n/x"}, ""},
		{"orig", "mount -c R /\nbind -a /tmp /n/y\nmount -b A /n/y\n", []string{"/n/y"}, ""},
		{"orig-alone", "mount -c R /\nbind -a /tmp /n/y\nunmount /tmp /n/y\n", []string{"/n/y"},
			"mount -c R /\nbind /n/y /n/y\n"},
		{"repl-after-gone", "mount -c R /\nmount A /n/x\nmount -a B /n/x\nunmount /n/x /n/x\n", []string{"/n/x"},
			"mount -c R /\nmount B /n/x\n"},
		{"replaced", "mount -c R /\nmount A /n/x\nmount B /n/x\n", []string{"/n/x"},
			"mount -c R /\nmount B /n/x\n"},
		{"copy", "mount -c R /\nmount A /n/x\nmount -a B /n/x\nbind -c /n/x /n/y\n", []string{"/n/y", "/n/x"}, ""},
		{"through", "mount -c R /\nmount A /n/x\nbind /n/x/sub /lib/deep\nbind -a /lib/deep /n/y\n", []string{"/n/y"}, ""},
		{"cd", "mount -c R /\ncd /n\nbind -a x y\n", []string{"/n/y"},
			"mount -c R /\nbind -a /n/x /n/y\n"},
		{"unreachable", "mount -c R /\nmount A /n/x\nmount B /n/x/sub\nunmount /n/x\n", []string{"/n/x"},
			"mount -c R /\n"},
		{"spec", "mount -c R /\nmount -aC A /n/x aname\n", []string{"/n/x"}, ""},
		{"file", "mount -c R /\nbind /f1 /f2\nbind /f2 /lib/deep/d1\n", nil, ""},
		{"cleaned", "mount -c R /\nbind //n/./y/../y/ /n/x\n", []string{"/n/x"}, "mount -c R /\nbind /n/y/../y /n/x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := world(t)
			nsp := build(t, srv, tc.text)
			text, err := nsp.Text()
			if err != nil {
				t.Fatalf("Text() = %v", err)
			}
			want := tc.want
			if want == "" {
				want = tc.text
			}
			if string(text) != want {
				t.Errorf("Text() = %q; want %q", text, want)
			}
			again := build(t, srv, string(text))
			text2, err := again.Text()
			if err != nil || string(text2) != string(text) {
				t.Errorf("Text() of the replayed namespace = %q, %v; want %q", text2, err, text)
			}
			for _, p := range tc.ls {
				if a, b := lsNames(nsp, p), lsNames(again, p); a != b {
					t.Errorf("ls %s = %q replayed; want %q", p, b, a)
				}
			}
		})
	}
}

func TestTextRefuses(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"dep-gone", "mount -c R /\nmount A /n/x\nbind /n/x/sub /lib\nunmount /n/x\n",
			"bind /n/x/sub /lib: its names went through a mount since undone"},
		{"copy-part", "mount -c R /\nmount A /n/x\nmount -a B /n/x\nbind /n/x /n/y\nunmount /n/x /n/y\n",
			"part of the union it bound has been unmounted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nsp := build(t, world(t), tc.text)
			if _, err := nsp.Text(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Text() = %v; want an error saying %q", err, tc.want)
			}
		})
	}
	nsp := ns.New("loom")
	nsp.Mount(ram(t, "R"), "/", 0, "")
	if _, err := nsp.Text(); err == nil || !strings.Contains(err.Error(), "no name") {
		t.Errorf("Text() with an unnamed server = %v; want an error", err)
	}
}

func TestReplay(t *testing.T) {
	srv := world(t)
	nsp := build(t, srv, "mount -c R /")
	if err := create(nsp, "/lib/ns", "mount A /n/x\ncd /n\nbind -a y x\n"); err != nil {
		t.Fatal(err)
	}
	if err := create(nsp, "/lib/loop", ". /lib/loop\n"); err != nil {
		t.Fatal(err)
	}
	if err := create(nsp, "/lib/bad", "\n\nbind /nonesuch /n\n"); err != nil {
		t.Fatal(err)
	}
	run := func(text string) error {
		cmds, err := ns.ParseText("main", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return ns.Replay(nsp, cmds, servers(srv))
	}
	if err := run(". /lib/ns"); err != nil {
		t.Fatalf(". /lib/ns = %v", err)
	}
	if got := lsNames(nsp, "/n/x"); got != "a common sub yfile" {
		t.Errorf("ls /n/x after . /lib/ns = %q", got)
	}
	for _, tc := range []struct{ text, want string }{
		{"\n. /lib/loop", "/lib/loop:1:1: . /lib/loop: namespace files nested too deep"},
		{". /lib/bad", "/lib/bad:3:1: bind /nonesuch: file does not exist"},
		{"mount Z /n", "main:1:1: mount Z: file does not exist"},
		{"cd /f1", "main:1:1: cd /f1: not a directory"},
	} {
		if err := run(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Replay(%q) = %v; want %q", tc.text, err, tc.want)
		}
	}
	if err := ns.Replay(nsp, []ns.Cmd{bind(0, "/a")}, nil); err == nil {
		t.Errorf("Replay(bind with one name) succeeded")
	}
	if err := ns.Replay(nsp, []ns.Cmd{mount(0, "A", "/n")}, nil); err == nil {
		t.Errorf("Replay(mount) without a resolver succeeded")
	}
	if err := run("clear"); err != nil {
		t.Fatal(err)
	}
	if _, err := walk(nsp, "/n"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk /n after clear = %v; want ErrNotExist", err)
	}
}
