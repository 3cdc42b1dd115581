#!/usr/bin/env bash
# scripts/bench.sh: run the shardpool benchmark comparison and write a report.
#
#   scripts/bench.sh [--quick] [--redis] [--only LIST] [--out DIR] [--compare REF]
#
#   (no flag)      the full run: every scenario, -count 8 (about 20-30 min)
#   --quick        a short run, -count 6 with short -benchtime (under 3 min,
#                  compiling included)
#   --smoke        --quick's scenarios and benchtimes at -count 2: proves
#                  the whole pipeline (builds, redis-server, every scenario,
#                  the report and its charts) in about a minute; its ratios
#                  are not evidence. CI runs this
#   --redis        require the real redis-server scenario; fail if
#                  redis-server cannot be had (default: run it if
#                  redis-server is installed or installable, else skip it
#                  and say so in the report)
#   --only LIST    run only these scenarios (comma-separated: hotpath,
#                  exhaustion, queue, churn, reaper-sweep, reaper-latency,
#                  e2e, v8client), at the mode's count and benchtime
#   --out DIR      the report directory (default: bench-report)
#   --compare REF  instead of the scenarios, benchstat the hot-path
#                  benchmarks of the working tree against git ref REF (built
#                  in a temporary git worktree) and exit 1 on a regression
#                  beyond noise
#
# go-redis's own pools take part too: go-redis v8 (v8.11.5) and v9 (the
# version bench/go.mod requires; --quick runs v9 alone). Their pools are
# internal packages, so the script downloads each module with `go mod
# download`, copies it to a temporary directory, replaces the tests of its
# internal/pool with our driver (bench/testdata/goredis) and builds it in a
# go.work with the bench module. Those pools run the hot-path, exhaustion
# and churn scenarios in rounds alternated with the other pools. A module
# that cannot be fetched or built (an offline machine) is left out, and the
# report says so.
#
# With redis-server, the report also has the row "go-redis v8 client: stock
# pool vs shardpool": go-redis v8's client end to end, on its own pool and
# on the overlay that contrib/goredis writes (its internal/pool backed by
# shardpool), in alternating rounds.
#
# The report directory gets report.md, the charts (PNG), machine.txt and
# raw/, the `go test -bench` output of each scenario. It carries its own
# .gitignore, so it never shows up in git status. Besides the load average,
# machine.txt records a CPU-speed probe (`benchreport cpuprobe`, a fixed
# busy loop timed just before and just after the benchmarks), so that a
# slow period of a shared machine shows in the report. Needs Go;
# redis-server comes from Debian's packages (installed with apt-get when
# running as root).
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/{/^#/p;}' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

mode=full
smoke=0
require_redis=0
out="bench-report"
compare_ref=
only=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) mode=quick ;;
	--smoke) mode=quick smoke=1 ;;
	--redis) require_redis=1 ;;
	--out) [ $# -ge 2 ] || usage 2; out=$2; shift ;;
	--only) [ $# -ge 2 ] || usage 2; only=$2; shift ;;
	--only=*) only=${1#--only=} ;;
	--out=*) out=${1#--out=} ;;
	--compare) [ $# -ge 2 ] || usage 2; compare_ref=$2; shift ;;
	--compare=*) compare_ref=${1#--compare=} ;;
	-h | --help) usage 0 ;;
	*) echo "bench.sh: unknown argument: $1" >&2; usage 2 ;;
	esac
	shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command -v go >/dev/null || { echo "bench.sh: go is not on PATH" >&2; exit 1; }

start=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shardpool-bench.XXXXXX")
redis_pid=
worktree=

cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	if [ -n "$worktree" ]; then
		git -C "$root" worktree remove --force "$worktree" >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fmt_secs prints N seconds as 1m05s.
fmt_secs() {
	local s=$1
	if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}
elapsed() { fmt_secs $(($(date +%s) - start)); }
log() { printf '[bench %s] %s\n' "$(elapsed)" "$*"; }
die() { log "error: $*" >&2; exit 1; }

mkdir -p "$out/raw"
out=$(cd "$out" && pwd)
printf '*\n' >"$out/.gitignore" # the report is an artefact, not source

