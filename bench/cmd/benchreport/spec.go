package main

import "sort"

// Metric is one measurement a scenario reports.
type Metric struct {
	Unit         string // as written by the benchmark: ns/op, ops/s, p99-ns
	Title        string
	HigherBetter bool
}

var (
	nsPerOp = Metric{"ns/op", "time per op", false}
	opsPerS = Metric{"ops/s", "throughput", true}
	p50     = Metric{"p50-ns", "p50 latency", false}
	p99     = Metric{"p99-ns", "p99 latency", false}
	p999    = Metric{"p999-ns", "p99.9 latency", false}
	maxLat  = Metric{"max-ns", "max latency", false}

	sweepsPerS = Metric{"sweeps/s", "sweeps per second", true}

	waited = Metric{"waited-%", "share of Gets that waited", false}
	queued = Metric{"queued-%", "share of Gets that queued (the load's saturation, not a score)", false}

	wakeFirst = Metric{"wakeups-first-2s", "process wake-ups in the 2 s after the last Get", false}
	wakeIdle  = Metric{"wakeups/10s", "process wake-ups per 10 s once quiet", false}
	queueP50  = Metric{"queue-p50-ns", "p50 wait in the queue", false}
	queueP99  = Metric{"queue-p99-ns", "p99 wait in the queue", false}
	queue999  = Metric{"queue-p999-ns", "p99.9 wait in the queue", false}
	queueMax  = Metric{"queue-max-ns", "max wait in the queue", false}
)

// Spec describes how the report presents one scenario.
type Spec struct {
	Bench    string // benchmark name without "Benchmark"
	Title    string
	Question string
	Notes    string
	Metrics  []Metric // the first is the one the summary sentence is about
	// Info are metrics that describe the load rather than rank the pools
	// (how many Gets queued): tables show their medians, and nothing
	// compares them, counts them as a loss or quotes them in a verdict.
	Info     []Metric
	Headline map[string]string // the configurations the headline quotes; see Scenario.Select
	// Own marks a scenario that shows shardpool's own figures rather than
	// a contest (what its hooks see, how often it wakes): it stays out of
	// the headline, and its verdict, led by OwnLead ("What the hooks see"
	// when empty), quotes its figures.
	Own     bool
	OwnLead string
}

// Pools with a special role, or that the report explains. Every other pool
// is a peer.
const (
	poolShard          = "shardpool"
	poolBaseline       = "baseline"
	poolPuddle         = "puddle"
	poolChannel        = "channel"
	poolChannelUntimed = "channel-untimed"
	poolGoRedisV8      = "go-redis-v8"
	poolGoRedisV9      = "go-redis-v9"
	poolGoRedis        = "go-redis"
	poolSync           = "syncpool"
	poolFloor          = "floor"
	poolNone           = "none"
)

// Role is the part a pool plays in the comparison.
type Role int

const (
	// RoleSubject is shardpool, the pool the report is about.
	RoleSubject Role = iota
	// RoleBaseline is the pool every ratio is taken against.
	RoleBaseline
	// RolePeer is a real alternative: the best of them at each
	// configuration is the "best peer".
	RolePeer
	// RoleLowerBound is a pool shown beside the others but never counted
	// as the best peer, because it skips work the others do (sync.Pool's
	// bound and lifecycle, channel-untimed's bound on a wait): its figures bound
	// what a pool can do, they are not a like-for-like result.
	RoleLowerBound
)

// PoolInfo is how the report presents one contender.
type PoolInfo struct {
	Name  string // the value of pool= in benchmark names
	Label string // table columns and chart legends
	Role  Role
	// Ref is how verdicts name a lower bound ("" for the other roles).
	Ref string
	// About is the pool's line in the report's list of contenders.
	About string
}

