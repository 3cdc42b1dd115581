package shardpool

import "sync"

// registry is the set of every connection the pool holds, checked out or
// idle, so that Close and Filter can reach them all. It is touched when a
// connection is dialed or closed, never on Get or Put. Each connection
// keeps its index (Conn.regIdx), so removing one is O(1).
type registry struct {
	mu     sync.Mutex
	conns  []*Conn       // guarded by mu
	closed bool          // guarded by mu; set by drain, refuses later adds
	empty  chan struct{} // guarded by mu; made by emptied, closed when conns empties
}

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// emptied returns a channel that is closed once the registry holds no
// connection (at once if it holds none now).
func (r *registry) emptied() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.conns) == 0 {
		return closedChan
	}
	if r.empty == nil {
		r.empty = make(chan struct{})
	}
	return r.empty
}

// signalEmpty closes the channel of emptied, if any. Call with mu held
// once conns is empty.
func (r *registry) signalEmpty() {
	if r.empty != nil {
		close(r.empty)
		r.empty = nil
	}
}

// add registers cn. It reports false, and registers nothing, once the
// registry has been drained by Close.
func (r *registry) add(cn *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	cn.regIdx = len(r.conns)
	r.conns = append(r.conns, cn)
	return true
}

// remove forgets cn. It is a no-op after drain.
func (r *registry) remove(cn *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	last := len(r.conns) - 1
	moved := r.conns[last]
	r.conns[cn.regIdx] = moved
	moved.regIdx = cn.regIdx
	r.conns[last] = nil
	r.conns = r.conns[:last]
	if last == 0 {
		r.signalEmpty()
	}
}

func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// snapshot returns a copy of the registered connections.
func (r *registry) snapshot() []*Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Conn(nil), r.conns...)
}

// drain empties the registry for good and returns what it held.
func (r *registry) drain() []*Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	conns := r.conns
	r.conns, r.closed = nil, true
	r.signalEmpty()
	return conns
}
