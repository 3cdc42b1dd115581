package bench

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/puddle/v2"
	"github.com/puzpuzpuz/xsync/v3"
	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/baseline"
)

// Handle is a connection checked out of a Pool. Conn is the network
// connection to use; Ref is the contender's own handle on it (a
// *shardpool.Conn, a puddle resource, ...), which only its adapter reads.
type Handle struct {
	Conn net.Conn
	Ref  any
}

// Pool is the adapter every contender implements, so that each scenario is
// written once. Get returns a connection (idle, freshly dialed, or after a
// wait), Put gives it back for reuse, Remove closes it and frees its place,
// and Close closes the pool.
type Pool interface {
	Get(ctx context.Context) (Handle, error)
	Put(Handle)
	Remove(Handle)
	Close()
}

// Queuer is a Pool that counts the Gets that queued: found neither an idle
// connection nor a free place, and waited for one. The exhaustion scenario
// reports their share (queued-%) for every pool that counts them.
type Queuer interface {
	Queued() uint64
}

// Config is what a scenario asks of a pool.
type Config struct {
	// Size bounds the connections a pool holds (ignored by sync.Pool).
	Size int
	// Dial opens a connection.
	Dial func(context.Context) (net.Conn, error)
}

// Contender names a pool under test and builds it.
type Contender struct {
	// Name is the value of the pool= key in benchmark names.
	Name string
	// Peer is false for a contender that is not a real alternative (the
	// sync.Pool lower bound). channel-untimed is a peer here (a real,
	// bounded pool), but the report leaves it out of its "best peer",
	// since it skips the price of bounding a wait that the others pay.
	Peer bool
	// Bounded is false for a contender that does not bound its
	// connections, so scenarios about waiting do not apply to it.
	Bounded bool
	// HotPathOnly marks a contender that is a yardstick for the hot path
	// alone (the floor): the other scenarios leave it out.
	HotPathOnly bool
	// New builds a pool for cfg.
	New func(cfg Config) Pool
}

// Contender names, in the order reports show them.
const (
	NameShardpool = "shardpool"
	NameBaseline  = "baseline"
	NamePuddle    = "puddle"
	// NameChannel is the channel pool with its waits bounded by
	// PoolTimeout, like shardpool's and the baseline's.
	NameChannel = "channel"
	// NameChannelUntimed is the channel pool without a wait timer: a lower
	// bound for waits, not a like-for-like peer (see channelPool).
	NameChannelUntimed = "channel-untimed"
	NameSyncPool       = "syncpool"
	// NameFloor is the least a bounded per-P pool does on its hot path:
	// one atomic slot per P (see floorPool). A yardstick, not a pool.
	NameFloor = "floor"
)

// Contenders returns every pool under test: shardpool, the baseline, puddle,
// the channel pool (its waits bounded by PoolTimeout, as shardpool's and the
// baseline's are), the channel pool without that timer (whose waits are a
// lower bound: it skips the price of bounding them), and sync.Pool (a lower
// bound, not a peer).
func Contenders() []Contender {
	return []Contender{
		{Name: NameShardpool, Peer: true, Bounded: true, New: func(c Config) Pool { return connPoolAdapter{shardpool.NewConnPool(c.options())} }},
		{Name: NameBaseline, Peer: true, Bounded: true, New: func(c Config) Pool { return baselineAdapter{baseline.NewConnPool(c.options())} }},
		{Name: NamePuddle, Peer: true, Bounded: true, New: newPuddlePool},
		{Name: NameChannel, Peer: true, Bounded: true, New: newTimedChannelPool},
		{Name: NameChannelUntimed, Peer: true, Bounded: true, New: newUntimedChannelPool},
		{Name: NameFloor, Peer: false, Bounded: false, HotPathOnly: true, New: newFloorPool},
		{Name: NameSyncPool, Peer: false, Bounded: false, New: newSyncPool},
	}
}

// PoolTimeout bounds every wait for a connection. No scenario should wait
// anywhere near this long; a Get that does is a bug, and fails its benchmark
// instead of hanging it.
const PoolTimeout = 10 * time.Second

// options returns the shardpool.Options both of the module's pools get:
// no idle expiry, no reaper, and PoolTimeout.
func (c Config) options() *shardpool.Options {
	return &shardpool.Options{
		Dialer:      c.Dial,
		PoolSize:    c.Size,
		PoolTimeout: PoolTimeout,
	}
}

// poolerAdapter drives a shardpool.Pooler: shardpool's ConnPool or the
// baseline.
type poolerAdapter struct{ p shardpool.Pooler }

func newPoolerAdapter(p shardpool.Pooler) Pool { return poolerAdapter{p} }

func (a poolerAdapter) Get(ctx context.Context) (Handle, error) { return connHandle(a.p.Get(ctx)) }

