package main

import (
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
