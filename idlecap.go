package shardpool

import (
	"runtime"
	"sync/atomic"
)

// The idle cap (Options.MaxIdleConns): the pool never holds more idle
// connections than max.
//
// Design: idle quotas that move. Each shard has a quota that bounds its
// list (shard.go), and quota - n is the idle room it holds; the rest of the
// room is free, here. So, at every moment at which no caller is moving
// room between those places:
//
//	Σ shard.quota + free = max, and so IdleLen <= max - free
//
// A park compares the shard's list with its quota, under the shard's lock,
// and a pop leaves the quota alone (the room it makes stays with the
// shard), so the hot path, a Get and a Put on the same shard, pays one
// comparison and writes nothing shared. A park into a full shard takes a
// unit of free room, and if there is none, a unit of the room some other
// shard holds (findRoom). Only when free and every shard are without room
// does it close its connection instead: the pool holds max idle. Room a
// shard does not use stays there until a park elsewhere needs it; taking
// it then costs that park one lock per shard it looks at.
//
// Changing max (SetPoolSize) adds the difference to free. A cut can make
// free negative: a debt, which SetPoolSize pays before it returns by taking
// the shards' room and then closing idle connections, longest idle first.
//
// Without MaxIdleConns every shard's quota is unbounded and nothing here
// is used.
//
// Locking: free and max are atomics; on is read-only after NewConnPool.
type idleCap struct {
	on bool // MaxIdleConns is set

	free atomic.Int64 // room held by no shard; negative while a cut is paid
	max  atomic.Int64 // the bound now: min(MaxIdleConns, PoolSize)
}

// init sets the cap to limit, all of its room free.
func (c *idleCap) init(limit int) {
	c.on = true
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
// free room, or a unit of another shard's. It reports false when it found
// none: the pool holds MaxIdleConns idle connections, or did a moment ago.
//
// It moves one unit, never more: a unit it moves is used by a park into s
// (its caller's, or another that got there first, after which its caller
// looks again), so no room is left where no park needs it while a scan
// elsewhere misses it. When the pool is quiet but for Puts, a Put is
// therefore refused only at the cap; with Gets popping on other cores at
// the same moment, a Put may miss room they are making as it looks.
func (p *ConnPool) findRoom(s *shard) bool {
	if !p.idle.take() && !p.eachOther(s, (*shard).takeOneRoom) {
		return false
	}
	s.addRoom(1)
	return true
}

// setQuota sets the quota of an empty s, for NewConnPool.
func (s *shard) setQuota(q int) {
	s.mu.Lock()
	s.quota = q
	s.mu.Unlock()
}

// addRoom raises the quota of s by n, with room found elsewhere by a
// caller whose park returned parkFull.
func (s *shard) addRoom(n int) {
	s.mu.Lock()
	s.quota += n
	s.mu.Unlock()
}

// takeOneRoom takes one unit of the idle room s holds, if it holds any,
// for a park into another shard.
func (s *shard) takeOneRoom() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quota > s.n {
		s.quota--
		return true
	}
	return false
}

// takeRoom takes all the idle room s holds (its quota less its list), for
// a cut of MaxIdleConns.
func (s *shard) takeRoom() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.quota - s.n
	s.quota = s.n
	return n
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
			// No room held and nothing idle, yet a debt: by the
			// invariant, a park moving room from another shard to
			// its own (findRoom) is between the two. Let it land.
			runtime.Gosched()
			continue
		}
		claimed = append(claimed, cn)
	}
	return claimed
}
