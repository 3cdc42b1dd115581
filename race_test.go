package shardpool_test

// Concurrency tests: many goroutines on every call at once, with the
// invariants a user relies on checked throughout. Run them with -race, and
// without: the race detector's scheduling hides some interleavings.

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
)

// A lost wake-up leaves a Get waiting although a connection is idle. With a
// long PoolTimeout it shows up as a timeout: once every goroutine waits,
// nobody is left to Put. Many goroutines keep the queue long; a few more
// than PoolSize keep it often empty, which is when the race between a Put
// that sees no waiter and a Get about to queue can strike. Each case runs
// at the machine's GOMAXPROCS and at 8: more Ps than cores preempt
// goroutines at more points, which is how a Put that parks while a serve
// round is ending (and must ask for another) gets caught.
func TestNoLostWakeups(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for _, tc := range []struct{ procs, size, goroutines, rounds, maxDials int }{
			{0, 1, 64, 300, 0}, {0, 4, 64, 300, 0}, {0, 1, 2, 20000, 0}, {0, 1, 3, 10000, 0}, {0, 4, 6, 10000, 0},
			{8, 1, 64, 300, 0}, {8, 4, 64, 300, 0}, {8, 1, 3, 10000, 0}, {8, 4, 6, 10000, 0},
			// Gets that wait for a dial slot (shardpool only).
			{0, 4, 64, 300, 1}, {8, 4, 64, 300, 1}, {8, 4, 6, 10000, 2},
		} {
			name := fmt.Sprintf("size=%d/goroutines=%d", tc.size, tc.goroutines)
			if tc.procs != 0 {
				name += fmt.Sprintf("/procs=%d", tc.procs)
			}
			if tc.maxDials != 0 {
				name += fmt.Sprintf("/maxDials=%d", tc.maxDials)
			}
			t.Run(name, func(t *testing.T) {
				if tc.procs != 0 {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
				}
				e := newEnv(t, mk, shardpool.Options{PoolSize: tc.size, PoolTimeout: 10 * time.Second, MaxConcurrentDials: tc.maxDials})
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
// checks, as it goes: the PoolSize bound (see stress for what each pool
// bounds); no connection held by two callers at once; Len bounded; the
// pool's own structures consistent; and at the end, every dialed
// connection closed exactly once.
func TestConcurrentUseKeepsInvariants(t *testing.T) {
	for _, k := range kinds {
		for _, closeMidway := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/closeMidway=%v", k.name, closeMidway), func(t *testing.T) {
				stress(t, k.make, closeMidway, stressPlain)
			})
		}
	}
	// shardpool's own features on top: a dial bound, health checks that
	// fail (or panic) for some connections, and jittered MaxConnAge. The
	// same invariants must hold.
	for _, closeMidway := range []bool{false, true} {
		t.Run(fmt.Sprintf("shardpool/features/closeMidway=%v", closeMidway), func(t *testing.T) {
			stress(t, kinds[0].make, closeMidway, stressFeatures)
		})
	}
	// Capacity control on top: SetPoolSize called concurrently, between 4
	// and 12, with MaxIdleConns, MaxWaiters and leak detection on, and
	// Shutdown instead of Close midway.
	for _, closeMidway := range []bool{false, true} {
		t.Run(fmt.Sprintf("shardpool/capacity/closeMidway=%v", closeMidway), func(t *testing.T) {
			stress(t, kinds[0].make, closeMidway, stressCapacity)
		})
	}
}

// What stress turns on beyond the contract.
type stressMode int

const (
	stressPlain    stressMode = iota
	stressFeatures            // dial bound, health checks, jittered age
	stressCapacity            // resize, idle cap, waiter cap, leak detection, Shutdown
)

// stressConn is a fakeConn that records when a Close has returned, that
// is, when the dialer counts the connection closed.
type stressConn struct {
	*fakeConn
	closeReturned atomic.Bool
}

func (c *stressConn) Close() error {
	err := c.fakeConn.Close()
	c.closeReturned.Store(true)
	return err
}

func stress(t *testing.T, mk func(*shardpool.Options) pool, closeMidway bool, mode stressMode) {
	const size, goroutines, ops = 8, 48, 400
	// bound is the most pooled connections open at once: PoolSize, or the
	// largest size SetPoolSize sets.
	bound := int64(size)
	// What PoolSize bounds, and so what is checked, differs.
	//
	// ConnPool bounds open pooled connections: it frees a place only after
	// closing its connection, also one that Filter or CloseConn closes
	// under its holder, whose place is then free at once. The bound is
	// counted where it holds, at the dialer: dialed minus closed. A count
	// of connections callers hold cannot serve: Filter may close a held
	// connection, and a new one be dialed into its place, before or after
	// its holder records it, and no bookkeeping around the pool's calls
	// can order itself against that.
	//
	// The baseline, like go-redis v8, bounds checked-out connections: a Get
	// holds a turn from before it returns until its Put or Remove, even if
	// Filter closed its connection meanwhile, so counting the connections
	// callers hold between Get and Put is exact. Its open connections can
	// exceed PoolSize (MinIdleConns dials take no turn, and a Get that
	// dials into a full pool keeps its connection, unpooled, until Put).
	d := &fakeDialer{}
	opt := shardpool.Options{
		PoolSize: size, MinIdleConns: 2, PoolTimeout: 5 * time.Second,
		IdleTimeout: 2 * time.Millisecond, IdleCheckFrequency: time.Millisecond,
		Dialer: func(ctx context.Context) (net.Conn, error) {
			c, err := d.Dial(ctx)
			if err != nil {
				return nil, err
			}
			return &stressConn{fakeConn: c.(*fakeConn)}, nil
		},
	}
	var leaks atomic.Int32
	if mode == stressCapacity {
		bound = 12
		opt.MaxIdleConns = 3
		opt.MaxWaiters = 40
		opt.LeakThreshold = time.Millisecond
		opt.OnLeak = func(shardpool.Leak) { leaks.Add(1) }
	}
	if mode == stressFeatures {
		opt.MaxConcurrentDials = 2
		opt.MaxConnAge, opt.MaxConnAgeJitter = 3*time.Millisecond, 2*time.Millisecond
		opt.HealthCheckIdle = time.Nanosecond // every connection parked before the last tick
		opt.HealthCheck = func(cn *shardpool.Conn) error {
			switch id := cn.NetConn().(*stressConn).id; {
			case id%7 == 0:
				panic("health check panicked")
			case id%3 == 0:
				return errors.New("unhealthy")
			}
			return nil
		}
	}
	e := newEnv(t, mk, opt)
	e.d = d                                     // for newEnv's checks at cleanup
	e.misuse = make(chan error, goroutines*ops) // none expected, but never block
	sp, boundsOpen := e.p.(*shardpool.ConnPool)
	if mode == stressCapacity {
		sp.SetResized() // CheckInvariants: surplus may be checked out
	}

	var (
		holders sync.Map // *Conn → goroutine holding it
		// unpooled bounds from above the NewConn connections open at the
		// dialer: a goroutine adds 1 before it calls NewConn and takes it
		// off only once the connection's Close has returned, whoever
		// closed it (its Put or CloseConn, or Filter or Close meanwhile).
		unpooled atomic.Int64
		// gotten counts connections from Get between their holder's take
		// and give, so within the turn its Get took (baseline only).
		gotten atomic.Int32
	)
	check := func() {
		if boundsOpen {
			// Read dials, then unpooled, then closed. A NewConn connection
			// counted open here (dialed before the first load, closed
			// after the last) is counted in unpooled throughout, so what
			// is left is pooled connections open all at once: never an
			// overcount.
			dialed := d.dials.Load()
			u := unpooled.Load()
			closed := d.closed.Load()
			if n := dialed - closed - u; n > bound {
				t.Errorf("%d pooled connections open at the dialer, PoolSize %d (dialed %d, closed %d, NewConn's at most %d)",
					n, bound, dialed, closed, u)
			}
		} else if n := gotten.Load(); n > size {
			t.Errorf("%d connections checked out, PoolSize %d", n, size)
		}
		if n := e.p.Len(); n > int(bound)+int(unpooled.Load())+goroutines {
			t.Errorf("Len %d beyond PoolSize %d", n, bound)
		}
		if c, ok := e.p.(invariantChecker); ok {
			if err := c.CheckInvariants(); err != nil {
				t.Error(err)
			}
		}
	}
	stopMonitor := everyUntilStopped(200*time.Microsecond, check)

	// take records that g holds cn, failing if another goroutine does;
	// give forgets it, before cn goes back to the pool.
	take := func(g int, cn *shardpool.Conn) bool {
		if other, loaded := holders.LoadOrStore(cn, g); loaded {
			t.Errorf("connection handed to goroutines %d and %d", other.(int), g)
			return false
		}
		return true
	}
	give := func(cn *shardpool.Conn) { holders.Delete(cn) }

	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			for i := 0; i < ops; i++ {
				if closeMidway && g == 0 && i == ops/4 {
					if mode == stressCapacity {
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						assert.NoError(t, sp.Shutdown(ctx))
						cancel()
					} else {
						assert.NoError(t, e.p.Close())
					}
				}
				switch r := rng.Intn(100); {
				case r < 75:
					cn, err := e.p.Get(context.Background())
					if err != nil {
						if mode != stressCapacity || !errors.Is(err, shardpool.ErrPoolExhausted) {
							assert.ErrorIs(t, err, shardpool.ErrClosed)
						}
						continue
					}
					if !take(g, cn) {
						return
					}
					gotten.Add(1)
					if rng.Intn(4) == 0 {
						time.Sleep(time.Duration(rng.Intn(50)) * time.Microsecond)
					}
					gotten.Add(-1)
					give(cn)
					if r < 70 {
						e.p.Put(cn)
					} else {
						e.p.Remove(cn, errors.New("bad"))
					}
				case r < 85:
					unpooled.Add(1) // before the dial can happen
					cn, err := e.p.NewConn(context.Background())
					if err != nil {
						// A connection dialed for the failed call was
						// closed before it returned.
						unpooled.Add(-1)
						assert.ErrorIs(t, err, shardpool.ErrClosed)
						continue
					}
					if !take(g, cn) {
						return // leaves unpooled high: an undercount
					}
					sc := cn.NetConn().(*stressConn)
					give(cn)
					if r < 80 {
						e.p.Put(cn)
					} else {
						_ = e.p.CloseConn(cn)
					}
					// Put or CloseConn returns at once if Filter or Close
					// claimed cn first; they close it, shortly.
					if !waitClosed(sc) {
						t.Errorf("goroutine %d: NewConn connection still open 5 s after Put or CloseConn", g)
						return // leaves unpooled high: an undercount
					}
					unpooled.Add(-1)
				case r < 92 && mode == stressCapacity && r%3 == 0:
					if err := sp.SetPoolSize(4 + rng.Intn(int(bound)-3)); err != nil {
						assert.ErrorIs(t, err, shardpool.ErrClosed)
					}
				case r < 92:
					_, _ = e.p.ReapStaleConns()
				default:
					id := rng.Int63n(int64(size))
					_ = e.p.Filter(func(cn *shardpool.Conn) bool {
						return cn.NetConn().(*stressConn).id%int64(size) == id
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
	if q, ok := e.p.(interface{ CheckQuiet() error }); ok && !closeMidway {
		// Once the background dials have ended, every place belongs to
		// a connection, and no dial slot is taken: none leaked.
		var err error
		assert.Eventually(t, func() bool { err = q.CheckQuiet(); return err == nil }, 5*time.Second, time.Millisecond, "%v", &err)
	}

	err := e.p.Close()
	if closeMidway {
		assert.ErrorIs(t, err, shardpool.ErrClosed)
	} else {
		assert.NoError(t, err)
	}
	require.Eventually(t, func() bool { return d.open() == 0 }, 5*time.Second, time.Millisecond,
		"%d connections left open after Close", d.open())
	assert.Zero(t, unpooled.Load(), "NewConn connections not accounted as closed")
	e.lens(0, 0)
	check()
	assert.Empty(t, d.doubleClosed())
	assert.Greater(t, d.dials.Load(), int64(size), "the test should churn connections")
	t.Logf("dials %d, stats %+v, leaks reported %d", d.dials.Load(), *e.p.Stats(), leaks.Load())
}

// waitClosed waits up to 5 s for c's Close to have returned.
func waitClosed(c *stressConn) bool {
	for deadline := time.Now().Add(5 * time.Second); !c.closeReturned.Load(); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Microsecond)
	}
	return true
}
