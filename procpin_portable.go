//go:build !gc || purego

package shardpool

import (
	"sync"
	"sync/atomic"
)

// The portable shard placement: a token names a shard, and tokens live in a
// sync.Pool, whose per-P caches hand a goroutine the token its P used last
// (the trick xsync's Counter uses). A goroutine that moves to another P
// between Get and Put only costs locality, never correctness.
type token struct{ idx uint32 }

var (
	tokens    sync.Pool
	tokenNext atomic.Uint32
)

// pinShard returns the shard of the caller's P, as procpin.go's does, but
// pins nothing: the P's id is -1, which percount.go's atomic build ignores.
func (p *ConnPool) pinShard() (*shard, int) {
	t, _ := tokens.Get().(*token)
	if t == nil {
		// Once per P, and again after GCs empty the sync.Pool.
		t = &token{idx: tokenNext.Add(1)}
	}
	s := &p.shards[t.idx&p.mask]
	tokens.Put(t)
	return s, -1
}

// unpin ends pinShard's pin: here, nothing.
func unpin() {}
