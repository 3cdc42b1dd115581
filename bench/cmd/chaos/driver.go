// The driver: its state, the rounds it runs, and what every row shares:
// the load halted within a bound, the "before" and "after" measurements,
// and the bounds every fault of shardpool's is checked against.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/shardpool/shardpool"
)

// driver holds the run's state.
type driver struct {
	cfg  *config
	t0   time.Time
	srv  *server
	d    *dialer
	pool *shardpool.ConnPool
	load *load
	smp  *sampler
	tl   *timeline
	net  *netRig // the network rounds' proxies and pools; nil until the first
	rows []*row
	ops  int64
	// goredisHung is set once go-redis's load hung: go-redis is then left
	// out of every later network round, whose rigs are built anew.
	goredisHung bool
}

// writeTimeline writes the timeline's CSV and chart, where asked.
func (dr *driver) writeTimeline() error {
	if dr.cfg.csv != "" {
		if err := dr.tl.writeCSV(dr.cfg.csv); err != nil {
			return err
		}
	}
	if dr.cfg.chart != "" {
		return dr.tl.writeChart(dr.cfg.chart)
	}
	return nil
}

// waitGoroutines waits up to bound for the goroutine count to fall to want,
// and returns the count.
func waitGoroutines(want int, bound time.Duration) int {
	deadline := time.Now().Add(bound)
	n := runtime.NumGoroutine()
	for i := 0; n > want && time.Now().Before(deadline) && i < 1000; i++ {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// rounds runs the warm-up and the selected faults cfg.rounds times: the
// process faults (procFaults), then the network faults (netFaults), each
// in its table's order. It returns an error when the run cannot go on (a
// hang, the server not coming back).
func (dr *driver) rounds() error {
	for r := 1; r <= dr.cfg.rounds; r++ {
		steps := []func(string) error{dr.warmup}
		for _, f := range procFaults {
			if dr.cfg.faults[f.name] {
				steps = append(steps, func(round string) error { return f.run(dr, round) })
			}
		}
		for _, f := range netFaults(dr.cfg) {
			steps = append(steps, func(round string) error { return dr.netRound(f, round) })
		}
		for _, step := range steps {
			if err := step(fmt.Sprintf(" #%d", r)); err != nil {
				fmt.Fprintln(os.Stderr, "chaos: VIOLATION:", err)
				if errors.Is(err, errHang) {
					_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
				}
				return err
			}
		}
		// The network faults' pools and proxies go at the end of each
		// round: their connections (and toxiproxy's goroutines for
		// each) would otherwise sit through the next round's server
		// faults and blur its goroutine counts.
		dr.closeNet()
	}
	return nil
}

// since returns the offset of now from the start of the run.
func (dr *driver) since() time.Duration { return time.Since(dr.t0) }

// halt ends the current segment of load, bounded so that a hang is caught.
func (dr *driver) halt() (segment, error) {
	s, err := dr.load.halt(dr.cfg.reqBound() + time.Second)
	dr.ops += s.ok + s.errs
	return s, err
}

// begin starts a row: load running, a moment to settle, then the "before"
// measurements.
func (dr *driver) begin(fault string) *row {
	r := &row{fault: fault, from: dr.since()}
	dr.tl.mark(fault)
	r.gBefore, r.heapBefore = measure()
	r.lenBefore = dr.pool.Len()
	dr.smp.resetMax()
	dr.rows = append(dr.rows, r)
	return r
}

// checkShared checks the bounds every row of shardpool's shares, fault
// rounds and network rounds alike: PoolSize never exceeded, no wrong reply,
// no panic; and notes errors of no expected kind and stalls of the driver
// itself.
func (r *row) checkShared(s segment, cfg *config) {
	if r.lenMax > cfg.poolSize {
		r.violate(fmt.Sprintf("pool Len reached %d, over PoolSize %d", r.lenMax, cfg.poolSize))
	}
	if n := s.kinds[stageIO][classWrong] + s.kinds[stageGet][classWrong]; n > 0 {
		r.violate(fmt.Sprintf("%d wrong replies (a socket shared by two callers?): %s", n, s.sample[stageIO][classWrong]))
	}
	if n := s.kinds[stageGet][classOther] + s.kinds[stageIO][classOther]; n > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d errors of no expected kind", n))
	}
	for _, p := range s.panics {
		r.violate("panic in " + p)
	}
	if r.stall > cfg.slack {
		r.notes = append(r.notes, fmt.Sprintf("the driver itself stalled for %v (CPU starvation or a pause of the process): time bounds in this row met that stall too", r.stall))
	}
}

// end takes the "after" measurements with load still running, then halts
// the load and checks the segment's common bounds.
func (dr *driver) end(r *row) (segment, error) {
	r.gAfter, r.heapAfter = measure()
	r.lenAfter = dr.pool.Len()
	r.gMax, r.lenMax, r.stall = dr.smp.max()
	r.gMax = max(r.gMax, r.gBefore, r.gAfter)
	r.lenMax = max(r.lenMax, r.lenBefore, r.lenAfter)
	s, err := dr.halt()
	r.to = dr.since()
	if err != nil {
		r.violate(err.Error())
		return s, err
	}
	r.seg = s
	cfg := dr.cfg
	if s.maxGet > cfg.getBound() {
		r.violate(fmt.Sprintf("a Get took %v, bound %v (PoolTimeout + dial timeout + slack)", s.maxGet, cfg.getBound()))
	}
	if s.maxReq > cfg.reqBound() {
		r.violate(fmt.Sprintf("a request took %v, bound %v (PoolTimeout + dial timeout + I/O deadline + slack)", s.maxReq, cfg.reqBound()))
	}
	if g := max(r.gAfter, r.gMax); g > r.gBefore+cfg.goroutines {
		r.violate(fmt.Sprintf("goroutines grew from %d to %d (slack %d)", r.gBefore, g, cfg.goroutines))
	}
	if r.heapAfter > r.heapBefore+cfg.heapMiB<<20 {
		r.violate(fmt.Sprintf("live heap grew from %d KiB to %d KiB (slack %d MiB)", r.heapBefore>>10, r.heapAfter>>10, cfg.heapMiB))
	}
	r.checkShared(s, cfg)
	return s, nil
}

// measure returns the goroutine count and, after a GC, the live heap.
func measure() (int, uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// sleep waits d; every wait of the driver is a bounded sleep.
func sleep(d time.Duration) { time.Sleep(d) }

// warmup checks that the pool serves before any fault.
func (dr *driver) warmup(round string) error {
	dr.load.start()
	sleep(dr.cfg.warmup)
	s, err := dr.halt()
	if err != nil {
		return err
	}
	if s.ok == 0 || s.errs > 0 {
		return fmt.Errorf("warm-up%s: %d requests served, %d errors (%s): the server is not usable", round, s.ok, s.errs, firstSample(s))
	}
	return nil
}

func firstSample(s segment) string {
	var parts []string
	for st := range numStages {
		for c := range numClasses {
			if s.sample[st][c] != "" {
				parts = append(parts, s.sample[st][c])
			}
		}
	}
	return strings.Join(parts, "; ")
}

// offset returns t-ref, or "never" as a duration string when t is unset.
func offset(t, ref time.Duration) string {
	if t == 0 {
		return "never"
	}
	return (t - ref).Round(100 * time.Microsecond).String()
}

// probeBound is the most dials the driver may count in span after it saw
// the breaker open, for a pool of poolSize connections: the probe's, at
// most shardpool.ProbeBurst + span/shardpool.ProbeGap in any span
// (breaker.go's pacer: a burst of attempts after a quiet while, and one
// per ProbeGap on average; its first attempt starts at the pool's trip,
// after the driver's), and the Gets' dials that started in the moment
// between the driver's count of the poolSize-th consecutive failure (in
// the Dialer and OnConnect) and the pool's (after they return), when the
// pool's breaker is still closed: at most poolSize-1, the other dials that
// can be in flight. One run counted 152 dials in 15 s where the probe
// alone may make 150 (now 152).
func probeBound(span time.Duration, poolSize int) int64 {
	return int64(span/shardpool.ProbeGap) + shardpool.ProbeBurst + int64(poolSize-1)
}

// idleProbeBound is the most dials the driver may count in a window w of
// an idle pool whose breaker is open: the probe's one per
// shardpool.ProbeInterval from its last attempt's start, plus one early
// attempt that a Get asked for just before the load halted.
func idleProbeBound(w time.Duration) int64 {
	return int64(w/shardpool.ProbeInterval) + 2
}

// probeRate says probeBound's rate, for the reports.
func probeRate() string {
	return fmt.Sprintf("%d + one per %v", shardpool.ProbeBurst, shardpool.ProbeGap)
}
