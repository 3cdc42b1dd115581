package shardpool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"net"
	"os"
	"time"
)

// Dialing: a dial is the Dialer's call and then OnConnect's (connect): a
// handshake that fails is a failed dial. Every dial is bounded by
// DialTimeout, through its context (dialContext), OnConnect included. Each
// dial's outcome is told to the breaker (breaker.go), which may make the
// next dials fail fast.
//
// Locking: none. The places and dial slots (places.go) are atomics. The
// goroutines that call the Dialer in the background (the breaker's probe,
// the MinIdleConns top-up) run in p.dials, which Close does not wait for.

// dialConn dials a connection and registers it. Pooled connections take a
// place, which the caller must already hold. ctx is the caller's, or bgCtx
// for background dials (bg set); DialTimeout bounds the dial within it.
// home, if not nil, is the shard the connection is to be parked in, which
// the caller may change until it publishes the connection; the registry
// keeps the connection in the same shard of its own.
func (p *ConnPool) dialConn(ctx context.Context, pooled, bg bool, home *shard) (*Conn, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	if p.opt.Dialer == nil {
		return nil, ErrNoDialer
	}
	if p.breaker.open(p.poolSize()) {
		p.breaker.want(p.poolSize())
		return nil, p.breaker.lastError()
	}

	// A caller that has given up says nothing about the server: do not
	// dial for it, and do not count a dial its context cut short.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// One read of the clock dates the dial: its bound counts from it, the
	// OnDial hook times it, and it is the connection's CreatedAt. (A read
	// takes 29 ns on the 2-core VM of docs/bench; a second one, for
	// CreatedAt once the Dialer returned, was 6% of ChurnGetRemove's CPU.)
	start := p.clock.exact()
	dialCtx, bounded := p.boundDial(ctx, bg, start)
	cn, err := p.connectAt(dialCtx, p.clock.epoch.Add(time.Duration(start)))
	bounded.release()
	hung := err != nil && ranOut(bounded, err)
	if p.opt.Hooks.OnDial != nil {
		p.dialed(start, err, bg)
	}
	if err != nil {
		// The caller's context, not dialCtx: a dial cut short by
		// DialTimeout does say something about the server.
		if ctx.Err() != nil {
			return nil, err
		}
		if p.breaker.failed(err, hung, p.poolSize()) {
			p.startProbe()
		}
		return nil, err
	}
	p.breaker.succeeded()

	cn.tag.Owner = p
	cn.tag.Pooled = pooled
	cn.bornAt = p.clock.read()
	if j := min(int64(p.opt.MaxConnAgeJitter), math.MaxInt64/4); j > 0 {
		cn.ageJitter = rand.Int63n(2*j+1) - j // uniform over [-j, j]
	}
	if p.leakOn && pooled {
		cn.leak = new(leakRecord)
	}
	if home == nil {
		home, _ = p.pinShard() // callers that park cn choose its home
		unpin()
	}
	cn.home.Store(home)
	if !p.reg.add(cn, home.idx) {
		// Close has drained the registry: nobody else will close cn.
		_ = p.closeConn(cn, ClosePoolClosed, placeKept) // the caller frees the place
		return nil, ErrClosed
	}
	return cn, nil
}

// ranOut reports whether a dial that failed with err hung until its
// bound (the breaker's hung): the bound has passed by the clock, or err
// is a timeout (a deadline of the Dialer's own, say, may come first).
func ranOut(bounded *boundedCtx, err error) bool {
	return bounded.expired() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
}

// dialContext returns ctx bounded by the dial timeout: DialTimeout, or
// for background dials DefaultDialTimeout when DialTimeout is negative.
// Call release when the dial has returned.
// A nil *boundedCtx means ctx is not bounded: release is then a no-op.
func (p *ConnPool) dialContext(ctx context.Context, bg bool) (context.Context, *boundedCtx) {
	return p.boundDial(ctx, bg, p.dialStart())
}

