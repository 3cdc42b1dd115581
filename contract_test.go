package shardpool_test

// The contract suite: every test runs against the sharded ConnPool and the
// baseline, which must keep the same promises.

import (
	"context"
	"errors"
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

// 1. PoolSize bounds checked-out connections; a Get beyond waits up to
// PoolTimeout, honours ctx, and counts Timeouts.
func TestGetBeyondPoolSizeTimesOut(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 2, PoolTimeout: 30 * time.Millisecond})
		a, b := e.get(), e.get()

		start := time.Now()
		_, err := e.p.Get(context.Background())
		require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
		assert.EqualValues(t, 1, e.p.Stats().Timeouts)
		assert.EqualValues(t, 2, e.d.dials.Load(), "no dial beyond PoolSize")

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = e.p.Get(ctx)
		require.ErrorIs(t, err, context.Canceled)

		e.p.Put(a)
		e.p.Put(b)
		e.lens(2, 2)
	})
}

func TestGetHonoursContextWhileWaiting(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: -1})
		cn := e.get()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := e.p.Get(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, e.p.Stats().Timeouts, "ctx expiry is not a pool timeout")
		e.p.Put(cn)
		// The abandoned wait left nothing behind: the next Get is a hit.
		assert.Same(t, cn, e.get())
	})
}

func TestDefaultPoolSizeIsTenPerProc(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: -3, PoolTimeout: 10 * time.Millisecond})
		want := 10 * runtime.GOMAXPROCS(0)
		var held []*shardpool.Conn
		for i := 0; i < want; i++ {
			held = append(held, e.get())
		}
		_, err := e.p.Get(context.Background())
		require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
		for _, cn := range held {
			e.p.Put(cn)
		}
		e.lens(want, want)
	})
}

// 2. Get reuses idle connections (Hits) and dials otherwise (Misses).
func TestGetReusesIdleConnection(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 4})
		cn := e.get()
		e.lens(1, 0)
		e.p.Put(cn)
		e.lens(1, 1)
		assert.Same(t, cn, e.get())
		st := e.p.Stats()
		assert.EqualValues(t, 1, st.Hits)
		assert.EqualValues(t, 1, st.Misses)
		assert.EqualValues(t, 1, e.d.dials.Load())
	})
}

// Every Get counts once, as a hit or a miss, however many run at once: the
// pool is never short (PoolSize ≥ the goroutines), so none waits. Hits are
// counted per P without a read-modify-write (percount.go); a count that lost
// adds would come up short here.
func TestStatsCountEveryGetUnderConcurrency(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		const goroutines, rounds = 16, 5000
		e := newEnv(t, mk, shardpool.Options{PoolSize: goroutines})
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					cn, err := e.p.Get(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					if i%64 == 0 {
						runtime.Gosched() // move goroutines between Ps
					}
					e.p.Put(cn)
				}
			}()
		}
		wg.Wait()
		st := e.p.Stats()
		assert.EqualValues(t, goroutines*rounds, st.Hits+st.Misses, "hits %d, misses %d", st.Hits, st.Misses)
		assert.EqualValues(t, st.Misses, e.d.dials.Load(), "a miss is a dial")
	})
}

// Under churn (Get, then Remove) every Get dials, and every one counts as
// a miss, however many run at once: misses are counted per P as hits are.
func TestStatsCountEveryDialUnderConcurrency(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		const goroutines, rounds = 16, 2000
		e := newEnv(t, mk, shardpool.Options{PoolSize: goroutines})
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					cn, err := e.p.Get(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					e.p.Remove(cn, nil)
				}
			}()
		}
		wg.Wait()
		st := e.p.Stats()
		assert.EqualValues(t, goroutines*rounds, st.Misses)
		assert.Zero(t, st.Hits)
		assert.EqualValues(t, goroutines*rounds, e.d.dials.Load())
	})
}

