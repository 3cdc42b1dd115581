package bench

import _ "unsafe" // for go:linkname

// The P id, as shardpool's shard placement reads it (its procpin.go): the
// floor contender (floorPool) places its slots the same way, so that the
// two differ only in what they do with a slot.

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
