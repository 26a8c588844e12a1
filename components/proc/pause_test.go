package proc

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
