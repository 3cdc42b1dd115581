#!/usr/bin/env bash
# scripts/goredis-suite.sh: go-redis v8.11.5's own test suite, run on stock
# go-redis and then on the overlay whose pool is shardpool
# (contrib/goredis), compared spec by spec.
#
#   scripts/goredis-suite.sh [--short] [--out DIR]
#
#   (no flag)   the whole suite: the root package's Ginkgo specs and tests
#               and internal/pool's, on each copy (about 15 minutes)
#   --short     internal/pool's tests and the root package's Client, pool,
#               pipelining, Tx and PubSub specs, with -short (under 3
#               minutes on 2 cores, compiling included); CI runs this
#   --shardpool DIR
#               build the overlay on the shardpool checkout in DIR
#               (default: this one), to try a change of the library
#   --out DIR   keep the results there (default: a temporary directory,
#               named at the end): per copy and package the `go test -json`
#               stream and Ginkgo's JUnit report, the listening sockets
#               seen during the runs, and compare.txt
#
# Prints each copy's tally (passed, failed, skipped; specs left out by
# --short count as skipped) and every spec whose outcome differs. Specs
# that passed on stock and not on the overlay run again, alone, 3 times on
# each copy: it exits 1 if one reproduces exactly (passes every time on
# stock, fails every time on the overlay), or if a plain test or an
# internal/pool spec passed on stock and not on the overlay; a spec that
# flips on stock too is a flake, and is listed as one. Specs that need more than this machine has (a newer Redis than
# Debian's) may fail on both; that is no difference.
#
# The servers the suite starts (ports 6380, 6381, 6390-6392, sentinels on
# 9123-9128, a cluster on 8220-8225, and one on 6379 for go-redis's
# examples if that port is free) are Debian's redis-server (installed with
# apt-get when missing and running as root), through a wrapper that adds
# --bind 127.0.0.1: every one listens on loopback only, which the script
# checks with ss while the suite runs. Each copy's servers are stopped when
# its run ends, and all of them on exit.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/{/^#/p;}' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

short=0
out=
shardpool=
while [ $# -gt 0 ]; do
	case "$1" in
	--short) short=1 ;;
	--out) [ $# -ge 2 ] || usage 2; out=$2; shift ;;
	--out=*) out=${1#--out=} ;;
	--shardpool) [ $# -ge 2 ] || usage 2; shardpool=$2; shift ;;
	--shardpool=*) shardpool=${1#--shardpool=} ;;
	-h | --help) usage 0 ;;
	*) echo "goredis-suite.sh: unknown argument: $1" >&2; usage 2 ;;
	esac
	shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
shardpool=$(cd "${shardpool:-$root}" && pwd)
command -v go >/dev/null || { echo "goredis-suite.sh: go is not on PATH" >&2; exit 1; }
command -v ss >/dev/null || { echo "goredis-suite.sh: ss (iproute2) is needed to check the servers' addresses" >&2; exit 1; }

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/goredis-suite.XXXXXX")
results=${out:-$work/results}
mkdir -p "$results"
results=$(cd "$results" && pwd)
pids="$work/redis.pids" # every redis-server the wrapper started, one pid a line
: >"$pids"
monitor_pid=
test_pid=

