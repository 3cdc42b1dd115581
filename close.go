package shardpool

import (
	"context"
	"errors"

	"github.com/shardpool/shardpool/internal/connstate"
)

// Closing: the pool's (Close, which closes everything at once, and
// Shutdown, which closes idle connections at once and the others as they
// come back), and a connection's (closeConn, the one way any connection is
// closed, and the calls that claim a connection for it: CloseConn, Filter).
//
// Locking: lifeMu guards phase. It is held while a close begins (the
// closed flag, the background loops told to stop, waiters sent ErrClosed,
// the shards drained) and while the phase moves, never while a connection
// is closed (OnClose is the user's code) or while anything is waited for.
//
// The phases: open → draining (Shutdown) → closed, or open → closed
// (Close). The closed flag is set on leaving open, so Gets fail from then
// on in both. In draining, the registry still holds the checked-out
// connections; Put, Remove and the pool's own returns close them and remove
// them from it (putIdle, closeConn), and Shutdown waits for it to empty.
// Moving to closed drains the registry for good (finishClose); a dial that
// ends later closes its own connection (dialConn). Whoever moves the phase
// to closed runs finishClose, once, and closes finished at its end.

// lifePhase is where the pool is in its life.
type lifePhase int

const (
	phaseOpen lifePhase = iota
	phaseDraining
	phaseClosed
)

// Close closes the pool: waiting Gets return ErrClosed, every connection the
// pool holds is closed (Options.OnClose is called once for each), and later
// calls return ErrClosed. It stops the background goroutines, but does not
// wait for dials in flight: a Dialer may ignore its context, and Close
// returns promptly whatever the Dialer does. A dial that ends after Close
// closes its connection at once.
//
// It returns the errors closing healthy connections (errors.Join), or
// ErrClosed if the pool was already closed. Errors closing stale ones, idle
// past IdleTimeout or older than MaxConnAge, are not reported: such a close
// fails routinely (a TLS close-notify on a socket the server dropped long
// ago, say), and says nothing the caller can act on.
//
// During a Shutdown, Close closes what is left at once, returns the errors
// of closing it, and the Shutdown returns nil.
func (p *ConnPool) Close() error {
	p.lifeMu.Lock()
	var idle []*Conn
	switch p.phase {
	case phaseClosed:
		p.lifeMu.Unlock()
		return ErrClosed
	case phaseOpen:
		idle = p.beginClose()
	}
	p.phase = phaseClosed
	p.lifeMu.Unlock()
	return p.finishClose(idle)
}

