package shardpool

import (
	"sync/atomic"

	"github.com/shardpool/shardpool/internal/testhook"
)

// The MinIdleConns top-up: the pool keeps MinIdleConns idle connections
// dialed, within PoolSize, by dialing in the background when it holds
// fewer.
//
// Events that can leave the pool short (a close, a Get that leaves its
// shard below its share, a resize, the breaker closing) call
// checkMinIdleConns, which asks for a top-up. Top-ups run one at a time
// (topUps.runs, a rounds: see rounds.go), as serve rounds do: two top-ups
// that each counted the pool before the other's dials started would dial
// twice for the same shortfall. A top-up counts idle connections plus the
// dials under way and starts the dials that lack; each dial parks its
// connection in the next shard in turn, so that the top-up spreads over
// the shards, and then checks again.
//
// Locking: none. The top-up's state is atomics, touched by its methods
// only; its dials run in p.dials, which Close does not wait for.

// topUps is the state of the MinIdleConns top-up.
type topUps struct {
	target   atomic.Int32  // MinIdleConns now, capped by PoolSize and MaxIdleConns
	perShard atomic.Int32  // a shard's share of target, rounded up
	dialing  atomic.Int32  // top-up dials under way, until their connection is parked
	next     atomic.Uint32 // the shard the next top-up dial parks in
	runs     rounds
}

// set makes m the target, for a pool of shards shards.
func (t *topUps) set(m, shards int) {
	t.target.Store(int32(m))
	t.perShard.Store(int32((m + shards - 1) / shards))
}

// goal returns MinIdleConns now; 0 means no top-ups.
func (t *topUps) goal() int { return int(t.target.Load()) }

// share returns a shard's share of the target: a Get that leaves its shard
// with fewer asks for a top-up. 0 means no top-ups.
func (t *topUps) share() int { return int(t.perShard.Load()) }

// lacking returns how many dials the target lacks beyond idle, the idle
// connections, and dialing, the dials under way, which the caller loaded
// (underWay) before it counted idle: see topUp.
func (t *topUps) lacking(dialing int32, idle int) int {
	return t.goal() - int(dialing) - idle
}

// request makes sure a top-up (run) starts after this call; see rounds.
func (t *topUps) request(run func()) { t.runs.request(run) }

// underWay returns the top-up dials under way.
func (t *topUps) underWay() int32 { return t.dialing.Load() }

// dialStarted and dialEnded count a top-up dial under way.
func (t *topUps) dialStarted() { t.dialing.Add(1) }
func (t *topUps) dialEnded()   { t.dialing.Add(-1) }

// home returns the index, within shards (a power of two, less one: mask),
// of the shard a top-up dial parks in: the next in turn.
func (t *topUps) home(mask uint32) uint32 { return t.next.Add(1) & mask }

// setMinIdle caps MinIdleConns for a pool of size connections.
func (p *ConnPool) setMinIdle(size int) {
	m := min(p.opt.MinIdleConns, size)
	if p.idle.on {
		m = min(m, p.opt.MaxIdleConns)
	}
	p.topUps.set(m, len(p.shards))
}

// checkMinIdleConns makes sure a top-up runs after this call, so that idle
// connections plus those being dialed for MinIdleConns reach it (within
// PoolSize).
func (p *ConnPool) checkMinIdleConns() {
	if p.topUps.goal() != 0 {
		p.topUps.request(p.topUp)
	}
}

// checkShardShare asks for a top-up when a Get left shard s with fewer
// than share, its share of MinIdleConns (Get tests share > 0 first, so a
// pool without MinIdleConns pays one load). left is what the Get's pop
// reported: -1 after a take of the hot connection, and then s is counted.
func (p *ConnPool) checkShardShare(s *shard, left, share int) {
	if left < 0 {
		left = s.idleCount()
	}
	if left < share {
		p.checkMinIdleConns()
	}
}

// topUp starts the background dials MinIdleConns lacks. Only the top-up's
// runner runs it, so the dials under way change under it only by dials
// ending.
//
// It loads the dials under way before it counts idle connections. A dial
// parks its connection and only then stops counting as under way, and
// calls checkMinIdleConns after that; so a dial that ends between the two
// loads is counted twice (this top-up falls short by one, and the check
// that follows the dial's end makes it up), never zero times (which would
// dial one too many, and nothing would take it back).
func (p *ConnPool) topUp() {
	dialing := p.topUps.underWay()
	for need := p.topUps.lacking(dialing, p.IdleLen()); need > 0; need-- {
		if p.closed.Load() || p.breaker.open(p.poolSize()) || !p.tryAcquire() {
			return
		}
		p.topUps.dialStarted()
		if !p.dials.Go(p.addIdleConn) {
			p.topUps.dialEnded()
			p.endDial(true)
			return
		}
	}
}

// addIdleConn dials one connection into a place and dial slot taken by
// topUp and parks it in the next shard in turn; then it checks
// MinIdleConns again (see topUp). A failed dial frees its place and does
// not check: the next event that does (a Remove, a Get, the breaker's
// probe succeeding) retries, instead of a loop of failing dials.
func (p *ConnPool) addIdleConn() {
	if !p.dialIdle() {
		p.topUps.dialEnded()
		return
	}
	if h := testhook.AfterIdleConnParked; h != nil {
		h(p)
	}
	p.topUps.dialEnded()
	p.checkMinIdleConns()
}

// dialIdle dials one connection into a place and dial slot the caller
// took, and parks it idle in the next shard in turn (a waiting Get may
// take it at once). It reports false if the dial failed; its place is
// then free again.
func (p *ConnPool) dialIdle() bool {
	cn, err := p.dialConn(p.bgCtx, true, true, nil)
	p.endDial(err != nil)
	if err != nil {
		return false
	}
	cn.home.Store(&p.shards[p.topUps.home(p.mask)])
	p.putIdle(cn, false)
	return true
}
