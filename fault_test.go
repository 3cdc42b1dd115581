package shardpool_test

// Fault injection, no network: dialers that hang and panic (those that fail
// and recover, and the breaker they trip, are in breaker_test.go); close
// errors; connections that die while idle; Close racing every call;
// ctx cancelled at each point of the wait path; extreme PoolTimeouts; and
// GOMAXPROCS changing under a live pool. Each test runs against both pools
// where the contract applies, and asserts: a clear error for the caller, no
// panic, no goroutine left (goleak, TestMain), no connection lost, closed
// twice or handed out twice, Len within PoolSize; the sharded pool's
// CheckInvariants after the steps.

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// 2. Dialers that hang until ctx expires: the caller gets its ctx error,
// the hanging dial holds its place (others wait or time out, nobody dials
// beyond PoolSize) and frees it when it gives up.
func TestFaultDialerHangs(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		var entered atomic.Int32
		d := &fakeDialer{}
		e2 := newEnv(t, mk, shardpool.Options{PoolSize: 2, PoolTimeout: 30 * time.Millisecond,
			Dialer: func(ctx context.Context) (net.Conn, error) { entered.Add(1); return d.Dial(ctx) }})
		e2.d = d
		e := e2
		e.d.block.Store(true)

		// A Get whose dial hangs returns its ctx's error when ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		start := time.Now()
		_, err := e2.p.Get(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 2*time.Second)
		e2.lens(0, 0)

		// Two hanging dials hold both places: a third Get waits for one
		// and times out; nothing dials a third time.
		ctx, cancel = context.WithCancel(context.Background())
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e2.p.Get(ctx)
				errs <- err
			}()
		}
		require.Eventually(t, func() bool { return entered.Load() == 3 }, 5*time.Second, time.Millisecond)
		_, err = e2.p.Get(context.Background())
		require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
		assert.EqualValues(t, 3, entered.Load(), "dialed beyond PoolSize while dials hang")
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			require.ErrorIs(t, err, context.Canceled)
		}
		checkInv(t, e2.p)
		e2.lens(0, 0)

		if _, sharded := e2.p.(*shardpool.ConnPool); sharded {
			// Dials cut short by their callers' contexts say nothing about
			// the server: shardpool does not count them toward the breaker,
			// so the next Get dials again (and hangs until its ctx ends).
			ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, err = e2.p.Get(ctx)
			cancel()
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.EqualValues(t, 4, entered.Load(), "the breaker stayed closed")
		} else {
			// The baseline, as v8, counted the three hung dials (PoolSize
			// 2): its breaker is open until the probe gets through.
			_, err = e2.p.Get(context.Background())
			require.Error(t, err, "breaker open")
		}
		// A probe dials with the pool's background context, which only
		// Close ends: with the dialer still hanging, Close must end it.
		within(t, 5*time.Second, "Close with the probe's dial hanging", func() {
			require.NoError(t, e2.p.Close())
		})
		closedExactlyOnce(t, d)
	})
}

// A dial that finishes after Close: the connection is closed, not leaked,
// and the Get that dialed it returns ErrClosed.
func TestFaultDialFinishesAfterClose(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		gate := make(chan struct{})
		d := &fakeDialer{}
		var entered atomic.Int32
		e := newEnv(t, mk, shardpool.Options{PoolSize: 2, Dialer: func(ctx context.Context) (net.Conn, error) {
			entered.Add(1)
			<-gate
			return d.Dial(ctx)
		}})
		e.d = d
		got := make(chan error, 2)
		for i := 0; i < 2; i++ {
			go func(i int) {
				var err error
				if i == 0 {
					_, err = e.p.Get(context.Background())
				} else {
					_, err = e.p.NewConn(context.Background())
				}
				got <- err
			}(i)
		}
		require.Eventually(t, func() bool { return entered.Load() == 2 }, 5*time.Second, time.Millisecond)
		within(t, 5*time.Second, "Close with dials in flight", func() { require.NoError(t, e.p.Close()) })
		close(gate)
		for i := 0; i < 2; i++ {
			require.ErrorIs(t, <-got, shardpool.ErrClosed)
		}
		assert.EqualValues(t, 2, d.dials.Load())
		closedExactlyOnce(t, d)
		e.lens(0, 0)
	})
}

