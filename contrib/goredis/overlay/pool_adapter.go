//go:build ignore

// Package pool is go-redis v8's connection pool package with its ConnPool
// running on shardpool (github.com/shardpool/shardpool). This file replaces
// go-redis's pool.go; conn.go, pool_single.go and pool_sticky.go are
// go-redis's own, except for one field added to Conn (sp, a shardLink)
// that ties it to the shardpool connection carrying it. The overlay command
// in shardpool's contrib/goredis writes it; edit it there.
//
// Each shardpool connection carries one go-redis *Conn in its Value, built
// once, when shardpool dials it (Options.OnConnect), with its reader and
// writer. Get and Put reach it through that field and the back-pointer:
// no lookup and no allocation beyond shardpool's own.
//
// The Pooler contract, Options and Stats are v8's, and so are the errors
// (ErrClosed and ErrPoolTimeout are returned as these very values, which
// the client compares with ==). What does not map one to one:
//
//   - Health checks. shardpool checks a connection idle for a second or
//     more before Get hands it out (one non-blocking poll of the socket):
//     a connection the server closed while it was idle is closed and Get
//     moves on or dials, where v8 hands it out and the first command on it
//     fails. v8's Stats has no field for these (shardpool's
//     Stats().Unhealthy counts them).
//   - The staleness clock. Get and the background reaper judge IdleTimeout
//     from the moment a connection was Put and MaxConnAge from its dial, by
//     shardpool's clock. v8 judges by Conn.UsedAt (the last I/O, to the
//     second) and Conn's creation time. ReapStaleConns applies both: it
//     also closes the idle connections that v8's test finds stale, so a
//     UsedAt or creation time set back by hand is honoured there.
//   - The dial-error breaker. Both fail Gets fast after PoolSize dial
//     errors in a row. shardpool resets the count on any successful dial
//     and probes once a second (every 100 ms while Gets keep failing); v8
//     resets it only when its background retry, once a second, succeeds.
//   - Dial timeouts. v8's pool leaves them to the Dialer (the client's has
//     Options.DialTimeout). This adapter turns shardpool's DialTimeout off
//     for Get's and NewConn's dials; shardpool still bounds its background
//     dials (MinIdleConns, the breaker's probe) by 5 s.
//   - Filter. v8 closes the connections fn picks but keeps them in its
//     lists until a caller meets them; shardpool closes them, forgets them
//     and frees their places at once (Len drops).
//   - PoolSize <= 0. v8's pool would time every Get out (0) or panic
//     (negative); shardpool uses 10 × GOMAXPROCS. The client never passes
//     such values: it defaults PoolSize before building the pool.
//   - PoolTimeout <= 0. v8 times a Get out at once when no connection is
//     free; so does this adapter (it asks shardpool for the shortest
//     bound), where shardpool's own 0 would mean 4 s.
//   - Close returns every error closing a connection (errors.Join), v8
//     only the first. Order (PoolFIFO) is kept per shardpool shard.
package pool

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/shardpool/shardpool"

	"github.com/go-redis/redis/v8/internal"
)

var (
	// ErrClosed performs any operation on the closed client will return this error.
	ErrClosed = errors.New("redis: client is closed")

	// ErrPoolTimeout timed out waiting to get a connection from the connection pool.
	ErrPoolTimeout = errors.New("redis: connection pool timeout")
)

// Stats contains pool state information and accumulated stats.
type Stats struct {
	Hits     uint32 // number of times free connection was found in the pool
	Misses   uint32 // number of times free connection was NOT found in the pool
	Timeouts uint32 // number of times a wait timeout occurred

	TotalConns uint32 // number of total connections in the pool
	IdleConns  uint32 // number of idle connections in the pool
	StaleConns uint32 // number of stale connections removed from the pool
}

type Pooler interface {
	NewConn(context.Context) (*Conn, error)
	CloseConn(*Conn) error

	Get(context.Context) (*Conn, error)
	Put(context.Context, *Conn)
	Remove(context.Context, *Conn, error)

	Len() int
	IdleLen() int
	Stats() *Stats

	Close() error
}

// Options are v8's pool options; NewConnPool maps each to shardpool's
// option of the same name (see the package comment for the differences).
type Options struct {
	Dialer  func(context.Context) (net.Conn, error)
	OnClose func(*Conn) error

	PoolFIFO           bool
	PoolSize           int
	MinIdleConns       int
	MaxConnAge         time.Duration
	PoolTimeout        time.Duration
	IdleTimeout        time.Duration
	IdleCheckFrequency time.Duration
}

