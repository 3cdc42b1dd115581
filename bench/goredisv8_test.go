package bench

import (
	"context"
	"fmt"
	"os"
	"testing"

	redisv8 "github.com/go-redis/redis/v8"
)

// v8Pool names the pool under go-redis v8's client in this binary:
// go-redis-v8, its own, unless scripts/bench.sh built the binary against
// the overlay whose internal/pool is shardpool (contrib/goredis) and said
// so with -ldflags -X.
var v8Pool = "go-redis-v8"

// BenchmarkGoRedisV8Client asks: does go-redis v8's own client serve as
// well on shardpool as on its own pool? The same client code (v8.11.5)
// runs PING, SET and GET in turn on the real redis-server at 1, 16 and 256
// goroutines, the commands and counts of BenchmarkEndToEndRESP, with
// PoolSize 32 and the client's other options at their defaults. One binary
// holds one pool: scripts/bench.sh builds the stock client and the
// overlaid one and runs them in alternating rounds.
func BenchmarkGoRedisV8Client(b *testing.B) {
	addr := os.Getenv(RedisAddrEnv)
	if addr == "" {
		b.Skip(RedisAddrEnv + " is not set: no redis-server to run go-redis v8's client against")
	}
	if err := CheckLoopback(addr); err != nil {
		b.Fatal(err)
	}
	for _, g := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("server=redis/pool=%s/goroutines=%d", v8Pool, g), func(b *testing.B) {
			client := redisv8.NewClient(&redisv8.Options{Addr: addr, PoolSize: e2ePoolSize})
			defer func() { _ = client.Close() }()
			runRESP(b, g, goRedisV8RESP(client))
		})
	}
}

// goRedisV8RESP runs the end-to-end commands with go-redis v8's client.
func goRedisV8RESP(c *redisv8.Client) respOps {
	return func(ctx context.Context, step int, key, value []byte) error {
		switch step {
		case 0:
			return c.Ping(ctx).Err()
		case 1:
			return c.Set(ctx, string(key), value, 0).Err()
		default:
			err := c.Get(ctx, string(key)).Err()
			if err == redisv8.Nil {
				err = nil
			}
			return err
		}
	}
}
