package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"loom/components/proc"
	"loom/ns"
)

// plainHandle is a program that plain.launch started with os/exec.
type plainHandle struct {
	cmd  *osexec.Cmd
	done chan struct{} // closed once Wait has reaped the program
	err  error
}

func (h *plainHandle) Pid() int { return h.cmd.Process.Pid }

func (h *plainHandle) Wait() error {
	<-h.done
	return h.err
}

func (h *plainHandle) Signal(sig syscall.Signal) error {
	select {
	case <-h.done:
		return os.ErrProcessDone
	default:
	}
	return unix.Kill(-h.cmd.Process.Pid, sig)
}

// textHandle gives a failure as text, "exit N" or a note, as a
// sandboxed system's handles do, rather than as os/exec's error.
type textHandle struct{ *plainHandle }

func (h textHandle) Wait() error {
	var ee *osexec.ExitError
	if err := h.plainHandle.Wait(); errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return errors.New(proc.NoteName(ws.Signal()))
		}
		return fmt.Errorf("exit %d", ws.ExitStatus())
	}
	return nil
}

// plain is a launcher that starts programs as host children in a
// process group of their own, and remembers what it was asked.
type plain struct {
	text bool // its handles say failures as text

	mu    sync.Mutex
	calls []launchCall
}

// launchCall is one start a launcher was asked for.
type launchCall struct {
	argv, env []string
	dir       string
	files     bool // the standard files came as *os.Files
	pid       int
}

func (p *plain) launch(ctx context.Context, argv, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) (proc.Handle, error) {
	cmd := osexec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	_, in := stdin.(*os.File)
	_, out := stdout.(*os.File)
	_, errf := stderr.(*os.File)
	p.mu.Lock()
	p.calls = append(p.calls, launchCall{argv: argv, env: env, dir: dir, files: in && out && errf, pid: cmd.Process.Pid})
	p.mu.Unlock()
	h := &plainHandle{cmd: cmd, done: make(chan struct{})}
	go func() {
		h.err = cmd.Wait()
		close(h.done)
	}()
	if p.text {
		return textHandle{h}, nil
	}
	return h, nil
}

// last returns the last start the launcher was asked for and how many
// there were.
func (p *plain) last() (launchCall, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		return launchCall{}, 0
	}
	return p.calls[len(p.calls)-1], len(p.calls)
}

// TestLaunch runs sessions through a launcher: the program gets the
// session's files, environment and directory, status shows the pid the
// launcher gave, and wait its exit string, whether the handle says it as
// os/exec's error or as text.
func TestLaunch(t *testing.T) {
	for _, text := range []bool{false, true} {
		t.Run(fmt.Sprintf("text=%v", text), func(t *testing.T) {
			l := &plain{text: text}
			dir := t.TempDir()
			argv := []string{"sh", "-c", `read x; echo got $x; echo "$X"; pwd; echo err >&2; exit 3`}
			env := []string{"X=from the env", "PATH=" + os.Getenv("PATH")}
			fsys := newFS(t, argv, Launch(l.launch), Env(env), Dir(dir))
			ctl, id := clone(t, fsys)
			defer ctl.Clunk()
			call, n := l.last()
			if n != 1 {
				t.Fatalf("launcher asked %d times for one session; want once", n)
			}
			if !slices.Equal(call.argv, argv) || !slices.Equal(call.env, env) || call.dir != dir || !call.files {
				t.Errorf("launcher asked for %q env %q dir %q files %v; want %q env %q dir %q on *os.Files",
					call.argv, call.env, call.dir, call.files, argv, env, dir)
			}
			data := open(t, fsys, id+"/data", ns.ORDWR)
			defer data.Clunk()
			if _, err := data.Write(bg, []byte("hello\n"), 0); err != nil {
				t.Fatalf("Write(data) = %v", err)
			}
			if got, want := cat(t, fsys, id+"/data"), "got hello\nfrom the env\n"+dir+"\n"; got != want {
				t.Errorf("data = %q; want %q", got, want)
			}
			if got := cat(t, fsys, id+"/wait"); !waitLine(id, "'sh 0: exit 3'").MatchString(got) {
				t.Errorf("wait = %q; want sh 0: exit 3", got)
			}
			if got := cat(t, fsys, id+"/err"); got != "err\n" {
				t.Errorf("err = %q; want %q", got, "err\n")
			}
			want := regexp.MustCompile(`^0 ` + strconv.Itoa(call.pid) + ` exited 'exit 3' sh -c `)
			if got := cat(t, fsys, id+"/status"); !want.MatchString(got) {
				t.Errorf("status = %q; want %v (the launcher's pid)", got, want)
			}
		})
	}
}

