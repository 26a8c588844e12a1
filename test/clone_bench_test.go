package test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"loom/components/system"
	"loom/ns"
)

// cloneSource makes a registry with the system src: n ramfs components
// of its own, mounted on /n/0 ... /n/n-1, each holding files files of
// size bytes.
func cloneSource(tb testing.TB, n, files, size int) *system.Systems {
	tb.Helper()
	reg := system.New(system.User("glenda"))
	tb.Cleanup(func() { reg.Close() })
	src, err := reg.New("src")
	if err != nil {
		tb.Fatal(err)
	}
	if err := mk(src.NS, "/n/", ""); err != nil {
		tb.Fatal(err)
	}
	data := strings.Repeat("x", size)
	for i := range n {
		dir := fmt.Sprintf("/n/%d", i)
		if err := mk(src.NS, dir+"/", ""); err != nil {
			tb.Fatal(err)
		}
		fsys, aname, err := src.Resolve(context.Background(), "ramfs", nil)
		if err != nil {
			tb.Fatal(err)
		}
		if err := src.NS.Mount(fsys, dir, ns.MREPL|ns.MCREATE, aname); err != nil {
			tb.Fatal(err)
		}
		for j := range files {
			if err := mk(src.NS, fmt.Sprintf("%s/f%d", dir, j), data); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return reg
}

// cloneAndStop clones src as dst and stops the clone again.
func cloneAndStop(b *testing.B, reg *system.Systems) {
	if err := reg.Clone(context.Background(), "src", "dst", ""); err != nil {
		b.Fatal(err)
	}
	if err := reg.Stop("dst"); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkClone clones systems of 1, 10 and 100 in-memory components
// (each a ramfs of its own with one small file, besides the system's
// own ones): the cost should grow with the components, far slower than
// their number. Names are Benchmark<op>/<who>/<param>, as
// test/cmd/benchtable reads them.
func BenchmarkClone(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("loom/components=%d", n), func(b *testing.B) {
			reg := cloneSource(b, n, 1, 64)
			b.ResetTimer()
			for b.Loop() {
				cloneAndStop(b, reg)
			}
		})
	}
}

// BenchmarkClone100MiB clones a system holding 100 MiB in a ramfs (100
// files of 1 MiB), against the baseline of copying 100 MiB in memory:
// a clone that copied every byte would cost at least the baseline.
func BenchmarkClone100MiB(b *testing.B) {
	const mib = 1 << 20
	b.Run("clone", func(b *testing.B) {
		reg := cloneSource(b, 1, 100, mib)
		b.SetBytes(100 * mib)
		b.ResetTimer()
		for b.Loop() {
			cloneAndStop(b, reg)
		}
	})
	b.Run("copy", func(b *testing.B) {
		src, dst := make([]byte, 100*mib), make([]byte, 100*mib)
		for i := range src {
			src[i] = byte(i)
		}
		b.SetBytes(100 * mib)
		b.ResetTimer()
		for b.Loop() {
			copy(dst, src)
		}
	})
}

// TestCloneLarge checks what the benchmark times: a clone of a system of
// many components and much state has it all, apart from the original.
func TestCloneLarge(t *testing.T) {
	reg := cloneSource(t, 100, 2, 1000)
	if err := reg.Clone(context.Background(), "src", "dst", ""); err != nil {
		t.Fatal(err)
	}
	src, _ := reg.Get("src")
	dst, _ := reg.Get("dst")
	if got := len(dst.Components()); got != len(src.Components()) {
		t.Errorf("the clone has %d components; want the original's %d", got, len(src.Components()))
	}
	for _, p := range []string{"/n/0/f0", "/n/99/f1"} {
		b, err := readFile(dst.NS, "glenda", p)
		if err != nil || len(b) != 1000 {
			t.Errorf("read %s in the clone = %d bytes, %v; want 1000", p, len(b), err)
		}
	}
	if err := mk(dst.NS, "/n/50/new", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(src.NS, "glenda", "/n/50/new"); err == nil {
		t.Errorf("/n/50/new made in the clone shows in the original")
	}
}
