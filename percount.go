package shardpool

import "sync/atomic"

// Counters written on every Get of a path, kept per P without a locked
// read-modify-write: Stats.Hits (a Get served an idle connection from a
// shard, the hot path) and Stats.Misses (a Get that dialed, every Get
// under churn).
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
// snapshot of counts that only grow, a few behind at worst, as any
// snapshot of a moving count is. The race detector would report those
// reads, so builds with -race, and builds where a slot is not a machine
// word or procPin is not linked (32-bit, purego, gccgo), count with an
// atomic add on one word instead (percount_atomic.go).
//
// Locking: none. A slot is written only by its P, pinned; spill is an
// atomic.

// perPCounter is a count kept per P.
type perPCounter struct {
	// slots, one per P at NewConnPool (len(shards) ≥ GOMAXPROCS then).
	slots []perPSlot
	// spill counts for the Ps without a slot (GOMAXPROCS raised since),
	// and all of them in builds without slots.
	spill atomic.Uint64
}

// perPSlot is one P's count, on cache lines of its own so that the Ps'
// adds do not contend.
type perPSlot struct {
	n uint64
	_ [cacheLinePad - 8]byte
}

func (h *perPCounter) init(ps int) {
	if pinnedCounts {
		h.slots = make([]perPSlot, ps)
	}
}

// total returns the hits counted so far.
func (h *perPCounter) total() uint64 {
	t := h.spill.Load()
	for i := range h.slots {
		t += atomic.LoadUint64(&h.slots[i].n) // one load of the word; see above
	}
	return t
}
