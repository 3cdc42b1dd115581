// Package connstate holds the per-connection bookkeeping that both pools of
// this module (the sharded shardpool.ConnPool and the baseline.ConnPool) need
// and that users must not touch: which pool owns a connection, whether it
// counts against PoolSize, and where it is in its life.
//
// The shardpool package installs the accessors at init, so the baseline can
// reach the unexported fields of shardpool.Conn without making them part of
// the public API.
package connstate

import (
	"sync/atomic"
	"time"
)

// The life of a pooled connection. Every change goes through Tag.State, so
// that exactly one party wins the move to Closed and closes the connection.
const (
	// CheckedOut: held by a caller (after Get, NewConn, or a dial).
	CheckedOut uint32 = iota
	// Idle: parked in the pool, ready for Get.
	Idle
	// Closed: closed, or being closed, by whoever moved it here.
	Closed
)

// Tag is the bookkeeping a pool keeps on each of its connections.
type Tag struct {
	// Owner is the pool that dialed the connection; it never changes.
	Owner any
	// Pooled reports whether the connection holds one of the PoolSize
	// places. Set before the connection is published; read-only after.
	Pooled bool
	// State is CheckedOut, Idle or Closed.
	State atomic.Uint32
	// Turn is set while the caller that got the connection from the
	// baseline pool's Get owes that pool a turn (its channel slot). Put or
	// Remove clears it and gives the turn back, once, even if the
	// connection was closed meanwhile by Filter. Unused by ConnPool.
	Turn atomic.Bool
}

// Accessors installed by package shardpool at init.
var (
	// Of returns the Tag of a *shardpool.Conn.
	Of func(conn any) *Tag
	// Normalize fills defaults into a *shardpool.Options in place.
	Normalize func(opt any)
	// SetCreatedAt sets the creation time of a *shardpool.Conn that is
	// not yet published, for a pool whose clock is not time.Now.
	SetCreatedAt func(conn any, t time.Time)
)