log "compiling the benchmarks and the report generator"
(cd bench && go build -o "$tmp/benchreport" ./cmd/benchreport && go test -c -o "$tmp/bench.test" .)

# run_bench BINARY RAWFILE LABEL EXPECTED ARGS... runs benchmarks, keeps
# their output in RAWFILE, and prints progress: results so far out of
# EXPECTED, and the time left (this scenario's pace, plus the estimates of
# the scenarios still to come scaled by how the finished ones went).
remaining_est=0   # estimated seconds of the scenarios after this one
rounds_left_est=0 # estimated seconds of this scenario's rounds after the current one
done_est=0      # estimated seconds of the scenarios already run
done_real=0     # what those took
run_bench() {
	local bin=$1 raw=$2 label=$3 expected=$4
	shift 4
	local t0 n=0 now left scale last=0 running=1 rc=0
	t0=$(date +%s)
	{ "$bin" -test.run '^$' -test.timeout 60m "$@" 2>&1 || echo "bench.sh: exit status $?"; } >"$raw.tmp" &
	local pid=$!
	# Follow the output as it grows: look every second, report every 15.
	while [ "$running" -eq 1 ]; do
		sleep 1
		kill -0 "$pid" 2>/dev/null || running=0
		now=$(date +%s)
		[ "$running" -eq 0 ] || [ $((now - last)) -ge 15 ] || continue
		last=$now
		n=$(grep -c '^Benchmark.* ns/op' "$raw.tmp" 2>/dev/null || true)
		left=0
		if [ "$n" -gt 0 ] && [ "$n" -le "$expected" ]; then
			left=$(((now - t0) * (expected - n) / n))
		fi
		scale=100
		[ "$done_est" -gt 0 ] && scale=$((done_real * 100 / done_est))
		left=$((left + (remaining_est + rounds_left_est) * scale / 100))
		printf '[bench %s]   %s: %d/%d results, about %s left in all\n' "$(elapsed)" "$label" "$n" "$expected" "$(fmt_secs "$left")"
	done
	wait "$pid" 2>/dev/null || true
	mv "$raw.tmp" "$raw"
	if grep -q -e '^--- FAIL' -e '^FAIL' -e '^panic:' -e '^bench.sh: exit status' "$raw"; then
		rc=1
	fi
	return "$rc"
}

# ---------------------------------------------------------------- --compare
if [ -n "$compare_ref" ]; then
	git rev-parse --verify --quiet "$compare_ref^{commit}" >/dev/null || die "not a git ref: $compare_ref"
	worktree="$tmp/ref"
	log "checking out $compare_ref in a temporary worktree"
	git worktree add --detach --quiet "$worktree" "$compare_ref"
	# The working tree's benchmarks, built against REF's library.
	rm -rf "$worktree/bench"
	cp -R bench "$worktree/bench"
	(cd "$worktree/bench" && go test -c -o "$tmp/ref.test" .) || die "the benchmarks do not build against $compare_ref"
	if [ "$mode" = quick ]; then
		count=6 benchtime=20ms cpus=1,2
	else
		count=10 benchtime=300ms cpus=1,2,4,8
	fi
	# 6 contenders x 3 sizes per -cpu value (for the progress lines only).
	hot_n=$((18 * $(tr ',' '\n' <<<"$cpus" | wc -l)))
	# Interleave the two builds, one -count at a time, so that drift in the
	# machine's load hits both alike.
	: >"$out/raw/compare-old.txt"
	: >"$out/raw/compare-new.txt"
	for i in $(seq "$count"); do
		log "round $i of $count: $compare_ref, then the working tree"
		run_bench "$tmp/ref.test" "$tmp/old.txt" "$compare_ref" "$hot_n" -test.bench '^BenchmarkHotPathGetPut$' \
			-test.count 1 -test.benchtime "$benchtime" -test.cpu "$cpus" >/dev/null || die "the benchmarks failed on $compare_ref"
		run_bench "$tmp/bench.test" "$tmp/new.txt" "working tree" "$hot_n" -test.bench '^BenchmarkHotPathGetPut$' \
			-test.count 1 -test.benchtime "$benchtime" -test.cpu "$cpus" >/dev/null || die "the benchmarks failed on the working tree"
		cat "$tmp/old.txt" >>"$out/raw/compare-old.txt"
		cat "$tmp/new.txt" >>"$out/raw/compare-new.txt"
	done
	(cd bench && go tool benchstat -col .file "$compare_ref=$out/raw/compare-old.txt" "working-tree=$out/raw/compare-new.txt") | tee "$out/compare.txt"
	if "$tmp/benchreport" compare "$out/raw/compare-old.txt" "$out/raw/compare-new.txt" | tee -a "$out/compare.txt"; then
		log "no hot-path regression against $compare_ref; details in $out/compare.txt"
	else
		log "hot-path REGRESSION against $compare_ref; details in $out/compare.txt"
		exit 1
	fi
	exit 0
