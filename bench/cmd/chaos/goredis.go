package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/pprof"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// The go-redis v9 client beside shardpool in the network-fault rounds,
// through its own toxiproxy proxy. It is used through its public API only,
// so the driver sees what a caller sees: each command's error and
// duration, and PoolStats. How long a command waited for a connection is
// not visible from outside, so its rows have no Get latency.

// newGoredis returns a go-redis client of addr with the driver's shardpool
// settings, so that both pools work under the same rules:
//
//   - PoolSize and MaxActiveConns = PoolSize: at most PoolSize connections,
//     as shardpool's bound (go-redis may otherwise open more than PoolSize);
//   - PoolTimeout = PoolTimeout: how long a command waits for a connection;
//   - DialTimeout = DialTimeout; DialerRetries 1 (its least; its default
//     retries a failed dial 5 times, 100 ms apart, where shardpool's pool
//     dials once and lets the breaker decide);
//   - ReadTimeout = WriteTimeout = the I/O deadline of each command;
//   - MaxRetries -1: no retry of a failed command, as the driver's workers
//     do not retry either, so errors reach the callers on both sides;
//   - no maintenance notifications, and no CLIENT SETINFO on connect: its
//     connection set-up is then HELLO only, like the PING shardpool's
//     OnConnect sends (dialer.handshake).
//
// Its goroutines are labelled go-redis (goroutines.go).
func newGoredis(cfg *config, addr string) *redis.Client {
	// Its log line for each failed dial would flood the output during a
	// fault; the driver reports its errors itself.
	logging.Disable()
	var rdb *redis.Client
	pprof.Do(context.Background(), pprof.Labels("side", ownerGoredis), func(context.Context) {
		rdb = redis.NewClient(&redis.Options{
			Addr:                     addr,
			PoolSize:                 cfg.poolSize,
			MaxActiveConns:           cfg.poolSize,
			PoolTimeout:              cfg.poolTimeout,
			DialTimeout:              cfg.dialTimeout,
			DialerRetries:            1,
			ReadTimeout:              cfg.ioTimeout,
			WriteTimeout:             cfg.ioTimeout,
			MaxRetries:               -1,
			DisableIdentity:          true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
	})
	return rdb
}

// goredisClient sends the workers' requests through a go-redis client.
type goredisClient struct{ rdb *redis.Client }

func (c goredisClient) do(i int, key, prefix []byte, val *[]byte) result {
	ctx := context.Background()
	var err error
	switch i % 3 {
	case 0:
		err = c.rdb.Ping(ctx).Err()
	case 1:
		*val = fmt.Appendf(append((*val)[:0], prefix...), "%d", i)
		err = c.rdb.Set(ctx, string(key), *val, 0).Err()
	default:
		var v []byte
		v, err = c.rdb.Get(ctx, string(key)).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			err = nil
		case err == nil && !bytes.HasPrefix(v, prefix):
			err = fmt.Errorf("%w: GET %s = %q", errWrongValue, key, v)
		}
	}
	return result{st: goredisStage(err), err: err}
}

// goredisStage tells where a go-redis command failed, as far as its error
// says: waiting for a connection or dialing one (Get), else its I/O.
func goredisStage(err error) stage {
	var op *net.OpError
	if errors.Is(err, redis.ErrPoolTimeout) || (errors.As(err, &op) && op.Op == "dial") {
		return stageGet
	}
	return stageIO
}

// goredisStats is a poolSource over a go-redis client's PoolStats.
func goredisStats(rdb *redis.Client) poolSource {
	return func() (int, int, int) {
		st := rdb.PoolStats()
		return int(st.TotalConns), int(st.IdleConns), int(st.PendingRequests)
	}
}
