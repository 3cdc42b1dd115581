package shardpool

import (
	"sync"
	"sync/atomic"
	"time"
)

// The wait list: the Gets waiting for a connection, oldest first, and the
// one timer that bounds their waits by PoolTimeout.
//
// Locking: mu guards the list, the links and queued flag of every waiter in
// it, closed and armed; only the methods in this file take it. n mirrors
// the list's length: written under mu, read anywhere without it. Each
// method holds mu for a few pointer moves and calls nothing outside this
// file; closeAll and expire also send, under mu, to the waiters they
// dequeue (such a send never blocks, see waiter.ch).
//
// One timer, not one per waiter: every waiter waits at most PoolTimeout
// from the time it was queued, and the list is in queueing order, so the
// head always has the earliest deadline. The timer is set for the head's
// deadline when the list stops being empty. When it fires it hands every
// waiter whose deadline has passed a time-out, and is set again for the new
// head. A head served before its deadline leaves the timer as it is: it
// fires early for the new head, and is set again. So a wait costs no timer
// operation at all unless it starts a queueing spell, and a spell costs at
// most one firing per PoolTimeout.

// A waiter is one Get waiting for a connection.
type waiter struct {
	// ch receives what the waiter is given: a connection, nil (a place to
	// dial into), poolClosed or poolTimedOut. It has room for one value,
	// and whoever dequeues the waiter sends exactly one, so a send never
	// blocks.
	ch chan *Conn

	prev, next *waiter // guarded by waitlist.mu
	queued     bool    // guarded by waitlist.mu
	deadline   int64   // clock.exact time its PoolTimeout ends; set before queueing
}

// waiterPool recycles waiters, so that a wait allocates nothing. A waiter
// goes back only once its one value has been received.
var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan *Conn, 1)} }}

// What waiters are sent instead of a connection.
var (
	poolClosed   = new(Conn) // the pool was closed
	poolTimedOut = new(Conn) // PoolTimeout passed
)

type waitlist struct {
	mu         sync.Mutex
	head, tail *waiter // guarded by mu
	closed     bool    // guarded by mu; set by closeAll, refuses later waiters
	armed      bool    // guarded by mu; timer is set or its func is due to run

	n atomic.Int32 // length of the list; written under mu

	timeout time.Duration // PoolTimeout; <= 0: waits have no deadline
	limit   int           // MaxWaiters; 0: no bound
	now     func() int64  // the pool's exact clock
	timer   *time.Timer   // made on the first arm; runs expire
}

// init sets the list up for waits of at most timeout, timed by now, and
// at most limit waiters (0: no bound).
func (l *waitlist) init(timeout time.Duration, now func() int64, limit int) {
	l.timeout, l.now, l.limit = timeout, now, limit
}

// len returns how many Gets are waiting.
func (l *waitlist) len() int { return int(l.n.Load()) }

// What enqueue did.
type enqueued int

const (
	queued      enqueued = iota
	queuedFirst          // queued, and the list was empty: a queueing spell starts
	listClosed           // not queued: closeAll has run
	listFull             // not queued: limit waiters are queued
)

// enqueue queues w, which started waiting at start, unless the list is
// closed or full.
func (l *waitlist) enqueue(w *waiter, start int64) enqueued {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return listClosed
	}
	if l.limit > 0 && int(l.n.Load()) >= l.limit {
		return listFull
	}
	w.deadline = start + int64(l.timeout)
	w.prev, w.next, w.queued = l.tail, nil, true
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	first := l.n.Add(1) == 1
	if l.timeout > 0 && !l.armed {
		l.armed = true
		l.arm(l.timeout)
	}
	if first {
		return queuedFirst
	}
	return queued
}

// dequeue takes the oldest waiter off the list, or returns nil when there
// is none. The caller must send it one value.
func (l *waitlist) dequeue() *waiter {
	l.mu.Lock()
	w := l.head
	if w != nil {
		l.unlink(w)
	}
	l.mu.Unlock()
	return w
}

// remove takes w off the list, for a Get that gives up. It reports false
// when w has already been dequeued: then a value is on its way to w.ch, and
// the caller must receive it.
func (l *waitlist) remove(w *waiter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !w.queued {
		return false
	}
	l.unlink(w)
	return true
}

// closeAll sends poolClosed to every waiter and refuses later ones.
func (l *waitlist) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for l.head != nil {
		w := l.head
		l.unlink(w)
		w.ch <- poolClosed
	}
	if l.timer != nil {
		l.timer.Stop() // expire may still run; it finds the list empty
	}
}

// expire is the timer's func: it times out the waiters whose deadline has
// passed and sets the timer for the next one.
func (l *waitlist) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for l.head != nil && l.head.deadline <= now {
		w := l.head
		l.unlink(w)
		w.ch <- poolTimedOut
	}
	if l.head == nil || l.closed {
		l.armed = false
		return
	}
	l.arm(time.Duration(l.head.deadline - now))
}

// arm sets the timer to fire in d. Call with mu held and armed set.
func (l *waitlist) arm(d time.Duration) {
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.expire)
		return
	}
	l.timer.Reset(d)
}

// unlink takes w, which is queued, off the list. Call with mu held.
func (l *waitlist) unlink(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	l.n.Add(-1)
}
