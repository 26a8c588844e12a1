package proc

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// execHandle is a process started by hostLauncher.
type execHandle struct{ cmd *exec.Cmd }

func (h execHandle) Pid() int    { return h.cmd.Process.Pid }
func (h execHandle) Wait() error { return h.cmd.Wait() }
func (h execHandle) Signal(sig syscall.Signal) error {
	return syscall.Kill(-h.cmd.Process.Pid, sig)
}

// hostLauncher is a launcher of its own making that runs programs on the
// host, each in a process group, looking for them in the PATH of the
// environment given, and counts what it started.
func hostLauncher(n *atomic.Int32) Launcher {
	return func(ctx context.Context, argv, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) (Handle, error) {
		prog, err := lookPath(argv[0], env)
		if err != nil {
			return nil, err
		}
		cmd := &exec.Cmd{Path: prog, Args: argv, Env: env, Dir: dir, Stdin: stdin, Stdout: stdout, Stderr: stderr,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		n.Add(1)
		return execHandle{cmd}, nil
	}
}

// TestLauncher runs the same programs as plain host children and through
// a launcher: output, exit status, host pid and kill read the same.
func TestLauncher(t *testing.T) {
	var launched atomic.Int32
	servers := []struct {
		name string
		fs   *FS
	}{
		{"os/exec", newFS(t)},
		{"launcher", newFS(t, Launch(hostLauncher(&launched)))},
	}
	for _, s := range servers {
		fsys := s.fs
		t.Run(s.name, func(t *testing.T) {
			id := strconv.Itoa(start(t, fsys, "sh", "-c", "echo out $0; exit 3", "x"))
			if got := mustRead(t, fsys, id+"/stdout"); got != "out x\n" {
				t.Errorf("stdout = %q; want %q", got, "out x\n")
			}
			if got := mustRead(t, fsys, id+"/wait"); !strings.HasSuffix(got, "'sh "+id+": exit 3'\n") {
				t.Errorf("wait = %q; want sh %s: exit 3", got, id)
			}
			id = strconv.Itoa(start(t, fsys, "true"))
			if got := mustRead(t, fsys, id+"/wait"); !strings.HasSuffix(got, " ''\n") {
				t.Errorf("wait of true = %q; want success", got)
			}
			id = strconv.Itoa(start(t, fsys, "sleep", "60"))
			in := fsys.List()
			hp := in[len(in)-1].HostPid
			if _, err := os.Stat("/proc/" + strconv.Itoa(hp)); err != nil || !strings.Contains(mustRead(t, fsys, id+"/status"), " "+strconv.Itoa(hp)+" ") {
				t.Errorf("status of sleep: host pid %d not shown or not running (%v)", hp, err)
			}
			if err := write(fsys, id+"/ctl", "kill"); err != nil {
				t.Fatalf("kill: %v", err)
			}
			if got := mustRead(t, fsys, id+"/wait"); !strings.HasSuffix(got, "'sleep "+id+": kill'\n") {
				t.Errorf("wait of killed sleep = %q; want sleep %s: kill", got, id)
			}
			// Its wait line read, the process is gone.
			if err := write(fsys, id+"/ctl", "kill"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("kill after wait = %v; want ErrNotExist", err)
			}
		})
	}
	if n := launched.Load(); n != 3 {
		t.Errorf("the launcher started %d processes; want 3", n)
	}
	// A launcher's failure is Start's.
	fsys := newFS(t, Launch(hostLauncher(&launched)))
	if _, err := fsys.Start(bg, []string{"no-such-program-here"}, StartOptions{Env: []string{"PATH=/nonexistent"}}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Start of a program the launcher cannot find = %v; want not found", err)
	}
}