func (a poolerAdapter) Put(h Handle)    { a.p.Put(h.Ref.(*shardpool.Conn)) }
func (a poolerAdapter) Remove(h Handle) { a.p.Remove(h.Ref.(*shardpool.Conn), nil) }
func (a poolerAdapter) Close()          { _ = a.p.Close() }

// Queued returns the Gets that waited, from Stats (both pools count them).
func (a poolerAdapter) Queued() uint64 { return uint64(a.p.Stats().WaitCount) }

// connHandle is the Handle of a *shardpool.Conn from either pool's Get.
func connHandle(cn *shardpool.Conn, err error) (Handle, error) {
	if err != nil {
		return Handle{}, err
	}
	return Handle{Conn: cn.NetConn(), Ref: cn}, nil
}

// connPoolAdapter and baselineAdapter drive the two pools as
// poolerAdapter does, but through their concrete types, as the other
// contenders' adapters drive theirs: a call through the Pooler interface
// adds a dynamic dispatch to every Get and Put that no other contender
// pays (about 1 ns of a Get+Put in the hot path).
type (
	connPoolAdapter struct{ p *shardpool.ConnPool }
	baselineAdapter struct{ p *baseline.ConnPool }
)

func (a connPoolAdapter) Get(ctx context.Context) (Handle, error) { return connHandle(a.p.Get(ctx)) }

func (a connPoolAdapter) Put(h Handle)    { a.p.Put(h.Ref.(*shardpool.Conn)) }
func (a connPoolAdapter) Remove(h Handle) { a.p.Remove(h.Ref.(*shardpool.Conn), nil) }
func (a connPoolAdapter) Close()          { _ = a.p.Close() }
func (a connPoolAdapter) Queued() uint64  { return uint64(a.p.Stats().WaitCount) }

func (a baselineAdapter) Get(ctx context.Context) (Handle, error) { return connHandle(a.p.Get(ctx)) }

func (a baselineAdapter) Put(h Handle)    { a.p.Put(h.Ref.(*shardpool.Conn)) }
func (a baselineAdapter) Remove(h Handle) { a.p.Remove(h.Ref.(*shardpool.Conn), nil) }
func (a baselineAdapter) Close()          { _ = a.p.Close() }
func (a baselineAdapter) Queued() uint64  { return uint64(a.p.Stats().WaitCount) }

// puddlePool drives jackc/puddle/v2, the generic pool under pgx.
type puddlePool struct{ p *puddle.Pool[net.Conn] }

func newPuddlePool(c Config) Pool {
	p, err := puddle.NewPool(&puddle.Config[net.Conn]{
		Constructor: c.Dial,
		Destructor:  func(nc net.Conn) { _ = nc.Close() },
		MaxSize:     int32(c.Size),
	})
	if err != nil {
		panic(err) // only for a MaxSize < 1, which no scenario asks for
	}
	return puddlePool{p}
}

func (a puddlePool) Get(ctx context.Context) (Handle, error) {
	res, err := a.p.Acquire(ctx)
	if err != nil {
		return Handle{}, err
	}
	return Handle{Conn: res.Value(), Ref: res}, nil
}

func (a puddlePool) Put(h Handle)    { h.Ref.(*puddle.Resource[net.Conn]).Release() }
func (a puddlePool) Remove(h Handle) { h.Ref.(*puddle.Resource[net.Conn]).Destroy() }
func (a puddlePool) Close()          { a.p.Close() }

// Queued returns puddle's count of acquires that found the pool empty and
// waited for a resource to be released (or built, which the exhaustion
// scenario's full pool never does).
func (a puddlePool) Queued() uint64 { return uint64(a.p.Stat().EmptyAcquireCount()) }

// channelPool is the pool many hand-rolled clients use: a buffered channel
// of idle connections, and a channel of places (a semaphore) for the bound.
//
// Get takes an idle connection if there is one, else a free place to dial
// into; only when there is neither does it wait, for whichever comes first.
// The contender named "channel" bounds that wait by PoolTimeout, as
// shardpool and the baseline bound theirs (their PoolTimeout): a real pool
// must, or a leak of connections hangs its callers for ever. Its timer
// costs no allocation: a wait takes a stopped *time.Timer from waitTimers,
// Resets it, and Stops it and gives it back when done. (puddle bounds a wait
// only by the caller's context, which has no deadline in these scenarios.)
//
// The contender named "channel-untimed" is the same pool with timeout 0: it
// waits without a timer, skipping the Reset and Stop (two updates of the
// runtime's timer heap) that "channel" pays on every wait, the price of
// bounding a wait that shardpool and the baseline pay in their own ways. Its
// wait figures are therefore a lower bound for a channel pool, not a
// like-for-like peer.
type channelPool struct {
	dial    func(context.Context) (net.Conn, error)
	idle    chan net.Conn
	places  chan struct{} // one element per connection held
	timeout time.Duration // bounds a wait; 0 waits without a timer
	// waits counts the Gets that reached the wait path (Queuer). Striped,
	// so that the count does not add a contended line to the waits it
	// counts.
	waits *xsync.Counter
}