// 3. Dialers that panic: the caller gets an error wrapping ErrDialerPanic
// with the panic's value, the place is freed, background dials survive it.
func TestFaultDialerPanics(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for _, v := range []any{"boom", errors.New("boom error"), 42, nil} {
			v := v
			t.Run(fmt.Sprintf("%T", v), func(t *testing.T) {
				var panicking atomic.Bool
				d := &fakeDialer{}
				e := newEnv(t, mk, shardpool.Options{PoolSize: 2, PoolTimeout: 20 * time.Millisecond,
					Dialer: func(ctx context.Context) (net.Conn, error) {
						if panicking.Load() {
							panic(v)
						}
						return d.Dial(ctx)
					}})
				e.d = d
				panicking.Store(true)
				_, err := e.p.Get(context.Background())
				require.ErrorIs(t, err, shardpool.ErrDialerPanic)
				if v != nil {
					assert.Contains(t, err.Error(), fmt.Sprint(v))
				}
				panicking.Store(false)
				_, err = e.p.NewConn(context.Background())
				require.NoError(t, err, "one panic does not trip the breaker (PoolSize 2)")
				// Both places are free.
				a, b := e.get(), e.get()
				e.p.Put(a)
				e.p.Put(b)
				e.lens(3, 2)
				checkInv(t, e.p)
			})
		}
		t.Run("background", func(t *testing.T) {
			// MinIdleConns dials panic on the pool's goroutines: no crash,
			// and Close still stops everything.
			var calls atomic.Int32
			p := mk(&shardpool.Options{PoolSize: 4, MinIdleConns: 2, Dialer: func(context.Context) (net.Conn, error) {
				calls.Add(1)
				panic("background boom")
			}})
			require.Eventually(t, func() bool { return calls.Load() >= 2 }, 5*time.Second, time.Millisecond)
			_, err := p.Get(context.Background())
			require.ErrorIs(t, err, shardpool.ErrDialerPanic)
			checkInv(t, p)
			assert.Zero(t, p.Len())
			require.NoError(t, p.Close())
		})
	})
}

// errConn is a fakeConn whose Close fails (after closing).
type errConn struct{ *fakeConn }

var errNetClose = errors.New("net.Conn.Close failed")

func (c errConn) Close() error { _ = c.fakeConn.Close(); return errNetClose }

// 5. OnClose and net.Conn.Close returning errors: CloseConn, Filter and
// Close return them; the connection is forgotten all the same, its place
// freed, and it is closed (OnClose and net.Conn.Close) exactly once.
func TestFaultCloseErrors(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		d := &fakeDialer{}
		errOnClose := errors.New("OnClose failed")
		var mu sync.Mutex
		onClose := map[*shardpool.Conn]int{}
		p := mk(&shardpool.Options{
			PoolSize: 3, PoolTimeout: 20 * time.Millisecond, IdleTimeout: time.Minute,
			Dialer: func(ctx context.Context) (net.Conn, error) {
				c, err := d.Dial(ctx)
				if err != nil {
					return nil, err
				}
				if c.(*fakeConn).id%2 == 0 {
					return errConn{c.(*fakeConn)}, nil // even: Close fails too
				}
				return c, nil
			},
			OnClose: func(cn *shardpool.Conn) error {
				mu.Lock()
				onClose[cn]++
				mu.Unlock()
				return errOnClose
			},
		})
		t.Cleanup(func() { _ = p.Close() })
		closes := func(cn *shardpool.Conn) int { mu.Lock(); defer mu.Unlock(); return onClose[cn] }
		get := func() *shardpool.Conn {
			cn, err := p.Get(context.Background())
			require.NoError(t, err)
			return cn
		}
		even := func(cn *shardpool.Conn) bool { _, ok := cn.NetConn().(errConn); return ok }
		checkErr := func(err error, cn *shardpool.Conn) {
			t.Helper()
			require.ErrorIs(t, err, errOnClose)
			if even(cn) {
				require.ErrorIs(t, err, errNetClose)
			}
			assert.Equal(t, 1, closes(cn), "OnClose calls")
		}

		a, b, c := get(), get(), get()
		p.Put(b)
		checkErr(p.CloseConn(a), a) // checked out
		checkErr(p.CloseConn(b), b) // idle
		assert.NoError(t, p.CloseConn(a), "already closed: no error, no second close")
		assert.Equal(t, 1, p.Len())
		checkInv(t, p)

		// Both places are free although closing failed.
		x, y := get(), get()
		p.Put(x)
		err := p.Filter(func(cn *shardpool.Conn) bool { return cn == x || cn == y })
		require.ErrorIs(t, err, errOnClose)
		require.ErrorIs(t, err, errNetClose, "one of x, y is even")
		assert.Equal(t, 1, closes(x))
		assert.Equal(t, 1, closes(y))
		p.Put(y) // filtered while held: silent no-op
		assert.Equal(t, 1, p.Len())

		// Put and Remove of NewConn connections and Remove swallow it.
		n, err := p.NewConn(context.Background())
		require.NoError(t, err)
		p.Put(n)
		assert.Equal(t, 1, closes(n))
		r := get()
		p.Remove(r, nil)
		assert.Equal(t, 1, closes(r))

		// Stale connections closed by Get and by the reaper: counted, gone.
		advance := manualClockOf(p)
		s := get()
		p.Put(s)
		advance(2 * time.Minute)
		reaped, err := p.ReapStaleConns()
		require.NoError(t, err, "ReapStaleConns does not report close errors")
		assert.Equal(t, 1, reaped)
		assert.Equal(t, 1, closes(s))
		checkInv(t, p)

		last := get()
		require.ErrorIs(t, p.Close(), errOnClose)
		assert.Equal(t, 1, closes(c))
		assert.Equal(t, 1, closes(last))
		p.Put(c)
		p.Remove(last, nil)
		assert.ErrorIs(t, p.Close(), shardpool.ErrClosed)
		assert.Zero(t, p.Len())
		closedExactlyOnce(t, d)
		mu.Lock()
		for cn, k := range onClose {
			assert.Equal(t, 1, k, "OnClose for %p", cn)
		}
		assert.EqualValues(t, d.dials.Load(), len(onClose), "every connection went through OnClose")
		mu.Unlock()
	})
}

