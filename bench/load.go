package bench

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms cover 1ns to a minute with two significant figures
// (1% resolution), small enough to keep one per goroutine.
const (
	latencyMin     = 1
	latencyMax     = int64(time.Minute)
	latencySigFigs = 2
)

// NewLatencyHistogram returns an empty histogram for latencies in
// nanoseconds.
func NewLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(latencyMin, latencyMax, latencySigFigs)
}

// Record adds d to h, clamped to the histogram's range.
func Record(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(min(max(int64(d), latencyMin), latencyMax))
}

// ReportLatency reports h's p50, p99, p99.9 and max as custom benchmark
// metrics named prefix+"p50-ns" and so on.
func ReportLatency(b *testing.B, h *hdrhistogram.Histogram, prefix string) {
	if h.TotalCount() == 0 {
		return
	}
	b.ReportMetric(float64(h.ValueAtQuantile(50)), prefix+"p50-ns")
	b.ReportMetric(float64(h.ValueAtQuantile(99)), prefix+"p99-ns")
	b.ReportMetric(float64(h.ValueAtQuantile(99.9)), prefix+"p999-ns")
	b.ReportMetric(float64(h.Max()), prefix+"max-ns")
}

// Load runs b.N calls of op spread over the given number of goroutines,
// each with its own latency histogram, which op records into. It starts the
// goroutines together, times the whole run, reports ops/s, and returns the
// merged histogram. The first error op returns stops the run and fails the
// benchmark.
func Load(b *testing.B, goroutines int, op func(g int, h *hdrhistogram.Histogram) error) *hdrhistogram.Histogram {
	b.Helper()
	hists := make([]*hdrhistogram.Histogram, goroutines)
	for i := range hists {
		hists[i] = NewLatencyHistogram()
	}
	var (
		next    atomic.Int64 // ops handed out
		failed  atomic.Bool
		errOnce sync.Once
		opErr   error
		ready   sync.WaitGroup
		done    sync.WaitGroup
		start   = make(chan struct{})
		n       = int64(b.N)
	)
	ready.Add(goroutines)
	done.Add(goroutines)
	for g := range goroutines {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			for !failed.Load() && next.Add(1) <= n {
				if err := op(g, hists[g]); err != nil {
					errOnce.Do(func() { opErr = err })
					failed.Store(true)
				}
			}
		}()
	}
	ready.Wait()
	b.ResetTimer()
	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if opErr != nil {
		b.Fatal(opErr)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	total := NewLatencyHistogram()
	for _, h := range hists {
		total.Merge(h)
	}
	return total
}

// Spin does n steps of arithmetic, a fixed amount of CPU work that stands
// for what a caller does with a connection. It returns a value to keep the
// compiler from dropping the loop.
func Spin(n int) uint64 {
	x := uint64(n)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}
