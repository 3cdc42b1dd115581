package shardpool

import (
	"sync"
	"unsafe"
)

// registry is the set of every connection the pool holds, checked out or
// idle, so that Close and Filter can reach them all. It is touched when a
// connection is dialed or closed, never on Get or Put of an idle one.
//
// It is sharded like the idle lists: one regShard per shard of the pool,
// and a dial registers its connection in the shard of the same index as
// its home (add's hint): the shard of the P the dialing Get ran on, or of
// the dialing goroutine's P for NewConn and the top-ups. A connection
// stays in that registry shard until it is removed (whatever its home
// becomes), and keeps its shard and its index there (Conn.regShard,
// Conn.regIdx), so removing one is O(1) and locks one shard. Under churn
// (every Get dials, every Remove closes) each core then locks a mutex on a
// line of its own, where one registry-wide mutex was the pool's most
// contended line.
//
// Locking: each regShard's mu guards its conns and closed, and the
// regShard and regIdx of the connections in it. The calls that must see
// the whole set at one instant (len, snapshot, drain, and emptied's count)
// hold every shard's mu at once, taken in index order. watching is
// written with every shard's mu held, and read with any one held. mu
// guards total and empty; it is taken after shard locks, never before.
//
// The emptied channel. Counting every connection in one word would put a
// shared line back on every dial and close, so there is no count until
// somebody asks for emptied (Shutdown). Then emptied, holding every
// shard's lock, counts the connections into total and sets watching; from
// then on add and remove, under their shard's lock, see watching and keep
// total under mu too. Every add and remove either finished before the
// count (which holds all the locks) or sees watching set, so total is
// exact, and the remove that takes it to 0 closes the channel: exactly
// when the last connection is gone.
type registry struct {
	shards []regShard // one per shard of the pool; the slice is read-only
	mask   uint32     // len(shards)-1; len(shards) is a power of two

	watching bool // written with every shard's mu held; see above

	mu    sync.Mutex
	total int           // guarded by mu; kept only while watching
	empty chan struct{} // guarded by mu; made by emptied, closed when total reaches 0
}

type regShardState struct {
	mu     sync.Mutex
	conns  []*Conn // guarded by mu
	closed bool    // guarded by mu; set by drain, refuses later adds
}

// A regShard is padded to its own lines: neighbouring shards are locked
// by different cores.
type regShard struct {
	regShardState
	_ [cacheLinePad - unsafe.Sizeof(regShardState{})%cacheLinePad]byte
}

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// maxRegShards bounds the shards: Conn.regShard is a uint16.
const maxRegShards = 1 << 16

// init makes n shards, at most maxRegShards; n is a power of two.
func (r *registry) init(n int) {
	n = min(n, maxRegShards)
	r.shards = make([]regShard, n)
	r.mask = uint32(n - 1)
}

// lockAll locks every shard, in index order; unlockAll unlocks them.
func (r *registry) lockAll() {
	for i := range r.shards {
		r.shards[i].mu.Lock()
	}
}

func (r *registry) unlockAll() {
	for i := range r.shards {
		r.shards[i].mu.Unlock()
	}
}

// count returns how many connections are registered. Call with every
// shard's mu held.
func (r *registry) count() int {
	n := 0
	for i := range r.shards {
		n += len(r.shards[i].conns)
	}
	return n
}

// emptied returns a channel that is closed once the registry holds no
// connection (at once if it holds none now).
func (r *registry) emptied() <-chan struct{} {
	r.lockAll()
	defer r.unlockAll()
	if !r.watching {
		n := r.count()
		if n == 0 {
			return closedChan
		}
		r.mu.Lock()
		r.total = n
		r.mu.Unlock()
		r.watching = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.total == 0 {
		return closedChan
	}
	if r.empty == nil {
		r.empty = make(chan struct{})
	}
	return r.empty
}

// signalEmpty closes the channel of emptied, if any. Call with mu held
// once total is 0.
func (r *registry) signalEmpty() {
	if r.empty != nil {
		close(r.empty)
		r.empty = nil
	}
}

// add registers cn in the shard hint names (the index of the caller's
// shard of the pool: any int is safe, only locality depends on it). It
// reports false, and registers nothing, once the registry has been drained
// by Close.
func (r *registry) add(cn *Conn, hint int) bool {
	i := uint32(hint) & r.mask
	s := &r.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	cn.regShard, cn.regIdx = uint16(i), int32(len(s.conns))
	s.conns = append(s.conns, cn)
	if r.watching {
		r.mu.Lock()
		r.total++
		r.mu.Unlock()
	}
	return true
}

// remove forgets cn, which add registered (its regShard was set before cn
// was published). It is a no-op after drain.
func (r *registry) remove(cn *Conn) {
	s := &r.shards[cn.regShard]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	last := len(s.conns) - 1
	moved := s.conns[last]
	s.conns[cn.regIdx] = moved
	moved.regIdx = cn.regIdx
	s.conns[last] = nil
	s.conns = s.conns[:last]
	if r.watching {
		r.mu.Lock()
		r.total--
		if r.total == 0 {
			r.signalEmpty()
		}
		r.mu.Unlock()
	}
}

// registered reports whether cn is in the registry. Call with every
// shard's mu held (tests check invariants with it).
func (r *registry) registered(cn *Conn) bool {
	if int(cn.regShard) >= len(r.shards) {
		return false
	}
	s := &r.shards[cn.regShard]
	return int(cn.regIdx) < len(s.conns) && s.conns[cn.regIdx] == cn
}

// len returns how many connections are registered, at one instant.
func (r *registry) len() int {
	r.lockAll()
	defer r.unlockAll()
	return r.count()
}

// snapshot returns a copy of the registered connections, as of one instant.
func (r *registry) snapshot() []*Conn {
	r.lockAll()
	defer r.unlockAll()
	conns := make([]*Conn, 0, r.count())
	for i := range r.shards {
		conns = append(conns, r.shards[i].conns...)
	}
	return conns
}

// drain empties the registry for good and returns what it held.
func (r *registry) drain() []*Conn {
	r.lockAll()
	defer r.unlockAll()
	var conns []*Conn
	for i := range r.shards {
		s := &r.shards[i]
		conns = append(conns, s.conns...)
		s.conns, s.closed = nil, true
	}
	r.mu.Lock()
	r.total = 0
	r.signalEmpty()
	r.mu.Unlock()
	return conns
}
