package shardpool

import (
	"runtime"

	"github.com/shardpool/shardpool/internal/connstate"
	"github.com/shardpool/shardpool/internal/testhook"
)

// Put and Remove: a connection comes back from its holder, to a waiting
// Get (wait.go), to its home shard, or to be closed.
//
// Locking: none of its own. Put parks through the shards' methods
// (shard.go, hot.go), hands to waiters as the server (wait.go), and closes
// through closeConn (close.go). putFlags is an atomic word.

// Put returns cn, which the caller got from Get, to the pool: to the oldest
// waiting Get if there is one, else to idle. A connection from NewConn is
// closed instead. Put of a nil connection, of another pool's, or of one that
// is already idle (Put twice) is a no-op reported to Options.OnMisuse; Put
// of a connection that was closed meanwhile (by Close, Filter or CloseConn)
// is a silent no-op.
func (p *ConnPool) Put(cn *Conn) {
	if !p.owns(cn) {
		p.misuse(cn, ErrUnknownConn)
		return
	}
	if !cn.tag.Pooled {
		p.Remove(cn, nil)
		return
	}
	home := cn.home.Load() // set before cn was handed out
	if home.inHot(cn) {
		p.misuse(cn, ErrNotCheckedOut) // Put twice: it is the hot connection
		return
	}
	if f := p.putFlags.Load(); f != 0 {
		if f&putLeak != 0 {
			untrack(cn)
		}
		if f&putOver != 0 && p.shedOnPut(cn) {
			return
		}
	}
	if p.waiters.len() != 0 {
		// With Gets waiting and no serve round running, hand cn straight
		// to the oldest (see wait.go). The state check keeps a second Put
		// on the path that reports it.
		if cn.tag.State() == connstate.CheckedOut && p.serving.tryEnter() {
			p.putServing(cn)
			return
		}
	} else if p.useHot {
		// The hot path: putIdle's put as the hot connection, inline, and
		// done unless something is left to do (see putIdle and putHot).
		if h := testhook.BeforeHotPut; h != nil {
			h(p)
		}
		ok, orphan := home.putHot(cn, p.clock.read(), &p.closed)
		if !ok || orphan != nil || p.waiters.len() != 0 {
			p.parked(cn, p.hotResult(ok, orphan), true)
		}
		return
	}
	p.putIdle(cn, true)
}

// putIdle parks cn in its home shard and, if Gets are waiting, kicks a serve
// round. fromPut is set for a caller's Put, as opposed to the pool giving a
// connection back (a server, a Get that gave up, a MinIdleConns dial): then
// a cn that cannot be parked is reported to OnMisuse if it is idle (a second
// Put), and the caller waits for an active server it kicked (awaitRound).
// A cn closed meanwhile is left alone. A cn that the pool, shutting down,
// refuses is closed, and so is one beyond PoolSize (after a shrink) or
// beyond MaxIdleConns.
func (p *ConnPool) putIdle(cn *Conn, fromPut bool) {
	if !fromPut && p.putFlags.Load()&putOver != 0 && p.shedOnPut(cn) {
		return
	}
	home := cn.home.Load()
	var r parkResult
	if p.useHot && p.waiters.len() == 0 {
		if h := testhook.BeforeHotPut; h != nil {
			h(p)
		}
		r = p.hotResult(home.putHot(cn, p.clock.read(), &p.closed))
	} else {
		r = p.park(cn, home)
	}
	p.parked(cn, r, fromPut)
}

// parked finishes putIdle (and Put's hot path) once cn is parked, made the
// hot connection, or refused (r): it closes a cn refused for want of room
// or because the pool is closed, reports a second Put, and kicks a serve
// round if Gets are waiting.
func (p *ConnPool) parked(cn *Conn, r parkResult, fromPut bool) {
	switch r {
	case parkFull:
		p.closeCheckedOut(cn, CloseIdleCap, placeFreed)
		return
	case notParked:
		switch {
		case fromPut && cn.tag.State() == connstate.Idle:
			p.misuse(cn, ErrNotCheckedOut)
		case p.closed.Load():
			p.closeCheckedOut(cn, ClosePoolClosed, placeFreed) // Shutdown: closed as it comes back
		}
		return
	}
	// Parked (or made the hot connection) first, then the load: wait.go
	// says why no wake-up is lost.
	if p.waiters.len() != 0 && !p.kick() && fromPut {
		p.awaitRound(cn)
	}
}

