package shardpool

import (
	"context"
	"sync"
	"time"
)

// The wait path: what Get does when no shard has an idle connection and all
// PoolSize places are held.
//
// Places. p.held counts the pooled connections that exist or are being
// dialed; it never exceeds PoolSize. A Get that takes an idle connection
// needs no place, so the counter is written when a connection is dialed or
// closed, never on the hot path.
//
// Waiters. A Get that must wait queues a waiter (FIFO, under waitMu) and
// sleeps on its channel. A waiter is served exactly once, under waitMu, by
// being dequeued and sent either a connection taken from a shard, nil
// (a place to dial into), or poolClosed (from Close). Whoever makes a
// connection or place available (Put, Remove, a failed dial, the reaper)
// calls serveWaiters when p.waiting is non-zero; the waiter itself calls it
// once right after queueing.
//
// Lost wake-ups. The race to close is a Put (or place release) that sees no
// waiters while a Get queues after finding nothing. Put parks its connection
// under the shard lock and then loads p.waiting; a Get increments p.waiting
// under waitMu and then scans every shard (serveWaitersLocked), locking
// each. If the Get's scan of that shard comes after Put's park, the scan
// finds the connection; if it comes before, the Get's increment happens
// before Put's load (through the shard lock), so Put sees a waiter and
// serves it. Releasing a place is the same argument with the atomic p.held
// in place of the shard. Fast-path Gets defer to queued waiters (they skip
// their shard while p.waiting != 0), so a waiter is not starved by callers
// that arrived after it.

// A waiter is one Get waiting for a connection.
type waiter struct {
	// ch receives the connection, or nil for a place to dial into. It has
	// room for one value and is sent to at most once per queueing, under
	// waitMu, by whoever dequeues the waiter.
	ch         chan *Conn
	prev, next *waiter // guarded by waitMu
	queued     bool    // guarded by waitMu

	// timer bounds the wait by PoolTimeout. It lives with the pooled
	// waiter so that a wait does not allocate a timer; it is stopped and
	// drained before the waiter goes back to waiterPool.
	timer *time.Timer
}

// startTimer arms w.timer for d and returns its channel.
func (w *waiter) startTimer(d time.Duration) <-chan time.Time {
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	return w.timer.C
}

// stopTimer disarms w.timer. The drain matters for programs built with Go
// before 1.23 timer semantics, where a fired timer keeps its value in C.
func (w *waiter) stopTimer() {
	if w.timer != nil && !w.timer.Stop() {
		select {
		case <-w.timer.C:
		default:
		}
	}
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan *Conn, 1)} }}

// waitQueue is a FIFO of waiters, guarded by ConnPool.waitMu.
type waitQueue struct{ head, tail *waiter }

func (q *waitQueue) push(w *waiter) {
	w.prev, w.next, w.queued = q.tail, nil, true
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
}

func (q *waitQueue) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
}

