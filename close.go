package shardpool

import (
	"context"
	"errors"

	"github.com/shardpool/shardpool/internal/connstate"
)

// Closing: Close, which closes everything at once, and Shutdown, which
// closes idle connections at once and the others as they come back.
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
// them from it (putIdle, destroy), and Shutdown waits for it to empty.
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
// (shardpool only: go-redis's pool has no graceful close.)
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
			_ = p.destroy(cn, ClosePoolClosed)
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
	p.clock.refresh()
	now := p.now()
	for i, cn := range toClose {
		if err := p.closeConn(cn, ClosePoolClosed); err != nil && !p.staleAtClose(cn, i < len(idle), now) {
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
