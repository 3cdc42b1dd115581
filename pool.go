package shardpool

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardpool/shardpool/internal/bgroup"
	"github.com/shardpool/shardpool/internal/connstate"
)

// Pooler is the contract of go-redis's connection pool. Both ConnPool and
// the baseline pool implement it, so code written against go-redis's pool
// moves over with its imports changed.
type Pooler interface {
	// NewConn dials a connection outside the pool's PoolSize bound. Put
	// closes it; it counts in Len until then.
	NewConn(context.Context) (*Conn, error)
	// CloseConn closes cn, checked out or idle, and forgets it.
	CloseConn(*Conn) error

	// Get returns an idle connection or dials one, waiting when PoolSize
	// connections are held.
	Get(context.Context) (*Conn, error)
	// Put returns a connection from Get to the pool.
	Put(*Conn)
	// Remove closes a connection from Get and frees its place.
	Remove(*Conn, error)

	// Len returns the number of connections the pool holds.
	Len() int
	// IdleLen returns the number of idle connections.
	IdleLen() int
	// Stats returns a snapshot of the pool's counters.
	Stats() *Stats

	// Close closes the pool and every connection it holds.
	Close() error
}

var _ Pooler = (*ConnPool)(nil)

// ConnPool is a bounded pool of network connections built for callers that
// Get and Put at high concurrency.
//
// Idle connections live in per-P shards: Get takes from the shard of the P
// it runs on and Put returns a connection to the shard it came from, so the
// hot path (an idle connection in the caller's shard) takes no lock: it
// swaps the connection out of the shard's slot and back in, on a cache line
// no other core is using, writes no memory shared by all cores, reads no
// clock and allocates nothing. When its shard is empty, Get takes from the
// other shards, then dials if fewer than PoolSize connections are held, and
// otherwise waits its turn: waiting Gets are served in arrival order.
//
// Choose it over a single-mutex pool (such as the baseline package, or
// go-redis's) when the pool shows up in CPU profiles: with many goroutines
// on several cores, a pool-wide mutex or channel costs each Get and Put a
// contended cache line. With one core, or a handful of calls per second,
// both designs cost the same.
//
// Put(cn) synchronizes before the Get that returns cn to another caller:
// what the first holder wrote to cn (and its NetConn buffers) is visible to
// the next. LIFO/FIFO order (Options.PoolFIFO) and staleness are judged per
// shard and by a coarse clock (see Options).
//
// Close closes every connection the pool holds, idle and checked out, once
// each; waiting Gets return ErrClosed, and a checked-out connection that is
// Put or Removed afterwards is not closed again.
type ConnPool struct {
	// Read on every Get and Put; written rarely.
	opt       Options
	shards    []shard
	mask      uint32 // len(shards)-1; len(shards) is a power of two
	exp       expiry // IdleTimeout and MaxConnAge in pool-clock nanoseconds
	checkIdle int64  // HealthCheckIdle in pool-clock nanoseconds; 0: no checks
	timed     bool   // expiry or health checks are on: the clock runs
	closed    atomic.Bool
	clock     *clock
	spin      bool // GOMAXPROCS and NumCPU > 1 at NewConnPool: awaitRound may spin
	leakOn    bool // LeakThreshold is set: Get records checkouts (leak.go)
	useSlot   bool // LIFO without MaxIdleConns: Put may park in a shard's slot (shard.go)
	rawDials  int  // MaxConcurrentDials as given; <= 0 follows PoolSize
	// Written by SetPoolSize (resize.go), and putFlags also by the Puts
	// and trims that find the surplus gone.
	size            atomic.Int64 // PoolSize now
	minIdle         atomic.Int32 // MinIdleConns now, capped by PoolSize and MaxIdleConns
	minIdlePerShard atomic.Int32 // a Get that leaves fewer in its shard checks MinIdleConns
	// putFlags are what a Put must do beyond parking: putLeak (untrack
	// the checkout) and putOver (the pool may hold more than PoolSize:
	// shed). One word, so that a Put with neither pays one load.
	putFlags atomic.Uint32
	_        [cacheLinePad]byte // keep the write-often fields below off these lines

	// Written when a connection is dialed or closed, or a Get waits.
	places     places       // places and dial slots taken; see places.go
	serving    rounds       // serve rounds; see wait.go
	bgDials    atomic.Int32 // MinIdleConns dials under way, until their connection is parked
	topping    rounds       // MinIdleConns top-ups; see checkMinIdleConns
	dialErrors atomic.Uint32
	lastErr    atomic.Pointer[dialError]
	probing    atomic.Bool
	// probeWanted is set by a Get that failed fast and sent a token on
	// probeNow (room for one); the probe clears it before each attempt.
	// probeEvery and probeGap are its cadence (dial.go), read-only once
	// the pool is made.
	probeWanted atomic.Bool
	probeNow    chan struct{}
	probeEvery  time.Duration
	probeGap    time.Duration
	reg         registry
	stats       slowStats
	idle        idleCap // MaxIdleConns; see idlecap.go
	resizeMu    sync.Mutex

	// lifeMu guards phase, the pool's life: open, shutting down (draining)
	// or closed. finished is closed when Close or Shutdown has closed
	// everything and stopped the background goroutines. See close.go.
	lifeMu   sync.Mutex
	phase    lifePhase
	finished chan struct{}

	// Background goroutines. bg runs loops that end when closedCh is
	// closed (the clock, the reaper): Close waits for them. dials runs the
	// ones that call the Dialer (the breaker's probe, MinIdleConns dials):
	// Close cancels bgCtx and does not wait, since a Dialer may ignore its
	// context; a dial that ends after Close closes its own connection
	// (dialConn).
	closedCh chan struct{}
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       bgroup.Group
	dials    bgroup.Group

	rr atomic.Uint32

	// reapResumed is when the reaper last came back from a yield, by the
	// exact clock (reaper.go).
	reapResumed atomic.Int64

	// The wait list is written on every wait and read (its length) on
	// every Get and Put: a line of its own, held by value.
	_       [cacheLinePad]byte
	waiters waitlist
}