func TestGetClosesStaleIdleConnections(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				opt  shardpool.Options
			}{
				{"IdleTimeout", shardpool.Options{PoolSize: 4, IdleTimeout: time.Minute}},
				{"MaxConnAge", shardpool.Options{PoolSize: 4, MaxConnAge: time.Minute}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := newEnv(t, k.make, tc.opt)
					advance := k.manualClock(e.p)
					old := e.get()
					e.p.Put(old)
					advance(30 * time.Second)
					fresh := e.get() // not stale yet
					require.Same(t, old, fresh)
					e.p.Put(fresh)
					advance(31 * time.Second)
					if tc.name == "IdleTimeout" {
						// Idle time counts from the last Put.
						fresh = e.get()
						require.Same(t, old, fresh)
						e.p.Put(fresh)
						advance(61 * time.Second)
					}
					cn := e.get()
					assert.NotSame(t, old, cn)
					assert.EqualValues(t, 1, e.closes(old))
					st := e.p.Stats()
					assert.EqualValues(t, 1, st.StaleConns)
					hits := 1 // fresh; the stale one is no hit, and cn a miss
					if tc.name == "IdleTimeout" {
						hits = 2
					}
					assert.EqualValues(t, hits, st.Hits)
					assert.EqualValues(t, 2, st.Misses)
					e.lens(1, 0)
				})
			}
		})
	}
}

func TestIdleOrderLIFOAndFIFO(t *testing.T) {
	// One P, so the sharded pool has one shard and a global order.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for _, fifo := range []bool{false, true} {
			e := newEnv(t, mk, shardpool.Options{PoolSize: 3, PoolFIFO: fifo})
			a, b, c := e.get(), e.get(), e.get()
			e.p.Put(a)
			e.p.Put(b)
			e.p.Put(c)
			want := []*shardpool.Conn{c, b, a}
			if fifo {
				want = []*shardpool.Conn{a, b, c}
			}
			for i, w := range want {
				assert.Same(t, w, e.get(), "fifo=%v, Get #%d", fifo, i)
			}
			// One from the hot connection and two from the list (LIFO), or
			// three from the list.
			assert.EqualValues(t, 3, e.p.Stats().Hits, "fifo=%v", fifo)
		}
	})
}

// 3. Put hands a connection to a waiting Get, in arrival order.
func TestPutWakesWaitersInArrivalOrder(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: -1})
		cn := e.get()
		const n = 5
		order := make(chan int, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c, err := e.p.Get(context.Background())
				if !assert.NoError(t, err) {
					return
				}
				order <- i
				e.p.Put(c)
			}(i)
			e.waitQueued(uint32(i + 1)) // queue them one after another
		}
		e.p.Put(cn)
		wg.Wait()
		close(order)
		var got []int
		for i := range order {
			got = append(got, i)
		}
		assert.Equal(t, []int{0, 1, 2, 3, 4}, got)
		assert.EqualValues(t, 1, e.d.dials.Load(), "one connection served everyone")
	})
}

func TestRemoveUnblocksWaitingGet(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: -1})
		cn := e.get()
		got := make(chan *shardpool.Conn)
		go func() {
			c, err := e.p.Get(context.Background())
			assert.NoError(t, err)
			got <- c
		}()
		e.waitQueued(1)
		e.p.Remove(cn, errors.New("broken"))
		select {
		case c := <-got:
			assert.NotSame(t, cn, c)
			e.p.Put(c)
		case <-time.After(5 * time.Second):
			t.Fatal("Remove did not unblock the waiting Get")
		}
		assert.EqualValues(t, 1, e.closes(cn))
		assert.EqualValues(t, 2, e.d.dials.Load())
		e.lens(1, 1)
	})
}

func TestNewConnIsClosedOnPut(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: 10 * time.Millisecond})
		held := e.get()
		cn, err := e.p.NewConn(context.Background())
		require.NoError(t, err, "NewConn is outside PoolSize")
		e.lens(2, 0)
		e.p.Put(cn)
		assert.EqualValues(t, 1, e.closes(cn))
		e.lens(1, 0)
		e.p.Put(held)
		e.lens(1, 1)
	})
}