log() { printf '[goredis-suite %ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The suite's ports, and the examples' (6379, used only if free).
suite_ports=(6380 6381 6390 6391 6392 9123 9124 9125 9126 9127 9128 8220 8221 8222 8223 8224 8225)
example_port=6379

# ours PID reports whether PID is a redis-server the wrapper started.
ours() {
	grep -qx "$1" "$pids" 2>/dev/null &&
		tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q redis-server
}

# stop_servers stops every redis-server the wrapper started that is still
# running: SIGTERM, then SIGKILL after 3 s.
# shellcheck disable=SC2317 # reached from the EXIT trap, through cleanup
stop_servers() {
	local pid left
	for pid in $(sort -u "$pids"); do
		if ours "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	done
	for _ in $(seq 30); do
		left=0
		for pid in $(sort -u "$pids"); do
			if ours "$pid"; then left=1; fi
		done
		[ "$left" = 0 ] && return 0
		sleep 0.1
	done
	for pid in $(sort -u "$pids"); do
		if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	done
}

# shellcheck disable=SC2317 # reached from the EXIT trap
cleanup() {
	if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
		pkill -TERM -P "$test_pid" 2>/dev/null || true # the test binary
		kill -TERM "$test_pid" 2>/dev/null || true
	fi
	if [ -n "$monitor_pid" ]; then kill "$monitor_pid" 2>/dev/null || true; fi
	stop_servers
	# The copies and the servers' data; the results stay.
	rm -rf "$work/stock" "$work/overlay" "$work/sentinel-conf"
	if [ -z "$out" ]; then log "results are in $results"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export GOWORK=off GOFLAGS=

# ---------------------------------------------------------------- redis
# shellcheck source=scripts/redis.sh
. "$root/scripts/redis.sh"
ensure_redis_server redis-server "$work/apt.log" || {
	[ -f "$work/apt.log" ] && tail -n 20 "$work/apt.log" >&2
	die "redis-server is not installed and could not be installed (apt-get needs root)"
}
redis_bin=$(command -v redis-server)
log "using $("$redis_bin" --version | head -n 1)"

# busy PORT reports whether something listens on PORT.
busy() { [ -n "$(ss -Hltn "sport = :$1")" ]; }

for port in "${suite_ports[@]}"; do
	busy "$port" && die "port $port is in use: the suite needs it (ss -ltnp shows by whom)"
done
examples=1
if busy "$example_port"; then
	log "port $example_port is in use: go-redis's examples (which expect a server there) are left out"
	examples=0
fi

# ---------------------------------------------------------------- copies
log "fetching go-redis v8.11.5 and writing the stock copy and the overlay (shardpool from $shardpool)"
stock_src=$(cd "$work" && go mod download -json github.com/go-redis/redis/v8@v8.11.5 |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$stock_src" ] || die "go mod download github.com/go-redis/redis/v8@v8.11.5 failed"
cp -R "$stock_src" "$work/stock"
chmod -R u+w "$work/stock"
(cd contrib/goredis && go run ./cmd/goredis-overlay -out "$work/overlay" -shardpool "$shardpool") >"$work/overlay.txt" 2>&1 ||
	{ cat "$work/overlay.txt" >&2; die "writing the overlay failed"; }
(cd contrib/goredis && go build -o "$work/bin/goredis-suitecmp" ./cmd/goredis-suitecmp)

# redis7_compat DIR lets go-redis v8.11.5 in DIR read Redis 7's CLUSTER
# SLOTS, which gives each node a fourth element (its networking metadata):
# without it the client cannot load a cluster's state, BeforeSuite (which
# starts a cluster) fails, and no spec of the root package runs. Both
# copies get it. The edit is anchored: it fails if go-redis's code differs.
redis7_compat() {
	local f="$1/command.go"
	# shellcheck disable=SC2016 # perl's variables
	perl -0777 -i -pe '
		$n += s/if n != 2 && n != 3 \{/if n < 2 || n > 4 {/;
		$n += s/(\t+)if n == 3 \{\n(.*?nodes\[j\]\.ID = id\n\t+\}\n)/$1if n >= 3 {\n$2$1if n == 4 { \/\/ Redis 7: networking metadata\n$1\tif _, err := rd.ReadReply(sliceParser); err != nil {\n$1\t\treturn nil, err\n$1\t}\n$1}\n/s;
		END { exit($n == 2 ? 0 : 1) }' "$f" || die "$f: the Redis 7 edit of ClusterSlotsCmd found no anchor"
	[ -z "$(gofmt -l "$f")" ] || die "$f: the Redis 7 edit left it unformatted"
}

# The servers: testdata/redis/src/redis-server is what main_test.go runs,
# with testdata/redis/redis.conf (a copy per instance) or, for sentinels,
# /dev/null as the config file. The wrapper records its pid (exec keeps
# it), binds to loopback whatever the config says, and gives each sentinel
# a config file of its own: a sentinel rewrites its config, and Redis 7
# does that by renaming a new file over the old one, which must not be
# /dev/null.
mkdir -p "$work/sentinel-conf"
for copy in stock overlay; do
	redis7_compat "$work/$copy"
	dir="$work/$copy/testdata/redis"
	mkdir -p "$dir/src"
	cat >"$dir/src/redis-server" <<EOF
#!/bin/sh
# redis-server for go-redis's tests (scripts/goredis-suite.sh): Debian's,
# on loopback only.
conf=\$1
shift
if [ "\$conf" = /dev/null ]; then
	conf=\$(mktemp "$work/sentinel-conf/sentinel.XXXXXX")
fi
echo \$\$ >>"$pids"
exec "$redis_bin" "\$conf" "\$@" --bind 127.0.0.1
EOF
	chmod +x "$dir/src/redis-server"
	# go-redis's testdata/redis.conf, and loopback only. Redis 7 refuses
	# DEBUG unless asked; the suite was written for Redis 6.2, which
	# allowed it.
	{
		cat "$work/$copy/testdata/redis.conf"
		printf '\nbind 127.0.0.1\nprotected-mode yes\nenable-debug-command yes\n'
	} >"$dir/redis.conf"
done

# ---------------------------------------------------------------- watch
# Every 2 s, the listening sockets of redis-server processes, for the
# check at the end that all of the suite's were on loopback.
: >"$results/listening.txt"
(
	while :; do
		ss -Hltnp 2>/dev/null | grep redis-server >>"$results/listening.txt" || true
		sleep 2
	done
) &
monitor_pid=$!

# ---------------------------------------------------------------- runs
ginkgo=(-ginkgo.seed=1 -ginkgo.noColor -ginkgo.slowSpecThreshold=60)
root_go=(-timeout 45m)
root_run='^(Test|Example)'
root_ginkgo=()
if [ "$short" = 1 ]; then
	root_go=(-short -timeout 10m)
	# Ginkgo v1 matches the focus against "[Top Level] Describe ... It".
	root_ginkgo=('-ginkgo.focus=\[Top Level\] (Client|pool|pipelining|Tx|PubSub) ')
fi
[ "$examples" = 1 ] || root_run='^Test'

# go_test COPY LABEL PKG GOFLAGS... -- BINARYFLAGS... runs one package's
# tests in a copy, writing LABEL.json and LABEL.junit.xml; its failures are
# the comparison's business, not a reason to stop.
go_test() {
	local copy=$1 label=$2 pkg=$3
	shift 3
	local goflags=()
	while [ "$1" != -- ]; do goflags+=("$1"); shift; done
	shift
	local res="$results/${rerun_dir:+$rerun_dir/}$copy"
	mkdir -p "$res"
	rm -f "$res/$label.junit.xml"
	(cd "$work/$copy" && exec go test -count=1 -json "${goflags[@]}" "$pkg" -args \
		"${ginkgo[@]}" -ginkgo.reportFile="$res/$label.junit.xml" "$@") >"$res/$label.json" 2>&1 &
	test_pid=$!
	wait "$test_pid" || true
	test_pid=
}

# start_example_server, stop_example_server: a plain server on 6379 for
# go-redis's examples, fresh for each copy.
example_pid=
start_example_server() {
	[ "$examples" = 1 ] || return 0
	"$work/stock/testdata/redis/src/redis-server" "$work/stock/testdata/redis/redis.conf" \
		--port "$example_port" --dir "$work" --appendonly no >"$work/example-server.log" 2>&1 &
	example_pid=$!
	for _ in $(seq 100); do
		busy "$example_port" && return 0
		sleep 0.05
	done
	die "the examples' redis-server did not start (see $work/example-server.log)"
}
stop_example_server() {
	[ -n "$example_pid" ] || return 0
	kill -TERM "$example_pid" 2>/dev/null || true
	wait "$example_pid" 2>/dev/null || true
	example_pid=
}

for copy in stock overlay; do
	log "$copy: internal/pool"
	go_test "$copy" pool ./internal/pool -timeout 10m --
	log "$copy: the root package (servers start; $([ "$short" = 1 ] && echo "Client, pool, pipelining, Tx and PubSub specs" || echo "all specs"))"
	start_example_server
	go_test "$copy" root . "${root_go[@]}" -run "$root_run" -- "${root_ginkgo[@]+"${root_ginkgo[@]}"}"
	stop_example_server
	stop_servers
done

kill "$monitor_pid" 2>/dev/null || true
wait "$monitor_pid" 2>/dev/null || true
monitor_pid=

# ---------------------------------------------------------------- check
# Each socket seen listening, with the pid that held it: any of ours not on
# 127.0.0.1 or ::1 is an error.
exposed=$(
	awk '{ addr = $4; if (match($0, /pid=[0-9]+/)) print addr, substr($0, RSTART + 4, RLENGTH - 4) }' \
		"$results/listening.txt" 2>/dev/null | sort -u |
		while read -r addr pid; do
			if grep -qx "$pid" "$pids" && ! [[ $addr == 127.0.0.1:* || $addr == "[::1]:"* ]]; then
				echo "$addr (pid $pid)"
			fi
		done
)
seen=$(
	awk '{ if (match($0, /pid=[0-9]+/)) print $4, substr($0, RSTART + 4, RLENGTH - 4) }' \
		"$results/listening.txt" 2>/dev/null | sort -u |
		while read -r addr pid; do
			if grep -qx "$pid" "$pids"; then echo "$addr"; fi
		done | sort -u | wc -l
)
[ -z "$exposed" ] || die "redis-server listened beyond loopback: $exposed"
[ "$seen" -gt 0 ] || die "no listening socket of the suite's servers was seen: the check saw nothing"
log "the suite's servers listened on $seen addresses, all on loopback (127.0.0.1)"

log "comparing"
rc=0
cmp=("$work/bin/goredis-suitecmp" -stock "$results/stock" -overlay "$results/overlay")
"${cmp[@]}" | tee "$results/compare.txt" || rc=$?

# Specs that passed on stock and not on the overlay run again, alone,
# $reruns times on each copy in turn: a difference the pool makes shows
# every time; a flake (a spec that also fails on stock, or also passes on
# the overlay, when run again) is reported as such and does not fail the
# run. Plain tests and internal/pool's specs are not run again.
reruns=3
if [ "$rc" = 1 ] && focus=$("${cmp[@]}" -focus); then
	log "running the specs that differ again, $reruns times on each copy"
	stock_runs= overlay_runs=
	for i in $(seq "$reruns"); do
		for copy in stock overlay; do
			rerun_dir=rerun-$i go_test "$copy" root . "${root_go[@]}" -run '^TestGinkgoSuite$' -- "-ginkgo.focus=$focus"
			stop_servers
		done
		stock_runs+="$results/rerun-$i/stock,"
		overlay_runs+="$results/rerun-$i/overlay,"
	done
	rc=0
	"${cmp[@]}" -rerun-stock "$stock_runs" -rerun-overlay "$overlay_runs" | tee "$results/compare.txt" || rc=$?
fi
log "done in $(($(date +%s) - start)) s"
exit "$rc"
