package shardpool

import (
	"context"
	"time"

	"github.com/shardpool/shardpool/internal/testhook"
)

// The wait path: what Get does when no shard has an idle connection and all
// PoolSize places are held, and how connections and places reach the Gets
// that wait.
//
// Locking: this file takes no lock of its own. It uses the wait list's
// methods (waitlist.go), the shards' methods (shard.go), p.serving's
// (rounds.go), and two atomics: p.places and, through p.waiters.len, the
// wait list's length.
//
// Places. p.places counts the pooled connections that exist or are being
// dialed (never more than PoolSize), and the dials in flight (never more
// than MaxConcurrentDials); see places.go. A Get that takes an idle
// connection needs no place, so the word is written when a connection is
// dialed or closed, never on the hot path. A waiter handed nil is handed a
// place and a dial slot together.
//
// Waiters. A Get that must wait queues a waiter and sleeps on its channel.
// A waiter is dequeued once, by whoever then sends it its one value: a
// connection, nil (a place to dial into), poolTimedOut or poolClosed.
//
// Serving. Waiters are served by serve rounds. A round takes idle
// connections from the shards, or free places, and hands them to waiters,
// oldest first, until it runs out of one or the other. p.serving (a rounds,
// see rounds.go) runs them one goroutine at a time, the server: a
// goroutine that wants a round kicks, and every kick is followed by a
// round that starts after it, run by the kicker itself when no server is
// active, and otherwise by the active server, without waiting for it. So a
// Put that finds waiters never blocks on a round: when no round is running it becomes the server and hands its
// connection straight to the oldest waiter (see putServing), and otherwise
// it parks the connection in its own shard and kicks. Such a Put then gives
// the server a moment to take the connection, spinning for at most a few
// microseconds or yielding once (see awaitRound), so that a preempted
// server catches up before the Putter queues again. Only waiters, the timer
// and the server take the wait list's lock, each for a few pointer moves.
//
// Lost wake-ups. The race to close is a connection parked (or a place freed)
// by a caller that sees no waiter, while a Get queues after it found
// nothing. Every such caller parks first and then loads the wait list's
// length (a seq-cst atomic); a Get that queues increments that length and,
// if it went from 0 to 1 (the first waiter of a spell), kicks, which starts
// a round after its increment. Take a connection C parked in shard S:
//   - If the Putter's load sees a waiter, it kicks: a round starts after
//     C was parked and finds C, unless someone took C first.
//   - If the load sees none, it precedes the first waiter's increment in
//     the order of seq-cst atomics, so C's park happens before that
//     waiter's round. The round reads S's nonEmpty flag and finds it set,
//     or finds it cleared by a pop that found S empty after C was taken:
//     the flag is set under S's lock whenever S's list is not empty (by
//     the park that made it so, or earlier with no clear since), and
//     cleared only under that lock with the list empty.
//   - A Put that makes C the hot connection of S (hot.go) publishes C with
//     a swap, a seq-cst atomic, and then loads the length, so the same two
//     cases hold with the hot pointer for the list: the round (hasIdle,
//     then pop) reads the pointer first and finds C, or finds it empty
//     because C was taken or moved into S's list, and a move into the list
//     sets nonEmpty before it empties the pointer, so the round's read of
//     nonEmpty that follows finds it set.
//     TestHotPutServesAGetThatQueuedMeanwhile queues a Get inside the
//     Put's window.
//   - A round ends either when no waiter is left, so that the next Get to
//     queue is the first of a new spell and kicks; or when every shard was
//     found empty and no place was free, after the waiters it served were
//     queued, so that any connection parked since came from a Putter whose
//     load saw those waiters and who kicked.
//
// A Get that queues behind others does not scan the shards: by the above,
// every connection parked while the list was not empty has a round coming.
// Freeing a place or a dial slot is the same argument with p.places in
// place of a shard.
// Fast-path Gets defer to waiters (they skip the shards while the list is
// not empty), so a waiter is not starved by callers that arrived after it.
//
// Giving up. A Get whose context ends removes its waiter from the list
// (O(1), the list is doubly linked). If the waiter was dequeued meanwhile,
// its value is on its way; the Get receives it and gives a connection or a
// place back, as if the Get had never happened.

// tryAcquire takes a place and a dial slot (places.go) for a dial, if both
// are free. If SetPoolSize changed the size between the load and the
// take, it checks the take against the new size and gives back what the
// new size does not allow, so that no dial starts beyond a size that
// SetPoolSize has returned from.
func (p *ConnPool) tryAcquire() bool {
	size := p.poolSize()
	if h := testhook.AfterSizeLoad; h != nil {
		h(p)
	}
	if !p.places.acquireDial(size, p.dialLimit(size)) {
		return false
	}
	if now := p.poolSize(); now != size {
		if p.places.held() > now || p.places.dialing() > p.dialLimit(now) {
			p.endDial(true)
			return false
		}
	}
	return true
}

// release frees a place and, if Gets are waiting, sees that they are served.
func (p *ConnPool) release() {
	p.places.freePlace()
	p.kickIfWaiting()
}

// endDial frees the dial slot of a dial that ended, and its place too if
// the dial failed (or never started), and sees that waiting Gets are
// served.
func (p *ConnPool) endDial(failed bool) {
	if failed {
		p.places.freeBoth()
	} else {
		p.places.freeSlot()
	}
	p.kickIfWaiting()
}

func (p *ConnPool) kickIfWaiting() {
	if p.waiters.len() != 0 {
		p.kick()
	}
}

