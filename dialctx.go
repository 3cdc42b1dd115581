package shardpool

import (
	"context"
	"sync"
	"time"
)

// boundedCtx is a dial's context: its parent bounded by a deadline, as
// context.WithDeadline would make it, but lazily. WithDeadline arms a
// runtime timer and allocates four times on every dial, which costs as
// much as the rest of a Get that dials through a fast Dialer (the churn
// benchmark's fake one; docs/bench/design-measurements.md). boundedCtx
// allocates once, answers Deadline and Err by itself, and makes the real
// WithDeadline context only when somebody asks for Done or hangs something
// on it (context.AfterFunc, a child context). A Dialer that reads only Deadline, or nothing, pays no
// timer; a net.Dialer asks for Done and gets exactly what WithDeadline
// gives, children and AfterFuncs included, with no goroutine per dial.
//
// Locking: mu guards inner. Err is consistent with Done: before inner
// exists, nobody holds a Done channel, and once it is made from a parent
// that has ended, a passed deadline, or a release, it is made ended.
//
// Size: every dial allocates one, so it is kept within 48 bytes, a size
// class (with the obvious fields, a time.Time, the WithDeadline context
// and its CancelFunc and a flag, it took 80): the deadline is an offset from a base time
// (the pool's epoch) instead of a time.Time, the materialized context and
// its cancel live behind one pointer, and a release before any of it is
// made is a sentinel in that pointer instead of a flag.
type boundedCtx struct {
	context.Context // the parent: Value, and the parent's own ending

	base *time.Time // the deadline is base + dl; read-only
	dl   int64      // nanoseconds after *base; read-only

	mu    sync.Mutex
	inner *innerCtx // the WithDeadline context, once asked for; or released
}

// innerCtx is WithDeadline(parent, deadline) and its CancelFunc.
type innerCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// releasedEarly is what inner holds after a release that came before anything
// asked for the WithDeadline context.
var releasedEarly = new(innerCtx)

// newBoundedCtx bounds parent by the deadline start + d, where start is
// nanoseconds after *base.
func newBoundedCtx(parent context.Context, base *time.Time, start int64, d time.Duration) *boundedCtx {
	return &boundedCtx{Context: parent, base: base, dl: start + int64(d)}
}

// deadline returns the bound as a time.
func (c *boundedCtx) deadline() time.Time { return c.base.Add(time.Duration(c.dl)) }

// Deadline returns the earlier of the parent's deadline and the bound.
func (c *boundedCtx) Deadline() (time.Time, bool) {
	own := c.deadline()
	if d, ok := c.Context.Deadline(); ok && d.Before(own) {
		return d, true
	}
	return own, true
}

// Done returns a channel closed when the deadline passes, the parent ends,
// or release is called.
func (c *boundedCtx) Done() <-chan struct{} { return c.materialize().Done() }

// AfterFunc lets context.AfterFunc and child contexts follow c without a
// goroutine of their own, as they follow a context from WithDeadline.
func (c *boundedCtx) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(c.materialize(), f)
}

// Err returns nil while the context has not ended, then why it ended.
func (c *boundedCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.inner == releasedEarly:
		return context.Canceled
	case c.inner != nil:
		return c.inner.ctx.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	// One read of the monotonic clock; base carries a monotonic reading.
	if int64(time.Since(*c.base)) >= c.dl {
		return context.DeadlineExceeded
	}
	return nil
}

// materialize returns the WithDeadline context c stands for, making it on
// the first call; made after a release, it is made cancelled.
func (c *boundedCtx) materialize() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil || c.inner == releasedEarly {
		in := new(innerCtx)
		in.ctx, in.cancel = context.WithDeadline(c.Context, c.deadline())
		if c.inner == releasedEarly {
			in.cancel()
		}
		c.inner = in
	}
	return c.inner.ctx
}

// release ends the context once the dial has returned, as a CancelFunc
// would, so that whatever the Dialer left watching Done lets go, and stops
// the timer. A nil c (an unbounded dial) has nothing to release.
func (c *boundedCtx) release() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.inner {
	case nil:
		c.inner = releasedEarly
	case releasedEarly:
	default:
		c.inner.cancel()
	}
}
