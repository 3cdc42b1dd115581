#!/usr/bin/env bash
# scripts/chaos.sh: fault injection against a real redis-server, with load
# through shardpool's ConnPool (the driver is bench/cmd/chaos).
#
#   scripts/chaos.sh [--short] [--out DIR] [-- DRIVER FLAGS...]
#
#   (no flag)   three rounds of long phases (about 5 minutes)
#   --short     one round of short phases (about 2 minutes, compiling
#               included); CI runs this
#   --out DIR   also write DIR/chaos.md (the results, each fault's chart
#               linked from its row and shown under its details),
#               DIR/redis.log, the timeline: DIR/chaos-timeline.csv (pool
#               state, requests, errors, Get p99 and dials every 100 ms) and
#               its chart, DIR/chaos-timeline.png, and one chart per fault,
#               DIR/chaos-round-N-FAULT.png (that fault's window of the
#               timeline: requests/s, errors/s, p99, connections held and
#               idle, waiting Gets; the fault's start and end marked)
#   -- FLAGS    passed to the driver (bench/cmd/chaos), e.g.
#               -- -health-check-idle=-1s for a run without health checks,
#               -- -faults latency,blackhole for two faults only (the names:
#               kill stop clientkill hungprobe latency blackhole dialhole
#               reset bandwidth), -- -goredis=false without go-redis
#
# Faults, in each round, to the server: SIGKILL mid-load, a restart on the
# same port, SIGSTOP then SIGCONT, CLIENT KILL of the server's side of idle
# pooled connections, and a restart while the breaker's probe dial hangs.
# Then network faults through toxiproxy (in the driver, as a library, on
# 127.0.0.1), each to a shardpool pool and, beside it through its own
# proxy, a go-redis v9 client of the same settings: +50 ms latency for 5 s,
# a black hole for established connections (timeout toxic), a black hole
# for new dials (timeout toxic, all connections closed), reset_peer, and a
# 1 KB/s bandwidth limit. Prints a table (fault, client, time to detect,
# time to recover, errors, max Get and request, goroutines and open
# connections before and after) and exits 1 if a bound of shardpool's is
# violated (go-redis's rows are reported, not checked). redis-server comes
# from Debian's packages (installed with apt-get when missing and running
# as root); it listens on 127.0.0.1 only and is always stopped on exit.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/{/^#/p;}' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

short=0
out=
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--) shift; extra=("$@"); break ;;
	--short) short=1 ;;
	--out) [ $# -ge 2 ] || usage 2; out=$2; shift ;;
	--out=*) out=${1#--out=} ;;
	-h | --help) usage 0 ;;
	*) echo "chaos.sh: unknown argument: $1" >&2; usage 2 ;;
	esac
	shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command -v go >/dev/null || { echo "chaos.sh: go is not on PATH" >&2; exit 1; }

start=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shardpool-chaos.XXXXXX")
redis_pid=
pidfile="$tmp/restarted.pid"

log() { printf '[chaos %ds] %s\n' $(($(date +%s) - start)) "$*" >&2; }
die() { log "error: $*"; exit 1; }

# stop_server PID stops a redis-server we started, even a frozen one:
# SIGCONT, SIGTERM, and SIGKILL if it is still there after 2 s.
# shellcheck disable=SC2317 # reached from the EXIT trap, through cleanup
stop_server() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || return 0
		# A killed child of this shell stays a zombie until the shell exits.
		if ! ps -o stat= -p "$pid" | grep -qv Z; then
			return 0
		fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached from the EXIT trap
cleanup() {
	# The server the driver restarted last, then the one started here.
	if [ -s "$pidfile" ]; then
		stop_server "$(cat "$pidfile")"
	fi
	if [ -n "$redis_pid" ]; then
		stop_server "$redis_pid"
	fi
	if [ -n "$out" ] && [ -f "$tmp/redis.log" ]; then
		cp "$tmp/redis.log" "$out/redis.log" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$out" ]; then
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
fi

log "compiling the chaos driver"
(cd bench && go build -o "$tmp/chaos" ./cmd/chaos)

# ---------------------------------------------------------------- redis
redis_bin=${CHAOS_REDIS_SERVER:-redis-server}
# shellcheck source=scripts/redis.sh
. "$root/scripts/redis.sh"
ensure_redis_server "$redis_bin" "$tmp/apt.log" || {
	[ -f "$tmp/apt.log" ] && tail -n 20 "$tmp/apt.log" >&2
	die "redis-server is not installed and could not be installed (apt-get needs root)"
}
redis_bin=$(command -v "$redis_bin")

port=$("$tmp/chaos" -freeport)
server=("$redis_bin" --bind 127.0.0.1 --port "$port" --save '' --appendonly no
	--protected-mode yes --daemonize no --logfile "$tmp/redis.log")
"${server[@]}" &
redis_pid=$!
disown "$redis_pid" # the driver kills it: no job notice from this shell
up=0
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$redis_pid" 2>/dev/null || break
	sleep 0.05
done
[ "$up" -eq 1 ] || { cat "$tmp/redis.log" >&2 2>/dev/null || true; die "redis-server did not start on 127.0.0.1:$port"; }
log "redis-server $("$redis_bin" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') is up on 127.0.0.1:$port (pid $redis_pid)"

# ---------------------------------------------------------------- driver
args=(-addr "127.0.0.1:$port" -pid "$redis_pid" -pidfile "$pidfile")
[ "$short" -eq 1 ] && args+=(-short)
[ -n "$out" ] && args+=(-out "$out/chaos.md" -timeline "$out/chaos-timeline.csv" -chart "$out/chaos-timeline.png" -round-charts "$out")
args+=(${extra[@]+"${extra[@]}"})
rc=0
"$tmp/chaos" "${args[@]}" -- "${server[@]}" || rc=$?
log "done (driver exit status $rc)"
exit "$rc"
