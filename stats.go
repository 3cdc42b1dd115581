package shardpool

import (
	"time"

	"github.com/puzpuzpuz/xsync/v3"
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
	// Unhealthy counts idle connections that failed the health check Get
	// runs on them (Options.HealthCheckIdle) and were closed. go-redis v9
	// calls them unusable. Such a connection also counted in Hits when Get
	// took it.
	Unhealthy uint32

	// As in database/sql: WaitCount counts Gets that started waiting for a
	// connection (it is incremented when the wait begins), WaitDuration the
	// total time finished waits took.
	WaitCount    uint32
	WaitDuration time.Duration

	// PendingRequests is how many Gets are waiting now, queued for a
	// connection or a place to dial into (go-redis v9's name). A Get that
	// is dialing is not pending. Exact when the pool is quiet.
	PendingRequests uint32

	// PoolSize is the current PoolSize (see SetPoolSize), and
	// MinIdleConns and MaxIdleConns the current bounds on idle
	// connections, as capped by it; MaxIdleConns is PoolSize when
	// Options.MaxIdleConns is unset. Exporters show them as the pool's
	// limits (OpenTelemetry's db.client.connection.max, .idle.min and
	// .idle.max). The fields below them are shardpool's own, for the
	// options of the same names.
	PoolSize     uint32
	MinIdleConns uint32
	MaxIdleConns uint32
	// Exhausted counts Gets refused with ErrPoolExhausted (MaxWaiters).
	Exhausted uint32
	// IdleCapConns counts connections closed because MaxIdleConns were
	// idle: by Put, or by SetPoolSize lowering the cap.
	IdleCapConns uint32
	// ShrunkConns counts connections closed because the pool held more
	// than PoolSize after SetPoolSize shrank it.
	ShrunkConns uint32
	// Leaks counts checkouts found held past LeakThreshold.
	Leaks uint32
}

// slowStats are the counters of the slow paths: a dial, a wait, a stale
// connection. Hits of the hot path are counted per P (percount.go), so that
// counting them writes no memory shared by all cores.
//
// Under saturation every Get waits, so the counters a wait writes are
// striped (xsync.Counter: one cache line per stripe, a goroutine's stripe
// chosen by its P), and waiting Gets on different cores do not fight over
// one line. The others are written once per dial or closed connection;
// misses, written by every dial, which under churn is every Get, are
// counted as hits are, per P with a plain add while pinned (perPCounter,
// percount.go): an xsync.Counter's add (a sync.Pool Get and Put for its
// stripe, then a CAS) was 4% of ChurnGetRemove's CPU.
type slowStats struct {
	waitCount    *xsync.Counter
	waitDuration *xsync.Counter // nanoseconds
	waitHits     *xsync.Counter // Gets served a connection by a hand-off
	timeouts     *xsync.Counter
	misses       perPCounter // Gets that dialed
	staleConns   *xsync.Counter
	unhealthy    *xsync.Counter
	exhausted    *xsync.Counter
	idleCapped   *xsync.Counter
	shrunk       *xsync.Counter
	leaks        *xsync.Counter
}

func (s *slowStats) init(ps int) {
	s.misses.init(ps)
	for _, c := range []**xsync.Counter{&s.waitCount, &s.waitDuration, &s.waitHits, &s.timeouts,
		&s.staleConns, &s.unhealthy, &s.exhausted, &s.idleCapped, &s.shrunk, &s.leaks} {
		*c = xsync.NewCounter()
	}
}

// Stats returns a snapshot of the pool's counters. It locks each shard in
// turn, so the figures are exact when the pool is quiet and a consistent sum
// of per-shard snapshots when it is not.
func (p *ConnPool) Stats() *Stats {
	return &Stats{
		Hits:            uint32(uint64(p.stats.waitHits.Value()) + p.hits.total()),
		Misses:          uint32(p.stats.misses.total()),
		Timeouts:        uint32(p.stats.timeouts.Value()),
		TotalConns:      uint32(p.Len()),
		IdleConns:       uint32(p.IdleLen()),
		StaleConns:      uint32(p.stats.staleConns.Value()),
		Unhealthy:       uint32(p.stats.unhealthy.Value()),
		WaitCount:       uint32(p.stats.waitCount.Value()),
		WaitDuration:    time.Duration(p.stats.waitDuration.Value()),
		PendingRequests: uint32(p.waiters.len()),
		PoolSize:        uint32(p.poolSize()),
		MinIdleConns:    uint32(p.topUps.goal()),
		MaxIdleConns:    uint32(p.maxIdle()),
		Exhausted:       uint32(p.stats.exhausted.Value()),
		IdleCapConns:    uint32(p.stats.idleCapped.Value()),
		ShrunkConns:     uint32(p.stats.shrunk.Value()),
		Leaks:           uint32(p.stats.leaks.Value()),
	}
}

// activity returns a count that grows with every Get, for the clock to
// tell a quiet pool (see clock.run). The clock calls it once a second.
func (p *ConnPool) activity() uint64 {
	return p.stats.misses.total() + uint64(p.stats.waitCount.Value()) + p.hits.total()
}

// closed counts a connection closed for reason under the Stats counter of
// that reason, if it has one.
func (s *slowStats) closed(reason CloseReason) {
	switch reason {
	case CloseIdleTimeout, CloseMaxAge:
		s.staleConns.Inc()
	case CloseUnhealthy:
		s.unhealthy.Inc()
	case CloseIdleCap:
		s.idleCapped.Inc()
	case CloseShrunk:
		s.shrunk.Inc()
	}
}
