// go-redis v9's options for the driver (driver_test.go); scripts/bench.sh
// copies this file into github.com/redis/go-redis/v9's internal/pool, at the
// version bench/go.mod requires.
package pool

import (
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9/internal/proto"
	"github.com/shardpool/shardpool/bench"
)

// driverName is the pool= value of this pool's benchmarks.
const driverName = "go-redis-v9"

// countsWaits: v9's pool counts the Gets that waited (Stats.WaitCount).
const countsWaits = true

func waitCount(p *ConnPool) uint64 { return uint64(p.Stats().WaitCount) }

// newDriverPool returns go-redis v9's pool set as the report's other pools
// are: PoolSize from the scenario, PoolTimeout bench.PoolTimeout (10 s), and
// no idle expiry (ConnMaxIdleTime 0; the v9 client would default it to 30
// minutes) and no maximum lifetime. Everything else takes the value the v9
// client gives it by default (redis.Options.init): DialTimeout 5 s, five
// dial retries 100 ms apart, MaxConcurrentDials = PoolSize, 32 KiB read and
// write buffers per connection. The health check v9 runs on every idle
// connection it hands out is on, as it always is: with the scenarios'
// in-memory connections, which are not syscall.Conns, it costs a
// SetDeadline call and a type assertion per Get; on a TCP connection it
// adds a non-blocking recv syscall.
func newDriverPool(cfg bench.Config) *ConnPool {
	return NewConnPool(&Options{
		Dialer:             cfg.Dial,
		PoolSize:           int32(cfg.Size),
		PoolTimeout:        bench.PoolTimeout,
		DialTimeout:        5 * time.Second,
		DialerRetries:      5,
		DialerRetryTimeout: 100 * time.Millisecond,
		MaxConcurrentDials: cfg.Size,
		ReadBufferSize:     proto.DefaultBufferSize,
		WriteBufferSize:    proto.DefaultBufferSize,
	})
}

// prepare readies a connection Get returned for use, as the v9 client does
// (baseClient.initPooledConn and initConn in redis.go): a freshly dialed
// connection is in state CREATED; the client moves it to INITIALIZING, runs
// its handshake (network work outside the pool, left out here as for every
// pool), parks it IDLE and acquires it (IN_USE). Without this, Put would
// find the connection still CREATED and log a warning on every return.
func prepare(p *ConnPool, cn *Conn) error {
	if cn.IsInited() {
		return nil
	}
	sm := cn.GetStateMachine()
	if _, err := sm.TryTransition([]ConnState{StateCreated}, StateInitializing); err != nil {
		return err
	}
	sm.Transition(StateIdle)
	if !cn.TryAcquire() {
		return errors.New("go-redis v9 driver: a fresh connection could not be acquired")
	}
	return nil
}

// netConnOf returns the network connection under cn.
func netConnOf(cn *Conn) net.Conn { return cn.getNetConn() }
