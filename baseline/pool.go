// Package baseline is the connection pool shardpool replaces: go-redis v8's
// design, one mutex over a slice of all connections and a slice of idle
// ones, and a buffered channel of turns that every Get takes a slot of.
//
// It serves as the reference that shardpool's benchmarks and tests compare
// against, so it is kept faithful and fast, not weakened. It implements the
// same shardpool.Pooler over the same shardpool.Conn and Options, and keeps
// the same contract, which required a few departures from v8, each marked
// "v8:" below: Close wakes waiting Gets, bad input is refused, Filter
// forgets what it closes, background goroutines stop on Close, the
// reaper checks every idle connection, and Options.OnConnect runs after
// each of Get's and NewConn's dials (v8's pool has no such hook; its probe
// does not run it, and no DialTimeout bounds it).
package baseline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/bgroup"
	"github.com/shardpool/shardpool/internal/connstate"
	"github.com/shardpool/shardpool/internal/testhook"
)

var _ shardpool.Pooler = (*ConnPool)(nil)

// ConnPool is go-redis v8's connection pool over shardpool's Conn.
type ConnPool struct {
	opt   shardpool.Options
	clock atomic.Pointer[func() time.Time] // nil: time.Now; tests set it

	dialErrorsNum uint32 // atomic

	lastDialErrorMu sync.RWMutex
	lastDialError   error

	queue chan struct{} // turns: one slot per checked-out connection

	connsMu      sync.Mutex
	conns        []*shardpool.Conn // every connection; guarded by connsMu
	idleConns    []*shardpool.Conn // idle ones, oldest first; guarded by connsMu
	poolSize     int               // pooled connections; guarded by connsMu
	idleConnsLen int               // guarded by connsMu

	stats   shardpool.Stats // Hits, Misses, Timeouts, StaleConns: atomic
	pending atomic.Int32    // Gets blocked in waitTurn (Stats.PendingRequests)

	_closed  uint32 // atomic
	closedCh chan struct{}

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       bgroup.Group // the reaper: Close waits for it
	dials    bgroup.Group // MinIdleConns dials and the probe: Close does not wait, as in go-redis
}

// NewConnPool returns a baseline pool configured by opt (nil: defaults),
// normalized as shardpool.NewConnPool does.
func NewConnPool(opt *shardpool.Options) *ConnPool {
	p := &ConnPool{closedCh: make(chan struct{})}
	if opt != nil {
		p.opt = *opt
	}
	connstate.Normalize(&p.opt)
	p.queue = make(chan struct{}, p.opt.PoolSize)
	p.conns = make([]*shardpool.Conn, 0, p.opt.PoolSize)
	p.idleConns = make([]*shardpool.Conn, 0, p.opt.PoolSize)
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())

	p.connsMu.Lock()
	p.checkMinIdleConns()
	p.connsMu.Unlock()

	// go-redis v8 starts its reaper when IdleTimeout and IdleCheckFrequency
	// are both set; the shared Options (normalize) derive IdleCheckFrequency
	// when it is 0 and leave it 0 without IdleTimeout or MaxConnAge, so that
	// both pools sweep alike.
	if p.opt.IdleCheckFrequency > 0 {
		p.bg.Go(func() { p.reaper(p.opt.IdleCheckFrequency) })
	}
	return p
}

func tag(cn *shardpool.Conn) *connstate.Tag { return connstate.Of(cn) }

func init() {
	testhook.BaselineClock = func(pool any, now func() time.Time) {
		pool.(*ConnPool).clock.Store(&now)
	}
	testhook.BaselineWaitDials = func(pool any) { pool.(*ConnPool).dials.Wait() }
}

