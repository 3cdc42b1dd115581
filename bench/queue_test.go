package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/shardpool/shardpool"
)

// BenchmarkExhaustionQueue asks: in the exhaustion scenario, how much of a
// caller's time in shardpool is queueing, and how many Gets queue at all?
// It runs BenchmarkExhaustionWait's load on shardpool alone with a
// Hooks.OnWait that records each wait (from queueing to being handed a
// connection) into HDR histograms: the queue-* percentiles are of the
// Gets that waited, and waited-% is their share of all Gets. Kept apart
// from BenchmarkExhaustionWait so that the hook's cost (one uncontended
// histogram record per wait) does not touch the comparison there.
func BenchmarkExhaustionQueue(b *testing.B) {
	for _, mult := range []int{4, 16, 64} {
		name := fmt.Sprintf("pool=%s/size=%d/goroutines=%dx", NameShardpool, exhaustionSize, mult)
		b.Run(name, func(b *testing.B) {
			var q waitRecorder
			opt := Config{Size: exhaustionSize, Dial: FakeDial}.options()
			opt.Hooks.OnWait = q.record
			p := shardpool.NewConnPool(opt)
			defer p.Close()
			if err := Fill(context.Background(), newPoolerAdapter(p), exhaustionSize); err != nil {
				b.Fatal(err)
			}
			exhaust(b, newPoolerAdapter(p), mult)
			waits := q.merged()
			ReportLatency(b, waits, "queue-")
			b.ReportMetric(100*float64(waits.TotalCount())/float64(b.N), "waited-%")
		})
	}
}

// waitRecorder collects the waits OnWait reports, without making the
// waiters share a lock: each record takes a histogram from a sync.Pool
// (per-P caches, no lock in the common case) and puts it back. Every
// histogram made is also kept in all, so that merged sees every record
// even if the sync.Pool dropped the histogram at a GC.
type waitRecorder struct {
	pool sync.Pool
	mu   sync.Mutex
	all  []*hdrhistogram.Histogram // guarded by mu
}

func (q *waitRecorder) record(w shardpool.WaitInfo) {
	if w.Outcome != shardpool.WaitServed {
		return // a timeout or a cancel: the Get fails, and so does the run
	}
	h, _ := q.pool.Get().(*hdrhistogram.Histogram)
	if h == nil {
		h = NewLatencyHistogram()
		q.mu.Lock()
		q.all = append(q.all, h)
		q.mu.Unlock()
	}
	Record(h, w.Duration)
	q.pool.Put(h)
}

// merged returns every wait recorded. Call it once the load has ended.
func (q *waitRecorder) merged() *hdrhistogram.Histogram {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := NewLatencyHistogram()
	for _, h := range q.all {
		m.Merge(h)
	}
	return m
}

// exhaust runs ExhaustionWait's caller=spins load on p (see exhaustLoad),
// for the benchmarks that measure shardpool alone under it.
func exhaust(b *testing.B, p Pool, mult int) *hdrhistogram.Histogram {
	return exhaustLoad(b, p, mult, callerSpins, nil)
}
