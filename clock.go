package shardpool

import (
	"sync/atomic"
	"time"
)

// clock is the pool's coarse monotonic clock: nanoseconds since the pool was
// made, refreshed by a ticker every res. Judging staleness on every Get and
// stamping every Put with time.Now would cost about 50 ns a call on the
// machines we measured; an atomic load of a word that changes every res
// costs about one. The price is precision: a connection can be used up to
// res after it went stale. res is 1/64 of the shortest timeout, between 1ms
// and 1s.
type clock struct {
	now   atomic.Int64
	epoch time.Time
	res   time.Duration

	// manual clocks are moved by tests (advance) instead of the ticker.
	manual atomic.Bool
}

func newClock(opt *Options) *clock {
	c := &clock{epoch: time.Now(), res: time.Second}
	for _, d := range []time.Duration{opt.IdleTimeout, opt.MaxConnAge} {
		if d > 0 {
			c.res = min(c.res, d/64)
		}
	}
	c.res = max(c.res, time.Millisecond)
	return c
}

// refresh moves the clock to the current time. Concurrent refreshes never
// move it backwards.
func (c *clock) refresh() {
	if c.manual.Load() {
		return
	}
	t := int64(time.Since(c.epoch))
	for {
		old := c.now.Load()
		if t <= old || c.now.CompareAndSwap(old, t) {
			return
		}
	}
}

// advance moves a manual clock forward by d.
func (c *clock) advance(d time.Duration) { c.now.Add(int64(d)) }

// run refreshes the clock every res until done is closed.
func (c *clock) run(done <-chan struct{}) {
	t := time.NewTicker(c.res)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.refresh()
		case <-done:
			return
		}
	}
}

// exact returns the time since the pool was made, read from the monotonic
// clock now. time.Since of a time with a monotonic reading reads one clock
// (time.Now reads two), so this is the cheapest exact time Go offers; the
// wait path uses it to time waits. It ignores manual clocks.
func (c *clock) exact() int64 { return int64(time.Since(c.epoch)) }

// now returns the pool clock's time, or 0 when nothing expires: then
// nothing reads it, and the hot path skips the load.
func (p *ConnPool) now() int64 {
	if !p.exp.on() {
		return 0
	}
	return p.clock.now.Load()
}
