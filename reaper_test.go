package shardpool

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReaperSweepsEveryShard parks connections in every shard, ages some,
// and checks that one sweep closes exactly those, whichever shard they sit
// in and wherever in the shard's list.
func TestReaperSweepsEveryShard(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"IdleTimeout/LIFO", Options{IdleTimeout: time.Minute}},
		{"IdleTimeout/FIFO", Options{IdleTimeout: time.Minute, PoolFIFO: true}},
		{"MaxConnAge/LIFO", Options{MaxConnAge: time.Minute}},
		{"MaxConnAge/FIFO", Options{MaxConnAge: time.Minute, PoolFIFO: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			closed := map[*Conn]int{}
			opt := tc.opt
			opt.PoolSize = 64
			opt.Dialer = func(context.Context) (net.Conn, error) { c, _ := net.Pipe(); return c, nil }
			opt.OnClose = func(cn *Conn) error { mu.Lock(); closed[cn]++; mu.Unlock(); return nil }
			p := NewConnPool(&opt)
			defer p.Close()
			require.Len(t, p.shards, 4)
			p.clock.manual.Store(true)

			// Each shard gets, in parking order: 3 old, 2 fresh, 3 old.
			// Under IdleTimeout the old ones are the first parked, so in
			// each shard old conns must all be parked before fresh ones.
			var cns []*Conn
			for i := 0; i < 32; i++ {
				cn, err := p.Get(context.Background())
				require.NoError(t, err)
				cns = append(cns, cn)
			}
			stale := map[*Conn]bool{}
			park := func(cn *Conn, s int) {
				cn.home.Store(&p.shards[s])
				p.Put(cn)
			}
			if opt.MaxConnAge > 0 {
				// Born now: old. Then dial the fresh ones later.
				for i := 0; i < 24; i++ {
					stale[cns[i]] = true
				}
				for _, cn := range cns[24:] {
					p.Remove(cn, nil)
				}
				p.clock.advance(40 * time.Second)
				for i := 24; i < 32; i++ {
					cn, err := p.Get(context.Background())
					require.NoError(t, err)
					cns[i] = cn
				}
				// Interleave: old, fresh, old in every shard's list.
				for s := 0; s < 4; s++ {
					for _, cn := range cns[s*3 : s*3+3] {
						park(cn, s)
					}
					park(cns[24+2*s], s)
					park(cns[25+2*s], s)
					for _, cn := range cns[12+s*3 : 12+s*3+3] {
						park(cn, s)
					}
				}
			} else {
				for i, cn := range cns[:24] {
					stale[cn] = true
					park(cn, i%4)
				}
				p.clock.advance(40 * time.Second)
				for i, cn := range cns[24:] {
					park(cn, i%4)
				}
			}
			p.clock.advance(30 * time.Second)
			require.NoError(t, p.CheckInvariants())

			n, err := p.ReapStaleConns()
			require.NoError(t, err)
			assert.Equal(t, 24, n)
			require.NoError(t, p.CheckInvariants())
			mu.Lock()
			for _, cn := range cns {
				want := 0
				if stale[cn] {
					want = 1
				}
				assert.Equal(t, want, closed[cn], "OnClose calls")
			}
			mu.Unlock()
			for s := range p.shards {
				assert.Equal(t, 2, p.shards[s].n, "shard %d keeps its fresh connections", s)
			}
			assert.Equal(t, 8, p.IdleLen())
			assert.Equal(t, 8, p.Len())
		})
	}
}
