package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// term is loom's interactive shell running under a pseudo-terminal.
type term struct {
	t    *testing.T
	pty  *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	mark int // expect looks at the output after this
	more chan struct{}
	done chan struct{}
}

func startTerm(t *testing.T, state string) *term {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LOOM_TEST_MAIN=1", "TERM=xterm", "XDG_STATE_HOME="+state, "HOME="+state)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	tm := &term{t: t, pty: f, cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			select {
			case tm.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return tm
}

// expect waits for s in the output since the last expect, and moves past
// it. The wait is bounded so that a broken shell fails rather than hangs.
func (tm *term) expect(s string) {
	tm.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		tm.mu.Lock()
		out := tm.out.String()
		tm.mu.Unlock()
		if i := strings.Index(out[tm.mark:], s); i >= 0 {
			tm.mark += i + len(s)
			return
		}
		select {
		case <-tm.more:
		case <-tm.done:
			tm.t.Fatalf("shell ended waiting for %q; output:\n%q", s, out)
		case <-deadline:
			tm.t.Fatalf("no %q from the shell; output:\n%q", s, out)
		}
	}
}

func (tm *term) send(s string) {
	tm.t.Helper()
	if _, err := tm.pty.Write([]byte(s)); err != nil {
		tm.t.Fatal(err)
	}
}

func (tm *term) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// TestInteractive drives the shell under a real terminal: the prompt,
// continuation lines, completion, history recall, Ctrl-C and Ctrl-D.
func TestInteractive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a shell under a pseudo-terminal")
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep on this host")
	}
	state := t.TempDir()
	tm := startTerm(t, state)
	tm.expect("loom% ")

	// The output is told from the echo of the input by the carets.
	tm.send("echo one^two\r")
	tm.expect("onetwo")
	tm.expect("loom% ")

	// An open brace asks for more.
	tm.send("{\r")
	tm.expect(contPrompt)
	tm.send("echo in^side\r")
	tm.expect(contPrompt)
	tm.send("}\r")
	tm.expect("inside")
	tm.expect("loom% ")

	// Completion of a builtin and of a path in the namespace.
	tm.send("echo zcon^tent > /tmp/zfile\r")
	tm.expect("loom% ")
	tm.send("ca\t/tmp/zf\t\r")
	tm.expect("zcontent")
	tm.expect("loom% ")

	// History: six lines up is "echo one^two".
	tm.send(strings.Repeat("\x1b[A", 6) + "\r")
	tm.expect("onetwo")
	tm.expect("loom% ")

	// Ctrl-C interrupts the running command and the rest of its line,
	// not the shell.
	tm.send("echo sta^rted; sleep 60; echo not^reached\r")
	tm.expect("started")
	time.Sleep(100 * time.Millisecond) // let sleep start; the test passes either way
	tm.send("\x03")
	tm.expect("interrupted")
	tm.expect("loom% ")
	tm.send("echo af^ter\r")
	tm.expect("after")
	tm.expect("loom% ")

	// Ctrl-C while typing drops the line. (The echo shows that the shell
	// reads the line: an interrupt before that would be the terminal's.)
	tm.send("echo dro^pped")
	tm.expect("dro^pped")
	tm.send("\x03")
	tm.expect("loom% ")

	// Ctrl-D leaves; the history is kept for the next session.
	tm.send("\x04")
	<-tm.done
	if err := tm.cmd.Wait(); err != nil {
		t.Errorf("shell after Ctrl-D: %v", err)
	}
	if out := tm.output(); strings.Contains(out, "notreached") || strings.Contains(out, "dropped") {
		t.Errorf("output has text of interrupted commands:\n%q", out)
	}
	hist, err := os.ReadFile(filepath.Join(state, "loom", "history"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hist), "echo one^two\n") || !strings.Contains(string(hist), "echo af^ter\n") {
		t.Errorf("history file = %q; want the session's lines", hist)
	}

	// A new session recalls the last one's lines.
	tm2 := startTerm(t, state)
	tm2.expect("loom% ")
	tm2.send("\x1b[A\r")
	tm2.expect("after")
	tm2.send("exit\r")
	<-tm2.done
}