// 6. Connections that die while idle (the server closed them): Filter
// removes them; one handed out anyway is Removed by its caller on the first
// error. Either way it is closed once, its place freed, and the next Get
// gets a live connection.
func TestFaultConnDiesWhileIdle(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 4, PoolTimeout: 20 * time.Millisecond})
		var dead sync.Map // *fakeConn → true
		isDead := func(cn *shardpool.Conn) bool { _, ok := dead.Load(cn.NetConn()); return ok }
		cns := getN(t, e.p, 4, 4)
		putAll(e.p, cns)
		dead.Store(cns[0].NetConn(), true)
		dead.Store(cns[2].NetConn(), true)
		dead.Store(cns[3].NetConn(), true)

		require.NoError(t, e.p.Filter(func(cn *shardpool.Conn) bool {
			return isDead(cn) && cn != cns[3] // cns[3]'s death goes unnoticed
		}))
		e.lens(2, 2)
		checkInv(t, e.p)
		for _, cn := range []*shardpool.Conn{cns[0], cns[2]} {
			assert.EqualValues(t, 1, e.closes(cn))
		}

		// Gets: the live one, the dead one the pool could not know about
		// (its caller Removes it), then fresh dials.
		var live []*shardpool.Conn
		for i := 0; i < 4; i++ {
			cn := e.get()
			assert.NotContains(t, []*shardpool.Conn{cns[0], cns[2]}, cn, "a closed connection was handed out")
			if isDead(cn) {
				e.p.Remove(cn, errors.New("read: connection reset by peer"))
				cn = e.get()
			}
			require.False(t, isDead(cn))
			live = append(live, cn)
		}
		_, err := e.p.Get(context.Background())
		require.ErrorIs(t, err, shardpool.ErrPoolTimeout, "Len within PoolSize")
		putAll(e.p, live)
		e.lens(4, 4)
		checkInv(t, e.p)
		assert.EqualValues(t, 1, e.closes(cns[3]))
		assert.EqualValues(t, 3, e.d.closed.Load())
	})
}

// 7. Close racing every other call. Many goroutines run every call on the
// pool (Gets waiting with no PoolTimeout among them) while two Closes run
// at a random point. Afterwards: exactly one Close succeeded, every call
// returned nil or ErrClosed, every goroutine returned, every connection was
// closed exactly once and none was handed to two callers.
func TestFaultCloseRacesEveryCall(t *testing.T) {
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for round := 0; round < rounds; round++ {
			closeRace(t, mk, int64(round))
			if t.Failed() {
				return
			}
		}
	})
}

