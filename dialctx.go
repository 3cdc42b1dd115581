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
// Locking: mu guards inner, cancel and released. Err is consistent with
// Done: before inner exists, nobody holds a Done channel, and once it is
// made from a parent that has ended, a passed deadline, or a release, it
// is made ended.
type boundedCtx struct {
	context.Context // the parent: Value, and the parent's own ending
	deadline        time.Time

	mu       sync.Mutex
	inner    context.Context // WithDeadline(parent, deadline), once asked for
	cancel   context.CancelFunc
	released bool // release was called
}

// newBoundedCtx bounds parent by the deadline now + d.
func newBoundedCtx(parent context.Context, now time.Time, d time.Duration) *boundedCtx {
	return &boundedCtx{Context: parent, deadline: now.Add(d)}
}

// Deadline returns the earlier of the parent's deadline and the bound.
func (c *boundedCtx) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
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
	case c.inner != nil:
		return c.inner.Err()
	case c.released:
		return context.Canceled
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// materialize returns the WithDeadline context c stands for, making it on
// the first call; made after a release, it is made cancelled.
func (c *boundedCtx) materialize() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithDeadline(c.Context, c.deadline)
		if c.released {
			c.cancel()
		}
	}
	return c.inner
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
	c.released = true
	if c.cancel != nil {
		c.cancel()
	}
}
