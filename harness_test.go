package shardpool_test

// The shared test harness of the external tests: the pools under test
// (pool, kinds, forEachKind), env (a pool with its fake dialer and close
// accounting) and its constructors, and the helpers more than one suite
// uses: getting and putting many connections, invariant and close checks,
// timing helpers and dialers. The fake dialer itself is in fake_test.go.

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/baseline"
	"github.com/shardpool/shardpool/internal/testhook"
)

// pool is a Pooler with the extras both pools have.
type pool interface {
	shardpool.Pooler
	Filter(func(*shardpool.Conn) bool) error
	ReapStaleConns() (int, error)
}

var kinds = []struct {
	name string
	make func(*shardpool.Options) pool
	// manualClock stops the pool's clock; advance moves it.
	manualClock func(pool) (advance func(time.Duration))
}{
	{
		name: "shardpool",
		make: func(o *shardpool.Options) pool { return shardpool.NewConnPool(o) },
		manualClock: func(p pool) func(time.Duration) {
			return testhook.ManualClock(p)
		},
	},
	{
		name: "baseline",
		make: func(o *shardpool.Options) pool { return baseline.NewConnPool(o) },
		manualClock: func(p pool) func(time.Duration) {
			var now atomic.Int64
			now.Store(time.Now().UnixNano())
			testhook.BaselineClock(p, func() time.Time { return time.Unix(0, now.Load()) })
			return func(d time.Duration) { now.Add(int64(d)) }
		},
	},
}

// manualClockOf stops p's clock and returns what moves it.
func manualClockOf(p pool) func(time.Duration) {
	if _, ok := p.(*shardpool.ConnPool); ok {
		return kinds[0].manualClock(p)
	}
	return kinds[1].manualClock(p)
}

func forEachKind(t *testing.T, f func(t *testing.T, mk func(*shardpool.Options) pool)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { f(t, k.make) })
	}
}

// env is one pool under test with its fake dialer and close accounting.
type env struct {
	t       *testing.T
	p       pool
	d       *fakeDialer
	onClose sync.Map // *shardpool.Conn → *atomic.Int32
	misuse  chan error
}

// newEnv makes a pool with a counting dialer; opt's Dialer, OnClose and
// OnMisuse are filled in. The pool is closed when the test ends.
func newEnv(t *testing.T, mk func(*shardpool.Options) pool, opt shardpool.Options) *env {
	t.Helper()
	e := &env{t: t, d: &fakeDialer{}, misuse: make(chan error, 16)}
	if opt.Dialer == nil {
		opt.Dialer = e.d.Dial
	}
	opt.OnClose = func(cn *shardpool.Conn) error {
		n, _ := e.onClose.LoadOrStore(cn, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return nil
	}
	opt.OnMisuse = func(_ *shardpool.Conn, err error) { e.misuse <- err }
	e.p = mk(&opt)
	t.Cleanup(func() {
		err := e.p.Close()
		if err != nil && !errors.Is(err, shardpool.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		assert.Empty(t, e.d.doubleClosed(), "connections closed twice")
		e.onClose.Range(func(_, n any) bool {
			assert.EqualValues(t, 1, n.(*atomic.Int32).Load(), "OnClose calls for one connection")
			return true
		})
	})
	return e
}

// newCapEnv makes a shardpool ConnPool in an env (see newEnv).
func newCapEnv(t *testing.T, opt shardpool.Options) (*env, *shardpool.ConnPool) {
	t.Helper()
	e := newEnv(t, kinds[0].make, opt)
	return e, e.p.(*shardpool.ConnPool)
}

func (e *env) get() *shardpool.Conn {
	e.t.Helper()
	cn, err := e.p.Get(context.Background())
	require.NoError(e.t, err)
	require.NotNil(e.t, cn)
	return cn
}

// closes returns how often OnClose ran for cn.
func (e *env) closes(cn *shardpool.Conn) int32 {
	n, ok := e.onClose.Load(cn)
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

// lens checks Len, IdleLen and their Stats twins.
func (e *env) lens(total, idle int) {
	e.t.Helper()
	assert.Equal(e.t, total, e.p.Len(), "Len")
	assert.Equal(e.t, idle, e.p.IdleLen(), "IdleLen")
	st := e.p.Stats()
	assert.EqualValues(e.t, total, st.TotalConns, "Stats().TotalConns")
	assert.EqualValues(e.t, idle, st.IdleConns, "Stats().IdleConns")
}

// waitQueued waits until n Gets in all have started waiting.
func (e *env) waitQueued(n uint32) {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.p.Stats().WaitCount >= n },
		5*time.Second, time.Millisecond, "Gets never started waiting")
}

// getN gets n connections, of which dialed must be new.
func getN(t *testing.T, p pool, n, dialed int) []*shardpool.Conn {
	t.Helper()
	before := p.Stats().Misses
	var cns []*shardpool.Conn
	for i := 0; i < n; i++ {
		cn, err := p.Get(context.Background())
		require.NoError(t, err)
		cns = append(cns, cn)
	}
	require.EqualValues(t, dialed, p.Stats().Misses-before, "dials")
	return cns
}

func putAll(p pool, cns []*shardpool.Conn) {
	for _, cn := range cns {
		p.Put(cn)
	}
}

// getAll gets n connections from p, from n goroutines at once, so that
// they come from (and go back to) as many shards as the machine has.
func getAll(t *testing.T, p pool, n int) []*shardpool.Conn {
	t.Helper()
	cns := make([]*shardpool.Conn, n)
	var wg sync.WaitGroup
	for i := range cns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cn, err := p.Get(context.Background())
			assert.NoError(t, err)
			cns[i] = cn
		}(i)
	}
	wg.Wait()
	for _, cn := range cns {
		require.NotNil(t, cn)
	}
	return cns
}

