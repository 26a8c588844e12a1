#!/usr/bin/env bash
# bench.sh runs loom's 9P listener benchmarks and their baselines in one
# go test run and prints the tables of BENCHMARKS.md on standard output;
# go test's own output goes to standard error as it comes.
#
#	test/bench.sh > table.md
#
# COUNT (default 5), BENCHTIME (default 1s) and BENCH (a -bench pattern,
# default .) change the run; other arguments go to go test, as in
#
#	BENCH='RoundTrip/loom9P' COUNT=1 test/bench.sh -cpuprofile /tmp/cpu.prof
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-5}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=$tmp/bench.out
# -o keeps the test binary that a profile asks go test to leave out of
# the work tree.
go test -run '^$' -bench "$bench" -benchtime "$benchtime" -count "$count" -timeout 60m \
	-o "$tmp/test.test" "$@" ./test/ | tee "$raw" >&2
echo "Run on $(date -u +%Y-%m-%d) with $(go version | cut -d' ' -f3-) on $(nproc) cores:"
echo "\`go test -run '^\$' -bench '$bench' -benchtime $benchtime -count $count ./test/\`."
echo
go run ./test/cmd/benchtable < "$raw"
