package shardpool

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shardpool/shardpool/internal/connstate"
	"github.com/shardpool/shardpool/internal/testhook"
)

// Shards: the per-P lists of idle connections.
//
// Locking: each shard's mu guards its list, its count and its hit counter,
// and only the methods in this file and hot.go lock it or touch those
// fields. The hot connection and its hit counter are atomics, touched
// without mu; see hot.go. A
// connection's prev, next and idleAt belong to the shard whose list it is
// in. A shard knows nothing of the pool: callers pass in what it needs (the
// time, the expiry limits, the pool's closed flag).
//
// Invariant, under mu: a connection is in this shard's list if and only if
// its state is Idle and its home is this shard. Every move into or out of
// Idle happens under the lock of the connection's home shard, and home
// changes only while the connection is checked out.
//
// Idle quota (see idlecap.go): quota bounds the list, n <= quota, and
// quota - n is the idle room this shard holds. Without MaxIdleConns the
// quota is unbounded (math.MaxInt). With it, a park into a full list
// returns parkFull, and its caller finds room elsewhere (addRoom) or
// closes the connection. A pop leaves the quota alone, so the hot path (a
// Get and a Put on one shard) pays one comparison in park for the cap,
// and writes nothing shared.
//
// Order: the list is ordered by the time its connections went idle. Park
// puts a connection at the head (LIFO) or at the tail (FIFO) and pop takes
// from the head, so the oldest connection is at the tail under LIFO and at
// the head under FIFO; sweep walks from that end.
//
// cacheLinePad is the unit we pad shared structures to: two 64-byte lines,
// since x86's adjacent-line prefetcher pulls lines in pairs and neighbouring
// shards are written by different cores.
const cacheLinePad = 128

// sweepChunk bounds how many connections a sweep looks at per hold of a
// shard's lock, so that a Get on the shard being swept waits for at most
// that many steps, never for a whole sweep.
const sweepChunk = 32

type shardState struct {
	// What Get and Put touch comes first, within one 64-byte line: the
	// lock, the list, the counts and nonEmpty.
	mu sync.Mutex

	// Guarded by mu.
	head, tail *Conn
	n          int // length of the list
	quota      int // n <= quota; see Idle quota above

	// nonEmpty is set whenever n > 0, and may stay set for a while after
	// n drops to 0. It is read without mu by scans of other shards
	// (hasIdle), so that a Get that misses its own shard does not lock
	// every shard to find them empty. It is written under mu, and as
	// rarely as that allows: a park that makes the list non-empty sets it
	// if it is clear, and a pop that finds the list empty clears it. So a
	// shard whose list goes 1, 0, 1, 0 under its own Gets and Puts (the hot
	// path at PoolSize ≈ GOMAXPROCS) never writes it, and the atomic
	// store, a fenced instruction, stays off the hot path.
	nonEmpty atomic.Bool

	// hot is written without mu; see hot.go.
	hot atomic.Pointer[Conn]

	idx int // position in ConnPool.shards; read-only
}

// A shard holds a share of the pool's idle connections. There is one per P
// (rounded up to a power of two), and a goroutine uses the shard of the P it
// runs on, so that on the hot path each core swaps a pointer (or locks a
// mutex) that no other core is writing.
type shard struct {
	shardState
	_ [cacheLinePad - unsafe.Sizeof(shardState{})%cacheLinePad]byte
}

// expiry is when an idle connection is stale: idle for idle nanoseconds, or
// age nanoseconds old, by the pool clock. Zero turns a limit off.
type expiry struct{ idle, age int64 }

func (e expiry) on() bool { return e.idle > 0 || e.age > 0 }

// stale reports whether the idle cn is stale at time now.
func (e expiry) stale(cn *Conn, now int64) bool {
	return (e.idle > 0 && now-cn.idleAt >= e.idle) || e.tooOld(cn, now)
}

// tooOld reports whether cn has outlived MaxConnAge, as spread for it by
// MaxConnAgeJitter, at time now.
func (e expiry) tooOld(cn *Conn, now int64) bool {
	return e.age > 0 && now-cn.bornAt-cn.ageJitter >= e.age // no sum: age may be huge
}