// TestLaunchSignals sends ctl's signals through the launcher's handles.
func TestLaunchSignals(t *testing.T) {
	for _, text := range []bool{false, true} {
		l := &plain{text: text}
		fsys := newFS(t, []string{"sleep", "1000"}, Launch(l.launch))
		for _, tt := range []struct{ cmd, msg string }{
			{"kill", "kill"},
			{"signal TERM", "term"},
			{"note interrupt", "interrupt"},
			{"hangup", "hangup"},
		} {
			ctl, id := clone(t, fsys)
			if err := ctlWrite(ctl, tt.cmd); err != nil {
				t.Errorf("text=%v: ctl %q = %v", text, tt.cmd, err)
			}
			if got := cat(t, fsys, id+"/wait"); !waitLine(id, "'sleep "+id+": "+tt.msg+"'").MatchString(got) {
				t.Errorf("text=%v: ctl %q: wait = %q; want sleep %s: %s", text, tt.cmd, got, id, tt.msg)
			}
			if err := ctlWrite(ctl, "kill"); err == nil || err.Error() != "kill: program has exited" {
				t.Errorf("text=%v: ctl kill after exit = %v; want %q", text, err, "kill: program has exited")
			}
			ctl.Clunk()
		}
		if _, n := l.last(); n != 4 {
			t.Errorf("text=%v: launcher asked %d times for 4 sessions", text, n)
		}
	}
}

// TestLaunchLookup: with a launcher, the program is the launcher's to
// find, in its own view of the files: New does not look for it on the
// host, and a clone fails with the launcher's error, leaving no session.
func TestLaunchLookup(t *testing.T) {
	l := &plain{}
	fsys := newFS(t, []string{"no-such-program-loom-test"}, Launch(l.launch))
	f, err := walk(fsys, "loom", "clone")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	if _, err := f.Open(bg, ns.ORDWR); !errors.Is(err, osexec.ErrNotFound) {
		t.Errorf("Open(clone) of a program the launcher cannot find = %v; want %v", err, osexec.ErrNotFound)
	}
	if s := fsys.Sessions(); len(s) != 0 {
		t.Errorf("Sessions() after a failed start = %v; want none", s)
	}
}

// TestLaunchFrom asks for the launcher at each session: nil starts the
// program with os/exec, a launcher set later starts the next session,
// and the session started before is left as it is.
func TestLaunchFrom(t *testing.T) {
	l := &plain{}
	var mu sync.Mutex
	var cur proc.Launcher
	fsys := newFS(t, []string{"cat"}, LaunchFrom(func() proc.Launcher {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}))
	first, _ := clone(t, fsys)
	defer first.Clunk()
	if _, n := l.last(); n != 0 {
		t.Fatalf("launcher asked %d times while LaunchFrom gave nil; want none", n)
	}
	mu.Lock()
	cur = l.launch
	mu.Unlock()
	second, id := clone(t, fsys)
	defer second.Clunk()
	call, n := l.last()
	if n != 1 {
		t.Fatalf("launcher asked %d times once LaunchFrom gave it; want once", n)
	}
	want := regexp.MustCompile(`^` + id + ` ` + strconv.Itoa(call.pid) + ` running `)
	if got := cat(t, fsys, id+"/status"); !want.MatchString(got) {
		t.Errorf("status of the launched session = %q; want %v", got, want)
	}
	data := open(t, fsys, id+"/data", ns.ORDWR)
	defer data.Clunk()
	if _, err := data.Write(bg, []byte("through the launcher\n"), 0); err != nil {
		t.Fatal(err)
	}
	if err := ctlWrite(second, "close"); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(bg, data); got != "through the launcher\n" || err != nil {
		t.Errorf("data = %q, %v; want the line echoed", got, err)
	}
	if got := cat(t, fsys, "0/status"); !regexp.MustCompile(`^0 \d+ running `).MatchString(got) {
		t.Errorf("status of the session started before = %q; want it running", got)
	}
}
