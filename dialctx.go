package shardpool

import (
	"context"
	"sync"
	"time"
)

// boundedCtx is a dial's context: its parent bounded by a deadline, as
// context.WithDeadline would make it, but lazy. WithDeadline arms a runtime
// timer and allocates four times on every dial, about 0.3 µs: as much as
// the rest of a Get that dials through a fast Dialer (the churn benchmark's
// fake one) costs in all. boundedCtx allocates once and arms its timer only
// when somebody asks for Done; a Dialer that reads only Deadline (enough
// for a connect deadline) or nothing pays no timer. A net.Dialer asks for
// Done and pays what WithDeadline would.
//
// Locking: mu guards done, err, stop and stopParent. Every method locks it;
// none calls out while holding it except to stop the timer and the parent's
// AfterFunc, which never block.
//
// It keeps context's contract: Err is nil until Done is closed (or would be,
// had Done been asked for), then the first reason, forever; Done, once
// made, is closed exactly when err is set.
type boundedCtx struct {
	context.Context // the parent: Value, and the parent's own ending
	deadline        time.Time

	mu         sync.Mutex
	done       chan struct{} // made by the first Done
	err        error         // why it ended; nil while it has not
	stop       func() bool   // the deadline's timer, once armed
	stopParent func() bool   // context.AfterFunc on the parent, once armed
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
// or release is called. The first call arms the timer.
func (c *boundedCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.check() // before done exists: if it ends now, nothing is closed twice
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	c.stop = time.AfterFunc(time.Until(c.deadline), func() { c.end(context.DeadlineExceeded) }).Stop
	c.stopParent = context.AfterFunc(c.Context, func() { c.end(c.Context.Err()) })
	return c.done
}

// Err returns nil while the context has not ended, then why it ended.
func (c *boundedCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	return c.err
}

// check ends the context if its parent has ended or its deadline has
// passed, for a caller that has not armed the timer (or got ahead of it).
// Call with mu held.
func (c *boundedCtx) check() {
	if c.err != nil {
		return
	}
	if err := c.Context.Err(); err != nil {
		c.endLocked(err)
	} else if !time.Now().Before(c.deadline) {
		c.endLocked(context.DeadlineExceeded)
	}
}

// release ends the context once the dial has returned, as a CancelFunc
// would, so that whatever the Dialer left watching Done lets go, and stops
// the timer. A nil c (an unbounded dial) has nothing to release.
func (c *boundedCtx) release() {
	if c != nil {
		c.end(context.Canceled)
	}
}

func (c *boundedCtx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.endLocked(err)
	}
}

// endLocked records err, closes done if it was made, and disarms. Call with
// mu held and err unset.
func (c *boundedCtx) endLocked(err error) {
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.stop != nil {
		c.stop()
		c.stopParent()
	}
}