// shardLink is the field the overlay adds to Conn: the shardpool
// connection that carries it, and where it is in its life as this adapter
// sees it.
type shardLink struct {
	cn    *shardpool.Conn // nil for a Conn made by NewConn outside any pool
	state atomic.Uint32   // connOut, connIdle or connReaped
}

// States of a pooled Conn. Put marks it idle before handing it back, and
// Get marks it out; ReapStaleConns may move an idle one to reaped, and a
// Get that then finds it reaped gives it up (see Get).
const (
	connOut uint32 = iota
	connIdle
	connReaped
)

// errReaped is the reason a Get gives for removing a connection that
// ReapStaleConns claimed as it was taken.
var errReaped = errors.New("redis: connection reaped as stale")

// ConnPool is go-redis's Pooler over a shardpool.ConnPool.
type ConnPool struct {
	sp     *shardpool.ConnPool
	opt    Options
	reaped atomic.Uint32 // closed by ReapStaleConns on v8's staleness test
}

var _ Pooler = (*ConnPool)(nil)

// NewConnPool returns a pool configured by opt, as v8's does.
func NewConnPool(opt *Options) *ConnPool {
	p := &ConnPool{}
	if opt != nil {
		p.opt = *opt
	}
	p.sp = shardpool.NewConnPool(&shardpool.Options{
		Dialer:             p.opt.Dialer,
		OnConnect:          attach,
		OnClose:            p.onClose,
		DialTimeout:        -1, // v8 leaves it to the Dialer
		PoolFIFO:           p.opt.PoolFIFO,
		PoolSize:           p.opt.PoolSize,
		MinIdleConns:       p.opt.MinIdleConns,
		MaxConnAge:         p.opt.MaxConnAge,
		PoolTimeout:        poolTimeout(p.opt.PoolTimeout),
		IdleTimeout:        p.opt.IdleTimeout,
		IdleCheckFrequency: p.opt.IdleCheckFrequency,
	})
	return p
}

// poolTimeout maps v8's PoolTimeout to shardpool's: v8 times a Get out at
// once for d <= 0, where shardpool would wait 4 s (0) or for ever (< 0).
func poolTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Nanosecond
	}
	return d
}

// attach is shardpool's OnConnect: it builds the go-redis Conn (its reader
// and writer) for a new connection, once, and links the two.
func attach(_ context.Context, spcn *shardpool.Conn) error {
	cn := NewConn(spcn.NetConn())
	cn.pooled = true
	cn.sp.cn = spcn
	spcn.Value = cn
	return nil
}

// conn returns the go-redis Conn that spcn carries.
func conn(spcn *shardpool.Conn) *Conn { return spcn.Value.(*Conn) }

// onClose is shardpool's OnClose: v8's OnClose (whose error v8 ignores),
// then the net.Conn that go-redis's SetNetConn put in place of the one
// shardpool dialed, if any: shardpool closes its own.
func (p *ConnPool) onClose(spcn *shardpool.Conn) error {
	cn := conn(spcn)
	if p.opt.OnClose != nil {
		_ = p.opt.OnClose(cn)
	}
	if cn.netConn != spcn.NetConn() {
		return cn.netConn.Close()
	}
	return nil
}

// closeUnpooled closes a Conn that no shardpool connection carries: one
// made by NewConn(netConn) outside any pool.
func (p *ConnPool) closeUnpooled(cn *Conn) error {
	if p.opt.OnClose != nil {
		_ = p.opt.OnClose(cn)
	}
	return cn.Close()
}

// NewConn dials a connection outside the PoolSize bound; Put or Remove
// closes it.
func (p *ConnPool) NewConn(ctx context.Context) (*Conn, error) {
	spcn, err := p.sp.NewConn(ctx)
	if err != nil {
		return nil, v8Error(err)
	}
	cn := conn(spcn)
	cn.pooled = false
	return cn, nil
}

// CloseConn closes cn, checked out or idle, and forgets it.
func (p *ConnPool) CloseConn(cn *Conn) error {
	if cn.sp.cn == nil {
		return p.closeUnpooled(cn)
	}
	return v8Error(p.sp.CloseConn(cn.sp.cn))
}

// Get returns an idle connection or dials one, waiting up to PoolTimeout
// when PoolSize are held.
func (p *ConnPool) Get(ctx context.Context) (*Conn, error) {
	for {
		spcn, err := p.sp.Get(ctx)
		if err != nil {
			return nil, v8Error(err)
		}
		cn := conn(spcn)
		if cn.sp.state.Swap(connOut) != connReaped {
			return cn, nil
		}
		// ReapStaleConns claimed it between shardpool's hand-over and
		// here, and closes it if this Remove does not.
		p.sp.Remove(spcn, errReaped)
	}
}