// NewConnPool returns a pool configured by opt (nil means all defaults). It
// starts the background goroutines the options ask for (the reaper, the
// MinIdleConns dials, a coarse clock for IdleTimeout and MaxConnAge); Close
// stops them.
func NewConnPool(opt *Options) *ConnPool {
	p := &ConnPool{closedCh: make(chan struct{}), finished: make(chan struct{}),
		probeNow: make(chan struct{}, 1), probeEvery: ProbeInterval, probeGap: ProbeGap}
	if opt != nil {
		p.opt = *opt
	}
	p.rawDials = p.opt.MaxConcurrentDials
	p.opt.normalize()
	p.size.Store(int64(p.opt.PoolSize))
	p.leakOn = p.opt.LeakThreshold > 0
	if p.leakOn {
		p.putFlags.Store(putLeak)
	}
	p.exp = expiry{idle: int64(p.opt.IdleTimeout), age: int64(p.opt.MaxConnAge)}
	p.checkIdle = max(0, int64(p.opt.HealthCheckIdle))
	p.timed = p.exp.on() || p.checkIdle > 0

	n := 1
	for n < runtime.GOMAXPROCS(0) {
		n *= 2
	}
	p.shards = make([]shard, n)
	if p.opt.MaxIdleConns > 0 {
		p.idle.init(min(p.opt.MaxIdleConns, p.opt.PoolSize))
	}
	for i := range p.shards {
		p.shards[i].idx = i
		if !p.idle.on {
			p.shards[i].setQuota(math.MaxInt) // unbounded; with the cap, 0: all room free
		}
	}
	p.mask = uint32(n - 1)
	p.useSlot = !p.idle.on && !p.opt.PoolFIFO
	p.spin = runtime.GOMAXPROCS(0) > 1 && runtime.NumCPU() > 1
	p.setMinIdle(p.opt.PoolSize)

	p.clock = newClock(&p.opt)
	p.waiters.init(p.opt.PoolTimeout, p.clock.exact, p.opt.MaxWaiters)
	p.stats.init()
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())
	if p.timed {
		p.bg.Go(func() { p.clock.run(p.closedCh, p.activity) })
	}
	if p.opt.IdleTimeout > 0 && p.opt.IdleCheckFrequency > 0 {
		p.bg.Go(func() { p.reaper(p.opt.IdleCheckFrequency) })
	}
	if p.leakOn {
		p.bg.Go(p.leakChecker)
	}
	p.checkMinIdleConns()
	return p
}

