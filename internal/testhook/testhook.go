// Package testhook is the one way this module's tests reach into both
// pools, in both directions. The functions in the first group are installed
// by package shardpool and package baseline at init, for tests to call. The
// second group are hooks that tests install, for package shardpool to call
// at a point where a test must act inside a race window; they are nil
// otherwise, and the pool pays one load of a nil pointer for each.
// Nothing outside tests calls or sets them.
package testhook

import "time"

var (
	// ManualClock stops a *shardpool.ConnPool's clock and returns a
	// function that moves it forward.
	ManualClock func(pool any) (advance func(time.Duration))

	// BaselineClock makes a *baseline.ConnPool read the time from now.
	BaselineClock func(pool any, now func() time.Time)

	// WaitDials waits for the background dials of a closed pool of either
	// kind, which Close does not wait for.
	WaitDials func(pool any)

	// BaselineWaitDials is WaitDials for a *baseline.ConnPool.
	BaselineWaitDials func(pool any)
)

// Hooks set by tests (and reset to nil by them when done), called by
// package shardpool. Their arguments are the pool (*shardpool.ConnPool),
// a shard (*shardpool.shard) or a connection (*shardpool.Conn), as named.
var (
	// BeforeHotPut runs in putIdle between its look at the wait list and
	// the Put into the shard's hot connection: the window in which a Get
	// can queue unseen.
	BeforeHotPut func(pool any)

	// AfterSizeLoad runs in tryAcquire between its load of the size and
	// its take of a place: the window a SetPoolSize can fall in.
	AfterSizeLoad func(pool any)

	// HotSpilling runs while a shard moves its hot connection into its
	// list, between the two steps, with the shard's lock held: a scan then
	// must still find the shard non-empty.
	HotSpilling func(shard any)

	// CountsHotLoaded runs while a shard counts its idle connections,
	// between its load of the hot pointer and its look at that
	// connection's state: a Put may demote the connection meanwhile.
	CountsHotLoaded func(shard any)

	// SweepBetweenChunks runs while a sweep has released a shard's lock
	// between two chunks; next is the connection it means to look at next.
	SweepBetweenChunks func(shard, next any)

	// AfterIdleConnParked runs in a MinIdleConns dial between the park and
	// the end of the dial's count: the window in which the connection is
	// counted twice.
	AfterIdleConnParked func(pool any)
)
