package shardpool

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"net"
	"time"
)

// Dialing, the dial-error breaker, and the MinIdleConns top-up.
//
// Locking: none. The breaker's state (dialErrors, lastErr, probing), the
// top-up's (bgDials, topping) and the places and dial slots (places.go) are
// atomics. The goroutines that call the Dialer in the background run in
// p.dials, which Close does not wait for.
//
// A dial is the Dialer's call and then OnConnect's (connect): a handshake
// that fails is a failed dial. Every dial is bounded by DialTimeout,
// through its context (dialContext), OnConnect included.
//
// The breaker: each failed dial increments dialErrors and each successful
// one resets it, so it counts consecutive failures. A dial cut short by the
// caller's context does not count; one cut short by DialTimeout does. Once
// the count reaches PoolSize, dials fail at once with the last dial error,
// without calling the Dialer, and one probe goroutine dials every
// ProbeInterval until a dial succeeds; then it resets the count and the pool
// dials normally again. A Get that fails fast asks the probe for an attempt
// now (wantProbe), and the probe makes it as soon as ProbeGap has passed
// since its last: so while callers keep coming, the pool finds a server
// that accepts again within ProbeGap instead of ProbeInterval, and with no
// demand it dials once per ProbeInterval. One attempt at a time: the
// probe is a single goroutine. The probe waits for each attempt at most the
// background dial timeout, even if the Dialer ignores its context, so a
// hung dial cannot keep the breaker open. Unlike go-redis v8, success
// resets the count (sporadic failures spread over hours do not trip it) and
// the probe cannot be lost: probing is cleared before the count, so a trip
// after the reset starts a new probe.

// The breaker's probe cadence. While the breaker is open the probe dials
// once every ProbeInterval, and, while Gets keep failing fast, as often as
// once every ProbeGap: a dead server sees at most one dial per ProbeGap
// from the pool, and one per ProbeInterval from a pool nobody uses.
const (
	ProbeInterval = time.Second
	ProbeGap      = 100 * time.Millisecond
)

type dialError struct{ err error }

// dialConn dials a connection and registers it. Pooled connections take a
// place, which the caller must already hold. ctx is the caller's, or bgCtx
// for background dials (bg set); DialTimeout bounds the dial within it.
func (p *ConnPool) dialConn(ctx context.Context, pooled, bg bool) (*Conn, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	if p.opt.Dialer == nil {
		return nil, ErrNoDialer
	}
	if p.breakerOpen() {
		p.wantProbe()
		return nil, p.lastDialError()
	}

	// A caller that has given up says nothing about the server: do not
	// dial for it, and do not count a dial its context cut short.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dialCtx, bounded := p.dialContext(ctx, bg)
	var start int64
	if p.opt.Hooks.OnDial != nil {
		start = p.clock.exact()
	}
	cn, err := p.connect(dialCtx)
	bounded.release()
	if p.opt.Hooks.OnDial != nil {
		p.dialed(start, err, bg)
	}
	if err != nil {
		// The caller's context, not dialCtx: a dial cut short by
		// DialTimeout does say something about the server.
		if ctx.Err() != nil {
			return nil, err
		}
		p.lastErr.Store(&dialError{err})
		if p.dialErrors.Add(1) >= uint32(p.poolSize()) {
			p.startProbe() // a no-op while a probe runs
		}
		return nil, err
	}
	if p.dialErrors.Load() != 0 {
		p.dialErrors.Store(0)
	}

	cn.tag.Owner = p
	cn.tag.Pooled = pooled
	cn.bornAt = p.now()
	if j := min(int64(p.opt.MaxConnAgeJitter), math.MaxInt64/4); j > 0 {
		cn.ageJitter = rand.Int63n(2*j+1) - j // uniform over [-j, j]
	}
	if p.leakOn && pooled {
		cn.leak = new(leakRecord)
	}
	cn.home.Store(&p.shards[0]) // callers that park cn choose its home
	if !p.reg.add(cn) {
		// Close has drained the registry: nobody else will close cn.
		_ = p.closeConn(cn, ClosePoolClosed)
		return nil, ErrClosed
	}
	return cn, nil
}

// dialContext returns ctx bounded by the dial timeout: DialTimeout, or
// for background dials DefaultDialTimeout when DialTimeout is negative.
// Call release when the dial has returned.
// A nil *boundedCtx means ctx is not bounded: release is then a no-op.
func (p *ConnPool) dialContext(ctx context.Context, bg bool) (context.Context, *boundedCtx) {
	d := p.opt.DialTimeout
	if d < 0 {
		if !bg {
			return ctx, nil
		}
		d = DefaultDialTimeout
	}
	c := newBoundedCtx(ctx, p.dialStart(), d)
	return c, c
}

