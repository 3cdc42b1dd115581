package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"
	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/baseline"
)

// Every scenario below is a benchmark named after the question it answers.
// Sub-benchmark keys (pool=, size=, ...) are what the report groups by.

// The scenarios that the go-redis drivers run too (hot path, exhaustion,
// churn) live in scenarios.go, so that every pool runs the same code.

// BenchmarkHotPathGetPut runs HotPathGetPut on every contender.
func BenchmarkHotPathGetPut(b *testing.B) { HotPathGetPut(b, Contenders()) }

// BenchmarkExhaustionWait runs ExhaustionWait on every bounded contender.
func BenchmarkExhaustionWait(b *testing.B) { ExhaustionWait(b, Contenders()) }

// BenchmarkChurnGetRemove runs ChurnGetRemove on every contender.
func BenchmarkChurnGetRemove(b *testing.B) { ChurnGetRemove(b, Contenders()) }

// reaperConns is how many idle connections the reaper scenarios sweep.
const reaperConns = 10_000

// reaperPool is a pool with go-redis's ReapStaleConns. Only shardpool and the
// baseline have one: puddle leaves idle expiry to its user (pgxpool does it
// on top), and the channel pool and sync.Pool have no lifecycle at all.
type reaperPool interface {
	shardpool.Pooler
	ReapStaleConns() (int, error)
}

type reaperContender struct {
	name string
	new  func(*shardpool.Options) reaperPool
}

var reaperContenders = []reaperContender{
	{NameShardpool, func(o *shardpool.Options) reaperPool { return shardpool.NewConnPool(o) }},
	{NameBaseline, func(o *shardpool.Options) reaperPool { return baseline.NewConnPool(o) }},
}

// fillReaper makes p hold n idle connections.
func fillReaper(ctx context.Context, p reaperPool, n int) error {
	return Fill(ctx, newPoolerAdapter(p), n)
}

// BenchmarkReaperSweep asks: what does one ReapStaleConns sweep over 10,000
// idle connections cost? stale=none is the usual tick (nothing to close),
// with IdleTimeout alone (expiry=idle) and with MaxConnAge too
// (expiry=idle+age, which makes every connection a candidate); stale=all
// closes all 10,000 (the pool is refilled, off the clock, before each
// sweep).
func BenchmarkReaperSweep(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name      string
		idle, age time.Duration
	}{
		{"expiry=idle/stale=none", time.Hour, 0},
		{"expiry=idle+age/stale=none", time.Hour, time.Hour},
		{"expiry=idle/stale=all", time.Millisecond, 0},
	}
	for _, rc := range reaperContenders {
		for _, tc := range cases {
			b.Run("pool="+rc.name+"/"+tc.name, func(b *testing.B) {
				p := rc.new(&shardpool.Options{
					Dialer: FakeDial, PoolSize: reaperConns, PoolTimeout: PoolTimeout,
					IdleTimeout: tc.idle, MaxConnAge: tc.age,
				})
				defer func() { _ = p.Close() }()
				allStale := tc.idle < time.Second
				if !allStale {
					if err := fillReaper(ctx, p, reaperConns); err != nil {
						b.Fatal(err)
					}
				}
				reaped := 0
				b.ResetTimer()
				for range b.N {
					if allStale {
						b.StopTimer()
						if err := fillReaper(ctx, p, reaperConns); err != nil {
							b.Fatal(err)
						}
						time.Sleep(2*tc.idle + time.Millisecond) // let them all go stale
						b.StartTimer()
					}
					n, err := p.ReapStaleConns()
					if err != nil {
						b.Fatal(err)
					}
					reaped += n
				}
				b.ReportMetric(float64(reaped)/float64(b.N), "reaped/op")
			})
		}
	}
}

