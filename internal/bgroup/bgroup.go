// Package bgroup runs a pool's background goroutines (reaper, clock, probe,
// MinIdleConns dials), so that closing the pool can refuse new ones and
// wait for those that must end before Close returns.
package bgroup

import "sync"

// Group is a set of goroutines that Stop waits for. The zero value is ready.
type Group struct {
	mu      sync.Mutex
	stopped bool // guarded by mu
	wg      sync.WaitGroup
}

// Go runs f on a new goroutine, unless Stop has been called; it reports
// whether it did. The mutex orders every wg.Add before Stop's wg.Wait.
func (g *Group) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// Close refuses further Go calls and returns at once, leaving the running
// goroutines to finish on their own.
func (g *Group) Close() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// Wait waits for the goroutines started so far. Call it after Close, so
// that none is started while it waits.
func (g *Group) Wait() { g.wg.Wait() }

// Stop refuses further Go calls and waits for the running goroutines.
func (g *Group) Stop() {
	g.Close()
	g.Wait()
}
