package shardpool

import (
	"sync/atomic"

	"github.com/shardpool/shardpool/internal/connstate"
	"github.com/shardpool/shardpool/internal/testhook"
)

// The hot connection: one more idle connection per shard, outside the list
// and without the lock, for the hot path of a LIFO pool without
// MaxIdleConns (the pool decides; see putIdle). A Put that finds no Gets
// waiting swaps its connection into the shard's hot pointer (putHot), and
// a Get takes it out with one swap (pop); a Get+Put on an idle connection
// then costs two atomic read-modify-writes, where the lock costs four and
// the state moves two more. So that a Put needs no state move, the hot
// connection keeps the state CheckedOut: the pointer, not the state, says
// that it is idle. Hence these rules:
//   - One taker. Whoever swaps the hot connection out owns it, if its
//     state is still CheckedOut. A claimer (CloseConn, Filter, Close) may
//     close the hot connection in place, CheckedOut → Closed, as it may
//     any checked-out one, and frees its place; the taker then drops it.
//   - Newest first. The hot connection is the newest idle connection of s:
//     a Put that displaces one moves it to the head of the list (demote),
//     with its own idleAt. So LIFO order holds across it and the list.
//   - Visible to scans. An idle connection of s is always hot or in the
//     list, or a taker holds it: hasIdle reads the hot pointer and then
//     nonEmpty, and a move from hot into the list (spillHot, demote) sets
//     nonEmpty before the pointer lets go of it.
//   - Every method of shard other than pop, putHot and idleCount first moves
//     the hot connection into the list (spillHot), so sweeps, drains and
//     trims see one ordered list.
// A Put twice of the hot connection is caught by the caller's look at the
// pointer (ConnPool.Put). Two Puts of one connection at once, which is a
// race in the caller, can leave it hot and in the list for a moment: each
// path looks for the other after it publishes (seq-cst, so at least one
// sees the other) and takes it out of the pointer. (Both write its idleAt
// meanwhile; that race is the caller's.)
//
// Locking: hot (shardState) is an atomic, touched by the methods in this
// file and by pop and idleCount (shard.go) only; demote,
// spillHot and relink take or need the shard's mu, as shard.go says.

// putHot makes the checked-out cn, whose home is s, the hot connection of
// s (its newest idle connection), gone idle at now. It returns false, and
// leaves cn out of s, when cn stopped being checked out (closed by a
// claimer, or parked by a second Put at once) or closed is set once cn is
// in: the caller acts as for a park that returned notParked.
//
// The hot connection it displaces moves into the list (demote). If closed is
// set by then, it does not, and putHot returns it as orphan, still checked
// out, for the caller to close.
//
// Call it only for a LIFO pool without MaxIdleConns.
func (s *shard) putHot(cn *Conn, now int64, closed *atomic.Bool) (ok bool, orphan *Conn) {
	// A second Put of an idle connection must change nothing: not its
	// idleAt, which the list it is in owns, nor the hot pointer.
	if cn.tag.State() != connstate.CheckedOut {
		return false, nil
	}
	cn.idleAt = now
	if old := s.hot.Swap(cn); old != nil {
		orphan = s.demote(old, closed)
	}
	// Published, then the looks: Close sets closed before it drains the
	// shards, and a second Put parks before it looks at the hot pointer.
	if closed.Load() || cn.tag.State() != connstate.CheckedOut {
		// Taken back, it is the caller's; else a drain or a Get has it.
		return !s.hot.CompareAndSwap(cn, nil), orphan
	}
	return true, orphan
}

// popHot takes the hot connection of s, as pop does (see there), or returns
// nil if there is none. It never blocks, so Get may call it with its
// goroutine pinned to its P (percount.go).
func (s *shard) popHot(now int64, exp expiry) (cn *Conn, stale bool) {
	for s.hot.Load() != nil {
		cn = s.hot.Swap(nil)
		if cn == nil || cn.tag.State() != connstate.CheckedOut {
			continue // taken first, or closed in place (or in a list): drop it
		}
		if exp.on() && exp.stale(cn, now) {
			if !cn.tag.CloseCheckedOut() {
				continue // claimed meanwhile: the claimer closes it
			}
			return cn, true
		}
		return cn, false
	}
	return nil, false
}

// inHot reports whether cn is the hot connection of s.
func (s *shard) inHot(cn *Conn) bool { return s.hot.Load() == cn }

// dropFromHot lets s drop cn, if it is its hot connection: for a claimer
// that closed cn in place.
func (s *shard) dropFromHot(cn *Conn) { s.hot.CompareAndSwap(cn, nil) }

// demote links old, just displaced as the hot connection, into the list, unless it
// was closed in place meanwhile. It returns old if closed is set: Close
// drains s after it sets closed, so old is the caller's to close.
func (s *shard) demote(old *Conn, closed *atomic.Bool) (orphan *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if closed.Load() {
		if old.tag.State() == connstate.CheckedOut {
			return old
		}
		return nil
	}
	s.relink(old)
	return nil
}

// spillHot moves the hot connection into the list, for the methods that
// work on the list alone. Call with mu held.
func (s *shard) spillHot() {
	if s.hot.Load() == nil {
		return
	}
	// Set before the pointer lets go, so that a scan (hasIdle: hot, then
	// nonEmpty) never finds both empty while the connection moves.
	if !s.nonEmpty.Load() {
		s.nonEmpty.Store(true)
	}
	if h := testhook.HotSpilling; h != nil {
		h(s)
	}
	if cn := s.hot.Swap(nil); cn != nil {
		s.relink(cn)
	}
}

// relink links cn, which stopped being hot, into the list by its idleAt: at
// the head, unless a Put parked a newer one in the list (putIdle does while
// Gets wait), so that the list stays ordered for sweep. A cn that is no
// longer checked out was closed in place (or is in a list already, after
// two Puts at once) and is dropped. Call with mu held.
func (s *shard) relink(cn *Conn) {
	if !cn.tag.Park() {
		return
	}
	at := s.head
	for at != nil && at.idleAt > cn.idleAt {
		at = at.next
	}
	s.linkBefore(cn, at)
}
