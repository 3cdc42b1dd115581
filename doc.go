// Package shardpool is a bounded pool of network connections for hot paths:
// servers and clients whose connection pool shows up in CPU profiles at high
// concurrency. It keeps the contract of go-redis's connection pool (the
// Pooler interface, its Options, Filter and Stats), so code written against
// that pool moves over with its imports changed.
//
// # Design
//
// Shards. Idle connections live in per-P shards, one small mutex-guarded
// list per P (shard.go). Get takes from the shard of the P it runs on and
// Put returns a connection to the shard it was taken for, so the hot path
// (an idle connection in the caller's shard) locks a mutex no other core
// uses, writes nothing shared by all cores, reads no clock and allocates
// nothing. A Get whose shard is empty takes from the other shards.
//
// The bound. A counter of places (wait.go) bounds the connections the pool
// holds to PoolSize, and so the ones checked out. It changes when a
// connection is dialed or closed, never on a Get or Put of an idle one.
//
// The hand-off. A Get that finds no idle connection and no free place
// queues and sleeps. Put, Remove and every other event that frees a
// connection or a place serve the queue oldest first, handing over the
// connection or the place directly. wait.go explains why no wake-up is lost.
//
// Lifecycle. Each connection is checked out, idle, or closed; every move to
// closed is a compare-and-swap, so exactly one party closes a connection.
// A registry of all connections (registry.go) lets Close and Filter reach
// the checked-out ones too. The reaper (reaper.go) sweeps one shard at a
// time; staleness is judged by a coarse clock (clock.go). After PoolSize
// consecutive dial errors the pool fails fast and one probe dials once a
// second until the server is back (dial.go).
//
// Package baseline holds the design this one replaces, go-redis v8's
// slice-plus-mutex pool, over the same Conn and Options; the tests hold
// both to one contract and the benchmarks compare them.
package shardpool
