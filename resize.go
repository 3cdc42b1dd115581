package shardpool

import (
	"runtime"

	"github.com/shardpool/shardpool/internal/connstate"
)

// Live resize (SetPoolSize) and the shedding of surplus connections.
//
// Locking: resizeMu serializes SetPoolSize calls, and guards nothing else.
// The size and the caps derived from it are atomics, read without it. The
// surplus (places held beyond the size) is counted and reserved in the
// places word (places.go), so that callers racing to close surplus close
// exactly as many as there are.
//
// Shrinking stores the new size first: from then on acquireDial refuses
// to take a place while the pool holds as many (tryAcquire re-checks a
// place it took against a size that changed meanwhile). It then sets
// putOver and closes idle surplus, longest idle first. Checked-out surplus
// is closed when it is Put (shedOnPut) or Removed (any close frees a
// place). putOver (a bit of putFlags) is a hint that surplus may exist,
// read by every Put in the same load as its other flags, so that a pool
// without surplus pays nothing more for all this; it is cleared by whoever
// finds no surplus, and set again at once if a shrink made some meanwhile
// (settleOver).

// poolSize returns the current PoolSize.
func (p *ConnPool) poolSize() int { return int(p.size.Load()) }

// dialLimit returns MaxConcurrentDials for a pool of size connections.
func (p *ConnPool) dialLimit(size int) int {
	if d := p.opt.MaxConcurrentDials; d > 0 {
		return min(d, size)
	}
	return size
}

// SetPoolSize changes PoolSize on a live pool. n <= 0 means the default
// (10 × GOMAXPROCS); values above 2,097,151 mean that. It returns ErrClosed
// once the pool is closed (or shutting down), and nil otherwise. It is safe
// to call concurrently with every other method.
//
// Growing serves waiting Gets at once: they dial into the new places.
// Shrinking closes idle connections beyond the new size at once, longest
// idle first. Surplus connections that are checked out are closed when
// they are Put or Removed, until the pool holds no more than n. From the
// moment SetPoolSize returns, no dial starts while the pool holds n or more;
// a dial already under way finishes, and its connection counts as surplus.
//
// MinIdleConns and MaxIdleConns are capped by the new size as at
// NewConnPool, and MaxConcurrentDials' default follows it. Idle
// connections beyond a lower MaxIdleConns are closed, longest idle first,
// before SetPoolSize returns. Stats().PoolSize reports the size.
func (p *ConnPool) SetPoolSize(n int) error {
	p.resizeMu.Lock()
	if p.closed.Load() {
		p.resizeMu.Unlock()
		return ErrClosed
	}
	if n <= 0 {
		n = defaultPoolSize()
	}
	n = min(n, maxPoolSize)
	old := p.poolSize()
	if n < old {
		p.breaker.keepClosed(old, n)
	}
	p.size.Store(int64(n))
	p.setMinIdle(n)
	// Surplus first: what it takes from idle also brings IdleLen down
	// towards a lower cap, and a connection the cap cut took would still
	// count as surplus until closed.
	var surplus []*Conn
	if n < old {
		p.setPutFlag(putOver, true)
		surplus = p.claimSurplusIdle()
	}
	var overCap []*Conn
	if p.idle.on {
		overCap = p.setIdleCap(min(p.opt.MaxIdleConns, n))
	}
	p.resizeMu.Unlock()

	// The closes, and the hooks they call, run outside resizeMu: a hook
	// may call SetPoolSize. The connections are claimed, and keep their
	// places (and the surplus ones their sheds) until closed.
	for _, cn := range overCap {
		_ = p.closeConn(cn, CloseIdleCap, placeFreed)
	}
	p.closeShed(surplus)
	if n < old {
		p.settleOver()
	}
	p.kickIfWaiting() // a growth has places for them
	p.checkMinIdleConns()
	return nil
}

// shedOnPut closes cn instead of returning it to the pool when the pool
// holds more connections than PoolSize, and reports whether it did (or
// whether cn was not the caller's to return). Call it when putOver is set.
func (p *ConnPool) shedOnPut(cn *Conn) bool {
	if !p.places.reserveShed(p.poolSize()) {
		p.settleOver()
		return false
	}
	if !cn.tag.CloseCheckedOut() {
		// Put twice (cn is idle), or Filter or Close closed cn, and free
		// its place themselves. While this shed was reserved another Put
		// may have parked surplus that it would have shed: trim it.
		p.places.shedCancel()
		if cn.tag.State() == connstate.Idle {
			p.misuse(cn, ErrNotCheckedOut)
		}
		p.trimIdle()
		return true
	}
	_ = p.closeConn(cn, CloseShrunk, placeShed)
	return true
}

// trimIdle closes idle connections, longest idle first, while the pool
// holds more than PoolSize.
func (p *ConnPool) trimIdle() { p.closeShed(p.claimSurplusIdle()) }

// claimSurplusIdle claims idle connections, longest idle first, while the
// pool holds more than PoolSize, reserving a shed for each; the caller
// closes them with closeShed.
func (p *ConnPool) claimSurplusIdle() []*Conn {
	var claimed []*Conn
	for p.places.reserveShed(p.poolSize()) {
		cn := p.takeOldestIdle()
		if cn == nil {
			p.places.shedCancel()
			break
		}
		claimed = append(claimed, cn)
	}
	return claimed
}

// closeShed closes connections claimed by claimSurplusIdle and gives back
// their sheds and places.
func (p *ConnPool) closeShed(claimed []*Conn) {
	for _, cn := range claimed {
		_ = p.closeConn(cn, CloseShrunk, placeShed)
	}
}

// settleOver clears putOver when the pool holds no surplus. A shrink sets
// putOver after it stores the size; so if one came after the load below, it
// set putOver after this clear, and if one came before, the load sees its size
// and sets putOver again.
func (p *ConnPool) settleOver() {
	p.setPutFlag(putOver, false)
	if p.places.surplus(p.poolSize()) > 0 {
		p.setPutFlag(putOver, true)
	}
}

// takeOldestIdle claims the idle connection that went idle longest ago,
// across the shards, for the caller to close; nil when none is idle.
// Within a shard the order is exact; across shards it is by the pool's
// coarse clock, so without IdleTimeout, MaxConnAge or health checks (no
// clock) it takes the oldest of the first shard that has one.
func (p *ConnPool) takeOldestIdle() *Conn {
	for {
		var from *shard
		var oldest int64
		for i := range p.shards {
			s := &p.shards[i]
			if !s.hasIdle() {
				continue
			}
			if at, ok := s.oldestIdleAt(p.opt.PoolFIFO); ok && (from == nil || at < oldest) {
				from, oldest = s, at
			}
		}
		if from == nil {
			return nil
		}
		if cn := from.takeOldest(p.opt.PoolFIFO); cn != nil {
			return cn
		}
		runtime.Gosched() // taken meanwhile: look again
	}
}
