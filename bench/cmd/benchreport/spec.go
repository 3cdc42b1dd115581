package main

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
)

// Spec describes how the report presents one scenario.
type Spec struct {
	Bench    string // benchmark name without "Benchmark"
	Title    string
	Question string
	Notes    string
	Metrics  []Metric          // the first is the one the summary sentence is about
	Headline map[string]string // the configurations the headline quotes; see Scenario.Select
}

// Pools with a special role. Every other pool is a peer.
const (
	poolShard    = "shardpool"
	poolBaseline = "baseline"
	poolSync     = "syncpool"
)

// specs lists the scenarios in report order.
var specs = []Spec{
	{
		Bench:    "HotPathGetPut",
		Title:    "Hot path: Get+Put with idle connections",
		Question: "What does a Get+Put cost when an idle connection is available, as cores (GOMAXPROCS, `-cpu`) are added? `RunParallel`, one goroutine per P.",
		Notes:    "With more goroutines than connections (cpu > size) some Gets must wait. On a machine with fewer cores than `cpu`, the extra Ps are time-shared, so the high-cpu columns measure scheduling as much as contention. sync.Pool is a lower bound, not a peer: it has no bound and no lifecycle.",
		Metrics:  []Metric{nsPerOp},
		Headline: map[string]string{"size": "32", "gomaxprocs": "max"},
	},
	{
		Bench:    "ExhaustionWait",
		Title:    "Exhaustion: many more goroutines than connections",
		Question: "With 4×, 16× and 64× PoolSize goroutines (PoolSize 8), each holding its connection for a fixed spin of a few hundred ns, what throughput does the pool sustain, and how long does Get wait (p50, p99, p99.9, max; the max shows starvation)?",
		Notes:    "Latencies are of Get alone, recorded per goroutine in HDR histograms (hdrhistogram-go, 2 significant figures) and merged; each value in the table is the median over runs of that run's percentile. sync.Pool is left out: it never makes anyone wait. Runs must outlast the Go scheduler's 10 ms time slice: in a shorter run one goroutine keeps its P and reuses its own connection without ever waiting, which flatters pools that let a running goroutine barge ahead of queued ones. shardpool does not: once Gets are queued it serves them in arrival order, newcomers included, which bounds the wait but costs a goroutine switch per hand-off.",
		Metrics:  []Metric{opsPerS, p50, p99, p999, maxLat},
		Headline: map[string]string{"goroutines": "max"},
	},
	{
		Bench:    "ChurnGetRemove",
		Title:    "Churn: Get+Remove, a dial on every call",
		Question: "What does throwing a connection away cost (Get, then Remove, so the next Get dials with a cheap fake dialer) as PoolSize grows from 8 to 4096? Half the pool's places are held checked out for the whole run, as in a busy pool.",
		Notes:    "sync.Pool has no bound: its figure is the cost of the dial and close alone, a floor.",
		Metrics:  []Metric{nsPerOp},
		Headline: map[string]string{"size": "max"},
	},
	{
		Bench:    "ReaperSweep",
		Title:    "Reaper: one sweep over 10,000 idle connections",
		Question: "What does one `ReapStaleConns` sweep cost over 10,000 idle connections: when nothing is stale (the usual tick), with IdleTimeout alone (`expiry=idle`) or with MaxConnAge too (`expiry=idle+age`), and when all 10,000 are stale and closed (`stale=all`)?",
		Notes:    "Only shardpool and the baseline take part: they are the only contenders with a reaper. puddle leaves idle expiry to its user (pgxpool runs its own health check on top), and the channel pool and sync.Pool have no connection lifecycle at all. With IdleTimeout alone shardpool's shards are ordered by idle time, so a sweep stops at the first fresh connection; MaxConnAge makes both pools look at every connection.",
		Metrics:  []Metric{nsPerOp},
		Headline: map[string]string{}, // all three: they answer different questions
	},
	{
		Bench:    "ReaperGetPutDuringSweeps",
		Title:    "Reaper: Get+Put while sweeps run",
		Question: "How much do back-to-back sweeps over 10,000 idle connections (MaxConnAge set, so both pools look at every connection) slow Get+Put down? `sweeps=off` is the same pool undisturbed.",
		Notes:    "Latency of one Get+Put, recorded per goroutine in HDR histograms.",
		Metrics:  []Metric{nsPerOp, p99, maxLat},
		Headline: map[string]string{"sweeps": "on"},
	},
	{
		Bench:    "EndToEndRESP",
		Title:    "End to end over TCP: PING, SET, GET",
		Question: "Over loopback TCP, with a small RESP client doing PING, SET and GET in turn on pooled connections (PoolSize 32), what ops/s and p99 latency does each pool give at 1, 16 and 256 goroutines? `server=embedded` is an in-process RESP server; `server=redis` a real redis-server, where the go-redis v9 client (same PoolSize) runs too.",
		Notes:    "Latency is of one command, Get and Put included. sync.Pool is left out: unbounded, it would open a connection per goroutine.",
		Metrics:  []Metric{opsPerS, p99},
		Headline: map[string]string{"goroutines": "max"},
	},
}