func TestCloseConnClosesAndForgets(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 2, PoolTimeout: 10 * time.Millisecond})
		a, b := e.get(), e.get()
		e.p.Put(b)
		require.NoError(t, e.p.CloseConn(a)) // checked out
		require.NoError(t, e.p.CloseConn(b)) // idle
		require.NoError(t, e.p.CloseConn(b), "a second CloseConn is a no-op")
		assert.EqualValues(t, 1, e.closes(a))
		assert.EqualValues(t, 1, e.closes(b))
		e.lens(0, 0)
		// Both places are free again.
		e.p.Put(e.get())
		e.get()
		e.get()
	})
}

// 4. MinIdleConns are topped up at start, after Get and after Remove.
func TestMinIdleConnsRefill(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 10, MinIdleConns: 3})
		idleIs := func(n int, when string) {
			t.Helper()
			require.Eventually(t, func() bool { return e.p.IdleLen() == n }, 5*time.Second, time.Millisecond,
				"IdleLen %s: have %d, want %d", when, e.p.IdleLen(), n)
		}
		idleIs(3, "at start")
		cn := e.get()
		idleIs(3, "after Get took an idle connection")
		assert.Equal(t, 4, e.p.Len())
		e.p.Remove(cn, nil)
		idleIs(3, "after Remove")
		assert.Equal(t, 3, e.p.Len())
		assert.EqualValues(t, 4, e.d.dials.Load(), "3 at start and 1 after Get")
		assert.EqualValues(t, 3, e.d.open())
	})
}

func TestMinIdleConnsNeverExceedPoolSize(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 3, MinIdleConns: 50, PoolTimeout: 10 * time.Millisecond})
		require.Eventually(t, func() bool { return e.p.IdleLen() == 3 }, 5*time.Second, time.Millisecond)
		held := []*shardpool.Conn{e.get(), e.get(), e.get()}
		_, err := e.p.Get(context.Background())
		require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
		assert.LessOrEqual(t, e.d.dials.Load(), int64(3))
		for _, cn := range held {
			e.p.Put(cn)
		}
	})
}

// 5. Dial errors: returned as is; after PoolSize of them the pool fails fast
// without dialing, and recovers once the dialer does.
func TestDialErrorsTripAndRecover(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 3})
		e.d.fail.Store(true)
		for i := 0; i < 3; i++ {
			_, err := e.p.Get(context.Background())
			require.ErrorIs(t, err, errDial)
		}
		// Tripped: fail fast with the last dial error. Only the probe dials
		// now, about once a second.
		before := e.d.dials.Load()
		for i := 0; i < 100; i++ {
			_, err := e.p.Get(context.Background())
			require.ErrorIs(t, err, errDial)
		}
		assert.Zero(t, e.p.Len())
		e.d.fail.Store(false)
		var cn *shardpool.Conn
		require.Eventually(t, func() bool {
			var err error
			cn, err = e.p.Get(context.Background())
			return err == nil
		}, 5*time.Second, 5*time.Millisecond, "the pool never recovered")
		assert.Less(t, e.d.dials.Load()-before, int64(10), "Gets dialed while the breaker was open")
		e.p.Put(cn)
		e.lens(1, 1)
	})
}

func TestNilDialer(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		p := mk(&shardpool.Options{MinIdleConns: 2})
		defer p.Close()
		_, err := p.Get(context.Background())
		require.ErrorIs(t, err, shardpool.ErrNoDialer)
		_, err = p.NewConn(context.Background())
		require.ErrorIs(t, err, shardpool.ErrNoDialer)
		assert.Zero(t, p.Len())
	})
}

func TestNilOptions(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		p := mk(nil)
		_, err := p.Get(context.Background())
		require.ErrorIs(t, err, shardpool.ErrNoDialer)
		require.NoError(t, p.Close())
	})
}