fi

# ---------------------------------------------------------------- redis
# shellcheck source=scripts/redis.sh
. "$root/scripts/redis.sh"
notes=()
redis_addr=
redis_bin=${BENCH_REDIS_SERVER:-redis-server} # override to test the fallbacks
start_redis() {
	ensure_redis_server "$redis_bin" "$tmp/apt.log" || return 1
	local port i
	port=$("$tmp/benchreport" freeport)
	"$redis_bin" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--protected-mode yes --daemonize no --logfile "$tmp/redis.log" &
	redis_pid=$!
	for i in $(seq 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			redis_addr=127.0.0.1:$port
			log "redis-server $("$redis_bin" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') is up on $redis_addr (pid $redis_pid)"
			return 0
		fi
		kill -0 "$redis_pid" 2>/dev/null || break
		sleep 0.1 # try $i of 50
	done
	return 1
}
if start_redis; then
	export BENCH_REDIS_ADDR=$redis_addr
else
	[ "$require_redis" -eq 0 ] || die "--redis: redis-server is not installed and could not be installed or started"
	notes+=("The real redis-server scenario was skipped: redis-server is not installed and could not be installed with apt-get (which needs root) or started. The embedded RESP server scenario ran.")
	log "redis-server not available: the real-server scenario is skipped"
	unset BENCH_REDIS_ADDR
fi

# ---------------------------------------------------------------- go-redis
# build_goredis NAME MODULE@VERSION builds the driver for one go-redis pool
# into $tmp/NAME.test (see the header). On failure it adds a note for the
# report and returns 1.
drivers=() # pool names of the drivers built, e.g. go-redis-v9
build_goredis() {
	local name=$1 modver=$2 label=$3 v=${1#go-redis-} dir src err
	src="$tmp/goredis/$v"
	mkdir -p "$tmp/goredis"
	# -json reports a failure on stdout, as an "Error" field.
	go mod download -json "$modver" >"$tmp/goredis/$v.json" 2>&1 || true
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$tmp/goredis/$v.json")
	if [ -z "$dir" ] || [ ! -d "$dir/internal/pool" ]; then
		err=$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' "$tmp/goredis/$v.json" | head -n1)
		[ -n "$err" ] || err=$(head -n1 "$tmp/goredis/$v.json")
		notes+=("$label ($modver) was not run: the module could not be fetched with \`go mod download\` (${err:-no error text}); the report goes on without it.")
		log "$label could not be fetched; it is left out"
		return 1
	fi
	cp -R "$dir" "$src"
	chmod -R u+w "$src"
	rm -f "$src"/internal/pool/*_test.go # their tests (and test-only deps) out, ours in
	cp bench/testdata/goredis/driver_test.go "bench/testdata/goredis/${v}_test.go" "$src/internal/pool/"
	printf 'go %s\n\nuse (\n\t%s\n\t%s\n)\n' "$(go mod edit -json bench/go.mod | sed -n 's/^[[:space:]]*"Go": "\(.*\)",$/\1/p')" \
		"$src" "$root/bench" >"$tmp/goredis/$v.work"
	if ! (cd "$src/internal/pool" && GOWORK="$tmp/goredis/$v.work" go test -c -o "$tmp/$name.test" . 2>"$tmp/goredis/$v.build" &&
		"$tmp/$name.test" -test.run '^TestDriver$' -test.count 1 >>"$tmp/goredis/$v.build" 2>&1); then
		err=$(grep -m1 -v '^#' "$tmp/goredis/$v.build" || true)
		notes+=("$label ($modver) was not run: its driver did not build or failed its check (${err:-no error text}); the report goes on without it.")
		log "$label: the driver did not build or failed its check; it is left out"
		return 1
	fi
	drivers+=("$name")
	log "$label ($modver): driver built"
}
goredis_v9=$(cd bench && go list -m -f '{{.Version}}' github.com/redis/go-redis/v9)
if [ "$mode" = full ]; then
	build_goredis go-redis-v8 github.com/go-redis/redis/v8@v8.11.5 "go-redis v8" || true
else
	notes+=("A --quick run leaves go-redis v8's pool out to stay short; the full run has it.")
fi
build_goredis go-redis-v9 "github.com/redis/go-redis/v9@$goredis_v9" "go-redis v9" || true

# ---------------------------------------------------------------- go-redis v8's client
# The row "go-redis v8 client: stock pool vs shardpool" runs one client,
# go-redis v8.11.5's, on two pools: the bench binary has it on its own
# pool; a second binary is built against the overlay that contrib/goredis
# writes (the same module, its internal/pool an adapter over shardpool), and
# labels its pool shardpool. They run in alternating rounds, on redis-server.
v8_drivers=() # v8-shardpool once built
build_v8_overlay() {
	local dir=$tmp/goredis/v8-overlay err
	mkdir -p "$tmp/goredis"
	if ! (cd contrib/goredis && go run ./cmd/goredis-overlay -out "$dir") >"$tmp/goredis/v8-overlay.log" 2>&1; then
		err=$(grep -m1 -i 'error\|fail' "$tmp/goredis/v8-overlay.log" || tail -n1 "$tmp/goredis/v8-overlay.log")
		notes+=("go-redis v8's client on shardpool was not run: the overlay could not be written (${err:-no error text}); the report goes on without that row.")
		log "the go-redis v8 overlay could not be written; its row is left out"
		return 1
	fi
	printf 'go %s\n\nuse %s\n\nreplace github.com/go-redis/redis/v8 => %s\n' \
		"$(go mod edit -json bench/go.mod | sed -n 's/^[[:space:]]*"Go": "\(.*\)",$/\1/p')" "$root/bench" "$dir" >"$tmp/goredis/v8-overlay.work"
	if ! (cd bench && GOWORK="$tmp/goredis/v8-overlay.work" go test -c -o "$tmp/v8-shardpool.test" \
		-ldflags "-X github.com/shardpool/shardpool/bench.v8Pool=shardpool" .) >>"$tmp/goredis/v8-overlay.log" 2>&1; then
		err=$(grep -m1 -v '^#' "$tmp/goredis/v8-overlay.log" || true)
		notes+=("go-redis v8's client on shardpool was not run: it did not build on the overlay (${err:-no error text}); the report goes on without that row.")
		log "go-redis v8's client did not build on the overlay; its row is left out"
		return 1
	fi
	v8_drivers+=(v8-shardpool)
	log "go-redis v8's client: built on the shardpool overlay"
}
if [ -n "${BENCH_REDIS_ADDR:-}" ]; then
	build_v8_overlay || true
fi

# ---------------------------------------------------------------- scenarios
# name|benchmark|sub-benchmarks|per driver|quick benchtime|full benchtime|quick est s|full est s|extra
#
# Sub-benchmark counts: 6 contenders (shardpool, baseline, puddle, channel,
# channel-untimed, syncpool), 5 of them bounded (all but syncpool), and in
# the hot path a 7th, the floor (bench/pools.go, floorPool). "per
# driver" is what each go-redis pool adds (0: the drivers do not run that
# scenario); the estimates are for the bench module's pools alone.
count=8 hot_cpus=1,2,8,32
# --quick: -count 6, and the hot path at -cpu 2 and 32 only, to stay under
# 3 minutes with the caller=io exhaustion loads.
[ "$mode" = full ] || { count=6; hot_cpus=2,32; }
[ "$smoke" = 0 ] || count=2
ncpu=$(tr ',' '\n' <<<"$hot_cpus" | wc -l)
# e2e: the 5 bounded at 3 goroutine counts on the embedded server, and on
# redis-server the same plus go-redis's 3.
e2e_subs=15
[ -n "${BENCH_REDIS_ADDR:-}" ] && e2e_subs=33
scenarios=(
	"hotpath|HotPathGetPut|$((21 * ncpu))|$((3 * ncpu))|20ms|200ms|23|330|-test.cpu $hot_cpus"
	"exhaustion|ExhaustionWait|35|7|40ms|500ms|45|400|"
	"queue|ExhaustionQueue|3|0|100ms|500ms|3|20|"
	"churn|ChurnGetRemove|24|4|20ms|200ms|5|110|"
	"reaper-sweep|ReaperSweep|6|0|10ms|300ms|6|60|"
	"reaper-latency|ReaperGetPutDuringSweeps|4|0|10ms|500ms|3|30|"
	"e2e|EndToEndRESP|$e2e_subs|0|20ms|600ms|$((e2e_subs))|$((e2e_subs * 8))|"
)
# An idle pool's wake-ups: one 12 s spell per pool (shardpool, and the
# process alone), once, in full runs only (it would be most of --quick).
if [ "$mode" = full ]; then
	scenarios+=("idle|IdleWakeups|2|0|1x|1x|25|25|-test.count 1")
fi
# go-redis v8's client at 3 goroutine counts, stock (the bench binary) and
# on shardpool (its one driver, v8-shardpool).
if [ ${#v8_drivers[@]} -gt 0 ]; then
	scenarios+=("v8client|GoRedisV8Client|3|3|20ms|1s|3|33|")
fi
if [ -n "$only" ]; then
	kept=()
	for s in "${scenarios[@]}"; do
		case ",$only," in *",${s%%|*},"*) kept+=("$s") ;; esac
	done
	[ ${#kept[@]} -gt 0 ] || die "--only $only: no such scenario here (v8client needs redis-server)"
	scenarios=("${kept[@]}")
fi
# drivers_of SCENARIO prints the drivers a scenario's rounds run besides
# the bench binary: go-redis's pools, or for v8client the overlaid client.
drivers_of() {
	if [ "$1" = v8client ]; then echo "${v8_drivers[@]}"; else echo "${drivers[@]+"${drivers[@]}"}"; fi
}
# raw_of SCENARIO [POOL] prints the raw output file of a scenario: the bench
# module's pools, or one go-redis driver's.
raw_of() { echo "$out/raw/$1${2:+-$2}.txt"; }

# scenario_est NAME SUBS DSUBS EST prints a scenario's estimated seconds,
# its drivers included.
scenario_est() {
	local name=$1 subs=$2 dsubs=$3 est=$4 nd
	nd=$(drivers_of "$name" | wc -w)
	est=$((est * (subs + dsubs * nd) / subs))
	# The quick estimates are for -count 6; --smoke runs fewer.
	[ "$smoke" = 0 ] || est=$((est * count / 6))
	echo "$est"
}
total=${#scenarios[@]}
for s in "${scenarios[@]}"; do
	IFS='|' read -r name _ subs dsubs _ _ q f _ <<<"$s"
	if [ "$mode" = quick ]; then f=$q; fi
	remaining_est=$((remaining_est + $(scenario_est "$name" "$subs" "$dsubs" "$f")))
done
log "$mode run: $total scenarios, -count $count, about $(fmt_secs "$remaining_est") of benchmarks"

# The CPU-speed probe and the load average, just before the benchmarks and
# again just after them: a machine that slowed down in between shows in the
# report's header.
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
probe_before=$("$tmp/benchreport" cpuprobe -label before)
log "${probe_before}"

# The exhaustion scenario's latency histograms, every pool's, for the
# report's percentile plots (bench.SaveHistogram).
hdr_log="$out/raw/exhaustion.hlog"
rm -f "$hdr_log"

failed=()
raws=()
i=0
for s in "${scenarios[@]}"; do
	IFS='|' read -r name bench subs dsubs qt ft qe fe extra <<<"$s"
	i=$((i + 1))
	benchtime=$qt est=$qe
	if [ "$mode" = full ]; then benchtime=$ft est=$fe; fi
	est=$(scenario_est "$name" "$subs" "$dsubs" "$est")
	read -r -a sdrivers <<<"$(drivers_of "$name")"
	remaining_est=$((remaining_est - est))
	log "scenario $i of $total: $name (Benchmark$bench, -benchtime $benchtime)"
	t0=$(date +%s)
	if [ "$name" = exhaustion ]; then export BENCH_HDR_LOG=$hdr_log; fi
	ok=1
	if [ "$name" != e2e ] && { [ "$dsubs" -eq 0 ] || [ ${#sdrivers[@]} -eq 0 ]; }; then
		# shellcheck disable=SC2086 # $extra is a list of flags
		run_bench "$tmp/bench.test" "$(raw_of "$name")" "$name" $((subs * count)) \
			-test.bench "^Benchmark$bench\$" -test.count "$count" -test.benchtime "$benchtime" $extra || ok=0
		raws+=("$(raw_of "$name")")
	else
		# Rounds of -count 1, each running the bench module's pools and
		# then every go-redis driver, so that a drift in the machine's
		# speed hits all pools alike. The end-to-end scenario runs in
		# rounds too, and rotates its pools' order by $BENCH_ROUND, so
		# that no pool always follows the same one.
		pools=("" "${sdrivers[@]}") # "" is the bench module's binary
		[ "$dsubs" -gt 0 ] || pools=("")
		for pool in "${pools[@]}"; do : >"$(raw_of "$name" "$pool")"; done
		for r in $(seq "$count"); do
			rounds_left_est=$((est * (count - r) / count))
			export BENCH_ROUND=$r
			for pool in "${pools[@]}"; do
				bin=$tmp/bench.test n=$subs
				[ -z "$pool" ] || bin=$tmp/$pool.test n=$dsubs
				# shellcheck disable=SC2086 # $extra is a list of flags
				run_bench "$bin" "$tmp/round.txt" "$name, round $r of $count${pool:+, $pool}" "$n" \
					-test.bench "^Benchmark$bench\$" -test.count 1 -test.benchtime "$benchtime" $extra || ok=0
				cat "$tmp/round.txt" >>"$(raw_of "$name" "$pool")"
			done
		done
		rounds_left_est=0
		unset BENCH_ROUND
		for pool in "${pools[@]}"; do raws+=("$(raw_of "$name" "$pool")"); done
	fi
	unset BENCH_HDR_LOG
	if [ "$ok" -eq 0 ]; then
		failed+=("$name")
		notes+=("Scenario $name had failures; see raw/$name*.txt.")
		log "scenario $name had failures (see $out/raw/$name*.txt); going on"
	fi
	done_est=$((done_est + est))
	done_real=$((done_real + $(date +%s) - t0))
done

probe_after=$("$tmp/benchreport" cpuprobe -label after)
load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
log "${probe_after}"

# ---------------------------------------------------------------- report
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- . ':!bench' ':!scripts/bench.sh' ':!docs/bench' 2>/dev/null)" ]; then
	diff_id=$(git diff HEAD -- . ':!bench' ':!scripts/bench.sh' ':!docs/bench' | sha256sum | cut -c1-12)
	commit="$commit plus uncommitted library changes (diff sha256 $diff_id)"
fi
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(hostname 2>/dev/null || echo unknown)"
	echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)"
	echo "nproc: $(nproc)"
	echo "GOMAXPROCS: ${GOMAXPROCS:-$(nproc) (default)}; hot path: -cpu $hot_cpus"
	echo "Go: $(go version | sed 's/^go version //')"
	echo "kernel: $(uname -sr)"
	echo "commit: $commit"
	echo "mode: $mode, -count $count"
	echo "load average at start: $load_start"
	echo "$probe_before"
	echo "load average at end: $load_end"
	echo "$probe_after"
	echo "redis-server: $([ -n "${BENCH_REDIS_ADDR:-}" ] && "$redis_bin" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p' || echo 'not run')"
	echo "duration: $(elapsed)"
} >"$out/machine.txt"
note_args=()
for n in "${notes[@]+"${notes[@]}"}"; do note_args+=(-note "$n"); done
if [ -s "$hdr_log" ]; then note_args+=(-hdr "$hdr_log"); fi
"$tmp/benchreport" report -out "$out" -machine "$out/machine.txt" "${note_args[@]+"${note_args[@]}"}" "${raws[@]}"
log "report: $out/report.md"
if [ ${#failed[@]} -gt 0 ]; then
	log "failed scenarios: ${failed[*]}"
	exit 1
fi
log "done"
