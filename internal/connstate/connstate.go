// Package connstate holds the per-connection bookkeeping that both pools of
// this module (the sharded shardpool.ConnPool and the baseline.ConnPool) need
// and that users must not touch: which pool owns a connection, whether it
// counts against PoolSize, and where it is in its life.
//
// The shardpool package installs the accessors at init (see its wiring.go),
// so the baseline can reach the unexported fields of shardpool.Conn without
// making them part of the public API.
package connstate

import (
	"context"
	"sync/atomic"
	"time"
)

// State is where a pooled connection is in its life.
//
//	            Park            Checkout (idle-list lock held)
//	CheckedOut ──────▶ Idle ──────────────────────────────▶ CheckedOut
//	     │                │
//	     │ CloseCheckedOut│ CloseIdle (idle-list lock held)
//	     ▼                ▼
//	   Closed ◀──────── CloseAny (from anywhere, once)
//
// Every move goes through a method of Tag, so each rule lives in one place.
// The moves into Closed are arranged so that exactly one party wins the move
// and closes the connection: CloseCheckedOut and CloseAny are atomic
// read-modify-writes; CloseIdle is a plain store, made by the holder of the
// lock of the idle list the connection is in, the only code that may move a
// connection out of Idle.
type State uint32

const (
	// CheckedOut: held by a caller (after Get, NewConn, or a dial).
	CheckedOut State = iota
	// Idle: parked in the pool, ready for Get.
	Idle
	// Closed: closed, or being closed, by whoever moved it here.
	Closed
)

func (s State) String() string {
	switch s {
	case CheckedOut:
		return "checked out"
	case Idle:
		return "idle"
	case Closed:
		return "closed"
	}
	return "invalid"
}

// Tag is the bookkeeping a pool keeps on each of its connections.
type Tag struct {
	// Owner is the pool that dialed the connection; it never changes.
	Owner any
	// Pooled reports whether the connection holds one of the PoolSize
	// places. Set before the connection is published; read-only after.
	Pooled bool
	// Turn is set while the caller that got the connection from the
	// baseline pool's Get owes that pool a turn (its channel slot). Put or
	// Remove clears it and gives the turn back, once, even if the
	// connection was closed meanwhile by Filter. Unused by ConnPool.
	Turn atomic.Bool

	state atomic.Uint32 // a State; moved only by the methods below
}

// State returns the connection's state. Only a state the caller's locks
// make stable (Closed always is) may be acted on without a move method.
func (t *Tag) State() State { return State(t.state.Load()) }

// Park moves a checked-out connection to Idle. It reports false, and
// changes nothing, when the connection is not checked out: a second Put, or
// a Put racing Remove, Filter or Close. Call it with the lock of the idle
// list the connection goes into held.
func (t *Tag) Park() bool {
	return t.state.CompareAndSwap(uint32(CheckedOut), uint32(Idle))
}

// Checkout moves an idle connection to CheckedOut. The caller holds the lock
// of the idle list the connection is in and has just unlinked it; nobody
// else can move an idle connection, so a plain store suffices.
func (t *Tag) Checkout() { t.state.Store(uint32(CheckedOut)) }

// CloseIdle moves an idle connection to Closed, for its caller to close.
// As for Checkout, the caller holds the lock of its idle list and has just
// unlinked it.
func (t *Tag) CloseIdle() { t.state.Store(uint32(Closed)) }

// CloseCheckedOut moves a checked-out connection to Closed. It reports
// whether this call made the move, and so must close the connection.
func (t *Tag) CloseCheckedOut() bool {
	return t.state.CompareAndSwap(uint32(CheckedOut), uint32(Closed))
}

// CloseAny moves the connection to Closed from whatever state it is in and
// returns the state it was in: the caller closes the connection unless that
// was Closed. For an idle connection the caller must also hold its idle
// list's lock (or own the whole list, as Close does) and unlink it.
func (t *Tag) CloseAny() (was State) { return State(t.state.Swap(uint32(Closed))) }

// Accessors installed by package shardpool at init.
var (
	// Of returns the Tag of a *shardpool.Conn.
	Of func(conn any) *Tag
	// Normalize fills defaults into a *shardpool.Options in place.
	Normalize func(opt any)
	// SetCreatedAt sets the creation time of a *shardpool.Conn that is
	// not yet published, for a pool whose clock is not time.Now.
	SetCreatedAt func(conn any, t time.Time)
	// Connect runs a *shardpool.Options' OnConnect, if any, on a new
	// *shardpool.Conn, as the pool does: within ctx's deadline, and with
	// an error or a panic wrapped in ErrOnConnect.
	Connect func(ctx context.Context, opt, conn any) error
)
