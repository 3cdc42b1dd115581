package shardpool

import (
	"runtime"
	"time"
)

// The reaper closes idle connections that have gone stale (IdleTimeout or
// MaxConnAge) so that they do not wait for a Get to meet them.
//
// Locking: none of its own. It sweeps one shard at a time through
// shard.sweep, which holds that shard's lock for at most sweepChunk
// connections at once, so Gets and Puts go on while it runs, on the other
// shards and on the one being swept (whose slot it empties into the list
// first, so a Get there may take the lock once).

// staleReason tells, for a stale cn, which limit it passed by time now:
// MaxConnAge (CloseMaxAge, also when both) or IdleTimeout
// (CloseIdleTimeout). Both only grow true with time, so asking after the
// sweep or pop that found cn stale gives the answer it would have given.
func (p *ConnPool) staleReason(cn *Conn, now int64) CloseReason {
	if p.exp.tooOld(cn, now) {
		return CloseMaxAge
	}
	return CloseIdleTimeout
}

// reaper sweeps every frequency until the pool closes.
func (p *ConnPool) reaper(frequency time.Duration) {
	p.every(frequency, func() { _, _ = p.ReapStaleConns() })
}

// every calls f every d until the pool closes (or starts closing): the
// loop of the pool's periodic goroutines, the reaper and the leak check.
func (p *ConnPool) every(d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// A tick and Close can be ready together; select picks at
			// random, so look again.
			if p.closed.Load() {
				return
			}
			f()
		case <-p.closedCh:
			return
		}
	}
}

// reapSlice is how long sweeps run before the reaper yields its P.
const reapSlice = time.Millisecond

// reapYield yields the caller's P once sweeps have run for reapSlice since
// it last did. Sweeping is CPU work that holds a P, and with more runnable
// goroutines than cores a Get preempted meanwhile waits for one: for the
// reaper's whole time slice (10 ms) without the yield, for about reapSlice
// with it. Yielding after every shard instead starved the reaper: it waits
// in the global run queue behind the preempted goroutines after each yield.
// BenchmarkReaperGetPutDuringSweeps (bench/) measures the choice: a Get+Put's
// worst wait against sweeps per second; docs/bench/design-measurements.md
// has the figures of each slice tried. Concurrent callers of
// ReapStaleConns share the budget.
func (p *ConnPool) reapYield() {
	now := p.clock.exact()
	if now-p.reapResumed.Load() < int64(reapSlice) {
		return
	}
	runtime.Gosched()
	p.reapResumed.Store(p.clock.exact())
}

// ReapStaleConns sweeps every shard once, closes the idle connections that
// are stale, counts them in Stats().StaleConns, and returns how many it
// closed. It returns ErrClosed after Close.
func (p *ConnPool) ReapStaleConns() (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if !p.exp.on() {
		return 0, nil
	}
	now := p.clock.refresh() // one reading for the whole sweep: a sweep of few takes less than a clock read
	n := 0
	var stale []*Conn
	for i := range p.shards {
		var looked int
		stale, looked = p.shards[i].sweep(now, p.exp, p.opt.PoolFIFO, stale[:0])
		for _, cn := range stale {
			_ = p.closeConn(cn, p.staleReason(cn, now), placeFreed)
		}
		n += len(stale)
		if looked >= sweepChunk {
			p.reapYield()
		}
	}
	if n > 0 {
		p.checkMinIdleConns()
	}
	return n, nil
}
