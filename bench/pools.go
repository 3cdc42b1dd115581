package bench

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/jackc/puddle/v2"
	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/baseline"
)

// Handle is a connection checked out of a Pool. Conn is the network
// connection to use; the rest is the contender's own bookkeeping.
type Handle struct {
	Conn net.Conn
	ref  any
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
	// sync.Pool lower bound).
	Peer bool
	// Bounded is false for a contender that does not bound its
	// connections, so scenarios about waiting do not apply to it.
	Bounded bool
	// New builds a pool for cfg.
	New func(cfg Config) Pool
}

// Contender names, in the order reports show them.
const (
	NameShardpool = "shardpool"
	NameBaseline  = "baseline"
	NamePuddle    = "puddle"
	NameChannel   = "channel"
	NameSyncPool  = "syncpool"
)

// Contenders returns every pool under test: shardpool, the baseline, puddle,
// the channel pool, and sync.Pool (a lower bound, not a peer).
func Contenders() []Contender {
	return []Contender{
		{Name: NameShardpool, Peer: true, Bounded: true, New: func(c Config) Pool { return newPoolerAdapter(shardpool.NewConnPool(c.options())) }},
		{Name: NameBaseline, Peer: true, Bounded: true, New: func(c Config) Pool { return newPoolerAdapter(baseline.NewConnPool(c.options())) }},
		{Name: NamePuddle, Peer: true, Bounded: true, New: newPuddlePool},
		{Name: NameChannel, Peer: true, Bounded: true, New: newChannelPool},
		{Name: NameSyncPool, Peer: false, Bounded: false, New: newSyncPool},
	}
}

// poolTimeout bounds every wait for a connection. No scenario should wait
// anywhere near this long; a Get that does is a bug, and fails its benchmark
// instead of hanging it.
const poolTimeout = 10 * time.Second

// options returns the shardpool.Options both of the module's pools get:
// no idle expiry, no reaper, and poolTimeout.
func (c Config) options() *shardpool.Options {
	return &shardpool.Options{
		Dialer:      c.Dial,
		PoolSize:    c.Size,
		PoolTimeout: poolTimeout,
	}
}

// poolerAdapter drives a shardpool.Pooler: shardpool's ConnPool or the
// baseline.
type poolerAdapter struct{ p shardpool.Pooler }

func newPoolerAdapter(p shardpool.Pooler) Pool { return poolerAdapter{p} }

func (a poolerAdapter) Get(ctx context.Context) (Handle, error) {
	cn, err := a.p.Get(ctx)
	if err != nil {
		return Handle{}, err
	}
	return Handle{Conn: cn.NetConn(), ref: cn}, nil
}

func (a poolerAdapter) Put(h Handle)    { a.p.Put(h.ref.(*shardpool.Conn)) }
func (a poolerAdapter) Remove(h Handle) { a.p.Remove(h.ref.(*shardpool.Conn), nil) }
func (a poolerAdapter) Close()          { _ = a.p.Close() }

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
	return Handle{Conn: res.Value(), ref: res}, nil
}

func (a puddlePool) Put(h Handle)    { h.ref.(*puddle.Resource[net.Conn]).Release() }
func (a puddlePool) Remove(h Handle) { h.ref.(*puddle.Resource[net.Conn]).Destroy() }
func (a puddlePool) Close()          { a.p.Close() }

// channelPool is the pool many hand-rolled clients use: a buffered channel
// of idle connections, and a channel of places (a semaphore) for the bound.
type channelPool struct {
	dial   func(context.Context) (net.Conn, error)
	idle   chan net.Conn
	places chan struct{} // one element per connection held
}

func newChannelPool(c Config) Pool {
	return &channelPool{
		dial:   c.Dial,
		idle:   make(chan net.Conn, c.Size),
		places: make(chan struct{}, c.Size),
	}
}

func (p *channelPool) Get(ctx context.Context) (Handle, error) {
	select {
	case nc := <-p.idle:
		return Handle{Conn: nc}, nil
	default:
	}
	select {
	case nc := <-p.idle:
		return Handle{Conn: nc}, nil
	case p.places <- struct{}{}:
		nc, err := p.dial(ctx)
		if err != nil {
			<-p.places
			return Handle{}, err
		}
		return Handle{Conn: nc}, nil
	case <-ctx.Done():
		return Handle{}, ctx.Err()
	}
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
