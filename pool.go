package shardpool

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shardpool/shardpool/internal/bgroup"
)

// The pool: the Pooler contract, ConnPool's state grouped by owner, and
// the calls that look at all of it (Len, IdleLen).
//
// Locking: no lock covers the whole pool. Each group of ConnPool's fields
// belongs to a type whose own methods lock it or use atomics: the shards
// (a mutex each, and atomics for the hot connection: shard.go, hot.go),
// places, rounds, the breaker, the top-ups and the idle cap (atomics), the
// registry (a mutex per shard) and the wait list (a mutex), each held for a
// few pointer moves.
// lifeMu (close.go) and resizeMu (resize.go) order Close and SetPoolSize,
// never a Get or a Put. Of the fields read on every Get and Put, only
// closed, size and putFlags change after NewConnPool, and they are atomics.

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
// swaps the connection out of the shard's hot pointer and back in, on a cache line
// no other core is using, writes no memory shared by all cores, reads no
// clock and allocates nothing. When its shard is empty, Get takes from the
// other shards, then dials if fewer than PoolSize connections are held, and
// otherwise waits its turn: waiting Gets are served in arrival order.
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
	shards    []shard // one per P; see shard.go
	mask      uint32  // len(shards)-1; len(shards) is a power of two
	exp       expiry  // IdleTimeout and MaxConnAge in pool-clock nanoseconds
	checkIdle int64   // HealthCheckIdle in pool-clock nanoseconds; 0: no checks
	timed     bool    // expiry or health checks are on: the clock runs
	closed    atomic.Bool
	clock     *clock
	spin      bool // GOMAXPROCS and NumCPU > 1 at NewConnPool: awaitRound may spin
	leakOn    bool // LeakThreshold is set: Get records checkouts (leak.go)
	useHot    bool // LIFO without MaxIdleConns: Put may park as a shard's hot connection (hot.go)
	// putFlags are what a Put must do beyond parking: putLeak (untrack
	// the checkout) and putOver (the pool may hold more than PoolSize:
	// shed). One word, so that a Put with neither pays one load.
	putFlags atomic.Uint32
	size     atomic.Int64       // PoolSize now; written by SetPoolSize (resize.go)
	_        [cacheLinePad]byte // keep the write-often fields below off these lines

	// places is written by every dial and every close: by every core
	// at once under churn. Alone on its lines, so that the fields read on
	// those paths (the breaker's count on every dial, the top-ups' goal on
	// every close, the counters' pointers) do not miss on it each time
	// another core writes it.
	places places // places and dial slots taken (places.go)
	_      [cacheLinePad - unsafe.Sizeof(places{})]byte

	// Written when a connection is dialed or closed, or a Get waits; each
	// owned by its type's methods.
	serving   rounds        // serve rounds (wait.go, rounds.go)
	serveFrom atomic.Uint32 // the shard the next serve round starts at
	breaker   breaker       // the dial-error breaker (breaker.go)
	topUps    topUps        // the MinIdleConns top-up (minidle.go)
	reg       registry      // every connection held (registry.go)
	stats     slowStats     // counters off the hot path (stats.go)
	hits      perPCounter   // Gets served an idle connection (percount.go)
	idle      idleCap       // MaxIdleConns (idlecap.go)
	resizeMu  sync.Mutex    // serializes SetPoolSize (resize.go)

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
	p := &ConnPool{closedCh: make(chan struct{}), finished: make(chan struct{})}
	p.breaker.init()
	if opt != nil {
		p.opt = *opt
	}
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
	p.reg.init(n)
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
	p.useHot = !p.idle.on && !p.opt.PoolFIFO
	p.spin = runtime.GOMAXPROCS(0) > 1 && runtime.NumCPU() > 1
	p.setMinIdle(p.opt.PoolSize)

	p.clock = newClock(&p.opt)
	p.waiters.init(p.opt.PoolTimeout, p.clock.exact, p.opt.MaxWaiters)
	p.stats.init(len(p.shards))
	p.hits.init(len(p.shards))
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())
	if p.timed {
		p.bg.Go(func() { p.clock.run(p.closedCh, p.activity) })
	}
	if p.opt.IdleCheckFrequency > 0 { // normalize left it 0 without expiry
		p.bg.Go(func() { p.reaper(p.opt.IdleCheckFrequency) })
	}
	if p.leakOn {
		p.bg.Go(p.leakChecker)
	}
	p.checkMinIdleConns()
	return p
}

// NewConn dials a connection for the caller outside the PoolSize bound (as
// go-redis does for pub/sub). It counts in Len until it is closed; Put or
// Remove closes it, and so does Close.
func (p *ConnPool) NewConn(ctx context.Context) (*Conn, error) {
	return p.dialConn(ctx, false, false, nil)
}

// Len returns the number of connections the pool holds: idle, checked out,
// and from NewConn.
func (p *ConnPool) Len() int { return p.reg.len() }

// IdleLen returns the number of idle connections.
func (p *ConnPool) IdleLen() int {
	n := 0
	for i := range p.shards {
		n += p.shards[i].idleCount()
	}
	return n
}

// owns reports whether cn is a connection of this pool.
func (p *ConnPool) owns(cn *Conn) bool { return cn != nil && cn.tag.Owner == any(p) }

func (p *ConnPool) misuse(cn *Conn, err error) {
	if p.opt.OnMisuse != nil {
		p.opt.OnMisuse(cn, err)
	}
}
