package hostfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"loom/ns"
)

// TestEscapeRace has goroutines swap directories of the tree for links
// that lead out of it (as the host follows links), and rename them, while
// others walk, open, read, list and create through the same paths. No
// read may ever see the sentinel outside, no listing its marker, and no
// create may land outside.
func TestEscapeRace(t *testing.T) {
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	dir := filepath.Join(top, "root")
	const secret = "SECRET\n"
	mkTree(t, outside, map[string]string{
		"secret": secret, "c/secret": secret, "b/c/secret": secret,
		"MARKER": "", "c/MARKER": "", "b/c/MARKER": "",
	})
	mkTree(t, dir, map[string]string{
		"a/b/c/secret": "inside\n",
		"c/secret":     "inside\n",
		"b/c/secret":   "inside\n",
	})
	// Each would lead a host-side resolution of a/b/c/secret (with a/b
	// the link) or a/b/c/secret (with c the link) to the sentinel.
	bLinks := []string{"../../outside", outside, strings.Repeat("../", 30) + strings.TrimPrefix(outside, "/"), "/"}
	cLinks := []string{"../../../outside/c", filepath.Join(outside, "c"), "/../../../../outside/c"}
	for _, l := range bLinks[:3] {
		if !filepath.IsAbs(l) {
			l = filepath.Join(dir, "a", l)
		}
		if data, err := os.ReadFile(filepath.Join(l, "c/secret")); err != nil || string(data) != secret {
			t.Fatalf("host read through %s = %q, %v; want the sentinel (the trap is broken)", l, data, err)
		}
	}

	r := root(t, newFS(t, dir))
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	var done atomic.Bool
	var swappers, workers sync.WaitGroup
	// Each swapper works relative to a descriptor of the directory
	// holding the name it swaps, so that the two do not get in each
	// other's way when that directory is itself renamed.
	swap := func(d *os.File, name string, links []string) {
		defer swappers.Done()
		fd := int(d.Fd())
		real := name + ".real"
		for i := range rounds {
			if err := unix.Renameat(fd, name, fd, real); err != nil {
				t.Errorf("rename %s: %v", name, err)
				return
			}
			unix.Symlinkat(links[i%len(links)], fd, name)
			unix.Unlinkat(fd, name, 0)
			// The real directory under another name for a moment,
			// then back.
			if err := unix.Renameat(fd, real, fd, name); err != nil {
				t.Errorf("rename %s back: %v", name, err)
				return
			}
		}
	}
	da, err := os.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	db, err := os.Open(filepath.Join(dir, "a/b"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	swappers.Add(2)
	go swap(da, "b", bLinks)
	go swap(db, "c", cLinks)

	var reads, misses atomic.Int64
	check := func(what, got string, err error) {
		switch {
		case strings.Contains(got, "SECRET"):
			t.Errorf("%s = %q; the sentinel outside the root was read", what, got)
		case err == nil && got == "inside\n":
			reads.Add(1)
		case err == nil:
			t.Errorf("%s = %q; want %q or an error", what, got, "inside\n")
		default:
			misses.Add(1)
		}
	}
	walker := func(id int) {
		defer workers.Done()
		for i := 0; !done.Load(); i++ {
			switch i % 5 {
			case 0:
				got, err := cat(r, "a/b/c/secret")
				check("cat(a/b/c/secret)", got, err)
			case 1:
				// One name per Walk, so that the tree changes
				// between the steps.
				_, f, err := r.Walk(ctx, nil)
				for _, name := range []string{"a", "b", "c"} {
					if err != nil {
						break
					}
					var nf ns.File
					nf, err = walkTo(f, name)
					f.Clunk()
					f = nf
				}
				if err != nil {
					misses.Add(1)
					continue
				}
				got, err := cat(f, "secret")
				check("cat(secret) stepwise", got, err)
				names, _ := ls(f, "")
				f.Clunk()
				if strings.Contains(strings.Join(names, " "), "MARKER") {
					t.Errorf("ls(a/b/c) stepwise = %v; the directory outside was listed", names)
				}
			case 2:
				got, err := cat(r, "a/b/c/../../b/c/secret")
				check("cat(a/b/c/../../b/c/secret)", got, err)
			case 3:
				names, _ := ls(r, "a/b/c")
				if strings.Contains(strings.Join(names, " "), "MARKER") {
					t.Errorf("ls(a/b/c) = %v; the directory outside was listed", names)
				}
				names, _ = ls(r, "a/b")
				if strings.Contains(strings.Join(names, " "), "MARKER") {
					t.Errorf("ls(a/b) = %v; the directory outside was listed", names)
				}
			case 4:
				f, err := walkTo(r, "a/b/c")
				if err != nil {
					misses.Add(1)
					continue
				}
				nf, _, err := f.(ns.Creater).Create(ctx, fmt.Sprintf("new%d", id), 0666, ns.OWRITE|ns.ORCLOSE)
				if err == nil {
					nf.Write(ctx, []byte("made"), 0)
					nf.Clunk()
				} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
					t.Errorf("Create(a/b/c/new%d) = %v", id, err)
				}
				f.Clunk()
			}
		}
	}
	for id := range 4 {
		workers.Add(1)
		go walker(id)
	}
	swappers.Wait()
	done.Store(true)
	workers.Wait()

	if reads.Load() == 0 {
		t.Errorf("no walk reached the file inside in %d tries; the test tested nothing", misses.Load())
	}
	t.Logf("%d reads of the file inside, %d walks refused or raced", reads.Load(), misses.Load())
	filepath.Walk(outside, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), "new") {
			t.Errorf("%s: created outside the root", p)
		}
		return nil
	})
}
