//go:build gc && !purego

package shardpool

import _ "unsafe" // for go:linkname

// Shard placement by P id. runtime.procPin returns the id of the P the
// goroutine runs on and keeps it there until procUnpin, which Get uses to
// count a hit of the hot path in its P's slot (percount.go).
//
// The runtime marks procPin and procUnpin as linkname targets it keeps
// stable (go.dev/issue/67401). It is cheaper than the portable sync.Pool
// of shard tokens (procpin_portable.go, built with -tags purego):
// BenchmarkGetPut of an idle connection compares the two, and
// docs/bench/design-measurements.md has the figures.

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// pinShard returns the shard of the caller's P and the P's id, and keeps
// the goroutine on that P, not preemptible, until unpin. Between the two the
// caller may do only a little work that never blocks: Get's take of the hot
// connection and its hit count (percount.go). If the goroutine later moves to
// another P it uses a neighbour's shard for one call: locality lost,
// correctness kept.
func (p *ConnPool) pinShard() (*shard, int) {
	pid := procPin()
	return &p.shards[uint32(pid)&p.mask], pid
}

// unpin ends pinShard's pin.
func unpin() { procUnpin() }
