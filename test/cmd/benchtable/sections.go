package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// The sections after the listener's set one benchmark against a baseline
// of the same run, line by line: systems' clones, the kernel sandbox,
// imports, snapshots and images. Each line is a ratio, measured ÷
// baseline, in the unit both are reported in: for times below 1 is
// faster, for rates (MB/s) above 1 is.

// bench names one measurement: a benchmark and the unit of its figure
// ("ns/op", "MB/s" or a unit it reports itself). A param of "*" stands
// for the one param the benchmark ran with, whatever it is (the size of
// an image, say, which the run chooses).
type bench struct {
	op, server, param, unit string
}

// goal is a target for a ratio: at most (le) or at least (ge) v. The
// zero goal is none: the line is there for its ratio.
type goal struct {
	le, ge float64
}

func atMost(v float64) goal  { return goal{le: v} }
func atLeast(v float64) goal { return goal{ge: v} }

func (g goal) String() string {
	switch {
	case g.le > 0:
		return fmt.Sprintf("≤ %g", g.le)
	case g.ge > 0:
		return fmt.Sprintf("≥ %g", g.ge)
	}
	return "none set"
}

// met says yes or no for a goal, or a dash where there is none; a ratio
// that could not be measured (NaN) meets no goal.
func (g goal) met(ratio float64) string {
	switch {
	case g.le > 0 && ratio <= g.le, g.ge > 0 && ratio >= g.ge:
		return "yes"
	case g.le > 0, g.ge > 0:
		return "no"
	}
	return "—"
}

// comparison is a line of a section: what is measured, against what
// baseline (none for a figure that stands alone, like memory), and the
// target of their ratio.
type comparison struct {
	what     string
	m        bench
	baseWhat string
	base     *bench
	goal     goal
}

// section is a table of comparisons under a title; ops are the
// benchmarks it accounts for, so that the rest go to the table of
// other benchmarks.
type section struct {
	title string
	ops   []string
	lines []comparison
}

var sections = []section{
	{
		title: "Clones",
		ops:   []string{"Clone", "Clone100MiB"},
		lines: []comparison{
			{"clone of a system of 10 ramfs components", bench{"Clone", "loom", "components=10", "ns/op"},
				"clone of a system of 1", &bench{"Clone", "loom", "components=1", "ns/op"}, goal{}},
			{"clone of a system of 100 ramfs components", bench{"Clone", "loom", "components=100", "ns/op"},
				"clone of a system of 1", &bench{"Clone", "loom", "components=1", "ns/op"}, atMost(20)},
			{"clone of a system holding 100 MiB in a ramfs", bench{"Clone100MiB", "clone", "", "ns/op"},
				"copy of 100 MiB in memory", &bench{"Clone100MiB", "copy", "", "ns/op"}, goal{}},
		},
	},
	{
		title: "The kernel sandbox",
		ops:   []string{"SandboxStart", "SandboxRead128", "SandboxIdle"},
		lines: []comparison{
			{"start of /bin/true in an existing box, to its exit", bench{"SandboxStart", "box", "", "ns/op"},
				"bwrap --unshare-all running /bin/true", &bench{"SandboxStart", "bwrap", "", "ns/op"}, atMost(0.5)},
			{"128-byte pread in the box, through the FUSE view, file open once", bench{"SandboxRead128", "fuse", "", "ns/read"},
				"the same read over 9P by loom's client", &bench{"SandboxRead128", "loom9P", "", "ns/read"}, goal{}},
			{"the same, opening the file for each read", bench{"SandboxRead128", "fuse-reopen", "", "ns/read"},
				"the same read over 9P by loom's client", &bench{"SandboxRead128", "loom9P", "", "ns/read"}, goal{}},
			{"idle box: resident set of its init and spawner", bench{"SandboxIdle", "box", "", "KiB-rss/box"}, "", nil, goal{}},
			{"idle box: the same, shared pages divided among the boxes (PSS)", bench{"SandboxIdle", "box", "", "KiB-pss/box"}, "", nil, goal{}},
			{"idle box: loom's heap for it", bench{"SandboxIdle", "box", "", "KiB-heap/box"}, "", nil, goal{}},
		},
	},
	{
		title: "Imports",
		ops:   []string{"ImportSmall", "ImportBulk"},
		lines: []comparison{
			{"128-byte read through an import over TCP with TLS", bench{"ImportSmall", "tls", "", "ns/op"},
				"the same over TCP without TLS", &bench{"ImportSmall", "tcp", "", "ns/op"}, goal{}},
			{"128-byte read through an import over TCP with TLS", bench{"ImportSmall", "tls", "", "ns/op"},
				"the same read of the file server mounted locally", &bench{"ImportSmall", "local", "", "ns/op"}, goal{}},
			{"128-byte read through an import over TCP", bench{"ImportSmall", "tcp", "", "ns/op"},
				"the same read of the file server mounted locally", &bench{"ImportSmall", "local", "", "ns/op"}, goal{}},
			{"8 MiB read in 1 MiB reads through an import over TCP with TLS", bench{"ImportBulk", "tls", "", "MB/s"},
				"the same over TCP without TLS", &bench{"ImportBulk", "tcp", "", "MB/s"}, goal{}},
			{"8 MiB read in 1 MiB reads through an import over TCP with TLS", bench{"ImportBulk", "tls", "", "MB/s"},
				"the same read of the file server mounted locally", &bench{"ImportBulk", "local", "", "MB/s"}, goal{}},
			{"8 MiB read in 1 MiB reads through an import over TCP", bench{"ImportBulk", "tcp", "", "MB/s"},
				"the same read of the file server mounted locally", &bench{"ImportBulk", "local", "", "MB/s"}, goal{}},
		},
	},
	{
		title: "Snapshots, save and load",
		ops:   []string{"Snapshot", "Image"},
		lines: []comparison{
			{"snapshot of a system holding 1 GiB in 16 files", bench{"Snapshot", "loom", "state=1GiB", "ns/op"},
				"snapshot of one holding 1 MiB", &bench{"Snapshot", "loom", "state=1MiB", "ns/op"}, atMost(10)},
			{"save of a system to an image file", bench{"Image", "save", "*", "MB/s"},
				"cp of the image file on the same file system", &bench{"Image", "cp", "*", "MB/s"}, goal{}},
			{"load of that image as a new system", bench{"Image", "load", "*", "MB/s"},
				"cp of the image file on the same file system", &bench{"Image", "cp", "*", "MB/s"}, goal{}},
		},
	},
}

