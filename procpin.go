//go:build gc && !purego

package shardpool

import _ "unsafe" // for go:linkname

// Shard placement by P id. runtime.procPin returns the id of the P the
// goroutine runs on (and keeps it there until procUnpin); we only want the
// id, so we unpin at once. If the goroutine then moves to another P it uses
// a neighbour's shard for one call: locality lost, correctness kept, since
// every shard is guarded by its own mutex.
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

// localShard returns the shard of the caller's P.
func (p *ConnPool) localShard() *shard {
	pid := procPin()
	procUnpin()
	return &p.shards[uint32(pid)&p.mask]
}
