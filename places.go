package shardpool

import "sync/atomic"

// Places, dial slots and sheds: what bounds the pool.
//
// A place is one of the PoolSize connections the pool may hold; a dial slot
// is one of the MaxConcurrentDials dials it may have in flight. Every dial
// of a pooled connection holds both, from before the dial until it ends; a
// connection that exists keeps its place after its dial gave the slot back.
// A shed is a place whose connection is being closed because the pool holds
// more than PoolSize (after SetPoolSize shrank it): it is still held, since
// the connection is still open, but no longer counts as surplus, so that two
// callers never close a connection each for one connection of surplus.
//
// All three counts live in one word, so that one compare-and-swap takes a
// place and a slot together or neither (a dial can never hold one while it
// waits for the other), and so that a shed is reserved against the places
// it is counted from, and given back together with its place.
//
// Locking: none; the word is atomic. Whoever lowers the places or slots
// taken and may have made room for a waiting Get must then kick (see
// release and endDial): wait.go's lost-wake-up argument covers a freed place
// or slot as it covers a parked connection.
type places struct {
	// Three counts of countBits bits each: places taken (low), dial slots
	// taken (middle), sheds under way (high).
	v atomic.Uint64
}

const (
	countBits = 21
	countMask = 1<<countBits - 1
	place     = 1
	slot      = 1 << countBits
	shed      = 1 << (2 * countBits)

	// maxPoolSize is the largest PoolSize the word can count.
	maxPoolSize = countMask
)

func heldOf(v uint64) int     { return int(v & countMask) }
func dialingOf(v uint64) int  { return int(v >> countBits & countMask) }
func sheddingOf(v uint64) int { return int(v >> (2 * countBits) & countMask) }

// held returns how many places are taken.
func (pl *places) held() int { return heldOf(pl.v.Load()) }

// dialing returns how many dial slots are taken.
func (pl *places) dialing() int { return dialingOf(pl.v.Load()) }

// surplus returns how many connections more than size the pool holds, not
// counting those being shed.
func (pl *places) surplus(size int) int {
	v := pl.v.Load()
	return heldOf(v) - sheddingOf(v) - size
}

// acquireDial takes a place and a dial slot, if both are free.
func (pl *places) acquireDial(size, dials int) bool {
	for {
		v := pl.v.Load()
		if heldOf(v) >= size || dialingOf(v) >= dials {
			return false
		}
		if pl.v.CompareAndSwap(v, v+place+slot) {
			return true
		}
	}
}

// reserveShed reserves the shedding of one connection, if the pool holds
// more than size not counting those already being shed. The caller then
// closes a connection and calls shedDone, or calls shedCancel.
func (pl *places) reserveShed(size int) bool {
	for {
		v := pl.v.Load()
		if heldOf(v)-sheddingOf(v) <= size {
			return false
		}
		if pl.v.CompareAndSwap(v, v+shed) {
			return true
		}
	}
}

// The subtractions below add the two's complement: ^(x-1) is -x.

// shedDone gives back a shed and the place of the connection it closed.
func (pl *places) shedDone() { pl.v.Add(^uint64(shed + place - 1)) }

// shedCancel gives back a shed that closed nothing.
func (pl *places) shedCancel() { pl.v.Add(^uint64(shed - 1)) }

// freePlace gives a place back.
func (pl *places) freePlace() { pl.v.Add(^uint64(place - 1)) }

// freeSlot gives a dial slot back.
func (pl *places) freeSlot() { pl.v.Add(^uint64(slot - 1)) }

// freeBoth gives back a place and a dial slot taken together.
func (pl *places) freeBoth() { pl.v.Add(^uint64(slot + place - 1)) }