// park links cn into the list of home, finding it idle room elsewhere
// while MaxIdleConns leaves home none (idlecap.go).
func (p *ConnPool) park(cn *Conn, home *shard) parkResult {
	r := home.park(cn, p.clock.read(), p.opt.PoolFIFO, &p.closed)
	for r == parkFull && p.findRoom(home) {
		r = home.park(cn, p.clock.read(), p.opt.PoolFIFO, &p.closed)
	}
	return r
}

// hotResult turns what shard.putHot returned, for a Put that found no Get
// waiting, into a parkResult. A connection it displaced that Close left
// behind (orphan) is closed here.
func (p *ConnPool) hotResult(ok bool, orphan *Conn) parkResult {
	if orphan != nil {
		p.closeCheckedOut(orphan, ClosePoolClosed, placeFreed)
	}
	if !ok {
		return notParked
	}
	return parked
}

// inHot reports whether cn, a pooled connection of p, is its home shard's
// hot connection: idle, though its state says checked out.
func (p *ConnPool) inHot(cn *Conn) bool {
	h := cn.home.Load()
	return h != nil && h.inHot(cn)
}

// awaitRound holds a caller whose Put parked cn and kicked an active server
// (which now owes cn's waiter a round) until that round has had its chance.
// Without it the caller would run on into its next Get and queue while cn
// sits in a shard. If the server is preempted or descheduled mid-round,
// every Putter does that, and a queue as long as the goroutines less the
// connections never drains: a convoy, which made Get+Put an order of
// magnitude slower with 32 goroutines on 8 connections at GOMAXPROCS 32
// on 2 cores (BenchmarkExhaustionWait, bench/; the figures are in
// docs/bench/design-measurements.md).
//
// How it holds the caller depends on the queue. With a long one (at least
// awaitQueue × PoolSize Gets waiting), the caller's next Get waits several
// turns of the whole pool whatever it does here, so it only waits for the
// server: it spins until cn is taken or the round ends, and yields only if
// neither happens within awaitSpins looks (the server is not running). A
// yield there would put the caller on the global run queue, which a busy P
// polls once every 61 schedules, and the Puts that waited there made the
// tail of the wait distribution. With a short queue it yields at once:
// while it is off the queue, waiters drain it, and the Gets that follow
// find idle connections on the fast path; spinning there instead kept 32
// goroutines on 8 connections queueing, at a fraction of the throughput.
func (p *ConnPool) awaitRound(cn *Conn) {
	if p.spin && p.waiters.len() >= awaitQueue*p.poolSize() {
		for i := 0; i < awaitSpins; i++ {
			if (cn.tag.State() != connstate.Idle && !p.inHot(cn)) || p.serving.idle() {
				return
			}
		}
	}
	runtime.Gosched()
}

// Bits of ConnPool.putFlags.
const (
	putLeak = 1 << iota // LeakThreshold is set
	putOver             // the pool may hold more than PoolSize (resize.go)
)

// setPutFlag sets or clears bit in putFlags.
func (p *ConnPool) setPutFlag(bit uint32, on bool) {
	for {
		f := p.putFlags.Load()
		g := f &^ bit
		if on {
			g = f | bit
		}
		if f == g || p.putFlags.CompareAndSwap(f, g) {
			return
		}
	}
}

// Tuning of awaitRound, measured with BenchmarkExhaustionWait (bench/) on 2
// cores. At awaitQueue 1 the 4× load fell into queueing, as above; a spin
// of 4096 looks (a few µs) outlasts a running server's round.
const (
	awaitQueue = 4
	awaitSpins = 4096
)

// Remove closes cn, which the caller got from Get or NewConn, and frees its
// place so that a waiting Get can dial. reason is the error that made the
// caller give up on cn; the pool does not use it. Remove of a nil
// connection, of another pool's, or of an idle one is a no-op reported to
// Options.OnMisuse; Remove of a connection already closed is a silent no-op.
func (p *ConnPool) Remove(cn *Conn, reason error) {
	if !p.owns(cn) {
		p.misuse(cn, ErrUnknownConn)
		return
	}
	if cn.tag.Pooled && p.inHot(cn) {
		p.misuse(cn, ErrNotCheckedOut) // Remove after Put: it is the hot connection
		return
	}
	if p.leakOn {
		untrack(cn)
	}
	if !p.closeCheckedOut(cn, CloseRemoved, placeFreed) {
		if cn.tag.State() == connstate.Idle {
			p.misuse(cn, ErrNotCheckedOut)
		}
		return
	}
	p.checkMinIdleConns()
}
