package shardpool

import "context"

// Get: the hot path (an idle connection in the caller's shard), the other
// shards, a dial into a free place, and the hand-over to the wait path.
//
// Locking: none of its own. Get pops from shards through their methods
// (shard.go, hot.go), takes places through p.places (places.go), and
// waits through the wait list (wait.go). A health check runs on a
// connection already checked out, outside every lock.

// Get returns a connection for the caller's exclusive use until it is Put,
// Removed or closed. It takes an idle connection if there is one (closing
// the stale ones it meets), dials one if fewer than PoolSize are held, and
// otherwise waits, in arrival order, for a Put or a free place: up to
// PoolTimeout (then ErrPoolTimeout) or until ctx is done (then ctx.Err()).
// A dial error is returned as is; after PoolSize dial errors in a row,
// Gets fail fast with the last one until a background probe dials again
// (see ProbeInterval). With Options.MaxWaiters, a Get that would wait
// behind that many returns ErrPoolExhausted at once.
func (p *ConnPool) Get(ctx context.Context) (*Conn, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	now := p.clock.read()
	s, pid := p.pinShard()
	// While Gets are waiting, newcomers queue behind them instead of taking
	// what a Put just parked: arrival order, no starvation.
	if p.waiters.len() == 0 {
		// The hot path: the hot connection of the caller's shard, fresh and
		// not due a health check, taken and counted while the goroutine is
		// pinned to its P (popHot never blocks; percount.go says why the pin).
		cn, stale := s.popHot(now, p.exp)
		if cn != nil && !stale && !p.checkDue(cn, now) {
			p.hits.addPinned(pid)
			unpin()
			if share := p.topUps.share(); share > 0 { // tookFrom, inline
				p.checkShardShare(s, -1, share)
			}
		} else {
			unpin()
			if cn != nil {
				cn = p.accept(cn, stale, now, s, s, -1)
			}
			if cn == nil && s.hasIdle() { // no lock on an empty shard: under churn, every Get
				cn = p.takeIdle(s, s)
			}
		}
		if cn != nil {
			if p.leakOn {
				p.track(cn)
			}
			return cn, nil
		}
	} else {
		unpin()
	}
	cn, err := p.getSlow(ctx, s)
	if cn != nil && p.leakOn {
		p.track(cn)
	}
	return cn, err
}

// getSlow is Get when the caller's shard has nothing fresh: take from other
// shards, dial into a free place, or wait.
func (p *ConnPool) getSlow(ctx context.Context, home *shard) (*Conn, error) {
	if p.waiters.len() == 0 {
		if cn := p.takeOther(home); cn != nil {
			return cn, nil
		}
		if p.tryAcquire() {
			return p.dialPooled(ctx, home)
		}
	}
	return p.wait(ctx, home)
}

// getExhausted is a Get that would wait while MaxWaiters Gets wait. It
// takes an idle connection or dials if it can, as it must never be refused
// when it could, and otherwise returns ErrPoolExhausted. Taking an idle
// connection here goes ahead of the waiters, but only when the queue is
// full, and the only other choice is to refuse the Get.
func (p *ConnPool) getExhausted(ctx context.Context, home *shard) (*Conn, error) {
	if home.hasIdle() {
		if cn := p.takeIdle(home, home); cn != nil {
			return cn, nil
		}
	}
	if cn := p.takeOther(home); cn != nil {
		return cn, nil
	}
	if p.tryAcquire() {
		return p.dialPooled(ctx, home)
	}
	p.stats.exhausted.Inc()
	p.waited(0, WaitExhausted)
	return nil, ErrPoolExhausted
}

// takeOther takes a fresh idle connection from the shards other than home,
// for a Get whose own shard had none, and makes home its home.
func (p *ConnPool) takeOther(home *shard) (cn *Conn) {
	p.eachOther(home, func(from *shard) bool {
		if !from.hasIdle() {
			return false // without locking it: a miss costs no lock per shard
		}
		cn = p.takeIdle(from, home)
		return cn != nil
	})
	return cn
}

// eachOther calls f on every shard but s, from the one after s round, until
// f returns true, and reports whether it did. Each caller starts at its
// own shard, so callers on different Ps spread over the shards.
func (p *ConnPool) eachOther(s *shard, f func(*shard) bool) bool {
	for i := 1; i < len(p.shards); i++ {
		if f(&p.shards[(s.idx+i)&int(p.mask)]) {
			return true
		}
	}
	return false
}

// takeIdle returns a fresh idle connection from shard from, closing the
// stale and unhealthy ones it meets, and makes home its home.
func (p *ConnPool) takeIdle(from, home *shard) *Conn {
	for {
		now := p.clock.read()
		cn, stale, left := from.pop(now, p.exp)
		if cn == nil {
			return nil
		}
		if cn = p.accept(cn, stale, now, from, home, left); cn != nil {
			return cn
		}
	}
}

// accept finishes a take of cn, just popped from shard from at now (stale
// and left as pop returned them), for a Get whose shard is home. It counts
// a fresh cn as a hit, closes a stale or unhealthy one (and returns nil),
// and makes home the home of the one it returns.
func (p *ConnPool) accept(cn *Conn, stale bool, now int64, from, home *shard, left int) *Conn {
	if !stale {
		p.hits.inc()
	}
	if stale || p.checkDue(cn, now) {
		if usable, held := p.vetIdle(cn, stale); !usable {
			if held {
				p.release()
				p.checkMinIdleConns()
			}
			return nil
		}
	}
	if from != home {
		cn.home.Store(home)
	}
	p.tookFrom(from, left)
	return cn
}

// tookFrom asks for a MinIdleConns top-up if a Get's take left shard s
// below its share (left as pop returned it).
func (p *ConnPool) tookFrom(s *shard, left int) {
	if share := p.topUps.share(); share > 0 {
		p.checkShardShare(s, left, share)
	}
}

// vetIdle sorts cn, just popped from a shard, for takeIdle and the serve
// rounds, when it is stale or due a health check (checkDue): the callers
// test that first, so that the hot path pays two comparisons. A stale cn
// (which pop claimed) and one that fails its check are closed here, and
// usable is false. Their place is kept: held reports that the caller holds
// it now, to free or to hand on. held is false for an unhealthy cn that
// Filter or Close claimed first: they close it and free its place.
func (p *ConnPool) vetIdle(cn *Conn, stale bool) (usable, held bool) {
	if stale {
		_ = p.closeConn(cn, p.staleReason(cn, p.clock.read()), placeKept)
		return false, true
	}
	if p.healthy(cn) {
		return true, false
	}
	return false, p.closeCheckedOut(cn, CloseUnhealthy, placeKept)
}
