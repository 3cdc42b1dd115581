// Package bgroup runs a pool's background goroutines (reaper, probe,
// MinIdleConns dials) so that closing the pool can wait for all of them.
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

// Stop refuses further Go calls and waits for the running goroutines.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.wg.Wait()
}
