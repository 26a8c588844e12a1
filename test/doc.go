// Package test holds loom's cross-package, interop, fault and load tests,
// and its benchmarks.
//
// It has no code of its own outside its tests. The benchmarks of the 9P
// listener measure loom's server in both dialects against baselines run in
// the same process: a stock 9P2000.L server, a stock 9P2000 server and a
// bare unix socket. test/bench.sh runs them and prints the ratio table
// that BENCHMARKS.md records.
package test
