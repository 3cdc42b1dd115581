package shardpool_test

// Dialing: Close that does not wait for dials, DialTimeout, MaxConnAgeJitter
// and MaxConcurrentDials. The breaker's probe is in breaker_test.go, and
// MinIdleConns in minidle_test.go.

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

// Close returns promptly while background dials hang in a Dialer that
// ignores its context; the connections those dials make afterwards are
// closed at once, and nothing leaks.
func TestCloseDoesNotWaitForHungDials(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for _, what := range []string{"MinIdleConns", "probe"} {
			t.Run(what, func(t *testing.T) {
				d := &fakeDialer{}
				var entered atomic.Int32
				open := make(chan struct{})
				opt := &shardpool.Options{PoolSize: 2, Dialer: gatedDialer(d, &entered, open)}
				wantEntered := int32(2)
				if what == "MinIdleConns" {
					opt.MinIdleConns = 2
				} else {
					// Two failed dials trip the breaker; its probe hangs.
					var fails atomic.Int32
					gated := opt.Dialer
					opt.Dialer = func(ctx context.Context) (net.Conn, error) {
						if fails.Add(1) <= 2 {
							return nil, errDial
						}
						return gated(ctx)
					}
					wantEntered = 1
				}
				p := mk(opt)
				if what == "probe" {
					for i := 0; i < 2; i++ {
						_, err := p.Get(context.Background())
						require.ErrorIs(t, err, errDial)
					}
				}
				require.Eventually(t, func() bool { return entered.Load() == wantEntered }, 5*time.Second, time.Millisecond)

				within(t, time.Second, "Close with dials hanging in a Dialer that ignores ctx", func() {
					require.NoError(t, p.Close())
				})
				close(open)
				testhook.WaitDials(p)
				assert.EqualValues(t, wantEntered, d.dials.Load())
				closedExactlyOnce(t, d)
				assert.Zero(t, p.Len())
			})
		}
	})
}

// closeErrConn is a fakeConn whose Close fails with an error of its own.
type closeErrConn struct {
	*fakeConn
	err error
}

func (c closeErrConn) Close() error { _ = c.fakeConn.Close(); return c.err }

// Close reports the errors of closing healthy connections only: not those
// of connections idle past IdleTimeout or older than MaxConnAge, whose
// close fails routinely. (shardpool only: the baseline reports every error,
// as go-redis v8 does.)
func TestCloseReportsOnlyHealthyConnectionsErrors(t *testing.T) {
	d := &fakeDialer{}
	errs := map[int64]error{}
	var mu sync.Mutex
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 4, IdleTimeout: time.Minute, MaxConnAge: time.Hour,
		Dialer: func(ctx context.Context) (net.Conn, error) {
			c, err := d.Dial(ctx)
			if err != nil {
				return nil, err
			}
			fc := c.(*fakeConn)
			mu.Lock()
			defer mu.Unlock()
			errs[fc.id] = fmt.Errorf("closing connection %d", fc.id)
			return closeErrConn{fc, errs[fc.id]}, nil
		},
	})
	advance := testhook.ManualClock(p)
	get := func() *shardpool.Conn {
		cn, err := p.Get(context.Background())
		require.NoError(t, err)
		return cn
	}
	errOf := func(cn *shardpool.Conn) error { return cn.NetConn().(closeErrConn).err }

	old := get() // checked out past MaxConnAge: stale
	advance(time.Hour)
	idleLong, idleShort, busy := get(), get(), get()
	p.Put(idleLong)
	advance(2 * time.Minute) // idleLong is idle past IdleTimeout: stale
	p.Put(idleShort)         // idle for no time: healthy

	err := p.Close()
	require.Error(t, err)
	assert.NotErrorIs(t, err, errOf(old), "a checked-out connection past MaxConnAge")
	assert.NotErrorIs(t, err, errOf(idleLong), "an idle connection past IdleTimeout")
	assert.ErrorIs(t, err, errOf(idleShort), "a healthy idle connection")
	assert.ErrorIs(t, err, errOf(busy), "a healthy checked-out connection")
	closedExactlyOnce(t, d)
}

