//go:build gc && !purego && !race && (amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x)

package shardpool

// pinnedCounts: this build counts in per-P slots (see percount.go).
const pinnedCounts = true

// addPinned counts one in the slot of P pid, to which the caller's
// goroutine is pinned (pinShard).
func (h *perPCounter) addPinned(pid int) {
	if pid < len(h.slots) {
		h.slots[pid].n++ // only this P writes the slot, and it is pinned
	} else {
		h.spill.Add(1)
	}
}

// inc counts one, pinning the goroutine for the add.
func (h *perPCounter) inc() {
	h.addPinned(procPin())
	procUnpin()
}
