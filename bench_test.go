package shardpool_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/baseline"
)

// contenders are the pools the benchmarks compare, by name.
var contenders = []struct {
	name string
	make func(*shardpool.Options) shardpool.Pooler
}{
	{"shardpool", func(o *shardpool.Options) shardpool.Pooler { return shardpool.NewConnPool(o) }},
	{"baseline", func(o *shardpool.Options) shardpool.Pooler { return baseline.NewConnPool(o) }},
}

// BenchmarkGetPut: what does a Get+Put of an idle connection cost as
// callers and cores grow?
func BenchmarkGetPut(b *testing.B) {
	for _, size := range []int{8, 32, 128} {
		for _, c := range contenders {
			b.Run(fmt.Sprintf("pool=%s/size=%d", c.name, size), func(b *testing.B) {
				d := &fakeDialer{}
				p := c.make(&shardpool.Options{Dialer: d.Dial, PoolSize: size, PoolTimeout: -1})
				defer p.Close()
				getPutParallel(b, p)
			})
		}
		b.Run(fmt.Sprintf("pool=syncpool/size=%d", size), func(b *testing.B) {
			d := &fakeDialer{}
			sp := sync.Pool{New: func() any { c, _ := d.Dial(context.Background()); return shardpool.NewConn(c) }}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					cn := sp.Get().(*shardpool.Conn)
					sp.Put(cn)
				}
			})
		})
	}
}

// BenchmarkGetRemove: does the cost of dropping a connection grow with
// PoolSize?
func BenchmarkGetRemove(b *testing.B) {
	for _, size := range []int{8, 128, 1024} {
		for _, c := range contenders {
			b.Run(fmt.Sprintf("pool=%s/size=%d", c.name, size), func(b *testing.B) {
				d := &fakeDialer{}
				p := c.make(&shardpool.Options{Dialer: d.Dial, PoolSize: size, PoolTimeout: -1})
				defer p.Close()
				ctx := context.Background()
				// Fill the pool so that Remove works among size connections.
				held := make([]*shardpool.Conn, 0, size)
				for i := 0; i < size-1; i++ {
					cn, err := p.Get(ctx)
					if err != nil {
						b.Fatal(err)
					}
					held = append(held, cn)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					cn, err := p.Get(ctx)
					if err != nil {
						b.Fatal(err)
					}
					p.Remove(cn, nil)
				}
				b.StopTimer()
				for _, cn := range held {
					p.Put(cn)
				}
			})
		}
	}
}

// BenchmarkWaitHandOff: what does a Get that must wait cost, hand-off
// included, and does waiting allocate? One connection and eight goroutines
// per P, so nearly every Get waits: waits/op reports the share that did.
func BenchmarkWaitHandOff(b *testing.B) {
	for _, c := range contenders {
		b.Run("pool="+c.name, func(b *testing.B) {
			d := &fakeDialer{}
			p := c.make(&shardpool.Options{Dialer: d.Dial, PoolSize: 1, PoolTimeout: time.Minute})
			defer p.Close()
			b.SetParallelism(8)
			getPutParallel(b, p)
			b.StopTimer()
			b.ReportMetric(float64(p.Stats().WaitCount)/float64(b.N), "waits/op")
		})
	}
}

// BenchmarkGetPutCapacityOptions: what do MaxIdleConns, LeakThreshold and
// an OnConnect that sets Value cost Get+Put of an idle connection, against
// the same pool without them?
// MaxIdleConns is set at PoolSize, so that every Put parks and the figure
// is the cost of the bookkeeping, not of closing connections.
func BenchmarkGetPutCapacityOptions(b *testing.B) {
	const size = 32
	for _, v := range []struct {
		name string
		set  func(*shardpool.Options)
	}{
		{"unset", func(*shardpool.Options) {}},
		{"MaxIdleConns", func(o *shardpool.Options) { o.MaxIdleConns = size }},
		{"LeakThreshold", func(o *shardpool.Options) { o.LeakThreshold = time.Minute }},
		{"OnConnect", func(o *shardpool.Options) {
			o.OnConnect = func(_ context.Context, cn *shardpool.Conn) error {
				cn.Value = &struct{ buf [64]byte }{} // per-connection state, as a client keeps
				return nil
			}
		}},
	} {
		b.Run("options="+v.name, func(b *testing.B) {
			d := &fakeDialer{}
			opt := &shardpool.Options{Dialer: d.Dial, PoolSize: size, PoolTimeout: -1}
			v.set(opt)
			p := shardpool.NewConnPool(opt)
			defer p.Close()
			getPutParallel(b, p)
		})
	}
}

// getPutParallel measures Get+Put of p from RunParallel's goroutines.
func getPutParallel(b *testing.B, p shardpool.Pooler) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cn, err := p.Get(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			p.Put(cn)
		}
	})
}
