package shardpool

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a pool's counters. The counters are cumulative
// since the pool was created and wrap around like go-redis's.
type Stats struct {
	Hits     uint32 // Gets served an idle connection
	Misses   uint32 // Gets that dialed a new connection
	Timeouts uint32 // Gets that gave up after PoolTimeout

	TotalConns uint32 // connections the pool holds; equals Len()
	IdleConns  uint32 // idle connections; equals IdleLen()
	StaleConns uint32 // connections closed for IdleTimeout or MaxConnAge

	// As in database/sql: WaitCount counts Gets that started waiting for a
	// connection (it is incremented when the wait begins), WaitDuration the
	// total time finished waits took.
	WaitCount    uint32
	WaitDuration time.Duration
}

// slowStats are the counters of the slow paths: a dial, a wait, a stale
// connection. Hits, the one counter of the hot path, live in the shards
// (shard.hits) so that counting them writes no memory shared by all cores.
type slowStats struct {
	misses       atomic.Uint32
	timeouts     atomic.Uint32
	staleConns   atomic.Uint32
	waitCount    atomic.Uint32
	waitDuration atomic.Int64
}

// Stats returns a snapshot of the pool's counters. It locks each shard in
// turn, so the figures are exact when the pool is quiet and a consistent sum
// of per-shard snapshots when it is not.
func (p *ConnPool) Stats() *Stats {
	var hits uint64
	idle := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		hits += s.hits
		idle += s.n
		s.mu.Unlock()
	}
	return &Stats{
		Hits:         uint32(hits),
		Misses:       p.stats.misses.Load(),
		Timeouts:     p.stats.timeouts.Load(),
		TotalConns:   uint32(p.Len()),
		IdleConns:    uint32(idle),
		StaleConns:   p.stats.staleConns.Load(),
		WaitCount:    p.stats.waitCount.Load(),
		WaitDuration: time.Duration(p.stats.waitDuration.Load()),
	}
}