// errChannelPoolTimeout is what the timed channel pool's Get returns when
// no connection came within its timeout.
var errChannelPoolTimeout = errors.New("bench: channel pool: no connection within the pool timeout")

// waitTimers holds the stopped timers of the channel pools' waits, so that
// a wait reuses one instead of allocating it.
//
// Reusing a timer without draining its channel is correct because the bench
// module says go >= 1.23 in its go.mod: since Go 1.23, timer channels are
// unbuffered, and once Stop or Reset returns no value from before the call
// can be received. (Built with GODEBUG asynctimerchan=1, a pooled timer could
// deliver a stale tick and fail a later wait early.)
var waitTimers = sync.Pool{
	New: func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	},
}

// newTimedChannelPool returns the "channel" contender: a channel pool whose
// waits are bounded by PoolTimeout.
func newTimedChannelPool(c Config) Pool { return newChannelPool(c, PoolTimeout) }

// newUntimedChannelPool returns the "channel-untimed" contender: a channel
// pool whose waits have no timer (see channelPool).
func newUntimedChannelPool(c Config) Pool { return newChannelPool(c, 0) }

// newChannelPool returns a channel pool for c whose waits are bounded by
// timeout, or unbounded (and timer-free) for a timeout of 0.
func newChannelPool(c Config, timeout time.Duration) *channelPool {
	return &channelPool{
		dial:    c.Dial,
		idle:    make(chan net.Conn, c.Size),
		places:  make(chan struct{}, c.Size),
		timeout: timeout,
		waits:   xsync.NewCounter(),
	}
}

func (p *channelPool) Get(ctx context.Context) (Handle, error) {
	// The hot path: an idle connection.
	select {
	case nc := <-p.idle:
		return Handle{Conn: nc}, nil
	default:
	}
	// Else a free place to dial into, still without waiting (and so without
	// arming a timer).
	select {
	case nc := <-p.idle:
		return Handle{Conn: nc}, nil
	case p.places <- struct{}{}:
		return p.dialPlace(ctx)
	default:
	}
	p.waits.Inc()
	if p.timeout <= 0 {
		return p.waitUntimed(ctx)
	}
	return p.waitTimed(ctx)
}

// Queued returns the Gets that found neither an idle connection nor a free
// place and waited.
func (p *channelPool) Queued() uint64 { return uint64(p.waits.Value()) }

// waitTimed waits for an idle connection or a free place, at most
// p.timeout, with a timer from waitTimers.
func (p *channelPool) waitTimed(ctx context.Context) (Handle, error) {
	t := waitTimers.Get().(*time.Timer)
	t.Reset(p.timeout)
	var (
		h      Handle
		err    error
		placed bool
	)
	select {
	case nc := <-p.idle:
		h = Handle{Conn: nc}
	case p.places <- struct{}{}:
		placed = true
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = errChannelPoolTimeout
	}
	t.Stop() // a no-op if it fired; either way nothing stale is left in t.C
	waitTimers.Put(t)
	if placed {
		return p.dialPlace(ctx)
	}
	return h, err
}

// waitUntimed waits for an idle connection or a free place for as long as
// it takes (or until ctx is done): the wait of "channel-untimed".
func (p *channelPool) waitUntimed(ctx context.Context) (Handle, error) {
	select {
	case nc := <-p.idle:
		return Handle{Conn: nc}, nil
	case p.places <- struct{}{}:
		return p.dialPlace(ctx)
	case <-ctx.Done():
		return Handle{}, ctx.Err()
	}
}

// dialPlace dials a connection into the place the caller took, and gives
// the place back if the dial fails.
func (p *channelPool) dialPlace(ctx context.Context) (Handle, error) {
	nc, err := p.dial(ctx)
	if err != nil {
		<-p.places
		return Handle{}, err
	}
	return Handle{Conn: nc}, nil
}

// Put parks the connection; it never blocks, since idle has room for every
// place.
func (p *channelPool) Put(h Handle) { p.idle <- h.Conn }

func (p *channelPool) Remove(h Handle) {
	_ = h.Conn.Close()
	<-p.places
}

func (p *channelPool) Close() {
	for {
		select {
		case nc := <-p.idle:
			_ = nc.Close()
		default:
			return
		}
	}
}

// syncPool is sync.Pool used as a connection pool: unbounded, without
// lifecycle (the GC drops idle connections without closing them). It is the
// per-P lower bound of what a pool can cost, not a peer.
type syncPool struct {
	dial func(context.Context) (net.Conn, error)
	p    sync.Pool
}

