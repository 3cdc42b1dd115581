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
		New:     func(cfg bench.Config) bench.Pool { return driverPool{newDriverPool(cfg)} },
	}}
}

// BenchmarkHotPathGetPut runs the hot-path scenario on go-redis's pool.
func BenchmarkHotPathGetPut(b *testing.B) { bench.HotPathGetPut(b, contenders()) }

// BenchmarkExhaustionWait runs the exhaustion scenario on go-redis's pool.
func BenchmarkExhaustionWait(b *testing.B) { bench.ExhaustionWait(b, contenders()) }

// BenchmarkChurnGetRemove runs the churn scenario on go-redis's pool.
func BenchmarkChurnGetRemove(b *testing.B) { bench.ChurnGetRemove(b, contenders()) }

// TestDriver checks the adapter before any benchmark trusts it: Get dials
// distinct connections, a full pool refuses a Get whose context is done,
// Put makes a connection reusable, and Remove closes it.
func TestDriver(t *testing.T) {
	ctx := context.Background()
	p := contenders()[0].New(bench.Config{Size: 2, Dial: bench.FakeDial})
	defer p.Close()
	a, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Conn == nil || b.Conn == nil || a.Conn == b.Conn {
		t.Fatalf("Get returned %v and %v", a.Conn, b.Conn)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if h, err := p.Get(done); err == nil {
		t.Fatalf("a third Get from a pool of 2 returned %v", h.Conn)
	}
	p.Put(a)
	again, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Conn != a.Conn {
		t.Errorf("Get after Put returned %v, not the idle %v", again.Conn, a.Conn)
	}
	p.Put(again)
	p.Remove(b)
	if !b.Conn.(*bench.FakeConn).Closed() {
		t.Error("Remove did not close the connection")
	}
}
