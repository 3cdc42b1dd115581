package shardpool_test

// Concurrency tests: many goroutines on every call at once, with the
// invariants a user relies on checked throughout. Run them with -race.

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
)

// invariantChecker is implemented by pools that can check their own
// structures (ConnPool, in tests).
type invariantChecker interface{ CheckInvariants() error }

// A lost wake-up leaves a Get waiting although a connection is idle. With a
// long PoolTimeout it shows up as a timeout: once every goroutine waits,
// nobody is left to Put. Many goroutines keep the queue long; a few more
// than PoolSize keep it often empty, which is when the race between a Put
// that sees no waiter and a Get about to queue can strike.
func TestNoLostWakeups(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for _, tc := range []struct{ size, goroutines, rounds int }{
			{1, 64, 300}, {4, 64, 300}, {1, 2, 20000}, {1, 3, 10000}, {4, 6, 10000},
		} {
			t.Run(fmt.Sprintf("size=%d/goroutines=%d", tc.size, tc.goroutines), func(t *testing.T) {
				e := newEnv(t, mk, shardpool.Options{PoolSize: tc.size, PoolTimeout: 10 * time.Second})
				var wg sync.WaitGroup
				for g := 0; g < tc.goroutines; g++ {
					wg.Add(1)
					go func(g int) {
						defer wg.Done()
						for i := 0; i < tc.rounds; i++ {
							cn, err := e.p.Get(context.Background())
							if err != nil {
								t.Errorf("goroutine %d, Get %d: %v", g, i, err)
								return
							}
							if i%7 == 0 {
								e.p.Remove(cn, nil) // frees a place, not a connection
							} else {
								e.p.Put(cn)
							}
						}
					}(g)
				}
				wg.Wait()
				assert.Zero(t, e.p.Stats().Timeouts, "Gets timed out: a wake-up was lost")
				assert.LessOrEqual(t, e.p.Len(), tc.size)
			})
		}
	})
}

// TestConcurrentUseKeepsInvariants runs every call from many goroutines and
// checks, as it goes: never more than PoolSize checked out or held, no
// connection held by two callers, the pool's own structures consistent; and
// at the end, every dialed connection closed exactly once.
func TestConcurrentUseKeepsInvariants(t *testing.T) {
	for _, k := range kinds {
		for _, closeMidway := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/closeMidway=%v", k.name, closeMidway), func(t *testing.T) {
				stress(t, k.make, closeMidway)
			})
		}
	}
}

func stress(t *testing.T, mk func(*shardpool.Options) pool, closeMidway bool) {
	const size, goroutines, ops = 8, 48, 400
	e := newEnv(t, mk, shardpool.Options{
		PoolSize: size, MinIdleConns: 2, PoolTimeout: 5 * time.Second,
		IdleTimeout: 2 * time.Millisecond, IdleCheckFrequency: time.Millisecond,
	})
	e.misuse = make(chan error, goroutines*ops) // none expected, but never block

	// A hold is one checkout of a connection. counted is set while it
	// counts in out; whoever clears it (the holder on Put or Remove, or
	// Filter's fn when it selects the connection, which the pool then
	// closes, freeing its place) takes it out of out, once.
	type hold struct {
		g       int
		counted atomic.Bool
	}
	var (
		holders  sync.Map     // *Conn → *hold
		out      atomic.Int32 // pooled connections checked out and open
		unpooled atomic.Int32 // NewConn connections held
	)
	check := func() {
		if n := out.Load(); n > size {
			t.Errorf("%d connections checked out, PoolSize %d", n, size)
		}
		if n := e.p.Len(); n > size+int(unpooled.Load())+goroutines {
			t.Errorf("Len %d beyond PoolSize %d", n, size)
		}
		if c, ok := e.p.(invariantChecker); ok {
			if err := c.CheckInvariants(); err != nil {
				t.Error(err)
			}
		}
	}
	stopMonitor := everyUntilStopped(200*time.Microsecond, check)

	take := func(g int, cn *shardpool.Conn, pooled bool) bool {
		h := &hold{g: g}
		h.counted.Store(pooled)
		if other, loaded := holders.LoadOrStore(cn, h); loaded {
			t.Errorf("connection handed to goroutines %d and %d", other.(*hold).g, g)
			return false
		}
		if pooled {
			out.Add(1)
		}
		return true
	}
	give := func(cn *shardpool.Conn) {
		h, _ := holders.LoadAndDelete(cn)
		if h.(*hold).counted.Swap(false) {
			out.Add(-1)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			for i := 0; i < ops; i++ {
				if closeMidway && g == 0 && i == ops/4 {
					assert.NoError(t, e.p.Close())
				}
				switch r := rng.Intn(100); {
				case r < 75:
					cn, err := e.p.Get(context.Background())
					if err != nil {
						assert.ErrorIs(t, err, shardpool.ErrClosed)
						continue
					}
					if !take(g, cn, true) {
						return
					}
					if rng.Intn(4) == 0 {
						time.Sleep(time.Duration(rng.Intn(50)) * time.Microsecond)
					}
					give(cn)
					if r < 70 {
						e.p.Put(cn)
					} else {
						e.p.Remove(cn, errors.New("bad"))
					}
				case r < 85:
					cn, err := e.p.NewConn(context.Background())
					if err != nil {
						assert.ErrorIs(t, err, shardpool.ErrClosed)
						continue
					}
					unpooled.Add(1)
					if !take(g, cn, false) {
						return
					}
					give(cn)
					unpooled.Add(-1)
					if r < 80 {
						e.p.Put(cn)
					} else {
						_ = e.p.CloseConn(cn)
					}
				case r < 92:
					_, _ = e.p.ReapStaleConns()
				default:
					id := rng.Int63n(int64(size))
					_ = e.p.Filter(func(cn *shardpool.Conn) bool {
						if cn.NetConn().(*fakeConn).id%int64(size) != id {
							return false
						}
						if h, ok := holders.Load(cn); ok && h.(*hold).counted.Swap(false) {
							out.Add(-1)
						}
						return true
					})
				}
			}
		}(g)
	}
	wg.Wait()
	stopMonitor()
	check()
	assert.Zero(t, e.p.Stats().Timeouts)
	require.Empty(t, e.misuse, "Put/Remove refused a connection the caller held")

	err := e.p.Close()
	if closeMidway {
		assert.ErrorIs(t, err, shardpool.ErrClosed)
	} else {
		assert.NoError(t, err)
	}
	require.Eventually(t, func() bool { return e.d.open() == 0 }, 5*time.Second, time.Millisecond,
		"%d connections left open after Close", e.d.open())
	e.lens(0, 0)
	check()
	assert.Empty(t, e.d.doubleClosed())
	assert.Greater(t, e.d.dials.Load(), int64(size), "the test should churn connections")
	t.Logf("dials %d, stats %+v", e.d.dials.Load(), *e.p.Stats())
}

// everyUntilStopped calls f every interval on its own goroutine until the
// returned stop is called; stop waits for that goroutine.
func everyUntilStopped(interval time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(interval):
				f()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
