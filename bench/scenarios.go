package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The scenarios every contender runs, go-redis's own pools included: the
// bench module's benchmarks call them with Contenders(), and the drivers
// that scripts/bench.sh places inside copies of go-redis v8 and v9 (see
// testdata/goredis) call them with a contender wrapping that module's
// internal pool. Sub-benchmark names, sizes and loops are therefore the
// same for every pool by construction.

// sink keeps the results of Spin alive.
var sink atomic.Uint64

// HotPathGetPut asks: what does a Get+Put cost when an idle connection is
// available, as cores are added? Run it with -cpu. One sub-benchmark per
// contender and PoolSize (8, 32, 128), each pool filled first.
func HotPathGetPut(b *testing.B, cs []Contender) {
	ctx := context.Background()
	for _, c := range cs {
		for _, size := range []int{8, 32, 128} {
			b.Run(fmt.Sprintf("pool=%s/size=%d", c.Name, size), func(b *testing.B) {
				p := c.New(Config{Size: size, Dial: FakeDial})
				defer p.Close()
				if err := Fill(ctx, p, size); err != nil {
					b.Fatal(err)
				}
				hotPath(b, p)
			})
		}
	}
}

// hotPath measures Get+Put of p from RunParallel's goroutines.
func hotPath(b *testing.B, p Pool) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h, err := p.Get(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			p.Put(h)
		}
	})
}

// Exhaustion: a pool of exhaustionSize connections, each held for
// exhaustionWork steps of Spin (a few hundred nanoseconds).
const (
	exhaustionSize = 8
	exhaustionWork = 256
)

// ExhaustionWait asks: when many more goroutines than connections want one,
// what throughput does the pool sustain, and how long does a caller spend
// in the pool per use, Get and Put together (p50, p99, p99.9, and max,
// which shows starvation)? Unbounded contenders (sync.Pool) are left out:
// they never make anyone wait. Each run's histogram also goes to the log
// that $BENCH_HDR_LOG names, if set (see SaveHistogram).
//
// caller=spins is the scenario proper: a use of a connection is pure CPU
// work, so a goroutine that the pool does not block never leaves its P until
// the scheduler preempts it (every 10 ms), possibly mid-Get or mid-Put.
// caller=yields (at 16× only) is the same load with a runtime.Gosched after
// each Put, as a caller that does network I/O gives up its P: it shows how
// much of the maximum is that preemption rather than the pool.
func ExhaustionWait(b *testing.B, cs []Contender) {
	ctx := context.Background()
	type load struct {
		mult  int
		yield bool
	}
	loads := []load{{4, false}, {16, false}, {64, false}, {16, true}}
	for _, c := range cs {
		if !c.Bounded {
			continue
		}
		for _, l := range loads {
			caller := map[bool]string{false: "spins", true: "yields"}[l.yield]
			name := fmt.Sprintf("pool=%s/size=%d/goroutines=%dx/caller=%s", c.Name, exhaustionSize, l.mult, caller)
			b.Run(name, func(b *testing.B) {
				p := c.New(Config{Size: exhaustionSize, Dial: FakeDial})
				defer p.Close()
				if err := Fill(ctx, p, exhaustionSize); err != nil {
					b.Fatal(err)
				}
				h := exhaustLoad(b, p, l.mult, l.yield)
				ReportLatency(b, h, "")
				SaveHistogram(b, h)
			})
		}
	}
}

// exhaustLoad runs the exhaustion load on p, which holds exhaustionSize
// connections, from mult × exhaustionSize goroutines, and returns the time
// each use spent in the pool; with yield, each caller calls
// runtime.Gosched after its Put.
func exhaustLoad(b *testing.B, p Pool, mult int, yield bool) *hdrhistogram.Histogram {
	ctx := context.Background()
	return Load(b, mult*exhaustionSize, func(_ int, hist *hdrhistogram.Histogram) error {
		t0 := time.Now()
		h, err := p.Get(ctx)
		inGet := time.Since(t0)
		if err != nil {
			Record(hist, inGet)
			return err
		}
		sink.Add(Spin(exhaustionWork))
		t1 := time.Now()
		p.Put(h)
		// Get and Put both: a pool may make its caller wait in either
		// (shardpool's Put yields to the Get it hands its connection
		// to).
		Record(hist, inGet+time.Since(t1))
		if yield {
			runtime.Gosched()
		}
		return nil
	})
}

// ChurnGetRemove asks: what does it cost to throw a connection away (Get,
// then Remove, so that the next Get dials) as the pool grows? Half of the
// pool's places are held by connections checked out for the whole run, as
// in a busy pool, so a Remove that scans the pool's connections pays for
// them.
func ChurnGetRemove(b *testing.B, cs []Contender) {
	ctx := context.Background()
	for _, c := range cs {
		if c.HotPathOnly {
			continue
		}
		for _, size := range []int{8, 64, 512, 4096} {
			b.Run(fmt.Sprintf("pool=%s/size=%d", c.Name, size), func(b *testing.B) {
				p := c.New(Config{Size: size, Dial: FakeDial})
				defer p.Close()
				held := make([]Handle, 0, size/2)
				for range size / 2 {
					h, err := p.Get(ctx)
					if err != nil {
						b.Fatal(err)
					}
					held = append(held, h)
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						h, err := p.Get(ctx)
						if err != nil {
							b.Error(err)
							return
						}
						p.Remove(h)
					}
				})
				b.StopTimer()
				for _, h := range held {
					p.Put(h)
				}
			})
		}
	}
}

// HDRLogEnv names the environment variable that, when set, names a file to
// which SaveHistogram appends each run's latency histogram, in HdrHistogram's
// interval log format (base64 histograms, one per line, tagged with the
// benchmark's name). The report draws percentile plots from it.
const HDRLogEnv = "BENCH_HDR_LOG"

// hdrLog serializes SaveHistogram's appends within one process.
var hdrLog sync.Mutex

// SaveHistogram appends h, tagged with b's full name (which has no spaces or
// commas), to the file $BENCH_HDR_LOG names; without it, it does nothing.
// Every run is logged, go test's calibration runs too (the report merges
// only the runs with at least a tenth of the count of the largest run of
// the same benchmark: at -benchtime 500ms, those that lasted about 50 ms or
// more, beyond the scheduler's 10 ms time slice). Failing to write
// fails the benchmark: a report without its plots should not pass unseen.
func SaveHistogram(b *testing.B, h *hdrhistogram.Histogram) {
	path := os.Getenv(HDRLogEnv)
	if path == "" || h.TotalCount() == 0 {
		return
	}
	hdrLog.Lock()
	defer hdrLog.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	c := hdrhistogram.Import(h.Export()) // a copy: the tag is not ours to set on h
	c.SetTag(b.Name())
	err = hdrhistogram.NewHistogramLogWriter(f).OutputIntervalHistogram(c)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
}
