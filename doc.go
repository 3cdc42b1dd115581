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
// connection in the caller's shard) swaps it out of the shard's hot
// connection and back in (three atomic read-modify-writes on a line no
// other core uses, no lock), writes nothing shared by all cores, reads no
// clock (only the pool's coarse one, a word in memory) and allocates
// nothing. A counter of places bounds the connections; Gets that must wait
// queue in one list and are handed connections and places directly. Each
// file states its mechanism and its locking rule at its top; the map below
// names them all, and the glossary after it the words they use.
//
// Package baseline holds the design this one replaces, go-redis v8's
// slice-plus-mutex pool, over the same Conn and Options; the tests hold
// both to one contract and the benchmarks compare them.
package shardpool

// The map: every file of the package, one mechanism each.
//
//	doc.go                the contract, this map and the glossary
//	pool.go               Pooler, ConnPool's fields by owner, NewConnPool, Len, IdleLen
//	options.go            Options, their defaults and normalize
//	conn.go               Conn: a network connection and what the pool keeps on it
//	errors.go             the exported errors and PoolTimeoutError
//	get.go                Get: the hot path, the other shards, a dial, the wait path's entry
//	put.go                Put and Remove: a connection back to a waiter, a shard or a close
//	shard.go              the shards: per-P lists of idle connections and their invariant
//	hot.go                a shard's hot connection, outside its list, for the hot path
//	procpin.go            which shard a goroutine uses: the id of its P, pinned (gc)
//	procpin_portable.go   the same through a sync.Pool of tokens (other compilers, purego)
//	wait.go               the wait path: serve rounds, hand-offs, why no wake-up is lost
//	waitlist.go           the list of waiting Gets and the one timer of their waits
//	rounds.go             one runner at a time, no caller waiting: serve rounds, top-ups
//	places.go             the word that counts places, dial slots and sheds
//	dial.go               dialing: the Dialer, then OnConnect, bounded by DialTimeout
//	dialctx.go            the lazily armed deadline of a dial's context
//	breaker.go            the dial-error breaker and its probe
//	minidle.go            the MinIdleConns top-up
//	health.go             when an idle connection is checked, and what a check does
//	health_unix.go        the built-in check on Unix: a socket read without blocking
//	health_socket.go      the socket under wrappers (NetConn) and TLS
//	health_linux.go       the check's probe on Linux: poll
//	health_peek.go        the check's probe on other Unixes: recv with MSG_PEEK
//	health_other.go       the built-in check elsewhere: every connection passes
//	clock.go              the coarse clock, dormant while the pool is quiet
//	reaper.go             the reaper: sweeps of stale idle connections
//	idlecap.go            MaxIdleConns: idle room that moves between the shards
//	resize.go             SetPoolSize, and the shedding of surplus connections
//	close.go              closeConn, the one way a connection is closed; Close and Shutdown
//	registry.go           every connection the pool holds, for Close and Filter
//	leak.go               leak detection: where each checkout came from
//	hooks.go              Hooks: callbacks on the slow paths for metrics and tracing
//	stats.go              Stats and the counters behind it
//	percount.go           Hits and Misses, counted per P without a read-modify-write
//	percount_pinned.go    the per-P count: a plain add while pinned (64-bit gc, no -race)
//	percount_atomic.go    one atomic count instead (-race, 32-bit, purego, gccgo)
//	wiring.go             init-time links for package baseline and the tests
//	internal/connstate    a connection's states and the moves between them
//	internal/bgroup       a group of goroutines that can be refused once closed
//	internal/testhook     the one way tests reach into the pools, in both directions
//	baseline/             go-redis v8's design over the same Conn and Options
//	bench/, contrib/      benchmarks, and exporters and client adapters: modules of their own
//
// Tests are laid out by the same mechanisms: resize_test.go tests
// resize.go, and so on; harness_test.go holds what the suites share, and
// contract_test.go holds go-redis's contract, run against both pools.

// The glossary: the words the files use, each in one sense.
//
//   - place: one of the PoolSize connections the pool may hold; a dial
//     takes one before it starts (places.go).
//   - dial slot: one of the MaxConcurrentDials dials the pool may have in
//     flight (places.go). "Slot" means nothing else.
//   - home: the shard a connection is parked in when it comes back; set to
//     the Get's shard when a Get takes it.
//   - park: make a checked-out connection idle in its home shard's list.
//   - hot connection: a shard's newest idle connection, kept in an atomic
//     pointer outside the list, still in state CheckedOut (hot.go).
//   - claim: move a connection to Closed, which one caller only can do;
//     that caller closes it (close.go).
//   - fate: what closeConn does with the place of the connection it
//     closes: freed, kept (for the caller to hand on) or shed.
//   - waiter: a Get queued in the wait list.
//   - spell: a stretch of time with Gets waiting; its first waiter kicks.
//   - round, server, kick: a serve round hands idle connections and free
//     places to waiters; the server is the one goroutine running rounds; a
//     kick makes sure a round starts after it (wait.go, rounds.go).
//   - quota, room: a shard's bound on its list under MaxIdleConns, and
//     what it has left of it (idlecap.go).
//   - debt: negative free room after MaxIdleConns was cut, paid before
//     SetPoolSize returns.
//   - surplus, shed: places held beyond PoolSize after a shrink, and the
//     closing of one such connection (resize.go, places.go).
//   - breaker, probe: the fast fail after PoolSize dial errors in a row,
//     and the background dial that ends it (breaker.go).
//   - half-open, warm-up: the breaker left one failure short of open when
//     a hung probe attempt turns into a quick failure, and the background
//     dials it starts for the Gets that failed fast (breaker.go).
//   - top-up, share: the dials that keep MinIdleConns idle, and a shard's
//     part of MinIdleConns (minidle.go).
//   - stale: idle past IdleTimeout, or older than MaxConnAge.
//   - pin: keep a goroutine on its P, not preemptible (runtime.procPin),
//     for a few instructions that never block: Get's take of the hot
//     connection and its hit count (procpin.go, percount.go).
