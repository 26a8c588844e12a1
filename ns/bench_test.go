package ns_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"loom/ns"
)

var deep = strings.Split("a/b/c/d/e/f/g/h", "/")

// BenchmarkWalk walks 8 names: in one ramfs, and in a namespace where
// they cross 4 mount points (/a, /a/b/c, /a/b/c/d/e, /a/b/c/d/e/f/g).
func BenchmarkWalk(b *testing.B) {
	run := func(b *testing.B, fsys ns.FS) {
		root, err := fsys.Attach(ctx, "loom", "")
		if err != nil {
			b.Fatal(err)
		}
		defer root.Clunk()
		for b.Loop() {
			_, f, err := root.Walk(ctx, deep)
			if err != nil || f == nil {
				b.Fatalf("Walk = %v, %v", f, err)
			}
			f.Clunk()
		}
	}
	b.Run("ramfs", func(b *testing.B) {
		run(b, ram(b, "", "a/", "a/b/", "a/b/c/", "a/b/c/d/", "a/b/c/d/e/", "a/b/c/d/e/f/", "a/b/c/d/e/f/g/", "a/b/c/d/e/f/g/h"))
	})
	mounted := func(b *testing.B, others int) *ns.Namespace {
		var dirs []string
		for i := range others {
			dirs = append(dirs, fmt.Sprintf("o%d/", i))
		}
		nsp := build(b, map[string]ns.FS{
			"R": ram(b, "", append(dirs, "a/")...), "S1": ram(b, "", "b/", "b/c/"), "S2": ram(b, "", "d/", "d/e/"),
			"S3": ram(b, "", "f/", "f/g/"), "S4": ram(b, "", "h"),
		}, "mount R /\nmount S1 /a\nmount S2 /a/b/c\nmount S3 /a/b/c/d/e\nmount S4 /a/b/c/d/e/f/g")
		o := ram(b, "")
		for i := range others {
			if err := nsp.Mount(o, fmt.Sprintf("/o%d", i), ns.MREPL, ""); err != nil {
				b.Fatal(err)
			}
		}
		return nsp
	}
	b.Run("namespace", func(b *testing.B) { run(b, mounted(b, 0)) })
	// The same with 1000 other mounts in the table: lookups are by key,
	// so only cache effects can make it slower.
	b.Run("namespace-1000", func(b *testing.B) { run(b, mounted(b, 1000)) })
}

// BenchmarkFork forks a namespace of 10, 100 and 1000 mounts, and forks
// and then binds, which copies the mount table's index.
func BenchmarkFork(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var dirs []string
		for i := range n {
			dirs = append(dirs, fmt.Sprintf("d%d/", i))
		}
		r := ram(b, "", append(dirs, "x/")...)
		s := ram(b, "", "f")
		nsp := ns.New("loom")
		nsp.Mount(r, "/", ns.MREPL, "")
		for i := range n {
			if err := nsp.Mount(s, fmt.Sprintf("/d%d", i), ns.MREPL, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				nsp.Fork()
			}
		})
		b.Run(fmt.Sprint(n, "+bind"), func(b *testing.B) {
			for b.Loop() {
				f := nsp.Fork()
				if err := f.Bind("/d0", "/x", ns.MREPL); err != nil {
					b.Fatal(err)
				}
				f.Clear()
			}
		})
	}
}

// BenchmarkOSStat stats an 8-deep path of the host's file system, for
// scale.
func BenchmarkOSStat(b *testing.B) {
	p := filepath.Join(append([]string{b.TempDir()}, deep...)...)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := os.Stat(p); err != nil {
			b.Fatal(err)
		}
	}
}