// Shutdown closes the pool gracefully: the Close that waits. From the call
// on, Gets return ErrClosed, and waiting Gets return it at once. Idle
// connections are closed at once; checked-out connections are closed as
// they are Put or Removed. Shutdown returns nil once every connection is
// closed and the pool's goroutines have exited. Like Close, it does not
// wait for a dial stuck in a Dialer that ignores its context; such a dial
// closes its connection when it returns.
//
// If ctx ends first, Shutdown closes what is left as Close does and
// returns ctx.Err(). A Close during a Shutdown does the same, and the
// Shutdown then returns nil. A Shutdown during a Shutdown waits with it
// (bounded by its own ctx in the same way). A Shutdown after Close, or after
// a Shutdown that has returned, returns ErrClosed. Errors closing
// connections are not reported (Options.OnClose sees every close).
func (p *ConnPool) Shutdown(ctx context.Context) error {
	p.lifeMu.Lock()
	switch p.phase {
	case phaseClosed:
		p.lifeMu.Unlock()
		return ErrClosed
	case phaseOpen:
		p.phase = phaseDraining
		idle := p.beginClose()
		p.lifeMu.Unlock()
		for _, cn := range idle {
			_ = p.closeConn(cn, ClosePoolClosed, placeFreed)
		}
	default:
		p.lifeMu.Unlock()
	}

	var err error
	select {
	case <-p.reg.emptied():
	case <-p.finished: // a Close took over
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.lifeMu.Lock()
	if p.phase == phaseClosed { // a Close, or another Shutdown, took over
		p.lifeMu.Unlock()
		<-p.finished
		return nil
	}
	p.phase = phaseClosed
	p.lifeMu.Unlock()
	_ = p.finishClose(nil)
	return err
}

// beginClose starts closing the pool: it sets the closed flag, tells the
// background loops and dials to stop, sends ErrClosed to waiting Gets and
// drains the shards. It returns the idle connections, claimed (Closed) and
// still registered, for the caller to close. Call with lifeMu held, in
// phase open.
func (p *ConnPool) beginClose() []*Conn {
	p.closed.Store(true)
	close(p.closedCh)
	p.dials.Close()
	p.bgCancel()
	p.waiters.closeAll()
	// Empty the shards. A Put that locks a shard after this sees closed
	// set and does not park (see shard.park).
	var idle []*Conn
	for i := range p.shards {
		idle = p.shards[i].drain(idle)
	}
	return idle
}

// finishClose closes idle, the connections beginClose drained, and every
// connection still registered: checked out, or dialed and not yet parked.
// Then it stops the background goroutines and closes finished. It returns
// the errors closing healthy connections. Call it once, after moving the
// phase to closed.
func (p *ConnPool) finishClose(idle []*Conn) error {
	toClose := idle
	// A dial that finishes after drain finds the registry closed and
	// closes its connection itself (dialConn).
	for _, cn := range p.reg.drain() {
		if cn.tag.CloseAny() != connstate.Closed {
			toClose = append(toClose, cn)
		}
	}
	var errs []error
	now := p.clock.refresh()
	for i, cn := range toClose {
		if err := p.closeConn(cn, ClosePoolClosed, placeKept); err != nil && !p.staleAtClose(cn, i < len(idle), now) {
			errs = append(errs, err)
		}
	}
	p.bg.Stop()
	close(p.finished)
	return errors.Join(errs...)
}

// staleAtClose reports whether Close found cn stale: idle past IdleTimeout
// or older than MaxConnAge (a checked-out connection is judged by its age
// only). Closing such a connection fails routinely, on a socket the server
// dropped long ago, so Close does not report it.
func (p *ConnPool) staleAtClose(cn *Conn, idle bool, now int64) bool {
	if idle {
		return p.exp.on() && p.exp.stale(cn, now)
	}
	return p.exp.tooOld(cn, now)
}

// Closing a connection. Every connection the pool closes, for whatever
// reason, is closed by closeConn, once: the caller has claimed it first
// (moved its state to Closed, which only one caller can do), so a
// connection is closed exactly once, and its place is freed, kept for the
// caller to hand on, or given back as a shed surplus, as the caller says.

// placeFate is what closeConn does with the place of the connection it
// closes.
type placeFate int

const (
	placeFreed placeFate = iota // freed, and waiting Gets served (release)
	placeKept                   // kept: the caller frees it or hands it to a waiter
	placeShed                   // given back as surplus shed after a shrink (resize.go)
)

// closeConn closes cn, which the caller has claimed, for reason: it counts
// the close in Stats, calls OnClose, closes the network connection,
// reports to Hooks.OnConnClosed, forgets cn and does fate with its place
// (a place only a pooled connection holds). It holds no lock of the
// pool's, since OnClose and the hook are the user's code, and returns the
// error of closing.
//
// It forgets cn only once cn is closed: Shutdown waits for the registry to
// empty, and returns once every connection is closed.
func (p *ConnPool) closeConn(cn *Conn, reason CloseReason, fate placeFate) error {
	p.stats.closed(reason)
	var onCloseErr error
	if p.opt.OnClose != nil {
		onCloseErr = p.opt.OnClose(cn)
	}
	err := errors.Join(onCloseErr, cn.Close())
	if f := p.opt.Hooks.OnConnClosed; f != nil {
		callHook(f, ClosedInfo{Conn: cn, Reason: reason, Err: err})
	}
	p.reg.remove(cn) // a no-op after Close drained the registry
	switch {
	case !cn.tag.Pooled:
	case fate == placeFreed:
		p.release()
	case fate == placeShed:
		p.places.shedDone()
		p.kickIfWaiting() // a growth may have come meanwhile
	}
	return err
}

// closeCheckedOut claims cn, checked out, and closes it as closeConn does.
// It reports false, and leaves cn alone, if cn is not checked out: Filter
// or Close claimed it and close it, or it is idle (a Put twice).
func (p *ConnPool) closeCheckedOut(cn *Conn, reason CloseReason, fate placeFate) bool {
	if !cn.tag.CloseCheckedOut() {
		return false
	}
	_ = p.closeConn(cn, reason, fate)
	return true
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
	err := p.closeConn(cn, CloseRemoved, placeFreed)
	p.checkMinIdleConns()
	return err
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
			errs = append(errs, p.closeConn(cn, CloseFiltered, placeFreed))
		}
	}
	p.checkMinIdleConns()
	return errors.Join(errs...)
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
				// If it was its shard's hot connection, closed in
				// place, let the shard drop it now rather than at the
				// next Get.
				if h := cn.home.Load(); h != nil {
					h.dropFromHot(cn)
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
