package shardpool

import (
	"fmt"
	"math"
	"sync"

	"github.com/shardpool/shardpool/internal/connstate"
)

// CheckInvariants locks the registry and every shard and checks that the
// pool's structures agree with each other. It returns the first
// disagreement. Checked-out connections may change state while it runs, so
// it checks only what the locks it holds make stable.
func (p *ConnPool) CheckInvariants() error {
	p.reg.lockAll()
	defer p.reg.unlockAll()
	for i := range p.shards {
		p.shards[i].mu.Lock()
		defer p.shards[i].mu.Unlock()
	}

	pooled := 0
	for r := range p.reg.shards {
		for i, cn := range p.reg.shards[r].conns {
			if int(cn.regShard) != r || int(cn.regIdx) != i {
				return fmt.Errorf("registry shard %d slot %d holds a connection that thinks it is at %d/%d", r, i, cn.regShard, cn.regIdx)
			}
			if cn.tag.Owner != any(p) {
				return fmt.Errorf("registry shard %d slot %d holds another pool's connection", r, i)
			}
			if cn.tag.Pooled {
				pooled++
			}
		}
	}
	// More places than PoolSize may be held after SetPoolSize shrank the
	// pool, until the surplus is closed; the tests that resize check the
	// bound at the dialer instead.
	if held := p.places.held(); p.closed.Load() == false && (pooled > held || (!resized(p) && held > p.poolSize())) {
		return fmt.Errorf("%d pooled connections registered, %d places held, PoolSize %d", pooled, held, p.poolSize())
	}
	// Slots may outnumber places for a moment: Filter can close a
	// connection just dialed, freeing its place, before its dial gives
	// the slot back.
	if d, limit := p.places.dialing(), p.dialLimit(p.poolSize()); !resized(p) && d > limit {
		return fmt.Errorf("%d dial slots taken, MaxConcurrentDials %d", d, limit)
	}
	idle := 0
	for i := range p.shards {
		s := &p.shards[i]
		n := 0
		var prev *Conn
		for cn := s.head; cn != nil; prev, cn = cn, cn.next {
			n++
			if n > s.n {
				return fmt.Errorf("shard %d: list longer than its count %d", i, s.n)
			}
			if cn.prev != prev {
				return fmt.Errorf("shard %d: broken prev link at position %d", i, n)
			}
			if st := cn.tag.State(); st != connstate.Idle {
				return fmt.Errorf("shard %d: %s connection in the idle list", i, st)
			}
			if cn.home.Load() != s {
				return fmt.Errorf("shard %d: idle connection whose home is another shard", i)
			}
			if !p.closed.Load() && !p.reg.registered(cn) {
				return fmt.Errorf("shard %d: idle connection missing from the registry", i)
			}
		}
		if s.tail != prev || n != s.n {
			return fmt.Errorf("shard %d: count %d, list %d, tail ok %v", i, s.n, n, s.tail == prev)
		}
		if s.quota < s.n || (!p.idle.on && s.quota != math.MaxInt) {
			return fmt.Errorf("shard %d: quota %d, %d idle", i, s.quota, s.n)
		}
		// The hot pointer is written without the lock, so only what a
		// claimer cannot undo while the registry's lock is held is
		// checked: a hot connection that is not closed is registered.
		if cn := s.hot.Load(); cn != nil {
			if p.opt.PoolFIFO || p.idle.on {
				return fmt.Errorf("shard %d: a hot connection in a FIFO or capped pool", i)
			}
			if cn.tag.State() != connstate.Closed && !p.closed.Load() && !p.reg.registered(cn) {
				return fmt.Errorf("shard %d: hot connection missing from the registry", i)
			}
		}
		idle += n
		if n > 0 && !s.hasIdle() {
			return fmt.Errorf("shard %d: nonEmpty clear with %d idle", i, n)
		}
	}
	// Σ quota + free room + room in transit (findRoom) = MaxIdleConns,
	// and IdleLen <= Σ quota; so with free room not negative (no cut
	// being paid), IdleLen is within the bound. The bound is loaded after free:
	// setIdleCap stores them in the order that keeps this true.
	if p.idle.on {
		if free, limit := p.idle.free.Load(), p.idle.max.Load(); free >= 0 && int64(idle) > limit {
			return fmt.Errorf("%d idle, MaxIdleConns %d", idle, limit)
		}
	}
	return p.waiters.check()
}

// check verifies the wait list's links, its count and the queued flags.
func (l *waitlist) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	var prev *waiter
	for w := l.head; w != nil; prev, w = w, w.next {
		n++
		if w.prev != prev || !w.queued {
			return fmt.Errorf("wait list: waiter %d: prev ok %v, queued %v", n, w.prev == prev, w.queued)
		}
		if n > l.len() {
			return fmt.Errorf("wait list: longer than its count %d", l.len())
		}
	}
	if l.tail != prev || n != l.len() {
		return fmt.Errorf("wait list: count %d, list %d, tail ok %v", l.len(), n, l.tail == prev)
	}
	return nil
}

// CheckConn runs the built-in health check on cn.
func CheckConn(cn *Conn) error { return connCheck(cn) }

// CheckQuiet checks what holds once no call is in flight and the background
// dials have ended: every place taken belongs to a pooled connection, and
// no dial slot is taken.
func (p *ConnPool) CheckQuiet() error {
	pooled := 0
	for _, cn := range p.reg.snapshot() {
		if cn.tag.Pooled {
			pooled++
		}
	}
	if h, d := p.places.held(), p.places.dialing(); h != pooled || d != 0 {
		return fmt.Errorf("%d places and %d dial slots taken, %d pooled connections", h, d, pooled)
	}
	if p.idle.on {
		quota := int(p.idle.free.Load())
		for i := range p.shards {
			quota += p.shards[i].quotaForCheck()
		}
		if limit := int(p.idle.max.Load()); quota != limit {
			return fmt.Errorf("quotas and free room %d, MaxIdleConns %d", quota, limit)
		}
	}
	return nil
}

// quotaForCheck reads the quota of s.
func (s *shard) quotaForCheck() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota
}

// SetResized marks p as resized by a test, so that CheckInvariants does
// not hold it to the current PoolSize (surplus may be checked out).
func (p *ConnPool) SetResized() { resizedPools.Store(p, true) }

var resizedPools sync.Map

func resized(p *ConnPool) bool { _, ok := resizedPools.Load(p); return ok }