// dialStart returns the time a dial's bound counts from: the pool's coarse
// clock when it runs (up to its resolution early, which makes the bound
// that much shorter, and saves a clock read per dial), else time.Now.
func (p *ConnPool) dialStart() time.Time {
	if p.timed {
		return p.clock.epoch.Add(time.Duration(p.clock.read()))
	}
	return time.Now()
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
	netConn, err := p.callDialer(ctx)
	if err != nil {
		return nil, err
	}
	cn := NewConn(netConn)
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

// breakerOpen reports whether dials fail fast: PoolSize dials in a row
// have failed (the current PoolSize: a shrink can open the breaker).
func (p *ConnPool) breakerOpen() bool {
	return p.dialErrors.Load() >= uint32(p.poolSize())
}

func (p *ConnPool) lastDialError() error {
	if e := p.lastErr.Load(); e != nil {
		return e.err
	}
	return nil
}

// dialPooled dials into the place and dial slot the caller holds. It gives
// the slot back when the dial ends, and the place too if the dial fails.
func (p *ConnPool) dialPooled(ctx context.Context, home *shard) (*Conn, error) {
	p.stats.misses.Inc()
	cn, err := p.dialConn(ctx, true, false)
	p.endDial(err != nil)
	if err != nil {
		return nil, err
	}
	cn.home.Store(home)
	return cn, nil
}

func (p *ConnPool) startProbe() {
	if p.probing.CompareAndSwap(false, true) {
		if !p.dials.Go(p.probe) {
			p.probing.Store(false)
		}
	}
}

// wantProbe asks the probe for an attempt as soon as probeGap allows, for
// a Get that met the open breaker. The flag keeps the channel off the path
// of every such Get: one asks, the others see the flag set.
func (p *ConnPool) wantProbe() {
	if !p.probeWanted.Load() && p.probeWanted.CompareAndSwap(false, true) {
		select {
		case p.probeNow <- struct{}{}:
		default: // already asked
		}
	}
}

// probe dials every probeEvery, or sooner when a Get asks (wantProbe) but
// never within probeGap of its last attempt, until a dial succeeds or the
// pool closes.
func (p *ConnPool) probe() {
	var last time.Time // when the last attempt began
	for first := true; ; first = false {
		if !first && !p.probeWait(last) {
			return
		}
		// Cleared before the attempt: a Get that fails fast during it
		// asks for the next one.
		p.probeWanted.Store(false)
		last = time.Now()
		err := p.probeDial()
		if err == nil {
			// Clear probing first: a trip after the reset must be able
			// to start a new probe.
			p.probing.Store(false)
			p.dialErrors.Store(0)
			p.checkMinIdleConns() // top-ups stopped while the breaker was open
			return
		}
		if p.closed.Load() {
			return
		}
		p.lastErr.Store(&dialError{err})
	}
}

// probeWait waits until probeEvery after last, or until a Get asks for an
// attempt but at least probeGap after last. It reports false if the pool
// closes first.
func (p *ConnPool) probeWait(last time.Time) bool {
	t := time.NewTimer(time.Until(last.Add(p.probeEvery)))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.closedCh:
		return false
	case <-p.probeNow:
	}
	gap := time.NewTimer(time.Until(last.Add(p.probeGap)))
	defer gap.Stop()
	select {
	case <-gap.C:
		return true
	case <-p.closedCh:
		return false
	}
}

// probeDial makes one probe attempt (a dial and OnConnect) and closes what
// it dials. It waits for
// the dial at most the background dial timeout, even if the Dialer ignores
// its context: a hung attempt must not hold the breaker open once the
// server accepts again. Such an attempt runs on, and closes its connection
// if it ever gets one.
func (p *ConnPool) probeDial() error {
	ctx, bounded := p.dialContext(p.bgCtx, true)
	defer bounded.release()
	res := make(chan error, 1) // the attempt never blocks on it
	start := p.clock.exact()
	if !p.dials.Go(func() {
		cn, err := p.connect(ctx)
		if err == nil {
			_ = cn.Close()
		}
		res <- err
	}) {
		return ErrClosed
	}
	var err error
	select {
	case err = <-res:
	case <-ctx.Done():
		err = fmt.Errorf("shardpool: probe dial gave no answer in time: %w", ctx.Err())
	}
	p.dialed(start, err, true)
	return err
}

// checkMinIdleConns makes sure a top-up runs after this call, so that idle
// connections plus those being dialed for MinIdleConns reach it (within
// PoolSize). Top-ups run one at a time (p.topping, see rounds.go), as serve
// rounds do: two top-ups that each counted the pool before the other's
// dials started would dial twice for the same shortfall.
func (p *ConnPool) checkMinIdleConns() {
	if p.minIdle.Load() != 0 {
		p.topping.request(p.topUp)
	}
}

// topUp starts the background dials MinIdleConns lacks. Only p.topping's
// runner runs it, so bgDials changes under it only by
// dials ending.
//
// It loads bgDials before it counts idle connections. A dial parks its
// connection and only then leaves bgDials, and calls checkMinIdleConns
// after that; so a dial that ends between the two loads is counted twice
// (this top-up falls short by one, and the check that follows the dial's
// end makes it up), never zero times (which would dial one too many, and
// nothing would take it back).
func (p *ConnPool) topUp() {
	need := int(p.minIdle.Load()) - int(p.bgDials.Load()) - p.IdleLen()
	for ; need > 0; need-- {
		if p.closed.Load() || p.breakerOpen() || !p.tryAcquire() {
			return
		}
		p.bgDials.Add(1)
		if !p.dials.Go(p.addIdleConn) {
			p.bgDials.Add(-1)
			p.endDial(true)
			return
		}
	}
}

// addIdleConn dials one connection into a place and dial slot taken by
// topUp and parks it, spreading such connections over the shards; then it
// checks MinIdleConns again (see topUp). A failed dial frees its place and
// does not check: the next event that does (a Remove, a Get, the breaker's probe
// succeeding) retries, instead of a loop of failing dials.
func (p *ConnPool) addIdleConn() {
	cn, err := p.dialConn(p.bgCtx, true, true)
	p.endDial(err != nil)
	if err != nil {
		p.bgDials.Add(-1)
		return
	}
	cn.home.Store(&p.shards[p.rr.Add(1)&p.mask])
	p.putIdle(cn, false)
	if afterIdleConnParked != nil {
		afterIdleConnParked(p)
	}
	p.bgDials.Add(-1)
	p.checkMinIdleConns()
}

// afterIdleConnParked, when set (by tests only), runs in addIdleConn between
// the park and the end of the dial's count in bgDials: the window in which
// the connection is counted twice.
var afterIdleConnParked func(p *ConnPool)