// pools lists the known contenders in report order: tables, charts and
// the list of contenders show them so. A pool not listed is a peer, shown
// after the listed peers and before the lower bounds.
var pools = []PoolInfo{
	{Name: poolShard, Label: poolShard, Role: RoleSubject,
		About: "`shardpool.ConnPool`, per-P shards; a wait is bounded by PoolTimeout (10 s)."},
	{Name: poolBaseline, Label: poolBaseline, Role: RoleBaseline,
		About: "`baseline.ConnPool`, go-redis v8's design: a slice and a mutex, a channel of turns; a wait is bounded by PoolTimeout (10 s), with a timer per wait."},
	{Name: poolPuddle, Label: poolPuddle, Role: RolePeer,
		About: "`github.com/jackc/puddle/v2`, the pool under pgx. It bounds a wait only by the caller's context, which has no deadline in these scenarios, so it waits without a timer."},
	{Name: poolChannel, Label: "channel (timed)", Role: RolePeer,
		About: "a hand-rolled pool: a buffered channel of idle connections and a channel of places as the bound. A wait is bounded by a 10 s timer, as shardpool's and the baseline's waits are bounded by PoolTimeout; the timers are pooled, so a wait allocates nothing. This is the channel pool the verdicts mean by `channel`."},
	{Name: poolChannelUntimed, Label: "channel-untimed (no wait timer; lower bound)", Role: RoleLowerBound,
		Ref:   "channel-untimed, the lower bound that waits without a timer",
		About: "the same channel pool waiting without a timer, so without a bound: it skips the timer `channel` arms and stops on every wait, the price of bounding a wait that shardpool and the baseline pay in their own ways. Its wait figures are a lower bound for a channel pool, not a like-for-like peer. It is never counted as the best peer; verdicts quote it apart."},
	{Name: poolGoRedisV8, Label: "go-redis v8", Role: RolePeer,
		About: "go-redis v8's own pool (`github.com/go-redis/redis/v8` v8.11.5, `internal/pool`), run by our driver inside a copy of the module (bench/testdata/goredis): PoolSize as the others, PoolTimeout 10 s, no idle expiry and no reaper; a slice and a mutex, a channel of turns, a timer per wait. The baseline reimplements this design. Its pool wraps each new connection with 4 KiB read and write buffers (bufio), which churn pays for on every dial."},
	{Name: poolGoRedisV9, Label: "go-redis v9", Role: RolePeer,
		About: "go-redis v9's own pool (`github.com/redis/go-redis/v9`, `internal/pool`, at the version bench/go.mod requires), run the same way: PoolSize as the others, PoolTimeout 10 s, no idle expiry, everything else at the v9 client's defaults (5 s dial timeout, MaxConcurrentDials = PoolSize, 32 KiB read and write buffers per connection, which churn pays for on every dial) and its health check on each idle connection handed out, which on these in-memory connections (not `syscall.Conn`s) is a SetDeadline call and a type assertion, and on TCP adds a non-blocking recv syscall. Each new connection is moved to IDLE as the client does after its handshake (the handshake itself, network work, is left out as for every pool)."},
	{Name: poolGoRedis, Label: "go-redis v9 client", Role: RolePeer,
		About: "the `github.com/redis/go-redis/v9` client with its own pool (same PoolSize), end to end on the real redis-server only."},
	{Name: poolFloor, Label: "floor (per-P atomic slot; the limit)", Role: RoleLowerBound,
		Ref:   "the floor, one atomic slot per P and nothing else",
		About: "the least a bounded per-P pool must do on its hot path, in the hot path only: one atomic slot per P, found by the P's id as shardpool finds its shard, a Swap to take the connection and a CompareAndSwap to give it back (bench/pools.go, floorPool). No bound, no waiting, no misuse checks, no expiry, no stats: not a pool, but the limit that shardpool's design can approach on the machine at hand; locked instructions cost several times more on some VMs than on others, and this yardstick moves with them where sync.Pool's does not. Never counted as a peer."},
	{Name: poolNone, Label: "no pool (the process alone)", Role: RoleLowerBound,
		Ref:   "the process alone, without a pool",
		About: "no pool at all, in the idle-wake-ups scenario only: the Go runtime's own wake-ups while the process sleeps, which a pool's come on top of."},
	{Name: poolSync, Label: "syncpool (lower bound)", Role: RoleLowerBound,
		Ref:   "syncpool, the lower bound with neither bound nor lifecycle",
		About: "`sync.Pool`: unbounded and without lifecycle, the per-P floor of what a pool can cost; a lower bound, never counted as a peer."},
}

// poolInfo returns how the report presents pool, with a peer's defaults for
// a pool it does not know.
func poolInfo(pool string) PoolInfo {
	for _, pi := range pools {
		if pi.Name == pool {
			return pi
		}
	}
	return PoolInfo{Name: pool, Label: pool, Role: RolePeer}
}

