package ninep_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"9fans.net/go/plan9"

	ninep "loom/9p"
	"loom/components/ramfs"
)

// fuzzPrefix is what a versioned fuzz input is sent after: a Tversion and
// a Tattach of fid 0, so that the input's own messages find a fid to use.
func fuzzPrefix() []byte {
	var b bytes.Buffer
	for _, f := range []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"},
		{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"},
	} {
		m, _ := f.Bytes()
		b.Write(m)
	}
	return b.Bytes()
}

// replyChecker is the server's side of a fuzzed connection: it takes
// the input as the client's stream and checks that every reply is
// written whole, in one Write, and is a well-formed R-message.
type replyChecker struct {
	io.Reader
	mu  sync.Mutex
	bad []string
}

func (c *replyChecker) Write(p []byte) (int, error) {
	var why string
	switch {
	case len(p) < 7 || binary.LittleEndian.Uint32(p) != uint32(len(p)):
		why = "not one whole message"
	case p[4]&1 == 0 || p[4] < plan9.Rversion || p[4] >= plan9.Tmax:
		why = "not an R-message"
	default:
		if _, err := plan9.UnmarshalFcall(p); err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		c.mu.Lock()
		c.bad = append(c.bad, fmt.Sprintf("%s: %x", why, p))
		c.mu.Unlock()
	}
	return len(p), nil
}

func (c *replyChecker) Close() error { return nil }

// FuzzServer9P feeds arbitrary bytes to the 9P2000 engine as a
// connection's stream, raw or after a Tversion and Tattach, and checks
// that the server neither panics nor hangs, and answers only with whole,
// well-formed R-messages.
func FuzzServer9P(f *testing.F) {
	for _, tr := range transcripts(f) {
		var stream []byte
		for _, s := range tr.steps {
			stream = append(stream, s.send...)
		}
		f.Add(false, stream)
	}
	for _, b := range badInputs {
		f.Add(b.version, b.in)
	}
	prefix := fuzzPrefix()
	f.Fuzz(func(t *testing.T, versioned bool, in []byte) {
		srv := ninep.NewServer(ramfs.New(), ninep.Msize(64<<10), ninep.MaxFids(64), ninep.MaxRequests(8))
		if versioned {
			in = append(append([]byte(nil), prefix...), in...)
		}
		// A first Tversion asking for 9P2000.L goes to the other
		// engine, which this target is not about.
		if len(in) > 13 && in[4] == plan9.Tversion && strings.HasPrefix(string(in[13:]), "9P2000.L") {
			t.Skip("9P2000.L")
		}
		c := &replyChecker{Reader: bytes.NewReader(in)}
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(context.Background(), c) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn did not end at the end of its input")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, b := range c.bad {
			t.Errorf("bad reply: %s", b)
		}
	})
}