// putAllConcurrently puts cns from one goroutine each.
func putAllConcurrently(p pool, cns []*shardpool.Conn) {
	var wg sync.WaitGroup
	for _, cn := range cns {
		wg.Add(1)
		go func(cn *shardpool.Conn) { defer wg.Done(); p.Put(cn) }(cn)
	}
	wg.Wait()
}

// invariantChecker is implemented by pools that can check their own
// structures (ConnPool, in tests).
type invariantChecker interface{ CheckInvariants() error }

// checkInv runs the sharded pool's invariant check; the baseline has none.
func checkInv(t *testing.T, p pool) {
	t.Helper()
	if c, ok := p.(invariantChecker); ok {
		require.NoError(t, c.CheckInvariants())
	}
}

// quiet asserts the end state of a pool under test: every connection its
// dialer made closed exactly once (after Close), none handed out twice.
func closedExactlyOnce(t *testing.T, d *fakeDialer) {
	t.Helper()
	require.Eventually(t, func() bool { return d.open() == 0 }, 5*time.Second, time.Millisecond,
		"%d connections never closed", d.open())
	assert.Empty(t, d.doubleClosed(), "connections closed twice")
}

// within runs f and fails if it does not return within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// settles waits until f has returned want for quiet in a row, polling every
// millisecond, and fails if that does not happen within limit. It is for
// counts that move while background work finishes: a count that passes
// through want on its way elsewhere does not count as settled.
func settles(t *testing.T, what string, f func() int, want int, quiet, limit time.Duration) {
	t.Helper()
	var since time.Time
	deadline := time.Now().Add(limit)
	last := -1
	for time.Now().Before(deadline) {
		if last = f(); last != want {
			since = time.Time{}
		} else if since.IsZero() {
			since = time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s did not settle at %d within %v: last %d", what, want, limit, last)
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

// ctxDialer is a fakeDialer that honours its context like a real one: a
// dial with a done ctx fails with ctx.Err().
func ctxDialer(d *fakeDialer) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return d.Dial(ctx)
	}
}

// gatedDialer is a Dialer that ignores its context: each dial blocks until
// open is closed, then dials d.
func gatedDialer(d *fakeDialer, entered *atomic.Int32, open <-chan struct{}) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		entered.Add(1)
		<-open
		return d.Dial(ctx)
	}
}