func closeRace(t *testing.T, mk func(*shardpool.Options) pool, seed int64) {
	const size, goroutines = 3, 12
	d := &fakeDialer{}
	var misuse atomic.Int32
	p := mk(&shardpool.Options{
		PoolSize: size, PoolTimeout: -1, MinIdleConns: 1, Dialer: d.Dial,
		IdleTimeout: time.Millisecond, IdleCheckFrequency: time.Millisecond,
		OnMisuse: func(*shardpool.Conn, error) { misuse.Add(1) },
	})
	var (
		holders sync.Map // *Conn → goroutine
		ops     atomic.Int64
		wg      sync.WaitGroup
	)
	okOrClosed := func(what string, err error) bool {
		if err != nil && !errors.Is(err, shardpool.ErrClosed) {
			t.Errorf("%s: %v, want nil or ErrClosed", what, err)
		}
		return err == nil
	}
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed*100 + int64(g)))
			for {
				ops.Add(1)
				var cn *shardpool.Conn
				var err error
				switch r := rng.Intn(10); {
				case r < 6:
					cn, err = p.Get(context.Background())
				case r < 7:
					cn, err = p.NewConn(context.Background())
				case r < 8:
					okOrClosed("Filter", p.Filter(func(cn *shardpool.Conn) bool { return rng.Intn(3) == 0 }))
				case r < 9:
					_, err := p.ReapStaleConns()
					okOrClosed("ReapStaleConns", err)
				default:
					_, _, _ = p.Len(), p.IdleLen(), p.Stats()
				}
				if err != nil {
					okOrClosed("Get/NewConn", err)
					return // closed
				}
				if cn == nil {
					continue
				}
				if other, loaded := holders.LoadOrStore(cn, g); loaded {
					t.Errorf("connection handed to goroutines %d and %d", other, g)
					return
				}
				runtime.Gosched() // hold it a moment
				holders.Delete(cn)
				switch rng.Intn(3) {
				case 0:
					p.Put(cn)
				case 1:
					p.Remove(cn, errors.New("bad"))
				default:
					okOrClosed("CloseConn", p.CloseConn(cn))
				}
			}
		}(g)
	}
	// Close after a random number of operations, twice at once.
	n := 20 + rand.New(rand.NewSource(seed)).Int63n(300)
	require.Eventually(t, func() bool { return ops.Load() >= n }, 10*time.Second, 50*time.Microsecond)
	var closeErrs [2]error
	var cw sync.WaitGroup
	for i := range closeErrs {
		cw.Add(1)
		go func(i int) { defer cw.Done(); closeErrs[i] = p.Close() }(i)
	}
	within(t, 10*time.Second, "the calls racing Close", func() { cw.Wait(); wg.Wait() })
	if (closeErrs[0] == nil) == (closeErrs[1] == nil) {
		t.Errorf("Close results %v and %v: want one nil and one ErrClosed", closeErrs[0], closeErrs[1])
	}
	for _, err := range closeErrs {
		okOrClosed("Close", err)
	}
	checkInv(t, p)
	assert.Zero(t, p.Len())
	assert.Zero(t, p.IdleLen())
	assert.Zero(t, misuse.Load(), "Put/Remove refused a connection its caller held")
	closedExactlyOnce(t, d)
}

// 8. ctx cancelled at each point of the wait path.
func TestFaultCtxCancelledBeforeGet(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: -1})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()

		// Pool full: both fail at once with ctx's error.
		cn := e.get()
		_, err := e.p.Get(ctx)
		require.ErrorIs(t, err, context.Canceled)

		// An idle connection there: the baseline (v8) checks ctx first and
		// fails; shardpool's hot path does not read ctx and hands the idle
		// connection over. Either way nothing is lost.
		e.p.Put(cn)
		got, err := e.p.Get(ctx)
		if _, sharded := e.p.(*shardpool.ConnPool); sharded {
			require.NoError(t, err)
			require.Same(t, cn, got)
			e.p.Put(got)
		} else {
			require.ErrorIs(t, err, context.Canceled)
		}
		e.lens(1, 1)
		assert.Same(t, cn, e.get())
		e.p.Put(cn)
		checkInv(t, e.p)
	})
}

