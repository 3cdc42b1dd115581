// go-redis v8's options for the driver (driver_test.go); scripts/bench.sh
// copies this file into github.com/go-redis/redis/v8@v8.11.5/internal/pool.
package pool

import (
	"net"

	"github.com/shardpool/shardpool/bench"
)

// driverName is the pool= value of this pool's benchmarks.
const driverName = "go-redis-v8"

// countsWaits: v8's pool does not count the Gets that waited (its Stats
// have no WaitCount), so its exhaustion rows have no queued-%.
const countsWaits = false

func waitCount(*ConnPool) uint64 { return 0 }

// newDriverPool returns go-redis v8's pool set as the report's other pools
// are: PoolSize from the scenario and PoolTimeout bench.PoolTimeout (10 s).
// IdleTimeout and IdleCheckFrequency stay 0: no idle expiry and no reaper
// goroutine (the v8 client would default them to 5 and 1 minutes), as no
// other contender expires idle connections in these scenarios. MinIdleConns
// and MaxConnAge stay 0, as in the client, and PoolFIFO false (LIFO, the
// client's default).
func newDriverPool(cfg bench.Config) *ConnPool {
	return NewConnPool(&Options{
		Dialer:      cfg.Dial,
		PoolSize:    cfg.Size,
		PoolTimeout: bench.PoolTimeout,
	})
}

// prepare readies a connection Get returned for use. v8's pool hands out
// connections ready: the client's handshake (AUTH, SELECT, ...) is network
// work outside the pool, which these scenarios leave out for every pool.
func prepare(*ConnPool, *Conn) error { return nil }

// netConnOf returns the network connection under cn.
func netConnOf(cn *Conn) net.Conn { return cn.netConn }