// BenchmarkReaperGetPutDuringSweeps asks: how much do sweeps over 10,000
// idle connections slow Get+Put down? With sweeps=on, a goroutine runs
// ReapStaleConns back to back (with MaxConnAge set, so both pools look at
// every idle connection); sweeps=off is the same pool undisturbed. Reports
// ns/op, the latency percentiles of one Get+Put, and with sweeps=on how many
// sweeps ran per second: a reaper that yielded its P until it starved would
// show there.
func BenchmarkReaperGetPutDuringSweeps(b *testing.B) {
	ctx := context.Background()
	for _, rc := range reaperContenders {
		for _, sweeps := range []bool{false, true} {
			name := fmt.Sprintf("pool=%s/sweeps=%s", rc.name, map[bool]string{false: "off", true: "on"}[sweeps])
			b.Run(name, func(b *testing.B) {
				p := rc.new(&shardpool.Options{
					Dialer: FakeDial, PoolSize: reaperConns, PoolTimeout: PoolTimeout,
					IdleTimeout: time.Hour, MaxConnAge: time.Hour,
				})
				defer func() { _ = p.Close() }()
				if err := fillReaper(ctx, p, reaperConns); err != nil {
					b.Fatal(err)
				}
				stop := make(chan struct{})
				var sweeper sync.WaitGroup
				swept := 0 // written by the sweeper, read after sweeper.Wait
				if sweeps {
					sweeper.Add(1)
					go func() {
						defer sweeper.Done()
						for {
							select {
							case <-stop:
								return
							default:
								_, _ = p.ReapStaleConns()
								swept++
							}
						}
					}()
				}
				var mu sync.Mutex
				total := NewLatencyHistogram()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					hist := NewLatencyHistogram()
					for pb.Next() {
						t0 := time.Now()
						cn, err := p.Get(ctx)
						if err != nil {
							b.Error(err)
							return
						}
						p.Put(cn)
						Record(hist, time.Since(t0))
					}
					mu.Lock()
					total.Merge(hist)
					mu.Unlock()
				})
				b.StopTimer()
				close(stop)
				sweeper.Wait()
				ReportLatency(b, total, "")
				if sweeps {
					b.ReportMetric(float64(swept)/b.Elapsed().Seconds(), "sweeps/s")
				}
			})
		}
	}
}

// e2ePoolSize is the PoolSize of every pool in the end-to-end scenario,
// go-redis's included.
const e2ePoolSize = 32

// e2eSettle is the idle spell before every end-to-end run, so that each
// starts from the same state whatever ran before it.
const e2eSettle = 50 * time.Millisecond

// settle idles for e2eSettle before a sub-benchmark's first trial (b.N is
// 1 only there): the testing package calls a benchmark again with growing
// b.N, and only the first call follows another sub-benchmark.
func settle(b *testing.B) {
	if b.N == 1 {
		time.Sleep(e2eSettle)
	}
}

// benchRound returns $BENCH_ROUND, the round scripts/bench.sh is in (0
// when unset or not a number).
func benchRound() int {
	r, _ := strconv.Atoi(os.Getenv("BENCH_ROUND"))
	return max(r, 0)
}

// boundedContenders returns the contenders that bound their connections.
func boundedContenders() []Contender {
	var out []Contender
	for _, c := range Contenders() {
		if c.Bounded {
			out = append(out, c)
		}
	}
	return out
}

// rotated returns cs starting at element r (mod len), the rest in order.
func rotated(cs []Contender, r int) []Contender {
	if len(cs) == 0 {
		return cs
	}
	r %= len(cs)
	return append(append([]Contender(nil), cs[r:]...), cs[:r]...)
}

// RedisAddrEnv names the environment variable that gives the address of a
// real redis-server (on 127.0.0.1) for the end-to-end scenario.
const RedisAddrEnv = "BENCH_REDIS_ADDR"

// BenchmarkEndToEndRESP asks: over real TCP, with a small RESP client doing
// PING, SET and GET in turn, what ops/s and p99 latency does each pool give
// at 1, 16 and 256 goroutines? server=embedded is an in-process RESP server
// on 127.0.0.1; server=redis is a real redis-server at $BENCH_REDIS_ADDR
// (skipped when unset), where the go-redis v9 client runs too. sync.Pool is
// left out: unbounded, it would open a connection per goroutine.
//
// Order is part of the harness: a run that follows a 256-goroutine run on
// the same server meets another machine (CPU placement, the server's
// state) than one that follows a quiet spell. So the contenders' order
// rotates with $BENCH_ROUND (scripts/bench.sh runs this scenario in rounds
// of -count 1, round r starting at contender r), and every run starts
// after the same settle (e2eSettle), idle, with the previous run's
// connections closed.
func BenchmarkEndToEndRESP(b *testing.B) {
	servers := []struct{ name, addr string }{}
	srv, err := StartRESPServer()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	servers = append(servers, struct{ name, addr string }{"embedded", srv.Addr()})
	if addr := os.Getenv(RedisAddrEnv); addr != "" {
		if err := CheckLoopback(addr); err != nil {
			b.Fatal(err)
		}
		servers = append(servers, struct{ name, addr string }{"redis", addr})
	}
	for _, s := range servers {
		dial, err := RESPDialer(s.addr)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range rotated(boundedContenders(), benchRound()) {
			for _, g := range []int{1, 16, 256} {
				b.Run(fmt.Sprintf("server=%s/pool=%s/goroutines=%d", s.name, c.Name, g), func(b *testing.B) {
					settle(b)
					p := c.New(Config{Size: e2ePoolSize, Dial: dial})
					defer p.Close()
					runRESP(b, g, pooledRESP(p))
				})
			}
		}
		if s.name != "redis" {
			continue
		}
		for _, g := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("server=%s/pool=go-redis/goroutines=%d", s.name, g), func(b *testing.B) {
				settle(b)
				client := redis.NewClient(&redis.Options{Addr: s.addr, PoolSize: e2ePoolSize, DisableIdentity: true})
				defer func() { _ = client.Close() }()
				runRESP(b, g, goRedisRESP(client))
			})
		}
	}
}

