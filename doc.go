// Package shardpool is a bounded pool of network connections for hot paths:
// servers and clients whose connection pool shows up in CPU profiles at high
// concurrency. It keeps the contract of go-redis's connection pool (the
// Pooler interface, its Options, Filter and Stats), so code written against
// that pool moves over with its imports changed.
//
// # Contract
//
//   - Bound. At most PoolSize pooled connections are open at once, counting
//     those being dialed. A connection closed while checked out (by Filter
//     or CloseConn) frees its place at once. NewConn's connections are the
//     caller's, outside the bound. After SetPoolSize shrinks the pool, no
//     dial starts while it holds the new size or more; the surplus is
//     closed as it comes back.
//   - Idle cap. With MaxIdleConns set, IdleLen never exceeds it.
//   - Exclusive use. Get hands a connection to one caller at a time, and
//     Put(cn) synchronizes before the Get that hands cn to the next caller.
//   - Waiting. A Get that finds no idle connection and no free place waits,
//     and waiting Gets are served in arrival order: a Get that arrives
//     later does not take a connection while an earlier one waits. A wait
//     ends with a connection, ErrPoolTimeout (as a *PoolTimeoutError that
//     describes the pool) after PoolTimeout, ctx.Err(), or ErrClosed. With
//     MaxWaiters set, a Get that would wait behind that many, and could
//     neither take an idle connection nor dial, returns ErrPoolExhausted.
//   - No lost wake-ups. While a Get waits, no connection stays idle and no
//     place stays free for longer than it takes to hand it over.
//   - Closing. Every connection is closed exactly once, whoever closes it
//     (Remove, CloseConn, Filter, the reaper, a Get that meets a stale one,
//     Close, Shutdown), and Options.OnClose is called once for it.
//     Shutdown returns nil only once every connection is closed and the
//     pool's goroutines have exited.
//   - Health. A connection idle for HealthCheckIdle or longer passes its
//     health check before Get hands it out; one that fails is closed, and
//     the check's error never reaches the caller.
//   - Handshake. OnConnect runs once on every new connection before
//     anyone gets it; its failure is the dial's failure. Conn.Value,
//     which it may set, stays with the connection and is the caller's.
//   - Bad input (nil, another pool's connection, a second Put) never
//     panics, leaks or closes twice; see Put and Options.OnMisuse.
//
// # Design
//
// Idle connections live in per-P shards, so the hot path (an idle
// connection in the caller's shard) swaps it out of a slot and back in
// (three atomic read-modify-writes on a line no other core uses, no lock),
// writes nothing shared by all cores, reads no clock (only the pool's coarse
// one, a word in memory) and allocates nothing.
// A counter of places bounds the connections; Gets that must wait queue in
// one list and are handed connections and places directly. Each file states
// its mechanism and its locking rule at its top:
//
//   - shard.go: the shards, the invariant that ties a connection's state
//     to its place in a shard's list, and the slot that keeps one idle
//     connection outside the list for the hot path.
//   - wait.go, waitlist.go: the bound, the wait list, the hand-off, and why
//     no wake-up is lost.
//   - internal/connstate: a connection's states and the moves between them.
//   - registry.go: every connection, for Close and Filter.
//   - dial.go: dialing (the Dialer, then OnConnect), the dial-error
//     breaker, MinIdleConns.
//   - reaper.go, clock.go: stale connections, and the coarse clock that
//     stops while the pool is quiet.
//   - health.go, health_unix.go, health_socket.go, health_linux.go,
//     health_peek.go: health checks of connections that have been idle;
//     the built-in one finds the socket under wrappers and TLS and asks
//     the kernel about it without taking a byte.
//   - places.go, resize.go: the word that counts places, dial slots and
//     the surplus being shed, and the live resize.
//   - idlecap.go: MaxIdleConns as room that moves between the shards.
//   - close.go: Close and Shutdown, and the pool's phases.
//   - leak.go: leak detection, a seqlock of program counters per
//     connection.
//
// Package baseline holds the design this one replaces, go-redis v8's
// slice-plus-mutex pool, over the same Conn and Options; the tests hold
// both to one contract and the benchmarks compare them.
package shardpool
