// This file is shardpool's driver for go-redis's own connection pools. It is
// not built in this repository (Go skips testdata directories):
// scripts/bench.sh downloads github.com/go-redis/redis/v8 and
// github.com/redis/go-redis/v9 with the Go toolchain, copies each module to
// a temporary directory, removes the tests of its internal/pool package, and
// drops this file there together with the version's own options file
// (v8_test.go or v9_test.go). Being in package pool, the driver reaches the
// pool that no other module may import; a go.work beside the copy adds the
// bench module, whose scenarios it runs.
//
// The benchmarks below call the bench module's scenario functions with one
// contender, go-redis-v8 or go-redis-v9, so their names, sizes, loops and
// flags are those of every other pool in the report. No go-redis code lives
// in this repository, only this driver and the script that places it.
package pool

import (
	"context"
	"testing"

	"github.com/shardpool/shardpool/bench"
)

// driverPool adapts go-redis's *ConnPool to bench.Pool.
type driverPool struct{ p *ConnPool }

func (a driverPool) Get(ctx context.Context) (bench.Handle, error) {
	cn, err := a.p.Get(ctx)
	if err != nil {
		return bench.Handle{}, err
	}
	if err := prepare(a.p, cn); err != nil {
		a.p.Remove(ctx, cn, err)
		return bench.Handle{}, err
	}
	return bench.Handle{Conn: netConnOf(cn), Ref: cn}, nil
}

func (a driverPool) Put(h bench.Handle) { a.p.Put(context.Background(), h.Ref.(*Conn)) }

func (a driverPool) Remove(h bench.Handle) {
	a.p.Remove(context.Background(), h.Ref.(*Conn), nil)
}

func (a driverPool) Close() { _ = a.p.Close() }

// contenders is the one pool this driver runs: a peer, bounded.
func contenders() []bench.Contender {
	return []bench.Contender{{
		Name:    driverName,
		Peer:    true,
		Bounded: true,
		New: func(cfg bench.Config) bench.Pool {
			dp := driverPool{newDriverPool(cfg)}
			if countsWaits {
				return countingPool{dp}
			}
			return dp
		},
	}}
}

// countingPool is driverPool for a version whose pool counts the Gets that
// waited (v9's Stats.WaitCount), so that the exhaustion scenario reports
// its queued-% (bench.Queuer).
type countingPool struct{ driverPool }

func (a countingPool) Queued() uint64 { return waitCount(a.p) }

// BenchmarkHotPathGetPut runs the hot-path scenario on go-redis's pool.
func BenchmarkHotPathGetPut(b *testing.B) { bench.HotPathGetPut(b, contenders()) }

// BenchmarkExhaustionWait runs the exhaustion scenario on go-redis's pool.
func BenchmarkExhaustionWait(b *testing.B) { bench.ExhaustionWait(b, contenders()) }

// BenchmarkChurnGetRemove runs the churn scenario on go-redis's pool.
func BenchmarkChurnGetRemove(b *testing.B) { bench.ChurnGetRemove(b, contenders()) }

// TestDriver checks the adapter before any benchmark trusts it, with the
// bench module's CheckAdapter, as every other pool's is checked.
func TestDriver(t *testing.T) { bench.CheckAdapter(t, contenders()[0]) }