// 6. The reaper closes stale idle connections, and only those.
func TestReapStaleConnsClosesExactlyTheStale(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Run("IdleTimeout", func(t *testing.T) {
				e := newEnv(t, k.make, shardpool.Options{PoolSize: 16, IdleTimeout: time.Minute})
				advance := k.manualClock(e.p)
				cns := getN(t, e.p, 6, 6)
				putAll(e.p, cns[:3]) // idle from t=0
				advance(40 * time.Second)
				putAll(e.p, cns[3:]) // idle from t=40s
				advance(30 * time.Second)
				e.reapExactly(cns[:3], 3)
			})
			t.Run("MaxConnAge", func(t *testing.T) {
				e := newEnv(t, k.make, shardpool.Options{PoolSize: 16, MaxConnAge: time.Minute})
				advance := k.manualClock(e.p)
				old := getN(t, e.p, 3, 3) // born at t=0
				putAll(e.p, old)
				advance(40 * time.Second)
				all := getN(t, e.p, 6, 3) // three more, born at t=40s
				putAll(e.p, all)
				advance(30 * time.Second)
				e.reapExactly(old, 3)
			})
		})
	}
}

// reapExactly runs ReapStaleConns and checks that it closed exactly stale,
// leaving left idle.
func (e *env) reapExactly(stale []*shardpool.Conn, left int) {
	e.t.Helper()
	n, err := e.p.ReapStaleConns()
	require.NoError(e.t, err)
	assert.Equal(e.t, len(stale), n)
	isStale := map[*shardpool.Conn]bool{}
	for _, cn := range stale {
		isStale[cn] = true
		assert.EqualValues(e.t, 1, e.closes(cn), "OnClose for a stale connection")
	}
	e.onClose.Range(func(cn, _ any) bool {
		assert.True(e.t, isStale[cn.(*shardpool.Conn)], "OnClose for a fresh connection")
		return true
	})
	assert.EqualValues(e.t, len(stale), e.p.Stats().StaleConns)
	e.lens(left, left)
}

func TestReaperRunsInBackground(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{
			PoolSize: 8, IdleTimeout: 20 * time.Millisecond, IdleCheckFrequency: 5 * time.Millisecond,
		})
		cns := getN(t, e.p, 8, 8)
		putAll(e.p, cns)
		require.Eventually(t, func() bool { return e.p.Stats().StaleConns == 8 }, 5*time.Second, time.Millisecond)
		e.lens(0, 0)
		for _, cn := range cns {
			assert.EqualValues(t, 1, e.closes(cn))
		}
	})
}

// IdleTimeout or MaxConnAge alone, without IdleCheckFrequency, runs the
// reaper at its default (a second for these limits): stale connections are
// closed with no Get to meet them, within the limit plus a sweep interval.
// With IdleCheckFrequency negative there is no reaper, and they stay.
func TestReaperRunsAtItsDefaultWithExpiryAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  shardpool.Options
	}{
		{"IdleTimeout", shardpool.Options{PoolSize: 4, IdleTimeout: 50 * time.Millisecond}},
		{"MaxConnAge", shardpool.Options{PoolSize: 4, MaxConnAge: 50 * time.Millisecond}},
	} {
		for _, k := range kinds {
			tc, k := tc, k // go.mod's go 1.21: one variable per loop
			t.Run(tc.name+"/"+k.name, func(t *testing.T) {
				t.Parallel() // each waits out a sweep interval
				mk := k.make
				e := newEnv(t, mk, tc.opt)
				putAll(e.p, getN(t, e.p, 4, 4))
				// The bound: the limit, one default interval (1 s), and
				// room for a slow machine.
				require.Eventually(t, func() bool { return e.p.Len() == 0 }, 3*time.Second, 5*time.Millisecond,
					"stale connections left: Len %d", e.p.Len())
				assert.EqualValues(t, 4, e.p.Stats().StaleConns)

				off := tc.opt
				off.IdleCheckFrequency = -1
				e = newEnv(t, mk, off)
				putAll(e.p, getN(t, e.p, 4, 4))
				time.Sleep(1500 * time.Millisecond) // past a default interval: nothing to poll for
				e.lens(4, 4)
				assert.Zero(t, e.p.Stats().StaleConns)
			})
		}
	}
}