// DialTimeout reaches the Dialer as its context's deadline: for Get's and
// NewConn's dials unless it is negative, and for background dials always
// (DefaultDialTimeout when it is negative or 0).
func TestDialTimeoutBoundsEachDial(t *testing.T) {
	for _, tc := range []struct {
		opt        time.Duration
		caller, bg time.Duration // the bound each kind of dial sees; 0: none
	}{
		{0, shardpool.DefaultDialTimeout, shardpool.DefaultDialTimeout},
		{-1, 0, shardpool.DefaultDialTimeout},
		{2 * time.Second, 2 * time.Second, 2 * time.Second},
	} {
		t.Run(fmt.Sprint("DialTimeout=", tc.opt), func(t *testing.T) {
			d := &fakeDialer{}
			var mu sync.Mutex
			var bounds []time.Duration // in dial order; 0: no deadline
			p := shardpool.NewConnPool(&shardpool.Options{
				PoolSize: 4, MinIdleConns: 1, DialTimeout: tc.opt,
				Dialer: func(ctx context.Context) (net.Conn, error) {
					var b time.Duration
					if dl, ok := ctx.Deadline(); ok {
						b = time.Until(dl)
					}
					mu.Lock()
					bounds = append(bounds, b)
					mu.Unlock()
					return d.Dial(ctx)
				},
			})
			defer func() { require.NoError(t, p.Close()) }()
			require.Eventually(t, func() bool { return p.IdleLen() == 1 }, 5*time.Second, time.Millisecond)
			a, err := p.Get(context.Background()) // the idle one
			require.NoError(t, err)
			b, err := p.Get(context.Background()) // dials
			require.NoError(t, err)
			c, err := p.NewConn(context.Background())
			require.NoError(t, err)
			p.Put(a)
			p.Put(b)
			p.Put(c)

			mu.Lock()
			defer mu.Unlock()
			// The MinIdleConns dial comes first; Get's may race with the
			// top-up that Get's taking the idle one started.
			require.GreaterOrEqual(t, len(bounds), 3)
			near := func(got, want time.Duration, what string) {
				t.Helper()
				if want == 0 {
					assert.Zero(t, got, "%s: no deadline", what)
					return
				}
				assert.InDelta(t, want, got, float64(time.Second), "%s: deadline", what)
			}
			near(bounds[0], tc.bg, "MinIdleConns dial")
			if tc.caller == 0 {
				// Get b dials unless the top-up that Get a started has
				// parked first and b takes its connection: Misses
				// counts the Gets that dialed, and NewConn always does.
				unbounded := 0
				for _, got := range bounds[1:] {
					if got == 0 {
						unbounded++
					} else {
						near(got, tc.bg, "background dial")
					}
				}
				callers := int(p.Stats().Misses) + 1
				assert.Equal(t, callers, unbounded, "Get's and NewConn's dials without a deadline: %v", bounds)
			} else {
				for _, got := range bounds[1:] {
					near(got, tc.caller, "dial")
				}
			}
		})
	}
}

// A Get whose dial outlasts DialTimeout fails with context.DeadlineExceeded,
// and the failure counts toward the breaker: a server that does not answer
// is a dial error, a caller that gave up is not. The Gets' contexts carry a
// value the Dialer looks for, to tell their dials from the probe's, which
// a Get that fails fast may hasten.
func TestDialTimeoutFailsGetAndCounts(t *testing.T) {
	type getKey struct{}
	d := &fakeDialer{}
	d.block.Store(true) // dials wait for their context
	var calls, getCalls atomic.Int32
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 2, DialTimeout: 20 * time.Millisecond,
		Dialer: func(ctx context.Context) (net.Conn, error) {
			calls.Add(1)
			if ctx.Value(getKey{}) != nil {
				getCalls.Add(1)
			}
			return d.Dial(ctx)
		},
	})
	defer func() { require.NoError(t, p.Close()) }()
	ctx := context.WithValue(context.Background(), getKey{}, true)
	for i := 0; i < 2; i++ {
		_, err := p.Get(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	// PoolSize dial errors in a row: the breaker is open, and Get fails
	// with the last one without calling the Dialer (only the probe does).
	require.Eventually(t, func() bool { return calls.Load() >= 3 }, 5*time.Second, time.Millisecond, "the probe dials")
	_, err := p.Get(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 2, getCalls.Load(), "Get called the Dialer with the breaker open")
}

// MaxConnAgeJitter spreads each connection's age limit over MaxConnAge ±
// the jitter, capped at MaxConnAge: connections dialed together do not all
// expire together, and none outlives MaxConnAge + jitter.
func TestMaxConnAgeJitterSpreadsExpiry(t *testing.T) {
	for _, tc := range []struct {
		name           string
		age, jitter    time.Duration
		first, last    time.Duration // no connection is stale before first; all are at last
		spreadAtMiddle bool
	}{
		{"jitter=half", 100 * time.Second, 50 * time.Second, 50 * time.Second, 150 * time.Second, true},
		{"jitter=above-age", 10 * time.Second, time.Hour, 0, 20 * time.Second, true},
		{"jitter=negative", 100 * time.Second, -time.Second, 100 * time.Second, 100 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 64
			d := &fakeDialer{}
			p := shardpool.NewConnPool(&shardpool.Options{
				PoolSize: n, MaxConnAge: tc.age, MaxConnAgeJitter: tc.jitter, Dialer: d.Dial,
				IdleCheckFrequency: -1, // the test counts its own sweeps
			})
			defer func() { require.NoError(t, p.Close()) }()
			advance := testhook.ManualClock(p)
			conns := make([]*shardpool.Conn, n)
			for i := range conns {
				var err error
				conns[i], err = p.Get(context.Background())
				require.NoError(t, err)
			}
			for _, cn := range conns {
				p.Put(cn)
			}
			var at time.Duration // since the dials, on the pool's clock
			reapAt := func(to time.Duration) int {
				advance(to - at)
				at = to
				k, err := p.ReapStaleConns()
				require.NoError(t, err)
				return k
			}
			if tc.first > 0 {
				assert.Zero(t, reapAt(tc.first-time.Millisecond), "stale before MaxConnAge - jitter")
			}
			if tc.spreadAtMiddle {
				// Binomial(64, 1/2) is 32 ± 4; outside 10..54 is > 5 sd.
				k := reapAt(tc.age)
				assert.True(t, k >= 10 && k <= 54, "%d of %d stale at MaxConnAge: not spread", k, n)
			}
			reapAt(tc.last)
			assert.Zero(t, p.Len(), "connections outlived MaxConnAge + jitter")
		})
	}
}

