package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"loom/components/system"
)

// stateSystem makes a registry with a system web whose /tmp holds size
// bytes in 16 files.
func stateSystem(b *testing.B, size int) (*system.Systems, *system.System) {
	b.Helper()
	reg := system.New(system.User(snapUser))
	b.Cleanup(func() { reg.Close() })
	sys, err := reg.New("web")
	if err != nil {
		b.Fatal(err)
	}
	data := bigData(size / 16)
	for i := range 16 {
		if err := nsWrite(context.Background(), sys.NS, fmt.Sprintf("/tmp/f%d", i), data); err != nil {
			b.Fatal(err)
		}
	}
	return reg, sys
}

// BenchmarkSnapshot takes snapshots of a system holding 1 MiB and one
// holding 1 GiB in its trees, 16 files each: copy-on-write makes their
// costs alike (within 10× is asked), since no file data is copied.
// Names are Benchmark<op>/<who>/<param>, as test/cmd/benchtable reads
// them.
func BenchmarkSnapshot(b *testing.B) {
	for _, size := range []int{1 << 20, 1 << 30} {
		b.Run("loom/state="+sizeName(size), func(b *testing.B) {
			_, sys := stateSystem(b, size)
			ctx := context.Background()
			for b.Loop() {
				sn, err := sys.Snapshot(ctx, "")
				if err != nil {
					b.Fatal(err)
				}
				sys.RemoveSnapshot(sn.Name)
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<30 {
		return strconv.Itoa(n>>30) + "GiB"
	}
	return strconv.Itoa(n>>20) + "MiB"
}

// BenchmarkImage saves and loads a system holding LOOM_BENCH_STATE MiB
// (256 by default), and copies a file of the image's size with cp on the
// same file system, as the baseline: MB/s of the three compare.
func BenchmarkImage(b *testing.B) {
	size := 256 << 20
	if v, err := strconv.Atoi(os.Getenv("LOOM_BENCH_STATE")); err == nil && v > 0 {
		size = v << 20
	}
	reg, _ := stateSystem(b, size)
	dir := b.TempDir()
	img := filepath.Join(dir, "web.img")
	ctx := context.Background()
	if err := reg.Save(ctx, nil, "web", img); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(img)
	if err != nil {
		b.Fatal(err)
	}
	param := "/state=" + sizeName(size)
	b.Run("save"+param, func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			if err := reg.Save(ctx, nil, "web", img); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load"+param, func(b *testing.B) {
		b.SetBytes(st.Size())
		other := system.New(system.User(snapUser))
		defer other.Close()
		for b.Loop() {
			if _, err := other.Load(ctx, nil, img, "copy"); err != nil {
				b.Fatal(err)
			}
			if err := other.Stop("copy"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cp"+param, func(b *testing.B) {
		b.SetBytes(st.Size())
		dst := filepath.Join(dir, "copy")
		for b.Loop() {
			if out, err := exec.Command("cp", img, dst).CombinedOutput(); err != nil {
				b.Fatalf("cp: %v: %s", err, out)
			}
		}
	})
}
