package shardpool

import "sync/atomic"

// Places and dial slots: what bounds the pool.
//
// A place is one of the PoolSize connections the pool may hold; a dial slot
// is one of the MaxConcurrentDials dials it may have in flight. Every dial
// of a pooled connection holds both, from before the dial until it ends; a
// connection that exists keeps its place after its dial gave the slot back.
// Both counts live in one word, so that one compare-and-swap takes a place
// and a slot together or neither: a dial can never hold one while it waits
// for the other, and no count is ever raised only to be lowered again.
//
// Locking: none; the word is atomic. Whoever lowers a count and may have
// made room for a waiting Get must then kick (see release and endDial):
// wait.go's lost-wake-up argument covers a freed place or slot as it covers
// a parked connection.
type places struct {
	v atomic.Uint64 // low 32 bits: places taken; high 32 bits: dial slots taken
}

const slot = 1 << 32

// held returns how many places are taken.
func (pl *places) held() int { return int(uint32(pl.v.Load())) }

// dialing returns how many dial slots are taken.
func (pl *places) dialing() int { return int(pl.v.Load() >> 32) }

// acquireDial takes a place and a dial slot, if both are free.
func (pl *places) acquireDial(size, dials int) bool {
	for {
		v := pl.v.Load()
		if int(uint32(v)) >= size || int(v>>32) >= dials {
			return false
		}
		if pl.v.CompareAndSwap(v, v+1+slot) {
			return true
		}
	}
}

// freePlace gives a place back.
func (pl *places) freePlace() { pl.v.Add(^uint64(0)) } // adds -1

// freeSlot gives a dial slot back.
func (pl *places) freeSlot() { pl.v.Add(^uint64(slot - 1)) } // adds -slot

// freeBoth gives back a place and a dial slot taken together.
func (pl *places) freeBoth() { pl.v.Add(^uint64(slot)) } // adds -(slot+1)
