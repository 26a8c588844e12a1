package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Some CPU
BenchmarkRoundTrip/loom9P/clients=1-2   	  1000	     8000 ns/op
BenchmarkRoundTrip/loom9P/clients=1-2   	  1000	    10000 ns/op
BenchmarkRoundTrip/loom9P/clients=1-2   	  1000	     9000 ns/op
BenchmarkRoundTrip/p9/clients=1-2       	  1000	    13000 ns/op
BenchmarkRoundTrip/srv9p/clients=1-2    	  1000	    12000 ns/op
BenchmarkRoundTrip/bare/clients=1-2     	  1000	     6000 ns/op
BenchmarkRoundTrip/loom9P/clients=16-2  	  1000	     5000 ns/op
BenchmarkWalkStatClunk/loom9P-2         	  1000	    30000 ns/op
BenchmarkBulkRead/loom9P/msize=1M-2     	   100	   200000 ns/op	 4000.00 MB/s
BenchmarkBulkRead/bare/msize=1M-2       	   100	   100000 ns/op	10000.00 MB/s
PASS
`

func TestParse(t *testing.T) {
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op, server, param string
		want              float64
	}{
		{"RoundTrip", "loom9P", "clients=1", 9000},
		{"RoundTrip", "loom9P", "clients=16", 5000},
		{"RoundTrip", "bare", "clients=1", 6000},
		{"WalkStatClunk", "loom9P", "", 30000},
		{"RoundTrip", "loomL", "clients=1", 0},
	} {
		if got := r.ns(c.op, c.server, c.param); got != c.want {
			t.Errorf("ns(%s, %s, %s) = %v; want %v", c.op, c.server, c.param, got, c.want)
		}
	}
	if got := r.mbs("BulkRead", "loom9P", "msize=1M"); got != 4000 {
		t.Errorf("mbs(BulkRead, loom9P, msize=1M) = %v; want 4000", got)
	}
	if r.runs != 3 {
		t.Errorf("runs = %d; want 3", r.runs)
	}
	if want := []string{"loom9P", "p9", "srv9p", "bare"}; strings.Join(r.servers, " ") != strings.Join(want, " ") {
		t.Errorf("servers = %q; want %q", r.servers, want)
	}
}

func TestRun(t *testing.T) {
	var b strings.Builder
	if err := run(strings.NewReader(sample), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		// 12000/9000: ops/s against the faster stock server.
		"| loom9P round trip, clients=1: ops/s ÷ faster stock server (srv9p) | 1.33 | ≥ 1.3 | yes |",
		// 9000/6000.
		"| loom9P round trip, 1 client: time ÷ bare socket round trip | 1.50 | ≤ 2 | yes |",
		// 4000/10000.
		"| loom9P bulk read, msize 1 MiB: rate ÷ bare socket stream | 0.40 | ≥ 0.5 | no |",
		"| loomL round trip, clients=1: ops/s ÷ faster stock server (srv9p) | not measured | ≥ 1.3 | no |",
		// 30000 / the one-client bare round trip.
		"| WalkStatClunk | bare round trips | 5.00 |",
		"| RoundTrip clients=1 | µs/op | 9.00 | 13.00 | 12.00 | 6.00 |",
		// 13000/9000 and 12000/9000; no loomL.
		"| clients=1 | 1.44 | 1.33 | | |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run output lacks %q; got\n%s", want, out)
		}
	}
	if err := run(strings.NewReader("PASS\n"), &b); err == nil {
		t.Errorf("run(no results) = nil; want an error")
	}
}

const systemsSample = `goos: linux
BenchmarkClone/loom/components=1-2      	  1000	   100000 ns/op
BenchmarkClone/loom/components=1-2      	  1000	   120000 ns/op
BenchmarkClone/loom/components=1-2      	  1000	    80000 ns/op
BenchmarkClone/loom/components=100-2    	   100	  2500000 ns/op
BenchmarkSandboxStart/box-2             	   100	  3000000 ns/op
BenchmarkSandboxStart/bwrap-2           	   100	  4000000 ns/op
BenchmarkSandboxRead128/fuse-2          	  1000	   150000 ns/op	    100000 ns/read
BenchmarkSandboxRead128/loom9P-2        	  1000	    10000 ns/op	     10000 ns/read
BenchmarkSandboxIdle/box-2              	    20	  1000000 ns/op	       250.5 KiB-heap/box	      3000 KiB-pss/box	     20000 KiB-rss/box
BenchmarkImportSmall/tls-2              	  9000	    24000 ns/op	    1940 B/op	      21 allocs/op
BenchmarkImportSmall/tcp-2              	 10000	    20000 ns/op	    1892 B/op	      19 allocs/op
BenchmarkSnapshot/loom/state=1MiB-2     	  8000	    30000 ns/op
BenchmarkSnapshot/loom/state=1GiB-2     	  8000	    60000 ns/op
BenchmarkImage/save/state=64MiB-2       	     1	 900000000 ns/op	 300.00 MB/s
BenchmarkImage/cp/state=64MiB-2         	     2	 100000000 ns/op	2400.00 MB/s
BenchmarkMystery/x-2                    	     2	     5000 ns/op
PASS
`

func TestParseMetrics(t *testing.T) {
	r, err := parse(strings.NewReader(systemsSample))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		b    bench
		want float64
	}{
		{bench{"SandboxRead128", "fuse", "", "ns/read"}, 100000},
		{bench{"SandboxRead128", "fuse", "", "ns/op"}, 150000},
		{bench{"SandboxIdle", "box", "", "KiB-heap/box"}, 250.5},
		{bench{"SandboxIdle", "box", "", "KiB-rss/box"}, 20000},
		{bench{"ImportSmall", "tls", "", "B/op"}, 1940},
		{bench{"Image", "cp", "*", "MB/s"}, 2400},
		{bench{"Clone", "loom", "components=1", "ns/op"}, 100000},
	} {
		v, _ := r.find(c.b)
		if got := median(v); got != c.want {
			t.Errorf("median(find(%v)) = %v; want %v", c.b, got, c.want)
		}
	}
	if v, param := r.find(bench{"Image", "save", "*", "MB/s"}); len(v) != 1 || param != "state=64MiB" {
		t.Errorf("find(Image/save/*) = %v, %q; want one value, state=64MiB", v, param)
	}
	if v, _ := r.find(bench{"ImportBulk", "tls", "", "MB/s"}); v != nil {
		t.Errorf("find(ImportBulk/tls) = %v; want nothing", v)
	}
}

func TestSections(t *testing.T) {
	var b strings.Builder
	if err := run(strings.NewReader(systemsSample), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### Clones",
		// 2.5 ms / 100 µs.
		"| clone of a system of 100 ramfs components | 2.50 ms/op | clone of a system of 1 | 100 µs/op | 25.0 | ≤ 20 | no |",
		"| clone of a system of 10 ramfs components | not measured | clone of a system of 1 | | | none set | — |",
		// 3/4.
		"| start of /bin/true in an existing box, to its exit | 3.00 ms/op | bwrap --unshare-all running /bin/true | 4.00 ms/op | 0.750 | ≤ 0.5 | no |",
		// ns/read, not ns/op: 100 µs / 10 µs.
		"| 128-byte pread in the box, through the FUSE view, file open once | 100 µs/read | the same read over 9P by loom's client | 10.0 µs/read | 10.0 | none set | — |",
		"| idle box: loom's heap for it | 250 KiB | none | | | none set | — |",
		"| 128-byte read through an import over TCP with TLS | 24.0 µs/op | the same over TCP without TLS | 20.0 µs/op | 1.20 | none set | — |",
		"| 128-byte read through an import over TCP with TLS | 24.0 µs/op | the same read of the file server mounted locally | not measured | | none set | — |",
		"| snapshot of a system holding 1 GiB in 16 files | 60.0 µs/op | snapshot of one holding 1 MiB | 30.0 µs/op | 2.00 | ≤ 10 | yes |",
		// 300/2400.
		"| save of a system to an image file (state=64MiB) | 300 MB/s | cp of the image file on the same file system | 2400 MB/s | 0.125 | none set | — |",
		// (120-80)/100.
		"Largest spread between runs of one benchmark: 40% of its median (Clone/loom/components=1).",
		"### Other benchmarks",
		"| Mystery | µs/op | 5.00 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run output lacks %q; got\n%s", want, out)
		}
	}
	// Without a listener benchmark there are no listener tables.
	for _, absent := range []string{"### Targets", "### Medians", "bare round trips"} {
		if strings.Contains(out, absent) {
			t.Errorf("run output has %q without listener benchmarks; got\n%s", absent, out)
		}
	}
	// Without a systems benchmark there are no sections of them.
	b.Reset()
	if err := run(strings.NewReader(sample), &b); err != nil {
		t.Fatal(err)
	}
	for _, sec := range sections {
		if strings.Contains(b.String(), "### "+sec.title) {
			t.Errorf("run(listener only) prints the section %q", sec.title)
		}
	}
}

// TestRecordedRuns runs the tool over the recorded output of the runs
// that BENCHMARKS.md quotes (testdata/*.txt, go test's output as
// test/bench.sh saw it) and checks that BENCHMARKS.md holds the tables
// of testdata/systems.txt as the tool prints them: its numbers are the
// tool's, not edited by hand. A new run pasted into BENCHMARKS.md
// replaces testdata/systems.txt with its own output.
func TestRecordedRuns(t *testing.T) {
	runs, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(runs) == 0 {
		t.Fatalf("Glob(testdata/*.txt) = %v, %v; want the recorded runs", runs, err)
	}
	for _, name := range runs {
		in, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := run(bytes.NewReader(in), &b); err != nil {
			t.Errorf("run(%s) = %v", name, err)
			continue
		}
		for _, sec := range sections {
			if !strings.Contains(b.String(), "### "+sec.title) {
				t.Errorf("run(%s) lacks the section %q", name, sec.title)
			}
		}
		if strings.Contains(b.String(), "not measured") {
			t.Errorf("run(%s) has lines not measured:\n%s", name, b.String())
		}
		if filepath.Base(name) != "systems.txt" {
			continue
		}
		md, err := os.ReadFile("../../../BENCHMARKS.md")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(md), b.String()) {
			t.Errorf("BENCHMARKS.md does not hold the tables of %s as the tool prints them:\n%s", name, b.String())
		}
	}
}
