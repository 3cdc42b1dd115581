package shardpool

import (
	"runtime"
	"sync/atomic"
)

// The idle cap (Options.MaxIdleConns): the pool never holds more idle
// connections than max.
//
// Design: idle room, a quota that moves. Every unit of room is either an
// idle connection, or room cached by a shard (shard.room, under its lock),
// or free room here (free). So, at every moment at which no caller is
// moving room between those places:
//
//	IdleLen + Σ shard.room + free = max
//
// A park takes a unit of its shard's room and an unlink gives one back,
// under the shard's lock (shard.go), so the hot path, a Get and a Put on
// the same shard, writes only that shard's line. A park that finds its
// shard without room takes a unit of free room, and if there is none,
// takes all the room some other shard caches (findRoom). Only when free
// and every shard are without room does it close its connection instead:
// the pool holds max idle. A shard keeps at most keep units (max over the
// number of shards, rounded up); what an unlink adds beyond that goes back
// to free, so that room does not pile up where nobody parks.
//
// Changing max (SetPoolSize) adds the difference to free. A cut can make
// free negative: a debt, which SetPoolSize pays before it returns by taking
// the shards' room and then closing idle connections, longest idle first.
//
// Locking: free and max are atomics; on, keep and the shards' pointers to
// this struct are read-only after NewConnPool.
type idleCap struct {
	on   bool // MaxIdleConns is set; without it nothing here is used
	keep int  // most room a shard caches

	free atomic.Int64 // room cached by no shard; negative while a cut is paid
	max  atomic.Int64 // the bound now: min(MaxIdleConns, PoolSize)
}

// init sets the cap to limit, for n shards, all of its room free.
func (c *idleCap) init(limit, n int) {
	c.on = true
	c.keep = max(1, (limit+n-1)/n)
	c.max.Store(int64(limit))
	c.free.Store(int64(limit))
}

// take takes one unit of free room, if there is one.
func (c *idleCap) take() bool {
	for {
		f := c.free.Load()
		if f <= 0 {
			return false
		}
		if c.free.CompareAndSwap(f, f-1) {
			return true
		}
	}
}

// maxIdle returns the bound on idle connections now: MaxIdleConns as
// capped by PoolSize, or PoolSize when it is unset.
func (p *ConnPool) maxIdle() int {
	if p.idle.on {
		return int(p.idle.max.Load())
	}
	return p.poolSize()
}

// findRoom gives shard s a unit of idle room for a park that found none:
// free room, or all of another shard's. It reports false when it found
// none: the pool holds MaxIdleConns idle connections, or did a moment ago.
func (p *ConnPool) findRoom(s *shard) bool {
	if p.idle.take() {
		s.addRoom(1)
		return true
	}
	for i := 1; i < len(p.shards); i++ {
		if n := p.shards[(s.idx+i)&int(p.mask)].takeRoom(); n > 0 {
			s.addRoom(n)
			return true
		}
	}
	if p.idle.take() { // an unlink flushed room meanwhile
		s.addRoom(1)
		return true
	}
	return false
}

// dropOverCap closes cn, which its caller could not park: the pool holds
// MaxIdleConns idle. Freeing its place kicks a waiting Get, if there is
// one, which takes an idle connection or dials into the place.
func (p *ConnPool) dropOverCap(cn *Conn) {
	if !cn.tag.CloseCheckedOut() {
		return // Filter or Close claimed it meanwhile
	}
	p.stats.idleCapped.Inc()
	_ = p.destroy(cn, CloseIdleCap)
}

// setIdleCap moves the idle cap to limit and, for a cut, pays the debt:
// the shards' cached room first, then idle connections, longest idle
// first, which it claims and returns for the caller to close and release
// (outside resizeMu). Call it only from SetPoolSize, under resizeMu.
//
// The order of the two stores keeps IdleLen <= max for a reader of max
// (CheckInvariants): a rise raises the bound before the room, a cut lowers
// the room before the bound.
func (p *ConnPool) setIdleCap(limit int) (claimed []*Conn) {
	old := int(p.idle.max.Load())
	if !p.idle.on || limit == old {
		return nil
	}
	if limit > old {
		p.idle.max.Store(int64(limit))
		p.idle.free.Add(int64(limit - old))
		return nil
	}
	p.idle.free.Add(int64(limit - old))
	p.idle.max.Store(int64(limit))
	for p.idle.free.Load() < 0 {
		for i := range p.shards {
			if n := p.shards[i].takeRoom(); n > 0 {
				p.idle.free.Add(int64(n))
			}
		}
		if p.idle.free.Load() >= 0 {
			return claimed
		}
		cn := p.takeOldestIdle()
		if cn == nil {
			// No room cached and nothing idle, yet a debt: by the
			// invariant, a park moving room from free to its shard
			// (findRoom) is between the two. Let it land.
			runtime.Gosched()
			continue
		}
		claimed = append(claimed, cn)
	}
	return claimed
}