// 7. Filter closes and removes what fn selects, idle or checked out.
func TestFilterClosesSelected(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 6, PoolTimeout: 10 * time.Millisecond})
		cns := getN(t, e.p, 6, 6)
		putAll(e.p, cns[:4])
		victims := map[*shardpool.Conn]bool{cns[0]: true, cns[1]: true, cns[4]: true}
		require.NoError(t, e.p.Filter(func(cn *shardpool.Conn) bool { return victims[cn] }))
		for _, cn := range cns {
			want := int32(0)
			if victims[cn] {
				want = 1
			}
			assert.Equal(t, want, e.closes(cn))
		}
		e.lens(3, 2)
		// The filtered checked-out connection is a silent no-op on Put,
		// and its place is free: three more Gets fit.
		e.p.Put(cns[4])
		assert.Empty(t, e.misuse)
		e.lens(3, 2)
		getN(t, e.p, 3, 1)
		e.p.Put(cns[5])
	})
}

// 8. Close closes everything once and wakes waiters.
func TestCloseClosesEveryConnectionOnce(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 4, PoolTimeout: -1})
		cns := getN(t, e.p, 4, 4)
		putAll(e.p, cns[:2]) // two idle, two checked out
		extra, err := e.p.NewConn(context.Background())
		require.NoError(t, err)

		require.NoError(t, e.p.Close())
		for _, cn := range append(cns, extra) {
			assert.EqualValues(t, 1, e.closes(cn))
		}
		assert.Zero(t, e.d.open())
		assert.Empty(t, e.d.doubleClosed())

		// Checked-out connections handed back after Close are not closed
		// again; everything else says ErrClosed.
		e.p.Put(cns[2])
		e.p.Remove(cns[3], nil)
		e.p.Put(extra)
		assert.Empty(t, e.misuse)
		assert.NoError(t, e.p.CloseConn(cns[0]), "already closed")
		assert.ErrorIs(t, e.p.Close(), shardpool.ErrClosed)
		_, err = e.p.Get(context.Background())
		assert.ErrorIs(t, err, shardpool.ErrClosed)
		_, err = e.p.NewConn(context.Background())
		assert.ErrorIs(t, err, shardpool.ErrClosed)
		assert.ErrorIs(t, e.p.Filter(func(*shardpool.Conn) bool { return true }), shardpool.ErrClosed)
		_, err = e.p.ReapStaleConns()
		assert.ErrorIs(t, err, shardpool.ErrClosed)
		e.lens(0, 0)
	})
}

func TestCloseWakesWaitingGets(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 2, PoolTimeout: -1})
		held := getN(t, e.p, 2, 2)
		waiters := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() {
				_, err := e.p.Get(context.Background())
				waiters <- err
			}()
		}
		e.waitQueued(3)
		require.NoError(t, e.p.Close())
		for i := 0; i < 3; i++ {
			select {
			case err := <-waiters:
				assert.ErrorIs(t, err, shardpool.ErrClosed)
			case <-time.After(5 * time.Second):
				t.Fatal("a waiting Get did not return after Close")
			}
		}
		putAll(e.p, held)
		for _, cn := range held {
			assert.EqualValues(t, 1, e.closes(cn))
		}
		assert.Zero(t, e.d.open())
	})
}

