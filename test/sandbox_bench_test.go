package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/components/sandbox"
	"loom/ns"
)

// Benchmarks of the kernel sandbox (components/sandbox):
//
//	BenchmarkSandboxStart/box     /bin/true started in a box made before
//	BenchmarkSandboxStart/bwrap   /bin/true in bubblewrap's namespaces,
//	                              made for it, with the host's /usr
//	BenchmarkSandboxRead128/fuse  128-byte preads of a file of the box's
//	                              namespace, by a program inside, through
//	                              the FUSE view (one open)
//	BenchmarkSandboxRead128/fuse-reopen  the same, opening the file for
//	                              each read, so that no page cache helps
//	BenchmarkSandboxRead128/loom9P  the same reads over 9P by loom's
//	                              client, from outside
//	BenchmarkSandboxIdle/box      the memory of a box that runs nothing:
//	                              its init and spawner (RSS), and loom's
//	                              heap for it
//
// Each skips when user namespaces or /dev/fuse are missing, bwrap when
// /usr/bin/bwrap is. Names are Benchmark<op>/<who>, as test/cmd/benchtable
// reads them.

// The binary runs again as a box's init.
func init() { sandbox.Init() }

// benchBoxRoot is a namespace holding /f, of n bytes.
func benchBoxRoot(b testing.TB, n int) *ns.Namespace {
	b.Helper()
	top := ramfs.New(ramfs.Owner(benchUser))
	ctx := context.Background()
	root, err := top.Attach(ctx, benchUser, "")
	if err != nil {
		b.Fatal(err)
	}
	defer root.Clunk()
	f, _, err := root.(ns.Creater).Create(ctx, "f", 0644, ns.OWRITE)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Write(ctx, bytes.Repeat([]byte("0123456789abcdef"), n/16), 0); err != nil {
		b.Fatal(err)
	}
	f.Clunk()
	nsp := ns.New(benchUser)
	if err := nsp.Mount(top, "/", ns.MREPL, ""); err != nil {
		b.Fatal(err)
	}
	return nsp
}

// benchBox makes a box over root with the host's programs.
func benchBox(b testing.TB, root ns.FS) *sandbox.Box {
	b.Helper()
	for _, p := range []string{"/dev/fuse", "/usr/bin/true"} {
		if _, err := os.Stat(p); err != nil {
			b.Skipf("no %s: %v", p, err)
		}
	}
	box, err := sandbox.New(sandbox.BoxConfig{Root: root, User: benchUser, HostDirs: []string{"/usr", "/bin", "/lib", "/lib64"}})
	if err != nil {
		b.Skipf("the kernel refuses a box (user namespaces?): %v", err)
	}
	b.Cleanup(func() { box.Close() })
	return box
}

func BenchmarkSandboxStart(b *testing.B) {
	b.Run("box", func(b *testing.B) {
		box := benchBox(b, benchBoxRoot(b, 16))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p, err := box.Start([]string{"/bin/true"}, nil, "", nil, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bwrap", func(b *testing.B) {
		const bwrap = "/usr/bin/bwrap"
		if _, err := os.Stat(bwrap); err != nil {
			b.Skipf("no bubblewrap: %v", err)
		}
		args := []string{"--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
			"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "/bin/true"}
		if out, err := exec.Command(bwrap, args...).CombinedOutput(); err != nil {
			b.Skipf("bwrap refuses here: %v: %s", err, out)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := exec.Command(bwrap, args...).Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// readLoop is a program for a box: it reads 128 bytes at offsets
// through a 4096-byte file n times (reopening it each time with
// reopen) and prints the nanoseconds per read.
const readLoop = `
import os, sys, time
n, reopen = int(sys.argv[1]), sys.argv[2] == "1"
fd = os.open("/f", os.O_RDONLY)
t = time.perf_counter_ns()
for i in range(n):
    if reopen:
        os.close(fd)
        fd = os.open("/f", os.O_RDONLY)
    if len(os.pread(fd, 128, (i * 128) % 4096)) != 128:
        sys.exit("short read")
print((time.perf_counter_ns() - t) / n)
`

func BenchmarkSandboxRead128(b *testing.B) {
	const size = 4096
	root := benchBoxRoot(b, size)
	for _, reopen := range []bool{false, true} {
		name := "fuse"
		if reopen {
			name = "fuse-reopen"
		}
		b.Run(name, func(b *testing.B) {
			if _, err := os.Stat("/usr/bin/python3"); err != nil {
				b.Skipf("the reading program is python3's: %v", err)
			}
			box := benchBox(b, root)
			var out bytes.Buffer
			flag := "0"
			if reopen {
				flag = "1"
			}
			b.ResetTimer()
			p, err := box.Start([]string{"/usr/bin/python3", "-c", readLoop, strconv.Itoa(b.N), flag}, nil, "", nil, &out, &out)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Wait(); err != nil {
				b.Fatalf("%v: %s", err, out.String())
			}
			b.StopTimer()
			ns, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
			if err != nil {
				b.Fatalf("the reader said %q", out.String())
			}
			// ns/op includes starting python; ns/read is the reads alone.
			b.ReportMetric(ns, "ns/read")
		})
	}
	b.Run("loom9P", func(b *testing.B) {
		sock := serveFS(b, root)
		c, err := ninep.Dial("unix!"+sock, ninep.DialMsize(ninep.DefaultMsize))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		read := nsReader(b, c, "", "f")
		buf := make([]byte, 128)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := read(buf, int64(i*128%size)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/read")
	})
}

// memKB is a field of pid's memory, in KiB: VmRSS of status, or Pss of
// smaps_rollup (the resident set with shared pages divided among their
// sharers: the boxes' inits share the binary's text).
func memKB(pid int, field string) int {
	file := "status"
	if field == "Pss:" {
		file = "smaps_rollup"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// children are the pids of pid's children.
func children(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

func BenchmarkSandboxIdle(b *testing.B) {
	b.Run("box", func(b *testing.B) {
		root := benchBoxRoot(b, 16)
		heap := func() uint64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapInuse
		}
		before := heap()
		var boxes []*sandbox.Box
		rss := 0
		for i := 0; i < b.N; i++ {
			box := benchBox(b, root)
			boxes = append(boxes, box)
			// A program run once, so that the view has served something.
			p, err := box.Start([]string{"/bin/true"}, nil, "", nil, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			p.Wait()
		}
		b.StopTimer()
		after := heap()
		pss := 0
		for _, box := range boxes {
			for _, pid := range append([]int{box.Pid()}, children(box.Pid())...) {
				rss += memKB(pid, "VmRSS:")
				pss += memKB(pid, "Pss:")
			}
		}
		b.ReportMetric(float64(rss)/float64(b.N), "KiB-rss/box")
		b.ReportMetric(float64(pss)/float64(b.N), "KiB-pss/box")
		b.ReportMetric(float64(int64(after)-int64(before))/1024/float64(b.N), "KiB-heap/box")
	})
}