// Put returns cn to the pool. As in v8, a connection whose reader holds
// unread bytes is removed instead (its stream is out of step), and one
// from NewConn is closed.
func (p *ConnPool) Put(ctx context.Context, cn *Conn) {
	if cn.rd.Buffered() > 0 {
		internal.Logger.Printf(ctx, "Conn has unread data")
		p.Remove(ctx, cn, BadConnError{})
		return
	}
	if !cn.pooled || cn.sp.cn == nil {
		p.Remove(ctx, cn, nil)
		return
	}
	cn.sp.state.Store(connIdle)
	p.sp.Put(cn.sp.cn)
}

// Remove closes cn and frees its place.
func (p *ConnPool) Remove(_ context.Context, cn *Conn, reason error) {
	if cn.sp.cn == nil {
		_ = p.closeUnpooled(cn)
		return
	}
	p.sp.Remove(cn.sp.cn, reason)
}

// Len returns the number of connections the pool holds, NewConn's included.
func (p *ConnPool) Len() int { return p.sp.Len() }

// IdleLen returns the number of idle connections.
func (p *ConnPool) IdleLen() int { return p.sp.IdleLen() }

// Stats returns v8's counters from shardpool's, plus the connections
// ReapStaleConns closed on v8's staleness test.
func (p *ConnPool) Stats() *Stats {
	s := p.sp.Stats()
	return &Stats{
		Hits:       s.Hits,
		Misses:     s.Misses,
		Timeouts:   s.Timeouts,
		TotalConns: s.TotalConns,
		IdleConns:  s.IdleConns,
		StaleConns: s.StaleConns + p.reaped.Load(),
	}
}

// Close closes the pool and every connection it holds. A second Close
// returns ErrClosed.
func (p *ConnPool) Close() error { return v8Error(p.sp.Close()) }

// Filter closes every connection, idle or checked out, for which fn returns
// true. After Close it does nothing and returns nil, as v8's does.
func (p *ConnPool) Filter(fn func(*Conn) bool) error {
	err := p.sp.Filter(func(spcn *shardpool.Conn) bool { return fn(conn(spcn)) })
	if errors.Is(err, shardpool.ErrClosed) {
		return nil
	}
	return err
}

// ReapStaleConns closes the idle connections that are stale by shardpool's
// clock or by v8's test (see the package comment) and returns how many it
// closed. After Close it returns 0 and nil, as v8's does.
func (p *ConnPool) ReapStaleConns() (int, error) {
	n, err := p.sp.ReapStaleConns()
	if err != nil {
		if errors.Is(err, shardpool.ErrClosed) {
			return 0, nil
		}
		return n, err
	}
	return n + p.reapByConnClock(), nil
}

// reapByConnClock closes the idle connections that v8's isStaleConn finds
// stale by their UsedAt and creation time. An idle Conn is claimed by
// moving it to connReaped; a Get that takes it meanwhile sees the claim and
// gives it up, so a connection a caller holds is never closed under it.
func (p *ConnPool) reapByConnClock() int {
	if p.opt.IdleTimeout <= 0 && p.opt.MaxConnAge <= 0 {
		return 0
	}
	now := time.Now()
	n := 0
	_ = p.sp.Filter(func(spcn *shardpool.Conn) bool {
		// The state first: a Conn seen idle was Put after its holder's
		// last write to it, so reading its times is no race.
		cn := conn(spcn)
		if cn.sp.state.Load() != connIdle || !p.isStaleConn(cn, now) ||
			!cn.sp.state.CompareAndSwap(connIdle, connReaped) {
			return false
		}
		n++
		return true
	})
	p.reaped.Add(uint32(n))
	return n
}

// isStaleConn is v8's test.
func (p *ConnPool) isStaleConn(cn *Conn, now time.Time) bool {
	if p.opt.IdleTimeout > 0 && now.Sub(cn.UsedAt()) >= p.opt.IdleTimeout {
		return true
	}
	return p.opt.MaxConnAge > 0 && now.Sub(cn.createdAt) >= p.opt.MaxConnAge
}

// v8Error returns v8's error values for shardpool's ErrClosed and
// ErrPoolTimeout (the client compares with ==), and err otherwise.
func v8Error(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, shardpool.ErrClosed):
		return ErrClosed
	case errors.Is(err, shardpool.ErrPoolTimeout):
		return ErrPoolTimeout
	}
	return err
}