func (p *ConnPool) now() time.Time {
	if f := p.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// checkMinIdleConns starts dials until MinIdleConns are idle. Call with
// connsMu held.
func (p *ConnPool) checkMinIdleConns() {
	if p.opt.MinIdleConns == 0 {
		return
	}
	for p.poolSize < p.opt.PoolSize && p.idleConnsLen < p.opt.MinIdleConns {
		p.poolSize++
		p.idleConnsLen++
		if !p.dials.Go(p.addIdleConn) {
			p.poolSize--
			p.idleConnsLen--
			return
		}
	}
}

func (p *ConnPool) addIdleConn() {
	cn, err := p.dialConn(p.bgCtx, true)

	p.connsMu.Lock()
	defer p.connsMu.Unlock()
	if err != nil {
		p.poolSize--
		p.idleConnsLen--
		return
	}
	// It is not allowed to add new connections to the closed pool.
	t := tag(cn)
	if p.closed() {
		t.CloseAny()
		_ = p.closeConn(cn)
		return
	}
	t.Park()
	if p.opt.IdleTimeout > 0 {
		cn.SetUsedAt(p.now())
	}
	p.conns = append(p.conns, cn)
	p.idleConns = append(p.idleConns, cn)
}

// NewConn dials a connection outside the PoolSize bound.
func (p *ConnPool) NewConn(ctx context.Context) (*shardpool.Conn, error) {
	return p.newConn(ctx, false)
}

func (p *ConnPool) newConn(ctx context.Context, pooled bool) (*shardpool.Conn, error) {
	cn, err := p.dialConn(ctx, pooled)
	if err != nil {
		return nil, err
	}

	p.connsMu.Lock()
	defer p.connsMu.Unlock()

	t := tag(cn)
	if p.closed() {
		t.CloseAny()
		_ = p.closeConn(cn)
		return nil, shardpool.ErrClosed
	}

	p.conns = append(p.conns, cn)
	if pooled {
		// If the pool is full, remove the connection on its next Put.
		if p.poolSize >= p.opt.PoolSize {
			t.Pooled = false
		} else {
			p.poolSize++
		}
	}
	return cn, nil
}

func (p *ConnPool) dialConn(ctx context.Context, pooled bool) (*shardpool.Conn, error) {
	if p.closed() {
		return nil, shardpool.ErrClosed
	}
	if p.opt.Dialer == nil {
		return nil, shardpool.ErrNoDialer
	}
	if atomic.LoadUint32(&p.dialErrorsNum) >= uint32(p.opt.PoolSize) {
		return nil, p.getLastDialError()
	}

	netConn, err := p.callDialer(ctx)
	var cn *shardpool.Conn
	if err == nil {
		cn = shardpool.NewConn(netConn)
		if err = connstate.Connect(ctx, &p.opt, cn); err != nil {
			_ = netConn.Close()
		}
	}
	if err != nil {
		p.setLastDialError(err)
		if atomic.AddUint32(&p.dialErrorsNum, 1) == uint32(p.opt.PoolSize) {
			p.dials.Go(p.tryDial)
		}
		return nil, err
	}

	if p.clock.Load() != nil {
		connstate.SetCreatedAt(cn, p.now())
	}
	t := tag(cn)
	t.Owner = p
	t.Pooled = pooled
	return cn, nil
}

// callDialer turns a panic in the Dialer into an error (v8: it panics).
func (p *ConnPool) callDialer(ctx context.Context) (netConn net.Conn, err error) {
	defer func() {
		if v := recover(); v != nil {
			netConn, err = nil, fmt.Errorf("%w: %v", shardpool.ErrDialerPanic, v)
		}
	}()
	netConn, err = p.opt.Dialer(ctx)
	if err == nil && netConn == nil {
		err = errors.New("baseline: Dialer returned a nil net.Conn and no error")
	}
	return netConn, err
}

// tryDial is v8's recovery probe. v8: it sleeps with time.Sleep and dials
// with context.Background, outliving Close by up to a second.
func (p *ConnPool) tryDial() {
	for {
		if p.closed() {
			return
		}
		conn, err := p.callDialer(p.bgCtx)
		if err != nil {
			p.setLastDialError(err)
			select {
			case <-time.After(time.Second):
			case <-p.closedCh:
				return
			}
			continue
		}
		atomic.StoreUint32(&p.dialErrorsNum, 0)
		_ = conn.Close()
		return
	}
}

func (p *ConnPool) setLastDialError(err error) {
	p.lastDialErrorMu.Lock()
	p.lastDialError = err
	p.lastDialErrorMu.Unlock()
}

func (p *ConnPool) getLastDialError() error {
	p.lastDialErrorMu.RLock()
	err := p.lastDialError
	p.lastDialErrorMu.RUnlock()
	return err
}

// Get returns an existing connection from the pool or creates a new one.
func (p *ConnPool) Get(ctx context.Context) (*shardpool.Conn, error) {
	if p.closed() {
		return nil, shardpool.ErrClosed
	}

	if err := p.waitTurn(ctx); err != nil {
		return nil, err
	}

	for {
		p.connsMu.Lock()
		cn := p.popIdle()
		p.connsMu.Unlock()

		if cn == nil {
			break
		}
		t := tag(cn)

		if p.isStaleConn(cn) {
			// Close may have claimed it since popIdle.
			if t.CloseCheckedOut() {
				atomic.AddUint32(&p.stats.StaleConns, 1)
				p.closeClaimed(cn, t)
			}
			continue
		}

		atomic.AddUint32(&p.stats.Hits, 1)
		t.Turn.Store(true)
		return cn, nil
	}

	atomic.AddUint32(&p.stats.Misses, 1)

	newcn, err := p.newConn(ctx, true)
	if err != nil {
		p.freeTurn()
		return nil, err
	}
	tag(newcn).Turn.Store(true)
	return newcn, nil
}

func (p *ConnPool) waitTurn(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
	}

	select {
	case p.queue <- struct{}{}:
		return nil
	default:
	}

	start := time.Now()
	var timeout <-chan time.Time
	if p.opt.PoolTimeout > 0 {
		timer := time.NewTimer(p.opt.PoolTimeout)
		defer timer.Stop()
		timeout = timer.C
	}
	atomic.AddUint32(&p.stats.WaitCount, 1)
	p.pending.Add(1)
	defer func() {
		p.pending.Add(-1)
		p.addWaitDuration(time.Since(start))
	}()

	select {
	case p.queue <- struct{}{}:
		if p.closed() { // v8: Close does not wake waiters
			p.freeTurn()
			return shardpool.ErrClosed
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		atomic.AddUint32(&p.stats.Timeouts, 1)
		return shardpool.ErrPoolTimeout
	case <-p.closedCh:
		return shardpool.ErrClosed
	}
}

func (p *ConnPool) freeTurn() {
	<-p.queue
}

// popIdle takes the newest (LIFO) or oldest (FIFO) idle connection. Call
// with connsMu held.
func (p *ConnPool) popIdle() *shardpool.Conn {
	n := len(p.idleConns)
	if n == 0 {
		return nil
	}

	var cn *shardpool.Conn
	if p.opt.PoolFIFO {
		cn = p.idleConns[0]
		copy(p.idleConns, p.idleConns[1:])
		p.idleConns = p.idleConns[:n-1]
	} else {
		idx := n - 1
		cn = p.idleConns[idx]
		p.idleConns = p.idleConns[:idx]
	}
	p.idleConnsLen--
	p.checkMinIdleConns()
	tag(cn).Checkout()
	return cn
}

// Put returns a connection to the pool. v8: no checks for bad input.
func (p *ConnPool) Put(cn *shardpool.Conn) {
	t := p.tagOf(cn)
	if t == nil {
		p.misuse(cn, shardpool.ErrUnknownConn)
		return
	}
	if !t.Pooled {
		p.Remove(cn, nil)
		return
	}

	p.connsMu.Lock()
	if !t.Park() {
		p.connsMu.Unlock()
		p.refused(cn, t)
		return
	}
	// Take the turn flag before cn becomes visible as idle: once it is in
	// idleConns, another Get can take cn and set the flag for itself.
	owed := t.Turn.Swap(false)
	if p.opt.IdleTimeout > 0 {
		cn.SetUsedAt(p.now())
	}
	p.idleConns = append(p.idleConns, cn)
	p.idleConnsLen++
	p.connsMu.Unlock()
	if owed {
		p.freeTurn()
	}
}

// Remove removes and closes the connection from the pool.
func (p *ConnPool) Remove(cn *shardpool.Conn, reason error) {
	t := p.tagOf(cn)
	if t == nil {
		p.misuse(cn, shardpool.ErrUnknownConn)
		return
	}
	if !t.CloseCheckedOut() {
		p.refused(cn, t)
		return
	}
	p.removeConnWithLock(cn, t)
	p.returnTurn(t)
	_ = p.closeConn(cn)
}

// refused handles a Put or Remove of a connection that is not checked out:
// still give back the turn its Get took if it was closed under its holder
// (Filter, CloseConn), and report a second Put.
func (p *ConnPool) refused(cn *shardpool.Conn, t *connstate.Tag) {
	p.returnTurn(t)
	if t.State() == connstate.Idle {
		p.misuse(cn, shardpool.ErrNotCheckedOut)
	}
}

// returnTurn frees the turn the Get of t's connection took, once.
func (p *ConnPool) returnTurn(t *connstate.Tag) {
	if t.Turn.Swap(false) {
		p.freeTurn()
	}
}

// CloseConn closes cn, checked out or idle, and forgets it.
func (p *ConnPool) CloseConn(cn *shardpool.Conn) error {
	t := p.tagOf(cn)
	if t == nil {
		return shardpool.ErrUnknownConn
	}
	p.connsMu.Lock()
	// A swap, not a load and a store: Remove claims a checked-out
	// connection without connsMu, and only one of us may close it.
	switch t.CloseAny() {
	case connstate.Closed:
		p.connsMu.Unlock()
		p.returnTurn(t) // closed under its holder by Filter, Remove or Close
		return nil
	case connstate.Idle:
		p.removeIdle(cn)
	}
	p.removeConn(cn, t)
	p.connsMu.Unlock()
	p.returnTurn(t)
	return p.closeConn(cn)
}

// removeIdle takes cn out of the idle slice. Call with connsMu held.
func (p *ConnPool) removeIdle(cn *shardpool.Conn) {
	for i, c := range p.idleConns {
		if c == cn {
			p.idleConns = append(p.idleConns[:i], p.idleConns[i+1:]...)
			p.idleConnsLen--
			return
		}
	}
}

// closeClaimed forgets and closes a connection already marked Closed.
func (p *ConnPool) closeClaimed(cn *shardpool.Conn, t *connstate.Tag) {
	p.removeConnWithLock(cn, t)
	_ = p.closeConn(cn)
}

func (p *ConnPool) removeConnWithLock(cn *shardpool.Conn, t *connstate.Tag) {
	p.connsMu.Lock()
	p.removeConn(cn, t)
	p.connsMu.Unlock()
}

// removeConn forgets cn, whose tag is t. Call with connsMu held.
func (p *ConnPool) removeConn(cn *shardpool.Conn, t *connstate.Tag) {
	for i, c := range p.conns {
		if c == cn {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			if t.Pooled {
				p.poolSize--
				p.checkMinIdleConns()
			}
			return
		}
	}
}

func (p *ConnPool) closeConn(cn *shardpool.Conn) error {
	var onCloseErr error
	if p.opt.OnClose != nil {
		onCloseErr = p.opt.OnClose(cn)
	}
	return errors.Join(onCloseErr, cn.Close())
}

// Len returns the total number of connections.
func (p *ConnPool) Len() int {
	p.connsMu.Lock()
	n := len(p.conns)
	p.connsMu.Unlock()
	return n
}

// IdleLen returns the number of idle connections.
func (p *ConnPool) IdleLen() int {
	p.connsMu.Lock()
	n := len(p.idleConns)
	p.connsMu.Unlock()
	return n
}

// Stats returns a snapshot of the pool's counters.
func (p *ConnPool) Stats() *shardpool.Stats {
	return &shardpool.Stats{
		Hits:     atomic.LoadUint32(&p.stats.Hits),
		Misses:   atomic.LoadUint32(&p.stats.Misses),
		Timeouts: atomic.LoadUint32(&p.stats.Timeouts),

		TotalConns: uint32(p.Len()),
		IdleConns:  uint32(p.IdleLen()),
		StaleConns: atomic.LoadUint32(&p.stats.StaleConns),

		WaitCount:    atomic.LoadUint32(&p.stats.WaitCount),
		WaitDuration: time.Duration(atomic.LoadInt64((*int64)(&p.stats.WaitDuration))),

		PendingRequests: uint32(p.pending.Load()),
		PoolSize:        uint32(p.opt.PoolSize),
		MinIdleConns:    uint32(p.opt.MinIdleConns),
		MaxIdleConns:    uint32(p.opt.PoolSize),
	}
}

func (p *ConnPool) addWaitDuration(d time.Duration) {
	atomic.AddInt64((*int64)(&p.stats.WaitDuration), int64(d))
}

func (p *ConnPool) closed() bool {
	return atomic.LoadUint32(&p._closed) == 1
}

// Filter closes and forgets every connection fn selects (v8: it closes them
// but leaves them in the pool's slices).
func (p *ConnPool) Filter(fn func(*shardpool.Conn) bool) error {
	if p.closed() {
		return shardpool.ErrClosed
	}
	p.connsMu.Lock()
	var victims []*shardpool.Conn
	for _, cn := range p.conns {
		if fn(cn) {
			victims = append(victims, cn)
		}
	}
	claimed := victims[:0]
	for _, cn := range victims {
		// A connection being removed (claimed by Remove, not yet out of
		// conns) is its remover's to close.
		t := tag(cn)
		switch t.CloseAny() {
		case connstate.Closed:
			continue
		case connstate.Idle:
			p.removeIdle(cn)
		}
		p.removeConn(cn, t)
		claimed = append(claimed, cn)
	}
	victims = claimed
	p.connsMu.Unlock()

	var errs []error
	for _, cn := range victims {
		errs = append(errs, p.closeConn(cn))
	}
	return errors.Join(errs...)
}

// Close closes the pool and every connection in it.
func (p *ConnPool) Close() error {
	if !atomic.CompareAndSwapUint32(&p._closed, 0, 1) {
		return shardpool.ErrClosed
	}
	close(p.closedCh)
	p.dials.Close()
	p.bgCancel()

	var errs []error
	p.connsMu.Lock()
	for _, cn := range p.conns {
		if tag(cn).CloseAny() != connstate.Closed {
			errs = append(errs, p.closeConn(cn))
		}
	}
	p.conns = nil
	p.poolSize = 0
	p.idleConns = nil
	p.idleConnsLen = 0
	p.connsMu.Unlock()

	p.bg.Stop()
	return errors.Join(errs...)
}

func (p *ConnPool) reaper(frequency time.Duration) {
	ticker := time.NewTicker(frequency)
	defer ticker.Stop()

	for {
		select {
		case <-ticker.C:
			// It is possible that ticker and closedCh arrive together,
			// and select pseudo-randomly picks ticker, so check again.
			if p.closed() {
				return
			}
			_, _ = p.ReapStaleConns()
		case <-p.closedCh:
			return
		}
	}
}

// ReapStaleConns closes the stale idle connections and returns how many.
// v8: it looks only at idleConns[0] and stops at the first fresh one, which
// misses connections past MaxConnAge further in; this checks them all.
func (p *ConnPool) ReapStaleConns() (int, error) {
	if p.closed() {
		return 0, shardpool.ErrClosed
	}
	var stale []*shardpool.Conn
	p.connsMu.Lock()
	idle := p.idleConns[:0]
	for _, cn := range p.idleConns {
		if p.isStaleConn(cn) {
			tag(cn).CloseIdle()
			stale = append(stale, cn)
		} else {
			idle = append(idle, cn)
		}
	}
	clear(p.idleConns[len(idle):])
	p.idleConns = idle
	p.idleConnsLen -= len(stale)
	for _, cn := range stale {
		p.removeConn(cn, tag(cn))
	}
	p.connsMu.Unlock()

	for _, cn := range stale {
		_ = p.closeConn(cn)
	}
	atomic.AddUint32(&p.stats.StaleConns, uint32(len(stale)))
	return len(stale), nil
}

func (p *ConnPool) isStaleConn(cn *shardpool.Conn) bool {
	if p.opt.IdleTimeout == 0 && p.opt.MaxConnAge == 0 {
		return false
	}

	now := p.now()
	if p.opt.IdleTimeout > 0 && now.Sub(cn.UsedAt()) >= p.opt.IdleTimeout {
		return true
	}
	if p.opt.MaxConnAge > 0 && now.Sub(cn.CreatedAt()) >= p.opt.MaxConnAge {
		return true
	}

	return false
}

// tagOf returns cn's tag if cn is a connection of this pool, and nil
// otherwise. Each call fetches the tag once and passes it on.
func (p *ConnPool) tagOf(cn *shardpool.Conn) *connstate.Tag {
	if cn == nil {
		return nil
	}
	if t := tag(cn); t.Owner == any(p) {
		return t
	}
	return nil
}

func (p *ConnPool) misuse(cn *shardpool.Conn, err error) {
	if p.opt.OnMisuse != nil {
		p.opt.OnMisuse(cn, err)
	}
}
