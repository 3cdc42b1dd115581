package shardpool

import (
	"context"
	"sync/atomic"
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
// Locking: none; inner is an atomic pointer, and every other field is
// read-only. inner moves nil → releasedEarly (release before anybody asked
// for Done), or nil or releasedEarly → the WithDeadline context
// (materialize), and never back; each move is a compare-and-swap, so
// exactly one materialize installs the context, and its loser cancels its
// own. A release and a materialize that race each store inner and then
// load it (release by its swap, materialize by its swap's failure or its
// load of releasedEarly before it), so one of them sees the other's move:
// release cancels the context materialize installed, or materialize finds
// releasedEarly and makes it cancelled.
//
// Err is consistent with Done: before inner holds a context, nobody holds
// a Done channel. Err, finding none, judges the parent and the deadline
// itself, then loads inner again: if a context was installed meanwhile,
// its Err is the answer; if not, Err's answer held at that load, and a
// context made later from an ended parent or a passed deadline is made
// ended (WithDeadline sees both at once).
//
// Size: every dial allocates one, so it is kept to 32 bytes, a size class
// (with the obvious fields, a time.Time, a mutex, the WithDeadline context
// and its CancelFunc and a flag, it took 80): the deadline is nanoseconds
// after monoEpoch instead of a time.Time, the materialized context and its
// cancel live behind one pointer, and a release before any of it is made
// is a sentinel in that pointer instead of a flag.
type boundedCtx struct {
	context.Context // the parent: Value, and the parent's own ending

	dl int64 // the deadline, in nanoseconds after monoEpoch; read-only

	inner atomic.Pointer[innerCtx] // nil, releasedEarly, or the WithDeadline context
}

// innerCtx is WithDeadline(parent, deadline) and its CancelFunc.
type innerCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// releasedEarly is what inner holds after a release that came before
// anything asked for the WithDeadline context.
var releasedEarly = new(innerCtx)

// newBoundedCtx bounds parent by the deadline dl, in nanoseconds after
// monoEpoch.
func newBoundedCtx(parent context.Context, dl int64) *boundedCtx {
	return &boundedCtx{Context: parent, dl: dl}
}

// deadline returns the bound as a time.
func (c *boundedCtx) deadline() time.Time { return monoEpoch.Add(time.Duration(c.dl)) }

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

// expired reports whether the bound has passed, by the clock. A dial that
// failed and finds it passed ran until its bound: whatever it waited for
// (a net.Conn deadline, a timer of the Dialer's) may end it before the
// context's own timer does, so Err can still be nil. A nil c (an
// unbounded dial) never expires.
func (c *boundedCtx) expired() bool {
	return c != nil && int64(time.Since(monoEpoch)) >= c.dl
}

// Err returns nil while the context has not ended, then why it ended.
func (c *boundedCtx) Err() error {
	if err, ok := c.innerErr(); ok {
		return err
	}
	err := c.Context.Err()
	if err == nil && int64(time.Since(monoEpoch)) >= c.dl { // one read of the monotonic clock
		err = context.DeadlineExceeded
	}
	if inErr, ok := c.innerErr(); ok { // installed meanwhile: see the type's comment
		return inErr
	}
	return err
}

// innerErr returns the error inner says, and false if it says nothing
// (nil: not made, not released).
func (c *boundedCtx) innerErr() (error, bool) {
	switch in := c.inner.Load(); in {
	case nil:
		return nil, false
	case releasedEarly:
		return context.Canceled, true
	default:
		return in.ctx.Err(), true
	}
}

// materialize returns the WithDeadline context c stands for, making it on
// the first call; made after a release, it is made cancelled.
func (c *boundedCtx) materialize() context.Context {
	for {
		old := c.inner.Load()
		if old != nil && old != releasedEarly {
			return old.ctx
		}
		in := new(innerCtx)
		in.ctx, in.cancel = context.WithDeadline(c.Context, c.deadline())
		if old == releasedEarly {
			in.cancel()
		}
		if c.inner.CompareAndSwap(old, in) {
			return in.ctx
		}
		in.cancel() // another materialize or a release moved inner first
	}
}

// release ends the context once the dial has returned, as a CancelFunc
// would, so that whatever the Dialer left watching Done lets go, and stops
// the timer. A nil c (an unbounded dial) has nothing to release.
func (c *boundedCtx) release() {
	if c == nil {
		return
	}
	if c.inner.CompareAndSwap(nil, releasedEarly) {
		return
	}
	if in := c.inner.Load(); in != releasedEarly {
		in.cancel() // made: a second release cancels again, a no-op
	}
}