// tryAcquire takes one of the PoolSize places, if one is free.
func (p *ConnPool) tryAcquire() bool {
	for {
		n := p.held.Load()
		if n >= int32(p.opt.PoolSize) {
			return false
		}
		if p.held.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release frees a place and hands it on to a waiter, if any.
func (p *ConnPool) release() {
	p.held.Add(-1)
	if p.waiting.Load() != 0 {
		p.serveWaiters(nil)
	}
}

// serveWaiters gives waiting Gets, oldest first, the idle connections and
// free places there are, looking first in shard start (nil: the first).
func (p *ConnPool) serveWaiters(start *shard) {
	p.waitMu.Lock()
	stale := p.serveWaitersLocked(start)
	p.waitMu.Unlock()
	p.discardAll(stale)
}

// serveWaitersLocked serves waiters while there are connections or places
// for them, scanning the shards from start (nil: the first). Stale
// connections it meets are claimed and returned for the caller to discard
// outside waitMu; their places go straight to waiters, so the caller must
// not release them. Call with waitMu held.
func (p *ConnPool) serveWaitersLocked(start *shard) (stale []*Conn) {
	i := 0
	if start != nil {
		i = start.idx
	}
	scanned := 0 // shards found empty; each is looked at until then
	for p.waiters.head != nil {
		var cn *Conn
		gotStale := false
		for scanned < len(p.shards) {
			c, isStale, _ := p.pop(&p.shards[(i+scanned)&int(p.mask)])
			if c == nil {
				scanned++
				continue
			}
			if isStale {
				stale, gotStale = append(stale, c), true
			} else {
				cn = c
			}
			break
		}
		switch {
		case cn != nil:
			p.handTo(cn)
		case gotStale:
			p.handTo(nil) // the stale connection's place
		case p.tryAcquire():
			p.handTo(nil)
		default:
			return stale
		}
	}
	return stale
}

// handTo dequeues the oldest waiter and sends it cn (nil: a place).
func (p *ConnPool) handTo(cn *Conn) {
	w := p.waiters.head
	p.waiters.remove(w)
	p.waiting.Add(-1)
	w.ch <- cn // never blocks: room for one, one send per queueing
}

// wait queues the caller and waits for a connection, a place, ctx, the pool
// timeout or Close, whichever comes first.
func (p *ConnPool) wait(ctx context.Context, home *shard) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	w := waiterPool.Get().(*waiter)

	p.waitMu.Lock()
	if p.closed.Load() {
		// Close has woken the queue already (wakeAll); do not join it.
		p.waitMu.Unlock()
		waiterPool.Put(w)
		return nil, ErrClosed
	}
	p.waiters.push(w)
	p.waiting.Add(1)
	stale := p.serveWaitersLocked(home)
	p.waitMu.Unlock()
	p.discardAll(stale)

	p.stats.waitCount.Add(1)
	var timeout <-chan time.Time
	if p.opt.PoolTimeout > 0 {
		timeout = w.startTimer(p.opt.PoolTimeout)
	}

	// No case for Close: a select locks every channel it waits on, and a
	// channel shared by all waiters would be a pool-wide lock on the wait
	// path. Close wakes waiters through their own channels instead.
	var err error
	select {
	case cn := <-w.ch:
		w.stopTimer()
		p.stats.waitDuration.Add(int64(time.Since(start)))
		waiterPool.Put(w)
		switch cn {
		case nil:
			return p.dialPooled(ctx, home)
		case poolClosed:
			return nil, ErrClosed
		}
		cn.home.Store(home)
		return cn, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout:
		p.stats.timeouts.Add(1)
		err = ErrPoolTimeout
	}
	w.stopTimer()
	p.stats.waitDuration.Add(int64(time.Since(start)))
	p.abandon(w)
	return nil, err
}

// discardAll discards stale connections whose places went to waiters.
func (p *ConnPool) discardAll(stale []*Conn) {
	for _, cn := range stale {
		p.discard(cn)
	}
}

// poolClosed is what Close sends waiters instead of a connection.
var poolClosed = new(Conn)

// wakeAll tells every waiter that the pool is closed. Close calls it after
// setting closed, so no waiter joins the queue afterwards (see wait).
func (p *ConnPool) wakeAll() {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	for p.waiters.head != nil {
		p.handTo(poolClosed)
	}
}

// abandon takes w out of the queue after its Get gave up. If w was served
// in the meantime, what it was given goes back to the pool, as if the Get
// had never happened.
func (p *ConnPool) abandon(w *waiter) {
	p.waitMu.Lock()
	if w.queued {
		p.waiters.remove(w)
		p.waiting.Add(-1)
		p.waitMu.Unlock()
		waiterPool.Put(w)
		return
	}
	p.waitMu.Unlock()

	// Served before we took waitMu; the send happened under it, so the
	// value is in the channel now.
	cn := <-w.ch
	waiterPool.Put(w)
	switch cn {
	case nil:
		p.release()
	case poolClosed:
	default:
		p.putBack(cn)
	}
}
