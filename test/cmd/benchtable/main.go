// Benchtable reads the output of loom's benchmarks in test/ (go test
// -bench, any -count) and prints, in Markdown, the tables of
// BENCHMARKS.md: for the 9P listener, the median of each row, the ratios
// to the bare unix socket and whether each target of the listener is
// met; for clones, the kernel sandbox, imports and snapshots (see
// sections), each figure against its baseline of the same run, with its
// target. Benchmarks it knows nothing of go to a table of their own.
// test/bench.sh runs it.
//
// Benchmark names are Benchmark<op>/<who>[/<param>]: the op is the row,
// who the server or the way of doing it that the row compares.
//
// Usage:
//
//	go test -run '^$' -bench . -count 5 ./test/ | go run ./test/cmd/benchtable
package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	res, err := parse(in)
	if err != nil {
		return err
	}
	if len(res.rows) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	w := bufio.NewWriter(out)
	res.print(w)
	return w.Flush()
}

// key names one benchmark: Benchmark<op>/<server>/<param>.
type key struct {
	op, server, param string
}

// row is an op with its parameter: a line of the tables.
type row struct {
	op, param string
}

func (r row) String() string {
	if r.param == "" {
		return r.op
	}
	return r.op + " " + r.param
}

// samples are the measurements of one benchmark, one per -count: ns and
// mbs are ns/op and MB/s, metrics every other unit the benchmark reports
// (B/op, or its own with b.ReportMetric, such as ns/read or KiB-rss/box).
type samples struct {
	ns, mbs []float64
	metrics map[string][]float64
}

// results are the parsed benchmarks, rows and servers in the order first
// seen, and the header lines (goos, cpu, ...).
type results struct {
	byKey   map[key]*samples
	rows    []row
	servers []string
	header  []string
	runs    int
}

// serverOrder puts loom first and the bare socket last.
var serverOrder = []string{"loom9P", "loomL", "p9", "srv9p", "bare"}

var (
	lineRE  = regexp.MustCompile(`^Benchmark(\S+)\s+\d+\s+([\d.]+) ns/op((?:\s+[-\d.e+]+ \S+)*)`)
	pairRE  = regexp.MustCompile(`([-\d.e+]+) (\S+)`)
	procsRE = regexp.MustCompile(`-\d+$`) // the GOMAXPROCS suffix
)

// parse reads go test -bench output.
func parse(in io.Reader) (*results, error) {
	res := &results{byKey: map[key]*samples{}}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		for _, h := range []string{"goos:", "goarch:", "cpu:", "pkg:"} {
			if strings.HasPrefix(line, h) && !slices.Contains(res.header, line) {
				res.header = append(res.header, line)
			}
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := procsRE.ReplaceAllString(m[1], "")
		f := strings.SplitN(name, "/", 3)
		if len(f) < 2 {
			continue
		}
		k := key{op: f[0], server: f[1]}
		if len(f) == 3 {
			k.param = f[2]
		}
		s := res.byKey[k]
		if s == nil {
			s = &samples{}
			res.byKey[k] = s
			if r := (row{k.op, k.param}); !slices.Contains(res.rows, r) {
				res.rows = append(res.rows, r)
			}
			if !slices.Contains(res.servers, k.server) {
				res.servers = append(res.servers, k.server)
			}
		}
		ns, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", line, err)
		}
		s.ns = append(s.ns, ns)
		for _, p := range pairRE.FindAllStringSubmatch(m[3], -1) {
			v, err := strconv.ParseFloat(p[1], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", line, err)
			}
			if p[2] == "MB/s" {
				s.mbs = append(s.mbs, v)
				continue
			}
			if s.metrics == nil {
				s.metrics = map[string][]float64{}
			}
			s.metrics[p[2]] = append(s.metrics[p[2]], v)
		}
		res.runs = max(res.runs, len(s.ns))
	}
	slices.SortStableFunc(res.servers, func(a, b string) int {
		return rank(a) - rank(b)
	})
	return res, sc.Err()
}