// flightDialer dials d's connections, holding each dial until gate is
// closed, and records how many dials were in flight at most.
type flightDialer struct {
	d        fakeDialer
	gate     chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func (f *flightDialer) Dial(ctx context.Context) (net.Conn, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-f.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return f.d.Dial(ctx)
}

// MaxConcurrentDials bounds the dials in flight, Get's and MinIdleConns's
// alike; the Gets beyond it wait, and all are served once dials go through.
func TestMaxConcurrentDialsBoundsDials(t *testing.T) {
	for _, who := range []string{"Get", "MinIdleConns"} {
		t.Run(who, func(t *testing.T) {
			const size, maxDials = 8, 2
			f := &flightDialer{gate: make(chan struct{})}
			opt := &shardpool.Options{PoolSize: size, MaxConcurrentDials: maxDials, PoolTimeout: time.Minute, Dialer: f.Dial}
			if who == "MinIdleConns" {
				opt.MinIdleConns = size
			}
			p := shardpool.NewConnPool(opt)
			defer func() { require.NoError(t, p.Close()) }()

			var wg sync.WaitGroup
			got := make(chan *shardpool.Conn, size)
			if who == "Get" {
				for i := 0; i < size; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						cn, err := p.Get(context.Background())
						if assert.NoError(t, err) {
							got <- cn
						}
					}()
				}
				require.Eventually(t, func() bool { return p.Stats().PendingRequests == size-maxDials }, 5*time.Second, time.Millisecond,
					"Gets beyond the bound wait")
			}
			require.Eventually(t, func() bool { return f.inFlight.Load() == maxDials }, 5*time.Second, time.Millisecond)
			close(f.gate)
			if who == "Get" {
				wg.Wait()
				close(got)
				for cn := range got {
					p.Put(cn)
				}
			}
			require.Eventually(t, func() bool { return p.IdleLen() == size }, 5*time.Second, time.Millisecond)
			assert.EqualValues(t, maxDials, f.maxSeen.Load(), "dials in flight at most")
			assert.EqualValues(t, size, f.d.dials.Load())
			checkInv(t, p)
		})
	}
}

// A Get that waits for a dial slot takes a connection if one comes first,
// and gives up after PoolTimeout with a PoolTimeoutError that shows the
// dial holding the slot.
func TestGetWaitingForDialSlotTakesAConnection(t *testing.T) {
	// slotHeld returns a pool of 4 with one dial slot, a connection checked
	// out, and a second dial hanging in the slot until the test ends.
	slotHeld := func(t *testing.T, poolTimeout time.Duration) (shardpool.Pooler, *shardpool.Conn) {
		d := &fakeDialer{}
		hang := make(chan struct{})
		calls := new(atomic.Int32)
		p := shardpool.NewConnPool(&shardpool.Options{
			PoolSize: 4, MaxConcurrentDials: 1, PoolTimeout: poolTimeout,
			Dialer: func(ctx context.Context) (net.Conn, error) {
				if calls.Add(1) == 2 {
					<-hang // the second dial holds the one slot
				}
				return d.Dial(ctx)
			},
		})
		a, err := p.Get(context.Background())
		require.NoError(t, err)
		dialed := make(chan error, 1)
		go func() {
			cn, err := p.Get(context.Background())
			if err == nil {
				p.Put(cn)
			}
			dialed <- err
		}()
		require.Eventually(t, func() bool { return calls.Load() == 2 }, 5*time.Second, time.Millisecond)
		t.Cleanup(func() {
			close(hang)
			require.NoError(t, <-dialed)
			assert.EqualValues(t, 2, calls.Load(), "dialed beyond the slot")
			checkInv(t, p)
			require.NoError(t, p.Close())
			closedExactlyOnce(t, d)
		})
		return p, a
	}

	t.Run("times out", func(t *testing.T) {
		p, a := slotHeld(t, 50*time.Millisecond)
		defer p.Put(a)
		_, err := p.Get(context.Background())
		var pte *shardpool.PoolTimeoutError
		require.ErrorAs(t, err, &pte)
		assert.Equal(t, 1, pte.Dialing)
		assert.Equal(t, 2, pte.Held)
	})
	t.Run("a connection comes first", func(t *testing.T) {
		p, a := slotHeld(t, time.Minute)
		waited := make(chan *shardpool.Conn, 1)
		go func() {
			cn, err := p.Get(context.Background())
			assert.NoError(t, err)
			waited <- cn
		}()
		require.Eventually(t, func() bool { return p.Stats().PendingRequests == 1 }, 5*time.Second, time.Millisecond)
		p.Put(a)
		assert.Same(t, a, <-waited)
		p.Put(a)
	})
}