// kick makes sure a serve round starts after this call: it runs rounds
// itself, and reports true, or leaves its request for the active server,
// and reports false.
func (p *ConnPool) kick() bool { return p.serving.request(p.serveRound) }

// serveRound serves waiters, oldest first, with idle connections from the
// shards and then with free places, until it runs out of waiters or of
// both. Call only as the server.
func (p *ConnPool) serveRound() {
	start := int(p.serveFrom.Add(1)) // rotate, so that no shard is drained first
	empty := 0                       // shards found empty; each is looked at until then
	for p.waiters.len() != 0 {
		var cn *Conn
		found := false
		for empty < len(p.shards) {
			s := &p.shards[(start+empty)&int(p.mask)]
			if !s.hasIdle() {
				empty++
				continue
			}
			now := p.clock.read()
			c, stale, _ := s.pop(now, p.exp)
			if c == nil {
				empty++
				continue
			}
			if stale || p.checkDue(c, now) {
				if usable, held := p.vetIdle(c, stale); !usable {
					// A waiter given the place would dial, which
					// needs a dial slot too: free the place, and let
					// the tryAcquire below (or a later round) take
					// both.
					if held {
						p.places.freePlace()
					}
					continue
				}
			}
			cn, found = c, true
			break
		}
		if !found && !p.tryAcquire() {
			return
		}
		if !p.handTo(cn) {
			p.giveBack(cn)
			return
		}
	}
}

// handTo sends cn (nil: a place) to the oldest waiter. It reports false
// when no Get is waiting any more.
func (p *ConnPool) handTo(cn *Conn) bool {
	w := p.waiters.dequeue()
	if w == nil {
		return false
	}
	w.ch <- cn // never blocks: room for one, one send per queueing
	return true
}

// giveBack returns a connection (or, for nil, a place and a dial slot)
// that a server or a Get that gave up holds but cannot use. A connection
// goes back to its home shard, a place and slot back to the count; either
// is then served to waiters as any other.
func (p *ConnPool) giveBack(cn *Conn) {
	if cn == nil {
		p.endDial(true)
		return
	}
	p.putIdle(cn, false)
}

// putServing is Put when Gets are waiting and no round is running: the
// caller became the server (p.serving.tryEnter), and hands cn,
// checked out, straight to the oldest waiter instead of parking it and
// popping it again. Then it runs the rounds kicks asked for meanwhile.
func (p *ConnPool) putServing(cn *Conn) {
	switch {
	case p.exp.tooOld(cn, p.clock.read()):
		// Too old to hand on; what a pop would have found. The waiter
		// gets a place to dial into instead, when a dial slot is free,
		// unless Filter or Close claimed cn first and freed its place
		// themselves. As the server, this caller runs the round that
		// hands it.
		if p.closeCheckedOut(cn, CloseMaxAge, placeKept) {
			p.places.freePlace()
			p.serveRound()
		}
	case !p.handTo(cn):
		p.putIdle(cn, false)
	}
	p.serving.leave(p.serveRound)
}

// wait queues the caller and waits for a connection, a place, ctx, the pool
// timeout or Close, whichever comes first.
func (p *ConnPool) wait(ctx context.Context, home *shard) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := waiterPool.Get().(*waiter)
	start := p.clock.exact()
	switch p.waiters.enqueue(w, start) {
	case listClosed:
		waiterPool.Put(w)
		p.waited(0, WaitClosed)
		return nil, ErrClosed
	case listFull:
		waiterPool.Put(w)
		return p.getExhausted(ctx, home)
	case queuedFirst:
		p.stats.waitCount.Add(1)
		p.kick()
	default:
		p.stats.waitCount.Add(1)
	}

	cn, served, err := p.receive(ctx, w)
	waiterPool.Put(w)
	waited := time.Duration(p.clock.exact() - start)
	p.stats.waitDuration.Add(int64(waited))

	switch {
	case cn == poolClosed:
		p.waited(waited, WaitClosed)
		return nil, ErrClosed
	case cn == poolTimedOut:
		p.stats.timeouts.Inc()
		p.waited(waited, WaitTimedOut)
		return nil, p.timeoutError(waited)
	case err != nil:
		if served {
			p.giveBack(cn) // served too late: as if the Get had never been
		}
		p.waited(waited, WaitCanceled)
		return nil, err
	case cn == nil:
		p.waited(waited, WaitServed)
		return p.dialPooled(ctx, home)
	}
	p.waited(waited, WaitServed)
	p.stats.waitHits.Inc()
	cn.home.Store(home)
	return cn, nil
}

// receive waits for the value sent to w, a queued waiter, or for ctx. If
// ctx ends first it takes w off the list; served reports whether a value
// was sent to w all the same (w was dequeued meanwhile), and then cn is
// that value, which the caller gives back.
//
// No case for Close: a select locks every channel it waits on, and a
// channel shared by all waiters would be a pool-wide lock on the wait
// path. Close, like the timer, sends to each waiter's own channel.
func (p *ConnPool) receive(ctx context.Context, w *waiter) (cn *Conn, served bool, err error) {
	done := ctx.Done()
	if done == nil {
		return <-w.ch, true, nil
	}
	select {
	case cn = <-w.ch:
		return cn, true, nil
	case <-done:
	}
	if p.waiters.remove(w) {
		return nil, false, ctx.Err()
	}
	return <-w.ch, true, ctx.Err() // dequeued meanwhile: its value is on the way
}