func rank(server string) int {
	if i := slices.Index(serverOrder, server); i >= 0 {
		return i
	}
	return len(serverOrder) - 1 // before bare, after the known servers
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ns returns the median ns/op of a benchmark, or 0 if it did not run.
func (r *results) ns(op, server, param string) float64 {
	if s := r.byKey[key{op, server, param}]; s != nil {
		return median(s.ns)
	}
	return 0
}

// mbs returns the median MB/s of a benchmark, or 0.
func (r *results) mbs(op, server, param string) float64 {
	if s := r.byKey[key{op, server, param}]; s != nil {
		return median(s.mbs)
	}
	return 0
}

// spread returns (max-min)/median of a benchmark's ns/op, as a fraction.
func (r *results) spread(op, server, param string) float64 {
	s := r.byKey[key{op, server, param}]
	if s == nil {
		return 0
	}
	return spreadOf(s.ns)
}

// spreadOf returns (max-min)/median of v, 0 for fewer than two values.
func spreadOf(v []float64) float64 {
	if len(v) < 2 || median(v) == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / median(v)
}

// compareKeys orders keys by op, server and param, so that ties in the
// tables are broken the same way in every run.
func compareKeys(a, b key) int {
	return cmp.Or(cmp.Compare(a.op, b.op), cmp.Compare(a.server, b.server), cmp.Compare(a.param, b.param))
}

// isRate reports whether a row is measured in MB/s.
func (r *results) isRate(w row) bool {
	for _, srv := range r.servers {
		if s := r.byKey[key{w.op, srv, w.param}]; s != nil && len(s.mbs) > 0 {
			return true
		}
	}
	return false
}

// listenerOps are the benchmarks of the 9P listener and of hostfs behind
// it, whose tables set each server against the others and the bare
// socket.
var listenerOps = []string{"RoundTrip", "WalkStatClunk", "OpenReadClunk", "BulkRead", "BulkWrite", "ClientRoundTrip", "HostfsBulkRead", "HostfsSmallRead"}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "Median of %d runs", r.runs)
	if len(r.header) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(r.header, ", "))
	}
	fmt.Fprintf(w, ".\n\n")
	if l := r.only(func(op string) bool { return slices.Contains(listenerOps, op) }); len(l.rows) > 0 {
		fmt.Fprintf(w, "### Medians\n\n")
		l.printMedians(w)
		l.printTargets(w)
		l.printRatios(w)
	}
	for _, sec := range sections {
		sec.print(w, r)
	}
	other := r.only(func(op string) bool {
		if slices.Contains(listenerOps, op) {
			return false
		}
		for _, sec := range sections {
			if slices.Contains(sec.ops, op) {
				return false
			}
		}
		return true
	})
	if len(other.rows) > 0 {
		fmt.Fprintf(w, "### Other benchmarks\n\n")
		other.printMedians(w)
	}
}

// only returns the results of the ops that keep accepts, with the
// servers that ran them.
func (r *results) only(keep func(op string) bool) *results {
	sub := &results{byKey: map[key]*samples{}, header: r.header}
	for k, s := range r.byKey {
		if keep(k.op) {
			sub.byKey[k] = s
			sub.runs = max(sub.runs, len(s.ns))
		}
	}
	for _, row := range r.rows {
		if keep(row.op) {
			sub.rows = append(sub.rows, row)
		}
	}
	for _, srv := range r.servers {
		for k := range sub.byKey {
			if k.server == srv {
				sub.servers = append(sub.servers, srv)
				break
			}
		}
	}
	return sub
}

