//go:build !(gc && !purego && !race && (amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x))

package shardpool

// pinnedCounts: this build counts with an atomic add (see percount.go).
const pinnedCounts = false

// addPinned counts one; pid is ignored.
func (h *perPCounter) addPinned(int) { h.spill.Add(1) }

// inc counts one.
func (h *perPCounter) inc() { h.spill.Add(1) }