// Get returns a connection for the caller's exclusive use until it is Put,
// Removed or closed. It takes an idle connection if there is one (closing
// the stale ones it meets), dials one if fewer than PoolSize are held, and
// otherwise waits, in arrival order, for a Put or a free place: up to
// PoolTimeout (then ErrPoolTimeout) or until ctx is done (then ctx.Err()).
// A dial error is returned as is; see Options.Dialer for the fast fail
// after repeated dial errors. With Options.MaxWaiters, a Get that would
// wait behind that many returns ErrPoolExhausted at once.
func (p *ConnPool) Get(ctx context.Context) (*Conn, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	s := p.localShard()
	// While Gets are waiting, newcomers queue behind them instead of taking
	// what a Put just parked: arrival order, no starvation.
	if p.waiters.len() == 0 {
		if cn := p.takeIdle(s, s); cn != nil {
			if p.leakOn {
				p.track(cn)
			}
			return cn, nil
		}
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
		for i := 1; i < len(p.shards); i++ {
			from := &p.shards[(home.idx+i)&int(p.mask)]
			if !from.hasIdle() {
				continue // without locking it: a miss costs no lock per shard
			}
			if cn := p.takeIdle(from, home); cn != nil {
				return cn, nil
			}
		}
		if p.tryAcquire() {
			return p.dialPooled(ctx, home)
		}
	}
	return p.wait(ctx, home)
}

