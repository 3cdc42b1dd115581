// Package testhook lets this module's tests reach into both pools: it holds
// functions that package shardpool and package baseline install at init.
// Nothing outside tests calls them.
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