// boundDial is dialContext for a dial that started at start, in
// nanoseconds since the pool's epoch.
func (p *ConnPool) boundDial(ctx context.Context, bg bool, start int64) (context.Context, *boundedCtx) {
	d := p.opt.DialTimeout
	if d < 0 {
		if !bg {
			return ctx, nil
		}
		d = DefaultDialTimeout
	}
	c := newBoundedCtx(ctx, p.clock.sinceMono+start+int64(d))
	return c, c
}

// dialStart returns the time a dial's bound counts from, in nanoseconds
// since the pool's epoch: the pool's coarse clock when it runs (up to its
// resolution early, which makes the bound that much shorter, and saves a
// clock read per dial), else the exact time, one read of the monotonic
// clock.
func (p *ConnPool) dialStart() int64 {
	if p.timed {
		return p.clock.read()
	}
	return p.clock.exact()
}

// callDialer calls the Dialer, turning a panic into an error.
func (p *ConnPool) callDialer(ctx context.Context) (netConn net.Conn, err error) {
	defer func() {
		if v := recover(); v != nil {
			netConn, err = nil, fmt.Errorf("%w: %v", ErrDialerPanic, v)
		}
	}()
	netConn, err = p.opt.Dialer(ctx)
	if err == nil && netConn == nil {
		err = fmt.Errorf("shardpool: Dialer returned a nil net.Conn and no error")
	}
	return netConn, err
}

// connect dials a network connection and runs OnConnect on it, both
// within ctx, the dial's bounded context. A connection OnConnect fails is
// closed here: it never joined the pool, so OnClose is not called.
func (p *ConnPool) connect(ctx context.Context) (*Conn, error) {
	return p.connectAt(ctx, p.clock.wall())
}

// connectAt is connect for a dial that started at created, the
// connection's CreatedAt.
func (p *ConnPool) connectAt(ctx context.Context, created time.Time) (*Conn, error) {
	netConn, err := p.callDialer(ctx)
	if err != nil {
		return nil, err
	}
	cn := newConn(netConn, created)
	if p.opt.OnConnect == nil {
		return cn, nil
	}
	// A Dialer that ignored its context may return after the bound (the
	// probe stops waiting for it): a handshake would fail at once.
	if err := ctx.Err(); err != nil {
		_ = netConn.Close()
		return nil, err
	}
	if err := runOnConnect(ctx, p.opt.OnConnect, cn); err != nil {
		_ = netConn.Close()
		return nil, err
	}
	return cn, nil
}

// runOnConnect runs f, the pool's OnConnect, on cn with the net.Conn's
// deadline set to ctx's where the net.Conn takes deadlines, so that a
// handshake that ignores ctx still cannot outlast the dial's bound, and
// turns an error or a panic into one that wraps ErrOnConnect.
func runOnConnect(ctx context.Context, f func(context.Context, *Conn) error, cn *Conn) (err error) {
	deadline, bounded := ctx.Deadline()
	if bounded && cn.netConn.SetDeadline(deadline) != nil {
		bounded = false // a net.Conn without deadlines: ctx alone bounds the handshake
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: panic: %v", ErrOnConnect, v)
		}
	}()
	if err := f(ctx, cn); err != nil {
		return fmt.Errorf("%w: %w", ErrOnConnect, err)
	}
	if bounded {
		if err := cn.netConn.SetDeadline(time.Time{}); err != nil {
			return fmt.Errorf("%w: clearing the handshake's deadline: %w", ErrOnConnect, err)
		}
	}
	return nil
}

// dialPooled dials into the place and dial slot the caller holds. It gives
// the slot back when the dial ends, and the place too if the dial fails.
func (p *ConnPool) dialPooled(ctx context.Context, home *shard) (*Conn, error) {
	p.stats.misses.inc()
	cn, err := p.dialConn(ctx, true, false, home)
	p.endDial(err != nil)
	if err != nil {
		return nil, err
	}
	return cn, nil
}
