package shardpool

import "sync/atomic"

// The Hits counter: Gets served an idle connection from a shard (takeIdle),
// counted without a locked read-modify-write on the hot path.
//
// A LOCK XADD costs as much as a third of a Get+Put on the hot path, which
// is otherwise two pointer swaps and some loads (BenchmarkHotPathGetPut,
// bench/; docs/bench/design-measurements.md). So each P counts in a slot of
// its own, with a plain add while the goroutine is pinned to the P
// (procPin: no other goroutine runs on that P until procUnpin). A slot has
// one writer at a time, its P, and no two adds interleave.
//
// Stats and the clock's activity sum the slots while their Ps may be
// adding. The Go memory model makes a racy read of a machine word return
// some value written to it, never a torn or invented one, so the sum is a
// snapshot of counts that only grow, a few hits behind at worst, as any
// snapshot of a moving count is. The race detector would report those
// reads, so builds with -race, and builds where a slot is not a machine
// word or procPin is not linked (32-bit, purego, gccgo), count with an
// atomic add on one word instead (hits_atomic.go).
//
// Locking: none. A slot is written only by its P, pinned; spill is an
// atomic.

// hitCounter counts the Gets served an idle connection.
type hitCounter struct {
	// slots, one per P at NewConnPool (len(shards) ≥ GOMAXPROCS then).
	slots []hitSlot
	// spill counts for the Ps without a slot (GOMAXPROCS raised since),
	// and all of them in builds without slots.
	spill atomic.Uint64
}

// hitSlot is one P's count, on cache lines of its own so that the Ps'
// adds do not contend.
type hitSlot struct {
	n uint64
	_ [cacheLinePad - 8]byte
}

func (h *hitCounter) init(ps int) {
	if pinnedHits {
		h.slots = make([]hitSlot, ps)
	}
}

// total returns the hits counted so far.
func (h *hitCounter) total() uint64 {
	t := h.spill.Load()
	for i := range h.slots {
		t += atomic.LoadUint64(&h.slots[i].n) // one load of the word; see above
	}
	return t
}