// hasIdle reports, without locking, whether s may have idle connections:
// false means it had none a moment ago. Scans use it to skip empty shards;
// see wait.go for why a scan that reads false cannot lose a wake-up.
func (s *shard) hasIdle() bool { return s.hot.Load() != nil || s.nonEmpty.Load() }

// pop takes the newest idle connection of s: the hot one, else the head of
// the list. A fresh one is checked out for the caller; a stale one (by exp
// at now) is claimed for closing (→ Closed) and returned with stale set:
// the caller must close it. cn is nil when s is empty. left is how many
// idle connections s has after a pop from the list, so that a caller
// keeping MinIdleConns need not lock s again to ask, and -1 (not known)
// after a take of the hot connection.
func (s *shard) pop(now int64, exp expiry) (cn *Conn, stale bool, left int) {
	if cn, stale = s.popHot(now, exp); cn != nil {
		return cn, stale, -1
	}
	s.mu.Lock()
	cn = s.head
	if cn == nil {
		if s.nonEmpty.Load() {
			s.nonEmpty.Store(false)
		}
		s.mu.Unlock()
		return nil, false, 0
	}
	s.unlink(cn)
	left = s.n
	if exp.on() && exp.stale(cn, now) {
		cn.tag.CloseIdle()
		s.mu.Unlock()
		return cn, true, left
	}
	cn.tag.Checkout()
	s.mu.Unlock()
	return cn, false, left
}

// What park did.
type parkResult int

const (
	parked    parkResult = iota
	notParked            // cn was not checked out, or the pool is closed
	parkFull             // MaxIdleConns: s holds its quota
)

// park makes the checked-out cn, whose home is s, idle in s at time now:
// at the tail if fifo, else at the head. It leaves cn alone and reports
// notParked when cn is not checked out (a second Put, or a Put racing
// Remove or Close) or closed is set, and parkFull when the MaxIdleConns
// quota of s is full.
func (s *shard) park(cn *Conn, now int64, fifo bool, closed *atomic.Bool) parkResult {
	s.mu.Lock()
	// Close sets closed before it drains the shards under their locks, so
	// a Put that sees closed unset here parks before the shard is drained.
	if closed.Load() {
		s.mu.Unlock()
		return notParked
	}
	if s.n >= s.quota {
		s.mu.Unlock()
		if cn.tag.State() != connstate.CheckedOut {
			return notParked
		}
		return parkFull
	}
	if !cn.tag.Park() {
		s.mu.Unlock()
		return notParked
	}
	cn.idleAt = now
	if fifo {
		s.pushBack(cn)
	} else {
		s.pushFront(cn)
	}
	s.mu.Unlock()
	// Parked, then the look at hot: see hot.go, on two Puts at once.
	s.hot.CompareAndSwap(cn, nil)
	return parked
}

// oldestIdleAt returns when the connection idle longest in s went idle;
// ok is false when s is empty.
func (s *shard) oldestIdleAt(fifo bool) (at int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spillHot()
	if cn := s.oldest(fifo); cn != nil {
		return cn.idleAt, true
	}
	return 0, false
}

// takeOldest claims the connection idle longest in s (Idle → Closed) for
// the caller to close, or returns nil when s is empty.
func (s *shard) takeOldest(fifo bool) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spillHot()
	cn := s.oldest(fifo)
	if cn != nil {
		s.unlink(cn)
		cn.tag.CloseIdle()
	}
	return cn
}

// claim closes cn (Idle → Closed) and unlinks it if it is idle in s. It
// reports false when it is not: cn was taken, closed, or parked in another
// shard between the caller's look at it and the lock.
func (s *shard) claim(cn *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cn.tag.State() != connstate.Idle || cn.home.Load() != s {
		return false
	}
	s.unlink(cn)
	cn.tag.CloseIdle()
	return true
}

// drain empties s for Close: every connection in it is moved to Closed and
// appended to closed, for the caller to close.
func (s *shard) drain(closed []*Conn) []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spillHot()
	for cn := s.head; cn != nil; {
		next := cn.next
		cn.prev, cn.next = nil, nil
		cn.tag.CloseIdle()
		closed = append(closed, cn)
		cn = next
	}
	s.head, s.tail, s.n = nil, nil, 0
	s.nonEmpty.Store(false)
	return closed
}

