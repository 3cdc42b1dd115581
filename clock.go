package shardpool

import (
	"sync/atomic"
	"time"
)

// clock is the pool's coarse monotonic clock: nanoseconds since the pool was
// made, refreshed by a ticker every res. Judging staleness and health-check
// age on every Get and stamping every Put with time.Now would read the
// system clock twice a call, more than the rest of the hot path costs; an
// atomic load of a word that changes every res is one plain load. The price is precision: a limit can be
// judged up to res late. res is 1/64 of the shortest of IdleTimeout,
// MaxConnAge and HealthCheckIdle, between 1ms and 1s.
//
// An idle pool is quiet: once a second the ticker asks the pool whether any
// Get came since it last asked, and if none did it stops (the clock goes
// dormant) until the next read. So a pool nobody uses wakes only for its
// reaper, if it has one.
//
// Reads stay exact across a dormant spell. The pool reads the clock in two
// ways only: refresh, which reads the system clock and returns the time it
// stored (the reaper's sweeps and Close use it), and read, the way of
// every other caller, which checks dormant first: a reader that finds it set
// refreshes the clock itself before loading it, and then clears it and
// restarts the ticker. The ticker sets dormant only after its last
// refresh, and wake clears it only after its own, so a reader that finds
// dormant clear loads a value refreshed within res (seq-cst atomics: the
// refresh's store precedes the load of dormant that saw it clear).
//
// Locking: none; now and dormant are atomics, wakeCh a channel with room
// for one signal.
type clock struct {
	now     atomic.Int64
	dormant atomic.Bool // the ticker is stopped; next to now: one line for both loads
	epoch   time.Time
	// sinceMono is epoch less monoEpoch, in nanoseconds: what turns a time
	// of this clock into one after monoEpoch. Read-only.
	sinceMono int64
	res       time.Duration
	wakeCh    chan struct{}

	// manual clocks are moved by tests (advance) instead of the ticker.
	manual atomic.Bool
}

// monoEpoch is the package's origin for times it keeps as nanoseconds in
// an int64 (a dial's deadline, see dialctx.go): taken with time.Now, it
// carries a monotonic reading, and so does every monoEpoch.Add.
var monoEpoch = time.Now()

// quietAfter is how long a pool sees no Get before its clock goes dormant.
const quietAfter = time.Second

func newClock(opt *Options) *clock {
	c := &clock{epoch: time.Now(), res: time.Second, wakeCh: make(chan struct{}, 1)}
	c.sinceMono = int64(c.epoch.Sub(monoEpoch))
	for _, d := range []time.Duration{opt.IdleTimeout, opt.MaxConnAge, opt.HealthCheckIdle} {
		if d > 0 {
			c.res = min(c.res, d/64)
		}
	}
	c.res = max(c.res, time.Millisecond)
	return c
}

// read returns the clock's time, waking it first if it is dormant: the
// pool's time for every reader but the reaper's sweep and Close, which
// refresh. Get and Put inline it. When nothing is timed (no expiry, no
// health checks) the clock does not run and stands still, but for Close
// and ReapStaleConns, which refresh it: its time then only stamps idleAt,
// where any value that never goes backwards keeps the lists' order. So
// read need not ask whether the pool is timed, and stays small enough to
// inline (a wrapper that asked was too big: one call more per Get and Put).
func (c *clock) read() int64 {
	if c.dormant.Load() {
		c.wake()
	}
	return c.now.Load()
}

// wake refreshes a dormant clock and restarts its ticker. Every reader that
// found the clock dormant refreshes it; one of them signals the ticker.
func (c *clock) wake() {
	c.refresh()
	if c.dormant.CompareAndSwap(true, false) {
		select {
		case c.wakeCh <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// refresh moves the clock to the current time and returns its time.
// Concurrent refreshes never move it backwards.
func (c *clock) refresh() int64 {
	if c.manual.Load() {
		return c.now.Load()
	}
	t := int64(time.Since(c.epoch))
	for {
		old := c.now.Load()
		if t <= old {
			return old
		}
		if c.now.CompareAndSwap(old, t) {
			return t
		}
	}
}

// advance moves a manual clock forward by d.
func (c *clock) advance(d time.Duration) { c.now.Add(int64(d)) }

// run refreshes the clock every res until done is closed. Every quietAfter
// it calls activity, a count that grows with every Get; when the count has
// not moved since the last call, it goes dormant until read wakes it.
func (c *clock) run(done <-chan struct{}, activity func() uint64) {
	t := time.NewTicker(c.res)
	defer t.Stop()
	perCheck := max(1, int(quietAfter/c.res))
	last, ticks := activity(), 0
	for {
		select {
		case <-t.C:
		case <-done:
			return
		}
		c.refresh()
		if ticks++; ticks < perCheck {
			continue
		}
		ticks = 0
		if a := activity(); a != last {
			last = a
			continue
		}
		t.Stop()
		c.dormant.Store(true) // after the refresh above: see the type's comment
		select {
		case <-c.wakeCh:
		case <-done:
			return
		}
		t.Reset(c.res)
		last = activity()
	}
}

// exact returns the time since the pool was made, read from the monotonic
// clock now. time.Since of a time with a monotonic reading reads one clock
// (time.Now reads two), so this is the cheapest exact time Go offers; the
// wait path uses it to time waits. It ignores manual clocks.
func (c *clock) exact() int64 { return int64(time.Since(c.epoch)) }

// wall returns the time now as time.Now would, from one read of the
// monotonic clock (time.Now reads the wall clock too): the pool's epoch
// plus the time since. Its wall reading ignores steps of the system's
// clock since the pool was made; comparisons and Sub use the monotonic
// reading, as they do for time.Now's. The probe's dials date their
// connections with it; a Get's dial makes the same time from the one
// exact reading it takes (dialConn).
func (c *clock) wall() time.Time { return c.epoch.Add(time.Since(c.epoch)) }
