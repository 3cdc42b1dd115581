//go:build gc && !purego && !race && (amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x)

package shardpool

// pinnedHits: this build counts hits in per-P slots (see hits.go).
const pinnedHits = true

// addPinned counts one hit in the slot of P pid, to which the caller's
// goroutine is pinned (pinShard).
func (h *hitCounter) addPinned(pid int) {
	if pid < len(h.slots) {
		h.slots[pid].n++ // only this P writes the slot, and it is pinned
	} else {
		h.spill.Add(1)
	}
}

// inc counts one hit, pinning the goroutine for the add.
func (h *hitCounter) inc() {
	h.addPinned(procPin())
	procUnpin()
}