// idleCount returns how many connections s holds idle. It leaves the hot connection where it is: Stats and IdleLen
// must not cost the hot path its pointer.
//
// It reads the list's count, then the hot pointer, and counts the hot
// connection unless it was closed in place. A hot connection that a Put
// demotes after the pointer's load is Idle by the look at its state, and
// in the list, which was counted before it got there: it still counts,
// once. (Counting only a CheckedOut one, as this did once, missed it: the
// MinIdleConns top-up then counted one idle connection too few and dialed
// one too many, which nothing takes back.) A Get that takes the hot
// connection meanwhile leaves it CheckedOut, so it may count though taken:
// one too many, which makes a top-up dial one too few until the Get's own
// check (checkShardShare) asks for another.
func (s *shard) idleCount() (idle int) {
	s.mu.Lock()
	idle = s.n
	s.mu.Unlock()
	if cn := s.hot.Load(); cn != nil {
		if h := testhook.CountsHotLoaded; h != nil {
			h(s)
		}
		if cn.tag.State() != connstate.Closed {
			idle++
		}
	}
	return idle
}

// sweep claims the connections of s that are stale by exp at now (Idle →
// Closed) and appends them to stale, and reports how many connections it
// looked at. It holds the lock for at most sweepChunk connections at a
// time.
//
// It walks from the oldest end (see Order above). With IdleTimeout alone
// the first fresh connection ends the sweep, since all after it went idle
// later. MaxConnAge can make any connection stale, so then it walks the
// whole list. Between chunks the list may change. If the connection it was
// to look at next has been taken meanwhile, it starts again from the oldest
// end, where the connections already looked at are fresh or gone. If that
// connection was taken and parked again, it is now the newest, and the sweep
// ends there: what it passes over is left for the next sweep.
func (s *shard) sweep(now int64, exp expiry, fifo bool, stale []*Conn) (_ []*Conn, looked int) {
	older := func(cn *Conn) *Conn { return cn.prev }
	if fifo {
		older = func(cn *Conn) *Conn { return cn.next }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spillHot()
	cn := s.oldest(fifo)
	for ; cn != nil; looked++ {
		next := older(cn)
		if exp.stale(cn, now) {
			s.unlink(cn)
			cn.tag.CloseIdle()
			stale = append(stale, cn)
		} else if exp.age == 0 {
			return stale, looked + 1
		}
		cn = next
		if (looked+1)%sweepChunk == 0 {
			s.mu.Unlock()
			if h := testhook.SweepBetweenChunks; h != nil {
				h(s, cn)
			}
			s.mu.Lock()
			if cn != nil && (cn.tag.State() != connstate.Idle || cn.home.Load() != s) {
				cn = s.oldest(fifo)
			}
		}
	}
	return stale, looked
}

// oldest returns the connection that has been idle longest. Call with mu
// held.
func (s *shard) oldest(fifo bool) *Conn {
	if fifo {
		return s.head
	}
	return s.tail
}

// pushFront puts cn at the head. Call with mu held.
func (s *shard) pushFront(cn *Conn) { s.linkBefore(cn, s.head) }

// pushBack puts cn at the tail. Call with mu held.
func (s *shard) pushBack(cn *Conn) { s.linkBefore(cn, nil) }

// linkBefore links cn into the list before at, or at the tail when at is
// nil. Call with mu held.
func (s *shard) linkBefore(cn, at *Conn) {
	prev := s.tail
	if at != nil {
		prev = at.prev
	}
	cn.prev, cn.next = prev, at
	if prev != nil {
		prev.next = cn
	} else {
		s.head = cn
	}
	if at != nil {
		at.prev = cn
	} else {
		s.tail = cn
	}
	s.grew()
}

// unlink removes cn, which must be in the list. Call with mu held.
func (s *shard) unlink(cn *Conn) {
	if cn.prev != nil {
		cn.prev.next = cn.next
	} else {
		s.head = cn.next
	}
	if cn.next != nil {
		cn.next.prev = cn.prev
	} else {
		s.tail = cn.prev
	}
	cn.prev, cn.next = nil, nil
	s.n--
}

// grew counts a connection just linked in. Call with mu held.
func (s *shard) grew() {
	s.n++
	if s.n == 1 && !s.nonEmpty.Load() {
		s.nonEmpty.Store(true)
	}
}
