package shardpool

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by the pools of this module. Test for them with errors.Is.
var (
	// ErrClosed is returned by every call on a pool after Close, by Gets
	// that were waiting when Close ran, and by a second Close.
	ErrClosed = errors.New("shardpool: pool is closed")

	// ErrPoolTimeout is returned by Get when no connection became available
	// within Options.PoolTimeout.
	ErrPoolTimeout = errors.New("shardpool: timed out waiting for a connection")

	// ErrNoDialer is returned by Get and NewConn when Options.Dialer is nil.
	ErrNoDialer = errors.New("shardpool: Options.Dialer is nil")

	// ErrUnknownConn is returned by CloseConn, and reported by Put and Remove
	// through Options.OnMisuse, for a nil connection or one that another
	// pool dialed.
	ErrUnknownConn = errors.New("shardpool: connection is nil or belongs to another pool")

	// ErrNotCheckedOut is reported through Options.OnMisuse when Put or
	// Remove is given a connection that is idle or already removed, such as
	// a connection Put twice.
	ErrNotCheckedOut = errors.New("shardpool: connection is not checked out")

	// ErrPoolExhausted is returned by Get when it would wait while
	// Options.MaxWaiters Gets are already waiting.
	ErrPoolExhausted = errors.New("shardpool: too many Gets waiting for a connection")

	// ErrDialerPanic wraps the value of a panic in Options.Dialer; the pool
	// turns the panic into a dial error.
	ErrDialerPanic = errors.New("shardpool: dialer panicked")

	// ErrOnConnect wraps the error of Options.OnConnect, or the value of a
	// panic in it, when it fails a dial.
	ErrOnConnect = errors.New("shardpool: OnConnect failed")
)

// PoolTimeoutError is the error Get returns when PoolTimeout passes before a
// connection is free. It satisfies errors.Is(err, ErrPoolTimeout), and its
// text says what the pool looked like when the wait ended, for example:
//
//	shardpool: timed out after 4s waiting for a connection: 64 of 64 held
//	(63 checked out, 1 dialing, 0 idle), 210 Gets waiting, dial errors: none
//
// The figures are read one after the other as the wait ends, not as one
// atomic snapshot, so under load they may not add up exactly. Nothing is
// read until a wait times out.
type PoolTimeoutError struct {
	Waited     time.Duration // how long the Get waited
	PoolSize   int           // Options.PoolSize, as SetPoolSize left it
	Held       int           // places taken: connections held and dials under way
	CheckedOut int           // Held less Dialing and Idle
	Dialing    int           // pooled dials under way (dial slots taken)
	Idle       int           // idle connections
	Waiting    int           // other Gets still waiting

	// DialErrors is the number of consecutive failed dials, and
	// LastDialError the last one (nil when DialErrors is 0). From PoolSize
	// on, Get fails fast without dialing until a probe dial succeeds.
	DialErrors    int
	LastDialError error

	// With Options.LeakThreshold set, OldestCheckout is how long the
	// connection checked out longest has been held, and OldestCheckoutAt
	// where the Get that took it was called (function and file:line).
	// Most pool timeouts are leaks, and this points at the likely
	// culprit. Both are zero without LeakThreshold, or when nothing is
	// checked out.
	OldestCheckout   time.Duration
	OldestCheckoutAt string
}

// Error describes the timeout and the pool's state.
func (e *PoolTimeoutError) Error() string {
	var b strings.Builder
	waited := e.Waited.Round(time.Microsecond)
	if e.Waited >= time.Millisecond {
		waited = e.Waited.Round(time.Millisecond)
	}
	fmt.Fprintf(&b, "shardpool: timed out after %v waiting for a connection: %d of %d held (%d checked out, %d dialing, %d idle), %d Gets waiting, dial errors: ",
		waited, e.Held, e.PoolSize, e.CheckedOut, e.Dialing, e.Idle, e.Waiting)
	switch {
	case e.DialErrors == 0:
		b.WriteString("none")
	case e.DialErrors >= e.PoolSize:
		fmt.Fprintf(&b, "%d in a row, failing fast until a probe dial succeeds; last: %v", e.DialErrors, e.LastDialError)
	default:
		fmt.Fprintf(&b, "%d in a row; last: %v", e.DialErrors, e.LastDialError)
	}
	if e.OldestCheckoutAt != "" {
		fmt.Fprintf(&b, "; oldest checkout: held %v, taken at %s", roundHeld(e.OldestCheckout), e.OldestCheckoutAt)
	}
	return b.String()
}

// Is reports whether target is ErrPoolTimeout.
func (e *PoolTimeoutError) Is(target error) bool { return target == ErrPoolTimeout }

// timeoutError describes the pool for a Get that timed out after waited.
// It runs only after a timeout, so it may lock every shard.
func (p *ConnPool) timeoutError(waited time.Duration) error {
	e := &PoolTimeoutError{
		Waited:     waited,
		PoolSize:   p.poolSize(),
		Held:       p.places.held(),
		Dialing:    p.places.dialing(),
		Idle:       p.IdleLen(),
		Waiting:    p.waiters.len(),
		DialErrors: p.breaker.failureCount(),
	}
	e.CheckedOut = max(0, e.Held-e.Dialing-e.Idle)
	if p.leakOn {
		e.OldestCheckout, e.OldestCheckoutAt = p.oldestCheckout()
	}
	if e.DialErrors > 0 {
		e.LastDialError = p.breaker.lastError()
	}
	return e
}

// roundHeld rounds a checkout's age for a message: to 100 ms from a second
// on ("5.2s"), to the millisecond below.
func roundHeld(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
