package ninep_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"

	ninep "loom/9p"
	"loom/components/ramfs"
)

// A transcript is a 9P conversation with a server over a fresh ramfs,
// kept in testdata/*.txt, one message a line:
//
//	# a comment
//	! msize 8192                  a server option, before any message
//	-> Tattach tag 1 fid 0 ...    a T-message to send, as plan9.ParseFcall reads it
//	-> raw 0b000000...            a message to send, as hex bytes
//	<- Rattach tag 1 qid 0x0.0.d  the reply expected next, as plan9.Fcall prints it
//	<- closed                     the server is expected to hang up
//
// Expected replies are compared as text because not every R-message's
// text form parses back (Rerror, Rread and Rstat do not). In an expected
// line "*" stands for any run of non-blank characters: for the times a
// ramfs stamps, which vary from run to run, and nothing else.
type transcript struct {
	name  string
	opts  []ninep.Option
	steps []step
}

type step struct {
	line   int
	send   []byte // a message to send, or
	expect string // the reply expected
}

func readTranscript(file string) (*transcript, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := &transcript{name: filepath.Base(file)}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		bad := func(err error) error { return fmt.Errorf("%s:%d: %v", file, n, err) }
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "! "):
			if len(tr.steps) > 0 {
				return nil, bad(fmt.Errorf("option after the first message"))
			}
			o, err := parseOption(strings.Fields(line[2:]))
			if err != nil {
				return nil, bad(err)
			}
			tr.opts = append(tr.opts, o)
		case strings.HasPrefix(line, "-> raw "):
			b, err := hex.DecodeString(strings.ReplaceAll(line[len("-> raw "):], " ", ""))
			if err != nil {
				return nil, bad(err)
			}
			tr.steps = append(tr.steps, step{line: n, send: b})
		case strings.HasPrefix(line, "-> "):
			fc, err := plan9.ParseFcall(line[3:])
			if err != nil {
				return nil, bad(err)
			}
			b, err := fc.Bytes()
			if err != nil {
				return nil, bad(err)
			}
			tr.steps = append(tr.steps, step{line: n, send: b})
		case strings.HasPrefix(line, "<- "):
			tr.steps = append(tr.steps, step{line: n, expect: line[3:]})
		default:
			return nil, bad(fmt.Errorf("unknown line %q", line))
		}
	}
	return tr, sc.Err()
}

func parseOption(f []string) (ninep.Option, error) {
	if len(f) != 2 {
		return nil, fmt.Errorf("want ! name value")
	}
	n, err := strconv.ParseUint(f[1], 0, 32)
	if err != nil {
		return nil, err
	}
	switch f[0] {
	case "msize":
		return ninep.Msize(uint32(n)), nil
	case "maxfids":
		return ninep.MaxFids(int(n)), nil
	case "maxrequests":
		return ninep.MaxRequests(int(n)), nil
	}
	return nil, fmt.Errorf("unknown option %q", f[0])
}

// matcher turns an expected line into a pattern in which "*" matches
// any run of non-blank characters.
func matcher(want string) *regexp.Regexp {
	parts := strings.Split(want, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^` + strings.Join(parts, `\S*`) + `$`)
}

func transcripts(t testing.TB) []*transcript {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	var trs []*transcript
	for _, f := range files {
		tr, err := readTranscript(f)
		if err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
	}
	return trs
}

func TestTranscripts(t *testing.T) {
	for _, tr := range transcripts(t) {
		t.Run(tr.name, func(t *testing.T) {
			addr := startServer(t, ramfs.New(), tr.opts...)
			w := dial(t, addr)
			for _, s := range tr.steps {
				if s.send != nil {
					w.sendRaw(s.send)
					continue
				}
				if s.expect == "closed" {
					if f, err := w.tryRecv(wait); err == nil {
						t.Fatalf("%s:%d: got %v; want the connection closed", tr.name, s.line, f)
					}
					continue
				}
				f, err := w.tryRecv(wait)
				if err != nil {
					t.Fatalf("%s:%d: no reply (%v); want %s", tr.name, s.line, err, s.expect)
				}
				if got := f.String(); !matcher(s.expect).MatchString(got) {
					t.Fatalf("%s:%d: got %s; want %s", tr.name, s.line, got, s.expect)
				}
			}
			// Nothing unexpected may follow.
			if f, err := w.tryRecv(20 * time.Millisecond); err == nil {
				t.Fatalf("%s: after the last line, got %v", tr.name, f)
			}
		})
	}
}

// TestTextForms checks which text forms of the messages the transcripts
// use survive plan9.ParseFcall, which is what the transcripts' format
// rests on: every T-message used in "->" lines must, except Twrite and
// Twstat whose printed form leaves out the field names of their data.
func TestTextForms(t *testing.T) {
	null := plan9.Dir{}
	null.Null()
	null.Name = "x"
	stat, _ := null.Bytes()
	for _, f := range []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"},
		{Type: plan9.Tauth, Tag: 1, Afid: 5, Uname: "glenda"},
		{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda", Aname: "main"},
		{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"a", ".."}},
		{Type: plan9.Topen, Tag: 1, Fid: 0, Mode: plan9.ORDWR | plan9.ORCLOSE},
		{Type: plan9.Tcreate, Tag: 1, Fid: 0, Name: "x", Perm: 0644, Mode: 2},
		{Type: plan9.Tcreate, Tag: 1, Fid: 0, Name: "d", Perm: plan9.DMDIR | 0755},
		{Type: plan9.Tread, Tag: 1, Fid: 0, Offset: 10, Count: 100},
		{Type: plan9.Tclunk, Tag: 1, Fid: 0},
		{Type: plan9.Tremove, Tag: 1, Fid: 0},
		{Type: plan9.Tstat, Tag: 1, Fid: 0},
		{Type: plan9.Tflush, Tag: 1, Oldtag: 2},
	} {
		want, _ := f.Bytes()
		g, err := plan9.ParseFcall(f.String())
		if err != nil {
			t.Errorf("ParseFcall(%q): %v", f.String(), err)
			continue
		}
		if got, _ := g.Bytes(); string(got) != string(want) {
			t.Errorf("ParseFcall(%q) = %v; want %v", f.String(), g, f)
		}
	}
	// Twrite and Twstat are written with named fields instead.
	for text, want := range map[string]*plan9.Fcall{
		"Twrite tag 1 fid 2 offset 3 data 'hello world'": {Type: plan9.Twrite, Tag: 1, Fid: 2, Offset: 3, Data: []byte("hello world")},
		"Twstat tag 1 fid 2 stat (name 'x')":             {Type: plan9.Twstat, Tag: 1, Fid: 2, Stat: stat},
	} {
		g, err := plan9.ParseFcall(text)
		if err != nil {
			t.Errorf("ParseFcall(%q): %v", text, err)
			continue
		}
		gb, _ := g.Bytes()
		wb, _ := want.Bytes()
		if string(gb) != string(wb) {
			t.Errorf("ParseFcall(%q) = %v; want %v", text, g, want)
		}
	}
}
