package proc

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"loom/ns"
)

// counter starts a shell that writes a growing count to a file, and
// returns a function that reads the count.
func counter(t *testing.T, fs *FS) func() int {
	t.Helper()
	file := filepath.Join(t.TempDir(), "count")
	script := `i=0; while :; do i=$((i+1)); echo $i > ` + file + `.tmp; mv ` + file + `.tmp ` + file + `; done`
	if _, err := fs.Start(context.Background(), []string{"/bin/sh", "-c", script}, StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return func() int {
		b, _ := os.ReadFile(file)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
}

// waitPast waits until count gives more than n.
func waitPast(t *testing.T, count func() int, n int) int {
	t.Helper()
	for {
		if c := count(); c > n {
			return c
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPauseResume checks that a paused process does not count and that a
// resumed one counts again, processes started while paused included.
func TestPauseResume(t *testing.T) {
	fs := New()
	defer fs.Close()
	count := counter(t, fs)
	waitPast(t, count, 2)
	if err := fs.Pause(); err != nil {
		t.Fatalf("Pause = %v", err)
	}
	if !fs.Paused() {
		t.Error("Paused() = false after Pause")
	}
	late := counter(t, fs) // started while paused: frozen at once
	before, lateBefore := count(), late()
	time.Sleep(200 * time.Millisecond) // time to count, were it running
	if got := count(); got != before {
		t.Errorf("count while paused went from %d to %d; want no change", before, got)
	}
	if got := late(); got != lateBefore {
		t.Errorf("count of a process started while paused went from %d to %d", lateBefore, got)
	}
	if err := fs.Resume(); err != nil {
		t.Fatalf("Resume = %v", err)
	}
	waitPast(t, count, before)
	waitPast(t, late, lateBefore)
}

// TestKillAll checks that KillAll empties the table and leaves it open.
func TestKillAll(t *testing.T) {
	fs := New()
	defer fs.Close()
	for range 2 {
		if _, err := fs.Start(context.Background(), []string{"sleep", "100"}, StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(fs.Defs()); got != 2 {
		t.Fatalf("len(Defs()) = %d; want 2", got)
	}
	fs.KillAll()
	if got := fs.List(); len(got) != 0 {
		t.Errorf("List() after KillAll = %v; want none", got)
	}
	if _, err := fs.Start(context.Background(), []string{"sleep", "100"}, StartOptions{}); err != nil {
		t.Errorf("Start after KillAll = %v", err)
	}
	if d := fs.Defs(); len(d) != 1 || d[0].Name != "sleep" || strings.Join(d[0].Args, " ") != "sleep 100" {
		t.Errorf("Defs() = %v; want [{sleep [sleep 100]}]", d)
	}
}

// TestDefs checks that a process's definition is kept whole (name,
// arguments, the environment it was started with, its working
// directory), and that StartDef starts a process that sees them again.
func TestDefs(t *testing.T) {
	fs := New()
	defer fs.Close()
	ctx := context.Background()
	dir := t.TempDir()
	env := []string{"X=first", "PATH=/usr/bin:/bin"}
	argv := []string{"/bin/sh", "-c", `echo "$X"; pwd; exec sleep 100`}
	if _, err := fs.Start(ctx, argv, StartOptions{Name: "show", Env: env, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	// The caller's slice is not the process's: changing it later
	// changes no definition.
	env[0] = "X=changed"
	ds := fs.Defs()
	want := Def{Name: "show", Args: argv, Env: []string{"X=first", "PATH=/usr/bin:/bin"}, Dir: dir}
	if len(ds) != 1 || !equalDef(ds[0], want) {
		t.Fatalf("Defs() = %q; want [%q]", ds, want)
	}
	fs.KillAll()
	pid, err := fs.StartDef(ctx, ds[0])
	if err != nil {
		t.Fatalf("StartDef(%q) = %v", ds[0], err)
	}
	if got, want := readLines(t, fs, pid, 2), "first\n"+dir+"\n"; got != want {
		t.Errorf("stdout of the process started again = %q; want %q", got, want)
	}
	if ds := fs.Defs(); len(ds) != 1 || !equalDef(ds[0], want) {
		t.Errorf("Defs() after StartDef = %q; want [%q]", ds, want)
	}
}

func equalDef(a, b Def) bool {
	return a.Name == b.Name && a.Dir == b.Dir && slices.Equal(a.Args, b.Args) && slices.Equal(a.Env, b.Env)
}

// readLines reads the stdout of the process pid until it has n lines.
func readLines(t *testing.T, fs *FS, pid, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := open(fs, "loom", strconv.Itoa(pid)+"/stdout", ns.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	var out []byte
	buf := make([]byte, 512)
	for strings.Count(string(out), "\n") < n {
		k, err := f.Read(ctx, buf, int64(len(out)))
		if err != nil || k == 0 {
			t.Fatalf("stdout of %d after %q: %d, %v", pid, out, k, err)
		}
		out = append(out, buf[:k]...)
	}
	return string(out)
}