func newSyncPool(c Config) Pool { return &syncPool{dial: c.Dial} }

func (p *syncPool) Get(ctx context.Context) (Handle, error) {
	if nc, ok := p.p.Get().(net.Conn); ok {
		return Handle{Conn: nc}, nil
	}
	nc, err := p.dial(ctx)
	if err != nil {
		return Handle{}, err
	}
	return Handle{Conn: nc}, nil
}

func (p *syncPool) Put(h Handle)    { p.p.Put(h.Conn) }
func (p *syncPool) Remove(h Handle) { _ = h.Conn.Close() }

// Close closes the idle connections sync.Pool still holds.
func (p *syncPool) Close() {
	for {
		nc, ok := p.p.Get().(net.Conn)
		if !ok {
			return
		}
		_ = nc.Close()
	}
}

// Fill makes p hold n idle connections: it checks out n and puts them back.
func Fill(ctx context.Context, p Pool, n int) error {
	hs := make([]Handle, 0, n)
	var err error
	for range n {
		var h Handle
		if h, err = p.Get(ctx); err != nil {
			break
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		p.Put(h)
	}
	return err
}

// ErrNotLoopback is returned when a scenario is pointed at a server that is
// not on the loopback interface.
var ErrNotLoopback = errors.New("bench: only loopback addresses may be benchmarked")

// CheckAdapter checks c's adapter before a benchmark trusts it: Get dials
// distinct connections, a bounded pool refuses a Get beyond its size (with
// a cancelled context, so nothing waits), Put makes a connection reusable,
// and Remove closes it and frees its place. The go-redis driver runs it too.
func CheckAdapter(t testing.TB, c Contender) {
	t.Helper()
	p := c.New(Config{Size: 2, Dial: FakeDial})
	defer p.Close()
	ctx := context.Background()
	a, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Conn == nil || b.Conn == nil || a.Conn == b.Conn {
		t.Fatalf("Get returned %v and %v", a.Conn, b.Conn)
	}
	if c.Bounded {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if h, err := p.Get(cancelled); err == nil {
			t.Fatalf("third Get of a pool of 2 returned %v", h.Conn)
		}
	}
	p.Put(a)
	p.Remove(b)
	if c.Name != NamePuddle && !b.Conn.(*FakeConn).Closed() { // puddle closes in the background
		t.Error("Remove did not close the connection")
	}
	if err := Fill(ctx, p, 2); err != nil {
		t.Fatal(err)
	}
}

// floorPool is the least a bounded per-P pool must do on its hot path, and
// nothing more: one atomic slot per P (by the P's id, as shardpool finds
// its shard), a Swap to take the slot's connection and a CompareAndSwap to
// give it back. It has no bound, no waiting, no misuse checks, no expiry,
// no stats and no Close for checked-out connections, so it is not a pool:
// the hot-path section shows it as the limit a pool with per-P slots can
// approach, next to sync.Pool (which needs no atomic instruction at all).
type floorPool struct {
	slots []floorSlot
	mask  uint32
	dial  func(context.Context) (net.Conn, error)
}

// floorSlot is one P's slot, padded to its own pair of cache lines.
type floorSlot struct {
	cn atomic.Pointer[floorConn]
	_  [120]byte
}

// floorConn carries a connection through the slot; made once per dial, so
// the hot path allocates nothing.
type floorConn struct{ nc net.Conn }

func newFloorPool(c Config) Pool {
	n := 1
	for n < runtime.GOMAXPROCS(0) {
		n *= 2
	}
	return &floorPool{slots: make([]floorSlot, n), mask: uint32(n - 1), dial: c.Dial}
}

func (p *floorPool) slot() *floorSlot {
	pid := procPin()
	procUnpin()
	return &p.slots[uint32(pid)&p.mask]
}

func (p *floorPool) Get(ctx context.Context) (Handle, error) {
	if fc := p.slot().cn.Swap(nil); fc != nil {
		return Handle{Conn: fc.nc, Ref: fc}, nil
	}
	nc, err := p.dial(ctx)
	if err != nil {
		return Handle{}, err
	}
	return Handle{Conn: nc, Ref: &floorConn{nc}}, nil
}

func (p *floorPool) Put(h Handle) {
	if fc := h.Ref.(*floorConn); !p.slot().cn.CompareAndSwap(nil, fc) {
		_ = fc.nc.Close() // the slot is taken: one idle connection per P
	}
}

func (p *floorPool) Remove(h Handle) { _ = h.Conn.Close() }

// Close closes the idle connections the slots hold.
func (p *floorPool) Close() {
	for i := range p.slots {
		if fc := p.slots[i].cn.Swap(nil); fc != nil {
			_ = fc.nc.Close()
		}
	}
}
