package shardpool

import (
	"sync"
	"unsafe"

	"github.com/shardpool/shardpool/internal/connstate"
)

// A shard holds a share of the pool's idle connections. There is one per P
// (rounded up to a power of two), and a goroutine uses the shard of the P it
// runs on, so that on the hot path each core locks a mutex and touches a
// list that no other core is writing.
//
// Invariant, under mu: a connection is in this shard's list if and only if
// its state is Idle and its home is this shard. Every move into or out of
// Idle happens under the lock of the connection's home shard.
type shard struct {
	mu  sync.Mutex
	idx int // position in ConnPool.shards; read-only

	// Guarded by mu.
	head, tail *Conn  // idle list; Get takes from head
	n          int    // length of the list
	hits       uint64 // Gets served from this shard (a Stats counter)

	// Pad to two cache lines: neighbouring shards are written by different
	// cores, and x86's adjacent-line prefetcher pulls lines in pairs.
	_ [128 - (unsafe.Sizeof(sync.Mutex{})+2*unsafe.Sizeof(0)+2*unsafe.Sizeof(uintptr(0))+8)%128]byte
}

// pushFront parks cn as the next connection Get takes (LIFO).
func (s *shard) pushFront(cn *Conn) {
	cn.prev, cn.next = nil, s.head
	if s.head != nil {
		s.head.prev = cn
	} else {
		s.tail = cn
	}
	s.head = cn
	s.n++
}

// pushBack parks cn as the last connection Get takes (FIFO).
func (s *shard) pushBack(cn *Conn) {
	cn.prev, cn.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = cn
	} else {
		s.head = cn
	}
	s.tail = cn
	s.n++
}

// unlink removes cn, which must be in the list.
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

// pop takes the connection at the head of s. A fresh one is claimed for the
// caller (Idle → CheckedOut) and counted as a hit; a stale one is claimed for
// closing (Idle → Closed) and returned with stale set, its place in PoolSize
// still held: the caller must discard it. Both are nil when s is empty.
// left is how many idle connections s has after the pop, so that a caller
// keeping MinIdleConns need not lock s again to ask.
func (p *ConnPool) pop(s *shard) (cn *Conn, stale bool, left int) {
	s.mu.Lock()
	cn = s.head
	if cn == nil {
		s.mu.Unlock()
		return nil, false, 0
	}
	s.unlink(cn)
	left = s.n
	if p.isStale(cn) {
		cn.tag.State.Store(connstate.Closed)
		s.mu.Unlock()
		return cn, true, left
	}
	// A plain store is enough: only holders of s.mu move a connection out
	// of Idle, and we hold it.
	cn.tag.State.Store(connstate.CheckedOut)
	s.hits++
	s.mu.Unlock()
	return cn, false, left
}

// park makes the checked-out cn idle in its home shard. It reports false,
// and leaves cn alone, when cn is not checked out (a second Put, or a Put
// racing Remove or Close) or the pool is closed.
func (p *ConnPool) park(cn *Conn) bool {
	s := cn.home.Load()
	s.mu.Lock()
	// Close sets closed before it empties the shards under their locks, so
	// a Put that sees closed unset here parks before the shard is emptied.
	if p.closed.Load() || !cn.tag.State.CompareAndSwap(connstate.CheckedOut, connstate.Idle) {
		s.mu.Unlock()
		return false
	}
	cn.idleAt = p.clock.now.Load()
	if p.opt.PoolFIFO {
		s.pushBack(cn)
	} else {
		s.pushFront(cn)
	}
	s.mu.Unlock()
	return true
}

// claim moves cn to Closed from whatever state it is in, unlinking it from
// its shard if it is idle. It reports whether this call made the move: the
// caller that gets true, and only that one, closes cn.
func (p *ConnPool) claim(cn *Conn) bool {
	for {
		switch cn.tag.State.Load() {
		case connstate.Closed:
			return false
		case connstate.CheckedOut:
			if cn.tag.State.CompareAndSwap(connstate.CheckedOut, connstate.Closed) {
				return true
			}
		case connstate.Idle:
			// home may change between the load and the lock (cn taken by
			// a Get on another shard and parked there); the re-check under
			// the lock catches that, and we go round again.
			s := cn.home.Load()
			s.mu.Lock()
			if cn.tag.State.Load() == connstate.Idle && cn.home.Load() == s {
				s.unlink(cn)
				cn.tag.State.Store(connstate.Closed)
				s.mu.Unlock()
				return true
			}
			s.mu.Unlock()
		}
	}
}