func TestFaultCtxCancelledWhileQueued(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: -1})
		cn := e.get()
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error, 1)
		go func() {
			_, err := e.p.Get(ctx)
			got <- err
		}()
		e.waitQueued(1)
		cancel()
		select {
		case err := <-got:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(5 * time.Second):
			t.Fatal("a queued Get ignored its ctx")
		}
		// The abandoned waiter is gone: Put parks cn instead of handing it
		// to nobody, and the next Get has it at once.
		e.p.Put(cn)
		e.lens(1, 1)
		checkInv(t, e.p)
		within(t, 5*time.Second, "Get after an abandoned wait", func() { assert.Same(t, cn, e.get()) })
		e.p.Put(cn)
	})
}

// The cancel races the hand-off of a connection (Put) or of a place
// (Remove) to the waiting Get. Whichever wins, the waiter has the
// connection or its ctx error, and the pool has the rest: nothing is lost
// and the next Get succeeds.
func TestFaultCtxCancelledAtHandOff(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: 5 * time.Second})
		won := map[bool]int{}
		cn := e.get()
		for i := 0; i < rounds; i++ {
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan *shardpool.Conn, 1)
			errc := make(chan error, 1)
			go func() {
				c, err := e.p.Get(ctx)
				got <- c
				errc <- err
			}()
			e.waitQueued(uint32(i + 1))
			if i%4 < 2 {
				go cancel()
			} else {
				// Cancelled and served before the waiter runs: its select
				// finds both ready and picks at random.
				cancel()
			}
			if i%2 == 0 {
				e.p.Put(cn)
			} else {
				e.p.Remove(cn, nil)
			}
			c, err := <-got, <-errc
			if err != nil {
				require.ErrorIs(t, err, context.Canceled)
			}
			won[err == nil]++
			checkInv(t, e.p)
			require.LessOrEqual(t, e.p.Len(), 1)
			// The connection or place is in the pool or with the waiter.
			if c != nil {
				e.p.Put(c)
			}
			var next *shardpool.Conn
			within(t, 6*time.Second, "Get after the race", func() { next = e.get() })
			require.Equal(t, 1, e.p.Len())
			cn = next
			cancel()
		}
		e.p.Put(cn)
		e.lens(1, 1)
		t.Logf("waiter got the connection %d times, its ctx error %d times", won[true], won[false])
	})
}

// 9. PoolTimeout 0 means DefaultPoolTimeout (not "do not wait"); a huge
// PoolTimeout leaves ctx and Close as the only ways out of a wait.
func TestFaultPoolTimeoutZeroIsDefault(t *testing.T) {
	for _, k := range kinds {
		k := k
		t.Run(k.name, func(t *testing.T) {
			t.Parallel() // each waits out DefaultPoolTimeout
			e := newEnv(t, k.make, shardpool.Options{PoolSize: 1, PoolTimeout: 0})
			cn := e.get()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := e.p.Get(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded, "PoolTimeout 0 must wait, not fail at once")
			start := time.Now()
			_, err = e.p.Get(context.Background())
			took := time.Since(start)
			require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
			assert.GreaterOrEqual(t, took, shardpool.DefaultPoolTimeout-50*time.Millisecond)
			assert.Less(t, took, shardpool.DefaultPoolTimeout+3*time.Second)
			assert.EqualValues(t, 1, e.p.Stats().Timeouts)
			e.p.Put(cn)
			checkInv(t, e.p)
		})
	}
}

func TestFaultPoolTimeoutHuge(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for _, d := range []time.Duration{1000 * time.Hour, math.MaxInt64} {
			e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: d})
			cn := e.get()
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 2)
			go func() { _, err := e.p.Get(ctx); errc <- err }()
			e.waitQueued(1)
			cancel()
			require.ErrorIs(t, <-errc, context.Canceled)
			go func() { _, err := e.p.Get(context.Background()); errc <- err }()
			e.waitQueued(2)
			e.p.Put(cn)
			require.NoError(t, <-errc, "Put serves the waiter")
			checkInv(t, e.p)
			// Close ends a wait nothing else would.
			go func() { _, err := e.p.Get(context.Background()); errc <- err }()
			e.waitQueued(3)
			require.NoError(t, e.p.Close())
			select {
			case err := <-errc:
				require.ErrorIs(t, err, shardpool.ErrClosed)
			case <-time.After(5 * time.Second):
				t.Fatalf("PoolTimeout %v: Close did not end the wait", d)
			}
			assert.Zero(t, e.p.Stats().Timeouts)
			closedExactlyOnce(t, e.d)
		}
	})
}