// respOps runs one of PING, SET and GET (by step) with a client.
type respOps func(ctx context.Context, step int, key, value []byte) error

// runRESP warms the client up with e2ePoolSize concurrent PINGs, then runs
// b.N commands (PING, SET, GET in turn, on a key per goroutine) from g
// goroutines, and reports ops/s and the latency of one command, pool
// included.
func runRESP(b *testing.B, g int, do respOps) {
	ctx := context.Background()
	var warm sync.WaitGroup
	errs := make(chan error, e2ePoolSize)
	for range e2ePoolSize {
		warm.Add(1)
		go func() {
			defer warm.Done()
			errs <- do(ctx, 0, nil, nil)
		}()
	}
	warm.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	keys := make([][]byte, g)
	steps := make([]int, g)
	for i := range keys {
		keys[i] = []byte("bench:key:" + strconv.Itoa(i))
	}
	value := []byte("0123456789abcdef")
	lat := Load(b, g, func(i int, hist *hdrhistogram.Histogram) error {
		t0 := time.Now()
		err := do(ctx, steps[i], keys[i], value)
		Record(hist, time.Since(t0))
		steps[i] = (steps[i] + 1) % 3
		return err
	})
	ReportLatency(b, lat, "")
}

// pooledRESP runs commands with the RESP client on connections of p, and
// gives a connection back with Put, or with Remove when its command failed
// or left bytes unread in the client's buffer (a reply nobody asked for,
// which neither server sends: it fails the run, as any error does).
//
// Every contender pools the same thing here, a RESPConn (the net.Conn with
// its RESPClient, from RESPDialer), and this loop finds the client the same
// way for all: h.Conn.(*RESPConn). shardpool and the baseline could keep the
// RESPClient in Conn.Value instead (both run Options.OnConnect after a
// dial), but only they could: that would give the two of them another
// Config (an OnConnect), another lookup (Handle.Ref's Value rather than
// Handle.Conn) and a RESP-specific field in the Handle every pool's adapter
// fills, for a difference that is not the pool's. The scenario compares
// pools under one client; what an OnConnect that sets Value costs is
// measured apart, by the library's BenchmarkGetPutCapacityOptions, and the
// Value pattern runs end to end in cmd/chaos.
func pooledRESP(p Pool) respOps {
	return func(ctx context.Context, step int, key, value []byte) error {
		h, err := p.Get(ctx)
		if err != nil {
			return err
		}
		c := h.Conn.(*RESPConn)
		switch step {
		case 0:
			err = c.Ping()
		case 1:
			err = c.Set(key, value)
		default:
			_, err = c.Get(key)
		}
		if err == nil && c.Buffered() > 0 {
			err = ErrUnread
		}
		if err != nil {
			p.Remove(h)
			return err
		}
		p.Put(h)
		return nil
	}
}

// goRedisRESP runs commands with a go-redis v9 client.
func goRedisRESP(c *redis.Client) respOps {
	return func(ctx context.Context, step int, key, value []byte) error {
		switch step {
		case 0:
			return c.Ping(ctx).Err()
		case 1:
			return c.Set(ctx, string(key), value, 0).Err()
		default:
			err := c.Get(ctx, string(key)).Err()
			if err == redis.Nil {
				err = nil
			}
			return err
		}
	}
}
