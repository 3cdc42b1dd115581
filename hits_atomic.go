//go:build !(gc && !purego && !race && (amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x))

package shardpool

// pinnedHits: this build counts hits with an atomic add (see hits.go).
const pinnedHits = false

// addPinned counts one hit; pid is ignored.
func (h *hitCounter) addPinned(int) { h.spill.Add(1) }

// inc counts one hit.
func (h *hitCounter) inc() { h.spill.Add(1) }
