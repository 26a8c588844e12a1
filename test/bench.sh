#!/usr/bin/env bash
# bench.sh runs loom's benchmarks in test/ and their baselines in one go
# test run and prints the tables of BENCHMARKS.md on standard output; go
# test's own output goes to standard error as it comes.
#
#	test/bench.sh [section] [go test flags] > table.md
#
# section selects a part of BENCHMARKS.md to run again:
#
#	all       everything below (the default)
#	9p        the 9P listener against the stock servers and the bare
#	          socket, and hostfs against diod
#	systems   clone, sandbox, import and snapshot together
#	clone     clones of systems of 1, 10 and 100 components, and of one
#	          holding 100 MiB, against copying 100 MiB in memory
#	sandbox   starting a program in a box against bwrap, small reads
#	          through the FUSE view against 9P, the memory of an idle box
#	import    reads through an import over TCP, with and without TLS,
#	          against a local mount
#	snapshot  snapshots of 1 GiB against 1 MiB of state, save and load
#	          against cp
#
# COUNT (default 5), BENCHTIME (default 1s) and BENCH (a -bench pattern,
# instead of the section's) change the run; LOOM_BENCH_STATE is the MiB
# of state that the snapshot section saves and loads (256). Other
# arguments go to go test, as in
#
#	BENCH='RoundTrip/loom9P' COUNT=1 test/bench.sh -cpuprofile /tmp/cpu.prof
set -euo pipefail
cd "$(dirname "$0")/.."

section=all
case ${1:-} in
all | 9p | systems | clone | sandbox | import | snapshot)
	section=$1
	shift
	;;
esac
# The patterns name whole top-level benchmarks (go test matches the
# name with its Benchmark prefix), so that a section runs no other
# section's.
declare -A patterns=(
	[all]='.'
	[9p]='^Benchmark(RoundTrip|WalkStatClunk|OpenReadClunk|BulkRead|BulkWrite|ClientRoundTrip|HostfsBulkRead|HostfsSmallRead)$'
	[systems]='^Benchmark(Clone|Clone100MiB|Sandbox.*|Import.*|Snapshot|Image)$'
	[clone]='^Benchmark(Clone|Clone100MiB)$'
	[sandbox]='^BenchmarkSandbox'
	[import]='^BenchmarkImport'
	[snapshot]='^Benchmark(Snapshot|Image)$'
)
count=${COUNT:-5}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-${patterns[$section]}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=$tmp/bench.out
# The commit measured, and whether the work tree differed from it.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit (with uncommitted changes in the work tree)"
fi
start=$(date -u +%s)
# -o keeps the test binary that a profile asks go test to leave out of
# the work tree.
go test -run '^$' -bench "$bench" -benchtime "$benchtime" -count "$count" -timeout 60m \
	-o "$tmp/test.test" "$@" ./test/ | tee "$raw" >&2
took=$((($(date -u +%s) - start + 59) / 60))
echo "Run on $(date -u +%Y-%m-%d) at commit $commit with $(go version | cut -d' ' -f3-) on $(nproc) cores, in about $took minutes:"
echo "\`go test -run '^\$' -bench '$bench' -benchtime $benchtime -count $count ./test/\`."
echo
go run ./test/cmd/benchtable < "$raw"
