package shardpool

import "time"

// The reaper closes idle connections that have gone stale (IdleTimeout or
// MaxConnAge) so that they do not wait for a Get to meet them.
//
// Locking: none of its own. It sweeps one shard at a time through
// shard.sweep, which holds that shard's lock for at most sweepChunk
// connections at once, so Gets and Puts go on while it runs, on the other
// shards and on the one being swept.

// reaper sweeps every frequency until the pool closes.
func (p *ConnPool) reaper(frequency time.Duration) {
	p.every(frequency, func() { _, _ = p.ReapStaleConns() })
}

// every calls f every d until the pool closes (or starts closing): the
// loop of the pool's periodic goroutines, the reaper and the leak check.
func (p *ConnPool) every(d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// A tick and Close can be ready together; select picks at
			// random, so look again.
			if p.closed.Load() {
				return
			}
			f()
		case <-p.closedCh:
			return
		}
	}
}

// ReapStaleConns sweeps every shard once, closes the idle connections that
// are stale, counts them in Stats().StaleConns, and returns how many it
// closed. It returns ErrClosed after Close.
func (p *ConnPool) ReapStaleConns() (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if !p.exp.on() {
		return 0, nil
	}
	p.clock.refresh()
	n := 0
	var stale []*Conn
	for i := range p.shards {
		stale = p.shards[i].sweep(p.clock.now.Load(), p.exp, p.opt.PoolFIFO, stale[:0])
		for _, cn := range stale {
			p.discard(cn)
			p.release()
		}
		n += len(stale)
	}
	if n > 0 {
		p.checkMinIdleConns()
	}
	return n, nil
}