// poolRank orders pools as the pools table does; a pool not listed there
// comes just before syncpool, last of all.
func poolRank(pool string) int {
	for i, pi := range pools {
		if pi.Name == pool {
			return 2 * i
		}
	}
	for i, pi := range pools {
		if pi.Name == poolSync {
			return 2*i - 1
		}
	}
	return 2 * len(pools)
}

// sortPools returns a copy of list in report order.
func sortPools(list []string) []string {
	out := append([]string(nil), list...)
	sort.SliceStable(out, func(i, j int) bool { return poolRank(out[i]) < poolRank(out[j]) })
	return out
}

// specs lists the scenarios in report order.
var specs = []Spec{
	{
		Bench:    "HotPathGetPut",
		Title:    "Hot path: Get+Put with idle connections",
		Question: "What does a Get+Put cost when an idle connection is available, as cores (GOMAXPROCS, `-cpu`) are added? `RunParallel`, one goroutine per P.",
		Notes:    "With more goroutines than connections (cpu > size) some Gets must wait. On a machine with fewer cores than `cpu`, the extra Ps are time-shared, so the high-cpu columns measure scheduling as much as contention. sync.Pool is a lower bound, not a peer: it has no bound and no lifecycle. The floor (one atomic slot per P, a Swap and a CompareAndSwap) is the limit of a per-P pool on this machine; the summary gives shardpool's ratio to it. `channel` and `channel-untimed` differ only in a Get that must wait (a timer or none), so only where cpu > size.",
		Metrics:  []Metric{nsPerOp},
		Headline: map[string]string{"size": "32", "gomaxprocs": "max"},
	},
	{
		Bench:    "ExhaustionWait",
		Title:    "Exhaustion: many more goroutines than connections",
		Question: "With 4×, 16× and 64× PoolSize goroutines (PoolSize 8), each holding its connection across a round trip to a loopback TCP peer (`caller=io`, the headline) or for a fixed spin of a few hundred ns (`caller=spins`), what throughput does the pool sustain, and how long does a caller spend in the pool per use, Get and Put together (p50, p99, p99.9, max; the max shows starvation)?",
		Notes: "Latencies are of Get plus Put (so a pool cannot move its waiting from Get into Put unseen), recorded per goroutine in HDR histograms (hdrhistogram-go, 2 significant figures) and merged; each value in the table is the median over runs of that run's percentile. sync.Pool is left out: it never makes anyone wait. Runs must outlast the Go scheduler's 10 ms time slice: in a shorter run one goroutine keeps its P and reuses its own connection without ever waiting, which flatters pools that let a running goroutine barge ahead of queued ones. shardpool does not: once Gets are queued it serves them in arrival order, newcomers included, which bounds the wait but costs a goroutine switch per hand-off. Two channel pools take part: `channel` bounds each wait by a 10 s timer, as shardpool and the baseline bound theirs by PoolTimeout, and is the one counted among the peers; `channel-untimed` is the same pool waiting without a timer, so it skips the price of bounding a wait (`channel` arms and stops a runtime timer on each wait; shardpool and the baseline pay for their PoolTimeout in their own ways). Its figures are a lower bound for a channel pool, not a like-for-like peer: it is never the best peer, and verdicts quote it apart. puddle waits without a timer too (only the caller's context, which has no deadline here, bounds its wait). " +
			"`caller=io` is what saturates a real pool: each use holds its connection while the caller is parked off the CPU, waiting for a one-byte echo from an in-process loopback TCP peer (its own connection per caller, made before the timed run). The peer's echo work shares the 2 cores with the callers, as a local server would; a timer would model the wait without that work, but a 20–50 µs sleep takes about 1 ms on these VMs when the Ps are idle, so it would measure the timer. Nearly every Get queues there (the queued table below), and the round trip, not the pool, sets the throughput: expect the pools to tie on it and to differ in how fairly they share the wait. " +
			"`caller=spins`: each use of a connection is pure CPU work, so with 2 cores at most 2 callers hold connections at once and few Gets queue at 4× (see the queued table). There the max is mostly the scheduler's: a goroutine that the pool never blocks keeps its P until it is preempted (every 10 ms), and with 32 to 512 runnable goroutines on a few Ps a goroutine preempted mid-Get or mid-Put waits for the others' time slices, tens of ms, before it finishes. Pools that block their callers on a lock or a semaphore more often (go-redis v9, puddle) send goroutines off the CPU sooner, so their run queues turn over faster and their max is lower, at the price of throughput. `caller=yields` (16× only) is the same load with a `runtime.Gosched` after each Put, as a caller that waits on network I/O leaves its P: there the max shows the pool, not the time slice.",
		Metrics:  []Metric{opsPerS, p50, p99, p999, maxLat},
		Info:     []Metric{queued},
		Headline: map[string]string{"goroutines": "max", "caller": "io|spins"},
	},
	{
		Bench:    "ExhaustionQueue",
		Title:    "Exhaustion: shardpool's queue, from its hooks",
		Question: "In the exhaustion scenario above, how many of shardpool's Gets queue, and how long do they wait in the queue, from queueing to being handed a connection? A `Hooks.OnWait` records every wait into HDR histograms.",
		Notes:    "shardpool alone, in its own run, so that the hook's cost (one uncontended histogram record per wait) stays out of the comparison above. The queue percentiles are of the Gets that waited; the rest took an idle connection at once. Set against the caller's Get+Put percentiles above, they show how much of a caller's time in the pool is queueing for its turn and how much is the hand-off itself.",
		Metrics:  []Metric{waited, queueP50, queueP99, queue999, queueMax},
		Own:      true,
	},
	{
		Bench:    "ChurnGetRemove",
		Title:    "Churn: Get+Remove, a dial on every call",
		Question: "What does throwing a connection away cost (Get, then Remove, so the next Get dials with a cheap fake dialer) as PoolSize grows from 8 to 4096? Half the pool's places are held checked out for the whole run, as in a busy pool.",
		Notes:    "sync.Pool has no bound: its figure is the cost of the dial and close alone, a floor. No Get waits here (half the places stay free), so `channel` and `channel-untimed` run the same code. shardpool alone bounds each dial (Options.DialTimeout, 5 s by default): it hands the Dialer a context with a deadline, about 70 ns and one allocation per dial with this fake Dialer, which never asks for Done; the others leave dial timeouts to the Dialer, so they skip that work here. Against a real dial (tens of µs on loopback TCP) it is under 1%.",
		Metrics:  []Metric{nsPerOp},
		Headline: map[string]string{"size": "max"},
	},
	{
		Bench:    "ReaperSweep",
		Title:    "Reaper: one sweep over 10,000 idle connections",
		Question: "What does one `ReapStaleConns` sweep cost over 10,000 idle connections: when nothing is stale (the usual tick), with IdleTimeout alone (`expiry=idle`) or with MaxConnAge too (`expiry=idle+age`), and when all 10,000 are stale and closed (`stale=all`)?",
		Notes:    "Only shardpool and the baseline take part: of the bench module's contenders, they are the only ones with a reaper. go-redis v8's own pool has one too (`reaper` and `ReapStaleConns`), which the baseline reimplements, so the baseline stands in for it here; v9's pool has none (it judges idle time when Get meets a connection). puddle leaves idle expiry to its user (pgxpool runs its own health check on top), and the channel pools and sync.Pool have no connection lifecycle at all. With IdleTimeout alone shardpool's shards are ordered by idle time, so a sweep stops at the first fresh connection; MaxConnAge makes both pools look at every connection.",
		Metrics:  []Metric{nsPerOp},
		Headline: map[string]string{}, // all three: they answer different questions
	},
	{
		Bench:    "ReaperGetPutDuringSweeps",
		Title:    "Reaper: Get+Put while sweeps run",
		Question: "How much do back-to-back sweeps over 10,000 idle connections (MaxConnAge set, so both pools look at every connection) slow Get+Put down? `sweeps=off` is the same pool undisturbed.",
		Notes:    "Latency of one Get+Put, recorded per goroutine in HDR histograms. The sweeper and the benchmark's goroutines are all busy on the CPU, so on a machine with few cores the max is mostly the scheduler's: a goroutine preempted while the sweeper runs waits until it yields its P. shardpool's reaper yields after each millisecond of sweeping, the baseline's sweep blocks Gets on its mutex, which sends them off the CPU; `sweeps/s` shows how much sweeping each pool did meanwhile (sweeps=on only), since a reaper that yielded more would disturb less by sweeping less.",
		Metrics:  []Metric{nsPerOp, p99, maxLat, sweepsPerS},
		Headline: map[string]string{"sweeps": "on"},
	},
	{
		Bench:    "EndToEndRESP",
		Title:    "End to end over TCP: PING, SET, GET",
		Question: "Over loopback TCP, with a small RESP client doing PING, SET and GET in turn on pooled connections (PoolSize 32), what ops/s and p99 latency does each pool give at 1, 16 and 256 goroutines? `server=embedded` is an in-process RESP server; `server=redis` a real redis-server, where the go-redis v9 client (same PoolSize) runs too.",
		Notes:    "Latency is of one command, Get and Put included. sync.Pool is left out: unbounded, it would open a connection per goroutine. At 256 goroutines most Gets wait: `channel` bounds that wait with a timer, as shardpool and the baseline bound theirs, `channel-untimed` does not (a lower bound, not counted as a peer). How the contenders ran:\n\n| contender | order in a round | between runs | background goroutines while the load runs |\n|---|---|---|---|\n| all | rotated: round r starts at contender r (`$BENCH_ROUND`; before 2026-12-05, `-count 8` ran each contender's runs back to back in one fixed order) | 50 ms idle (100 ms until 2026-12-05's run), the previous run's connections closed | the load's goroutines, the same RESP client (RESPConn), PoolSize 32, loopback TCP with Go's defaults (TCP_NODELAY) |\n| shardpool | | | its coarse clock, ticking every 15.6 ms while Gets come (HealthCheckIdle's default 1 s makes it run); no reaper |\n| baseline, puddle, channel, channel-untimed | | | none |\n| go-redis v9 client (redis-server only) | last, after the pools | as the pools | its own pool's, at the client's defaults |\n\nWhy the order rotates: in the Intel VM runs (2026-11-26 r3 and r4, 2026-11-27) shardpool alone served one goroutine on redis-server about 2× faster (23.6k against 11.1–13.5k ops/s). There each contender's eight runs came back to back in one fixed order, so shardpool's always followed the embedded server's runs, with redis-server idle for seconds, while every other pool's (and go-redis's) followed a 256-goroutine run on redis-server; the other difference is shardpool's clock, which wakes the process a few hundred times a second while Gets come (the idle-pool section counts it). On the AMD VM of the 2026-12-04 and later runs the five pools tie at one goroutine (23.2k against 22.1–23.2k ops/s in the first 2026-12-05 run), so neither shows there; with the order rotated and a settle before every run, a pool can no longer owe its figure to its place.",
		Metrics:  []Metric{opsPerS, p99},
		Headline: map[string]string{"goroutines": "max"},
	},
	{
		Bench:    "IdleWakeups",
		Title:    "An idle pool: how often it wakes the process",
		Question: "After a burst of 1,000 Gets and Puts, nobody uses the pool: how many times is the process woken (context switches, all threads, from getrusage) in the 2 s after the last Get, and then per 10 s? shardpool with IdleTimeout 5 min, its reaper every minute and health checks after the default second idle; `none` is the process alone.",
		Notes:    "shardpool's coarse clock ticks every 15.6 ms (1/64 of the shortest of HealthCheckIdle, IdleTimeout and MaxConnAge) while Gets come; once a second it asks whether any came, and at the first check that finds none it goes dormant until the next Get. Each tick wakes the process's threads several times over (a timer's goroutine becoming runnable wakes an idle P's thread too), which the first column counts; the second is the promise: once quiet, an idle pool adds at most about one wake-up a second (its reaper, here once a minute) to the runtime's own. One spell per run, one run: the counts are small integers, not medians.",
		Metrics:  []Metric{wakeIdle, wakeFirst},
		Own:      true,
		OwnLead:  "What it measured",
	},
	{
		Bench:    "GoRedisV8Client",
		Title:    "go-redis v8 client: stock pool vs shardpool",
		Question: "Does go-redis v8's own client (v8.11.5) serve as well on shardpool as on its own pool? The same client code runs PING, SET and GET in turn on the real redis-server at 1, 16 and 256 goroutines (the commands and counts of the end-to-end scenario, PoolSize 32, the client's other options at their defaults): `go-redis v8` is the stock module, `shardpool` the overlay that contrib/goredis writes, the same module with its internal/pool an adapter over shardpool.",
		Notes:    "Two binaries, one per pool, run in alternating rounds. Latency is of one command as the client sees it, pool included. On the overlay the client keeps its reader and writer per connection in shardpool's Conn.Value, and the pool checks connections idle for a second or more before handing them out (shardpool's default), which on this load never happens.",
		Metrics:  []Metric{opsPerS, p99},
		Headline: map[string]string{"goroutines": "max"},
	},
}
