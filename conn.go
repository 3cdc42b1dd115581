package shardpool

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/shardpool/shardpool/internal/connstate"
)

// Conn is a network connection owned by a pool.
//
// A Conn moves through three states: checked out (returned by Get or
// NewConn, owned by one caller), idle (parked in the pool after Put), and
// closed. Only the caller that holds a checked-out Conn may use its NetConn;
// Put, Remove or CloseConn hands it back.
type Conn struct {
	netConn net.Conn

	// Inited is free for the user of the pool, as in go-redis: it marks a
	// connection whose handshake (AUTH, SELECT, ...) has been done. The pool
	// never reads it.
	Inited bool

	// Where the pool's registry keeps the connection: its shard there and
	// its index in that shard; guarded by that shard's mutex (registry.go).
	// Declared next to Inited so that the three share one word: a Conn
	// then fits the 160-byte size class, and every dial allocates one.
	regShard uint16
	regIdx   int32

	// Value is the caller's per-connection state: a protocol session, or
	// the bufio.Reader and Writer a client keeps for this connection. Set
	// it once, in Options.OnConnect or after a Get that found Inited false,
	// and read it while holding the checkout. It is kept across Put and
	// Get, and the pool never reads or writes it, so it costs the hot path
	// nothing; nil until set.
	Value any

	createdAt time.Time

	// The fields written while the connection is in use come next, in the
	// middle of the struct, where the layout test keeps them: a Conn is
	// 160 bytes, so Conns start at 0 or 32 bytes into a cache line, and
	// only bytes 32 to 127 of one lie on lines no other Conn shares. A
	// Put's store of idleAt on one P then never invalidates the line of
	// another P's connection (TestConnLayout, conn_test.go).

	// Guarded by home's mutex while the connection is in its list; also
	// written by a Put that makes it a shard's hot connection (hot.go).
	idleAt int64        // pool clock when it went idle
	usedAt atomic.Int64 // unix nanoseconds; see UsedAt

	tag connstate.Tag

	// The fields below belong to ConnPool.

	// home is the shard Put parks this connection in. It changes only while
	// the connection is checked out (when Get takes it from another shard),
	// and an idle connection is always in the list of its home shard.
	home atomic.Pointer[shard]

	// Guarded by home's mutex while the connection is idle.
	prev, next *Conn

	bornAt int64 // pool clock when it was dialed; read-only after publication
	// ageJitter is added to MaxConnAge for this connection (see
	// Options.MaxConnAgeJitter); read-only after publication.
	ageJitter int64

	// leak is the checkout Get recorded for Options.LeakThreshold (see
	// leak.go); nil without it, so that a Conn costs nothing for it.
	// Read-only after publication.
	leak *leakRecord
}

// NewConn wraps netConn in a Conn that belongs to no pool. Pools create
// their connections themselves; this is for tests and for code that hands a
// Conn to functions written against the pool's API.
func NewConn(netConn net.Conn) *Conn { return newConn(netConn, time.Now()) }

// newConn wraps netConn in a Conn created at now.
func newConn(netConn net.Conn, now time.Time) *Conn {
	cn := &Conn{netConn: netConn, createdAt: now}
	cn.usedAt.Store(now.UnixNano())
	return cn
}

// NetConn returns the underlying network connection.
func (cn *Conn) NetConn() net.Conn { return cn.netConn }

// CreatedAt returns when the connection was dialed: for a pool's
// connection, when the pool began to dial it (the Dialer's call).
func (cn *Conn) CreatedAt() time.Time { return cn.createdAt }

// UsedAt returns the time last given to SetUsedAt, or CreatedAt if none was.
// Clients record I/O with it; the pool judges idleness by the time a
// connection went idle (Put), not by UsedAt.
func (cn *Conn) UsedAt() time.Time { return time.Unix(0, cn.usedAt.Load()) }

// SetUsedAt records tm as the last time the connection was used. It is safe
// to call concurrently with UsedAt.
func (cn *Conn) SetUsedAt(tm time.Time) { cn.usedAt.Store(tm.UnixNano()) }

// Close closes the underlying network connection. Pools call it once per
// connection; a caller that closes a pooled connection itself should Remove
// it instead.
func (cn *Conn) Close() error {
	if cn.netConn == nil {
		return nil
	}
	return cn.netConn.Close()
}