// takeIdle returns a fresh idle connection from shard from, discarding the
// stale ones it meets, and makes home its home.
func (p *ConnPool) takeIdle(from, home *shard) *Conn {
	for {
		now := p.now()
		cn, stale, left := from.pop(now, p.exp, true)
		if cn == nil {
			return nil
		}
		if stale {
			p.discard(cn)
			p.release()
			p.checkMinIdleConns()
			continue
		}
		if p.checkDue(cn, now) && !p.healthy(cn) {
			p.dropUnhealthy(cn)
			continue
		}
		if from != home {
			cn.home.Store(home)
		}
		// Top up MinIdleConns when this shard's share of them ran low;
		// a shard with its share costs nothing more.
		if m := int(p.minIdlePerShard.Load()); m > 0 {
			if left < 0 { // taken from the slot: count the list
				left, _ = from.counts()
			}
			if left < m {
				p.checkMinIdleConns()
			}
		}
		return cn
	}
}

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
	if p.inSlot(cn) {
		p.misuse(cn, ErrNotCheckedOut) // Put twice: it waits in the slot
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
	// With Gets waiting and no serve round running, hand cn straight to
	// the oldest (see wait.go). The state check keeps a second Put on the
	// path that reports it.
	if p.waiters.len() != 0 && cn.tag.State() == connstate.CheckedOut &&
		p.serving.tryEnter() {
		p.putServing(cn)
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
	if p.useSlot && p.waiters.len() == 0 {
		if beforeSlotPut != nil {
			beforeSlotPut(p)
		}
		p.putSlot(cn, home, fromPut)
		return
	}
	r := home.park(cn, p.now(), p.opt.PoolFIFO, &p.closed)
	for r == parkFull && p.findRoom(home) {
		r = home.park(cn, p.now(), p.opt.PoolFIFO, &p.closed)
	}
	switch r {
	case parkFull:
		p.dropOverCap(cn)
		return
	case notParked:
		switch {
		case fromPut && cn.tag.State() == connstate.Idle:
			p.misuse(cn, ErrNotCheckedOut)
		case p.closed.Load() && cn.tag.CloseCheckedOut():
			_ = p.destroy(cn, ClosePoolClosed) // Shutdown: closed as it comes back
		}
		return
	}
	// Parked first, then the load: wait.go says why no wake-up is lost.
	if p.waiters.len() != 0 && !p.kick() && fromPut {
		p.awaitRound(cn)
	}
}

// putSlot is putIdle into the slot of home, when no Get waits (see
// shard.putSlot). What it cannot park it handles as putIdle does a
// connection that park refused.
func (p *ConnPool) putSlot(cn *Conn, home *shard, fromPut bool) {
	ok, orphan := home.putSlot(cn, p.now(), &p.closed)
	if orphan != nil && orphan.tag.CloseCheckedOut() {
		_ = p.destroy(orphan, ClosePoolClosed)
	}
	if !ok {
		switch {
		case fromPut && cn.tag.State() == connstate.Idle:
			p.misuse(cn, ErrNotCheckedOut)
		case p.closed.Load() && cn.tag.CloseCheckedOut():
			_ = p.destroy(cn, ClosePoolClosed)
		}
		return
	}
	// Published first, then the load, as in putIdle: see wait.go.
	if p.waiters.len() != 0 && !p.kick() && fromPut {
		p.awaitRound(cn)
	}
}

// beforeSlotPut, when set (by tests only), runs in putIdle between its look
// at the wait list and putSlot: the window in which a Get can queue unseen.
var beforeSlotPut func(p *ConnPool)

// inSlot reports whether cn, a pooled connection of p, waits in its home
// shard's slot: idle, though its state says checked out.
func (p *ConnPool) inSlot(cn *Conn) bool {
	h := cn.home.Load()
	return h != nil && h.inSlot(cn)
}

// awaitRound holds a caller whose Put parked cn and kicked an active server
// (which now owes cn's waiter a round) until that round has had its chance.
// Without it the caller would run on into its next Get and queue while cn
// sits in a shard. If the server is preempted or descheduled mid-round,
// every Putter does that, and a queue as long as the goroutines less the
// connections never drains: a convoy (with 32 goroutines on 8 connections
// at GOMAXPROCS 32 on 2 cores, Get+Put took 650 ns instead of 30).
//
// How it holds the caller depends on the queue. With a long one (at least
// awaitQueue × PoolSize Gets waiting), the caller's next Get waits several
// turns of the whole pool whatever it does here, so it only waits for the
// server: it spins until cn is taken or the round ends, and yields only if
// neither happens within awaitSpins looks (the server is not running). A
// yield there would put the caller on the global run queue, which a busy P
// polls once every 61 schedules: 3.6% of Puts took over 20 µs (median
// 128 µs) at 128 goroutines on 8 connections, and those made the tail of
// the wait distribution. With a short queue it yields at once: while it is
// off the queue, waiters drain it, and the Gets that follow find idle
// connections on the fast path; spinning there instead kept 32 goroutines
// on 8 connections queueing, at 40% of the throughput.
func (p *ConnPool) awaitRound(cn *Conn) {
	if p.spin && p.waiters.len() >= awaitQueue*p.poolSize() {
		for i := 0; i < awaitSpins; i++ {
			if (cn.tag.State() != connstate.Idle && !p.inSlot(cn)) || p.serving.idle() {
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
	if cn.tag.Pooled && p.inSlot(cn) {
		p.misuse(cn, ErrNotCheckedOut) // Remove after Put: it waits in the slot
		return
	}
	if p.leakOn {
		untrack(cn)
	}
	if !cn.tag.CloseCheckedOut() {
		if cn.tag.State() == connstate.Idle {
			p.misuse(cn, ErrNotCheckedOut)
		}
		return
	}
	_ = p.destroy(cn, CloseRemoved)
	p.checkMinIdleConns()
}

// CloseConn closes cn, checked out or idle, and forgets it, returning the
// error of closing it. It returns ErrUnknownConn for a nil connection or one
// of another pool, and nil for one already closed.
func (p *ConnPool) CloseConn(cn *Conn) error {
	if !p.owns(cn) {
		return ErrUnknownConn
	}
	if !p.claim(cn) {
		return nil
	}
	err := p.destroy(cn, CloseRemoved)
	p.checkMinIdleConns()
	return err
}

// NewConn dials a connection for the caller outside the PoolSize bound (as
// go-redis does for pub/sub). It counts in Len until it is closed; Put or
// Remove closes it, and so does Close.
func (p *ConnPool) NewConn(ctx context.Context) (*Conn, error) {
	return p.dialConn(ctx, false, false)
}

// Len returns the number of connections the pool holds: idle, checked out,
// and from NewConn.
func (p *ConnPool) Len() int { return p.reg.len() }

// IdleLen returns the number of idle connections.
func (p *ConnPool) IdleLen() int {
	n := 0
	for i := range p.shards {
		idle, _ := p.shards[i].counts()
		n += idle
	}
	return n
}

// Filter closes every connection, idle or checked out, for which fn returns
// true, and returns the errors closing them. fn runs without the pool's
// locks held, once per connection. A checked-out connection that Filter
// closes frees its place at once (so PoolSize bounds open connections, not
// Conn values held by callers), and its holder's later Put or Remove is a
// silent no-op.
func (p *ConnPool) Filter(fn func(*Conn) bool) error {
	if p.closed.Load() {
		return ErrClosed
	}
	var errs []error
	for _, cn := range p.reg.snapshot() {
		if fn(cn) && p.claim(cn) {
			errs = append(errs, p.destroy(cn, CloseFiltered))
		}
	}
	p.checkMinIdleConns()
	return errors.Join(errs...)
}

// owns reports whether cn is a connection of this pool.
func (p *ConnPool) owns(cn *Conn) bool { return cn != nil && cn.tag.Owner == any(p) }

func (p *ConnPool) misuse(cn *Conn, err error) {
	if p.opt.OnMisuse != nil {
		p.opt.OnMisuse(cn, err)
	}
}

// claim moves cn to Closed from whatever state it is in, unlinking it from
// its shard if it is idle. It reports whether this call made the move: the
// caller that gets true, and only that one, closes cn.
func (p *ConnPool) claim(cn *Conn) bool {
	for {
		switch cn.tag.State() {
		case connstate.Closed:
			return false
		case connstate.CheckedOut:
			if cn.tag.CloseCheckedOut() {
				// If it waited in its shard's slot, closed in place,
				// let the slot go of it now rather than at the next Get.
				if h := cn.home.Load(); h != nil {
					h.dropFromSlot(cn)
				}
				return true
			}
		case connstate.Idle:
			// home may change between the load and the shard's lock
			// (cn taken by a Get on another shard and parked there);
			// claim re-checks under the lock, and we go round again.
			if cn.home.Load().claim(cn) {
				return true
			}
		}
	}
}

// destroy closes cn, which the caller has claimed (moved to Closed), for
// reason, forgets it and frees its place.
//
// It forgets cn only once cn is closed: Shutdown waits for the registry to
// empty, and returns once every connection is closed.
func (p *ConnPool) destroy(cn *Conn, reason CloseReason) error {
	err := p.closeConn(cn, reason)
	p.reg.remove(cn)
	if cn.tag.Pooled {
		p.release()
	}
	return err
}

// discard destroys a stale connection claimed by pop or a sweep, but keeps
// its place: the caller frees it (release) or hands it to a waiter.
func (p *ConnPool) discard(cn *Conn) {
	p.stats.staleConns.Add(1)
	p.closeKeepPlace(cn, CloseStale)
}

// closeKeepPlace closes and forgets cn, which the caller has claimed, for
// reason, but keeps its place: the caller frees it or hands it to a waiter.
func (p *ConnPool) closeKeepPlace(cn *Conn, reason CloseReason) {
	_ = p.closeConn(cn, reason)
	p.reg.remove(cn) // after the close: see destroy
}

// closeConn calls OnClose, closes cn's network connection and reports it
// to Hooks.OnConnClosed. The caller has claimed cn, so this runs once per
// connection, and holds no lock of the pool's.
func (p *ConnPool) closeConn(cn *Conn, reason CloseReason) error {
	var onCloseErr error
	if p.opt.OnClose != nil {
		onCloseErr = p.opt.OnClose(cn)
	}
	err := errors.Join(onCloseErr, cn.Close())
	if f := p.opt.Hooks.OnConnClosed; f != nil {
		callHook(f, ClosedInfo{Conn: cn, Reason: reason, Err: err})
	}
	return err
}