func (r *results) tableHead(w io.Writer, first, second string, servers []string) {
	fmt.Fprintf(w, "| %s | %s |", first, second)
	for _, s := range servers {
		fmt.Fprintf(w, " %s |", s)
	}
	fmt.Fprintf(w, "\n|---|---|")
	for range servers {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintln(w)
}

// printMedians prints every row in its own unit, with the largest spread
// of the row's runs.
func (r *results) printMedians(w io.Writer) {
	r.tableHead(w, "benchmark", "unit", r.servers)
	for _, row := range r.rows {
		unit := "µs/op"
		if r.isRate(row) {
			unit = "MB/s"
		}
		fmt.Fprintf(w, "| %s | %s |", row, unit)
		for _, srv := range r.servers {
			switch {
			case r.byKey[key{row.op, srv, row.param}] == nil:
				fmt.Fprintf(w, " |")
			case unit == "MB/s":
				fmt.Fprintf(w, " %.0f |", r.mbs(row.op, srv, row.param))
			default:
				fmt.Fprintf(w, " %.2f |", r.ns(row.op, srv, row.param)/1e3)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	worst, at := 0.0, ""
	for _, k := range slices.SortedFunc(maps.Keys(r.byKey), compareKeys) {
		if s := r.spread(k.op, k.server, k.param); s > worst {
			worst, at = s, fmt.Sprintf("%s/%s/%s", k.op, k.server, k.param)
		}
	}
	if r.runs > 1 {
		fmt.Fprintf(w, "Largest spread between runs of one benchmark: %.0f%% of its median (%s).\n\n", worst*100, strings.TrimSuffix(at, "/"))
	}
}

// printTargets prints the listener's targets and whether each is met.
func (r *results) printTargets(w io.Writer) {
	fmt.Fprintf(w, "### Targets\n\n")
	fmt.Fprintf(w, "Round trips per second of loom over each stock server's (higher is better):\n\n")
	fmt.Fprintf(w, "| round trip | loom9P ÷ p9 | loom9P ÷ srv9p | loomL ÷ p9 | loomL ÷ srv9p |\n|---|---:|---:|---:|---:|\n")
	for _, c := range []string{"clients=1", "clients=16"} {
		fmt.Fprintf(w, "| %s |", c)
		for _, loom := range []string{"loom9P", "loomL"} {
			for _, stock := range []string{"p9", "srv9p"} {
				if l, s := r.ns("RoundTrip", loom, c), r.ns("RoundTrip", stock, c); l > 0 && s > 0 {
					fmt.Fprintf(w, " %.2f |", s/l)
				} else {
					fmt.Fprintf(w, " |")
				}
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n| target | measured | goal | met |\n|---|---:|---|---|\n")
	line := func(what string, got float64, goal string, ok bool) {
		met := "no"
		if ok {
			met = "yes"
		}
		if got == 0 || got != got {
			fmt.Fprintf(w, "| %s | not measured | %s | no |\n", what, goal)
			return
		}
		fmt.Fprintf(w, "| %s | %.2f | %s | %s |\n", what, got, goal, met)
	}
	for _, loom := range []string{"loom9P", "loomL"} {
		for _, c := range []string{"clients=1", "clients=16"} {
			p9, srv := r.ns("RoundTrip", "p9", c), r.ns("RoundTrip", "srv9p", c)
			faster, name := p9, "p9"
			if srv > 0 && (p9 == 0 || srv < p9) {
				faster, name = srv, "srv9p"
			}
			got := 0.0
			if l := r.ns("RoundTrip", loom, c); l > 0 {
				got = faster / l
			}
			line(fmt.Sprintf("%s round trip, %s: ops/s ÷ faster stock server (%s)", loom, c, name), got, "≥ 1.3", got >= 1.3)
		}
	}
	for _, loom := range []string{"loom9P", "loomL"} {
		got := 0.0
		if b := r.ns("RoundTrip", "bare", "clients=1"); b > 0 {
			got = r.ns("RoundTrip", loom, "clients=1") / b
		}
		line(fmt.Sprintf("%s round trip, 1 client: time ÷ bare socket round trip", loom), got, "≤ 2", got > 0 && got <= 2)
	}
	for _, loom := range []string{"loom9P", "loomL"} {
		got := 0.0
		if b := r.mbs("BulkRead", "bare", "msize=1M"); b > 0 {
			got = r.mbs("BulkRead", loom, "msize=1M") / b
		}
		line(fmt.Sprintf("%s bulk read, msize 1 MiB: rate ÷ bare socket stream", loom), got, "≥ 0.5", got >= 0.5)
	}
	fmt.Fprintln(w)
}

// printRatios prints every server against the bare socket: rates as a
// fraction of the bare stream's, times as a number of bare round trips.
func (r *results) printRatios(w io.Writer) {
	servers := slices.DeleteFunc(slices.Clone(r.servers), func(s string) bool { return s == "bare" })
	fmt.Fprintf(w, "### Against the bare socket\n\n")
	fmt.Fprintf(w, "Rates are a fraction of the bare stream's rate (higher is better); times are\n")
	fmt.Fprintf(w, "in bare round trips of the same client count (lower is better).\n\n")
	r.tableHead(w, "benchmark", "measure", servers)
	for _, row := range r.rows {
		rate := r.isRate(row)
		var base float64
		measure := "× bare rate"
		if rate {
			base = r.mbs(row.op, "bare", row.param)
		} else {
			measure = "bare round trips"
			base = r.ns(row.op, "bare", row.param)
			if base == 0 {
				base = r.ns("RoundTrip", "bare", "clients=1")
			}
		}
		if base == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %s |", row, measure)
		for _, srv := range servers {
			switch {
			case r.byKey[key{row.op, srv, row.param}] == nil:
				fmt.Fprintf(w, " |")
			case rate:
				fmt.Fprintf(w, " %.2f |", r.mbs(row.op, srv, row.param)/base)
			default:
				fmt.Fprintf(w, " %.2f |", r.ns(row.op, srv, row.param)/base)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}