// 10. GOMAXPROCS changed while the pool is in use: more Ps than shards, and
// fewer. The sharded pool keeps its shard count; every idle connection stays
// reachable, the bound holds, nothing is handed out twice.
func TestFaultGOMAXPROCSChanges(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name    string
		atStart int
		during  []int
	}{
		{"grow from 1", 1, []int{8, 3, 16}},
		{"shrink from 4", 4, []int{1, 2, 1}},
		{"both from 2", 2, []int{8, 1, 4, 1}},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
				runtime.GOMAXPROCS(tc.atStart)
				const size = 8
				e := newEnv(t, mk, shardpool.Options{PoolSize: size, PoolTimeout: 5 * time.Second})
				// Fill every shard there is with idle connections.
				putAll(e.p, getN(t, e.p, size, size))

				var (
					holders sync.Map
					out     atomic.Int32
					stop    atomic.Bool
					wg      sync.WaitGroup
				)
				for g := 0; g < 16; g++ {
					wg.Add(1)
					go func(g int) {
						defer wg.Done()
						for i := 0; !stop.Load(); i++ {
							cn, err := e.p.Get(context.Background())
							if !assert.NoError(t, err) {
								return
							}
							if n := out.Add(1); n > size {
								t.Errorf("%d checked out, PoolSize %d", n, size)
							}
							if _, loaded := holders.LoadOrStore(cn, g); loaded {
								t.Errorf("connection handed out twice")
								return
							}
							if i%5 == 0 {
								runtime.Gosched()
							}
							holders.Delete(cn)
							out.Add(-1)
							if i%11 == 0 {
								e.p.Remove(cn, nil)
							} else {
								e.p.Put(cn)
							}
						}
					}(g)
				}
				for _, procs := range tc.during {
					before := e.p.Stats().Hits + e.p.Stats().Misses
					runtime.GOMAXPROCS(procs)
					require.Eventually(t, func() bool {
						return e.p.Stats().Hits+e.p.Stats().Misses >= before+200
					}, 10*time.Second, time.Millisecond, "no progress at GOMAXPROCS %d", procs)
					checkInv(t, e.p)
					assert.LessOrEqual(t, e.p.Len(), size)
				}
				stop.Store(true)
				wg.Wait()
				checkInv(t, e.p)

				// Whatever shard they sit in, all idle connections are
				// reachable from one P: PoolSize Gets dial nothing.
				runtime.GOMAXPROCS(1)
				idle := e.p.IdleLen()
				require.Equal(t, e.p.Len(), idle)
				dials := e.d.dials.Load()
				held := getN(t, e.p, size, size-idle)
				assert.Equal(t, dials+int64(size-idle), e.d.dials.Load())
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				_, err := e.p.Get(ctx)
				cancel()
				require.ErrorIs(t, err, context.DeadlineExceeded, "Len within PoolSize")
				putAll(e.p, held)
				e.lens(size, size)
				require.NoError(t, e.p.Close())
				closedExactlyOnce(t, e.d)
			})
		})
	}
}

// Every Get's turn or place is given back by its Put or Remove: after heavy
// contention the pool still lets PoolSize callers hold a connection.
func TestFaultNoTurnLeakUnderContention(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8)) // more Ps than cores: more preemption between steps
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		const size = 8
		e := newEnv(t, mk, shardpool.Options{PoolSize: size, PoolTimeout: 5 * time.Second})
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 3000; i++ {
					cn, err := e.p.Get(context.Background())
					if !assert.NoError(t, err) {
						return
					}
					if i%11 == 0 {
						e.p.Remove(cn, nil)
					} else {
						e.p.Put(cn)
					}
				}
			}()
		}
		wg.Wait()
		checkInv(t, e.p)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var held []*shardpool.Conn
		for i := 0; i < size; i++ {
			cn, err := e.p.Get(ctx)
			require.NoError(t, err, "Get %d of PoolSize %d: a turn or place was leaked", i+1, size)
			held = append(held, cn)
		}
		putAll(e.p, held)
	})
}