// find returns the samples of b, in b's unit, and the param they were
// measured with; nil if b did not run.
func (r *results) find(b bench) ([]float64, string) {
	var s *samples
	param := b.param
	if b.param == "*" {
		for k, v := range r.byKey {
			if k.op == b.op && k.server == b.server && (s == nil || k.param < param) {
				s, param = v, k.param
			}
		}
	} else {
		s = r.byKey[key{b.op, b.server, b.param}]
	}
	if s == nil {
		return nil, param
	}
	switch b.unit {
	case "ns/op":
		return s.ns, param
	case "MB/s":
		return s.mbs, param
	}
	return s.metrics[b.unit], param
}

// print prints the section's table if any of its benchmarks ran.
func (sec section) print(w io.Writer, r *results) {
	ran := false
	for k := range r.byKey {
		ran = ran || slices.Contains(sec.ops, k.op)
	}
	if !ran {
		return
	}
	fmt.Fprintf(w, "### %s\n\n", sec.title)
	fmt.Fprintf(w, "| measured | median | baseline, same run | median | measured ÷ baseline | target | met |\n")
	fmt.Fprintf(w, "|---|---:|---|---:|---:|---|---|\n")
	worst, at := 0.0, ""
	note := func(b bench, v []float64, param string) {
		if s := spreadOf(v); s > worst {
			worst, at = s, strings.TrimSuffix(b.op+"/"+b.server+"/"+param, "/")
		}
	}
	for _, c := range sec.lines {
		v, param := r.find(c.m)
		note(c.m, v, param)
		what := c.what
		if c.m.param == "*" && param != "" {
			what += " (" + param + ")"
		}
		if len(v) == 0 {
			fmt.Fprintf(w, "| %s | not measured | %s | | | %s | %s |\n", what, c.baseWhat, c.goal, c.goal.met(math.NaN()))
			continue
		}
		got := median(v)
		if c.base == nil {
			fmt.Fprintf(w, "| %s | %s | none | | | %s | %s |\n", what, format(got, c.m.unit), c.goal, c.goal.met(math.NaN()))
			continue
		}
		bv, bparam := r.find(*c.base)
		note(*c.base, bv, bparam)
		if len(bv) == 0 || median(bv) == 0 {
			fmt.Fprintf(w, "| %s | %s | %s | not measured | | %s | %s |\n", what, format(got, c.m.unit), c.baseWhat, c.goal, c.goal.met(math.NaN()))
			continue
		}
		base := median(bv)
		ratio := got / base
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", what, format(got, c.m.unit), c.baseWhat, format(base, c.base.unit), trim(ratio), c.goal, c.goal.met(ratio))
	}
	fmt.Fprintln(w)
	if r.runs > 1 && at != "" {
		fmt.Fprintf(w, "Largest spread between runs of one benchmark: %.0f%% of its median (%s).\n\n", worst*100, at)
	}
}

// format prints a figure in its unit, times scaled to ns, µs, ms or s.
func format(v float64, unit string) string {
	switch {
	case strings.HasPrefix(unit, "ns/"):
		per := strings.TrimPrefix(unit, "ns/")
		for _, u := range []struct {
			name  string
			scale float64
		}{{"s", 1e9}, {"ms", 1e6}, {"µs", 1e3}} {
			if v >= u.scale {
				return fmt.Sprintf("%s %s/%s", trim(v/u.scale), u.name, per)
			}
		}
		return fmt.Sprintf("%s ns/%s", trim(v), per)
	case unit == "MB/s":
		return fmt.Sprintf("%.0f MB/s", v)
	case strings.HasPrefix(unit, "KiB-"):
		return fmt.Sprintf("%.0f KiB", v)
	}
	return fmt.Sprintf("%s %s", trim(v), unit)
}

// trim prints v with three significant digits, trailing zeros kept (so
// that 1.00 says how precise it is), or as a whole number when it has
// more before the point.
func trim(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%#.3g", v)
}