func TestCloseRacesMinIdleDials(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		// A dialer that ignores ctx and finishes only when let go, so the
		// top-up dials complete after Close has run.
		gate := make(chan struct{})
		d := &fakeDialer{}
		var started atomic.Int32
		dial := func(ctx context.Context) (net.Conn, error) {
			started.Add(1)
			<-gate
			return d.Dial(ctx)
		}
		e := newEnv(t, mk, shardpool.Options{PoolSize: 4, MinIdleConns: 4, Dialer: dial})
		e.d = d
		require.Eventually(t, func() bool { return started.Load() == 4 }, 5*time.Second, time.Millisecond)
		closed := make(chan error)
		go func() { closed <- e.p.Close() }()
		require.Eventually(t, func() bool {
			_, err := e.p.ReapStaleConns()
			return errors.Is(err, shardpool.ErrClosed)
		}, 5*time.Second, time.Millisecond, "Close never started")
		close(gate)
		select {
		case err := <-closed:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		require.Eventually(t, func() bool { return d.dials.Load() == 4 && d.open() == 0 }, 5*time.Second, time.Millisecond,
			"dials %d, open %d", d.dials.Load(), d.open())
		d.mu.Lock()
		for _, c := range d.conns {
			assert.EqualValues(t, 1, c.closes.Load())
		}
		d.mu.Unlock()
		e.lens(0, 0)
	})
}

// 10. Bad input is refused without panics or corrupted counts.
func TestBadInputIsRefused(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 2, PoolTimeout: 10 * time.Millisecond})
		other := newEnv(t, mk, shardpool.Options{PoolSize: 2})
		cn := e.get()
		foreign := other.get()

		e.p.Put(nil)
		assert.ErrorIs(t, <-e.misuse, shardpool.ErrUnknownConn)
		e.p.Remove(nil, nil)
		assert.ErrorIs(t, <-e.misuse, shardpool.ErrUnknownConn)
		assert.ErrorIs(t, e.p.CloseConn(nil), shardpool.ErrUnknownConn)

		e.p.Put(foreign)
		assert.ErrorIs(t, <-e.misuse, shardpool.ErrUnknownConn)
		e.p.Remove(foreign, nil)
		assert.ErrorIs(t, <-e.misuse, shardpool.ErrUnknownConn)
		assert.ErrorIs(t, e.p.CloseConn(foreign), shardpool.ErrUnknownConn)
		assert.Zero(t, other.closes(foreign))
		other.lens(1, 0)
		other.p.Put(foreign)
		other.lens(1, 1)

		unpooled := shardpool.NewConn(&fakeConn{})
		e.p.Put(unpooled)
		assert.ErrorIs(t, <-e.misuse, shardpool.ErrUnknownConn)

		e.p.Put(cn)
		e.p.Put(cn) // twice
		assert.ErrorIs(t, <-e.misuse, shardpool.ErrNotCheckedOut)
		e.p.Remove(cn, nil) // idle
		assert.ErrorIs(t, <-e.misuse, shardpool.ErrNotCheckedOut)
		e.lens(1, 1)
		assert.Zero(t, e.closes(cn))

		// The pool still works and still holds at most PoolSize.
		a, b := e.get(), e.get()
		assert.NotSame(t, a, b)
		_, err := e.p.Get(context.Background())
		assert.ErrorIs(t, err, shardpool.ErrPoolTimeout)
		e.p.Remove(a, nil)
		e.p.Remove(a, nil) // twice: already closed, silent
		assert.EqualValues(t, 1, e.closes(a))
		e.p.Put(b)
		e.lens(1, 1)
		assert.Empty(t, e.misuse)
	})
}

func TestNegativeOptionsAreNormalized(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{
			PoolSize: 1, MinIdleConns: -5, MaxConnAge: -time.Second, IdleTimeout: -time.Second,
			IdleCheckFrequency: -time.Second, PoolTimeout: -1,
			DialTimeout: -1, MaxConcurrentDials: -3, MaxConnAgeJitter: -time.Second, HealthCheckIdle: -1,
		})
		cn := e.get()
		e.lens(1, 0) // no MinIdleConns dials
		// Negative PoolTimeout: wait as long as ctx allows.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := e.p.Get(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		e.p.Put(cn)
		assert.Same(t, cn, e.get(), "negative timeouts never make a connection stale")
	})
}
