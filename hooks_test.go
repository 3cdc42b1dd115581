package shardpool_test

// Hooks: every slow-path event reaches its hook once, with the right
// outcome or reason, and a hook may call back into the pool.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

// hookLog records the events of a pool's hooks.
type hookLog struct {
	mu     sync.Mutex
	dials  []shardpool.DialInfo
	waits  []shardpool.WaitInfo
	closes map[shardpool.CloseReason]int
}

func (h *hookLog) hooks() shardpool.Hooks {
	h.closes = map[shardpool.CloseReason]int{}
	return shardpool.Hooks{
		OnDial:       func(d shardpool.DialInfo) { h.mu.Lock(); h.dials = append(h.dials, d); h.mu.Unlock() },
		OnWait:       func(w shardpool.WaitInfo) { h.mu.Lock(); h.waits = append(h.waits, w); h.mu.Unlock() },
		OnConnClosed: func(c shardpool.ClosedInfo) { h.mu.Lock(); h.closes[c.Reason]++; h.mu.Unlock() },
	}
}

func (h *hookLog) outcomes() map[shardpool.WaitOutcome]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[shardpool.WaitOutcome]int{}
	for _, w := range h.waits {
		m[w.Outcome]++
	}
	return m
}

func (h *hookLog) closed() map[shardpool.CloseReason]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[shardpool.CloseReason]int{}
	for k, v := range h.closes {
		m[k] = v
	}
	return m
}

// JoinHooks: every set sees every event, in the order given, and a set
// whose hook panics keeps none of the others from it. Fields no set has
// stay nil.
func TestJoinHooksCallsEverySet(t *testing.T) {
	var a, b hookLog
	var order []string
	var orderMu sync.Mutex
	mark := func(s string) func(shardpool.ClosedInfo) {
		return func(shardpool.ClosedInfo) { orderMu.Lock(); order = append(order, s); orderMu.Unlock() }
	}
	panicky := shardpool.Hooks{
		OnDial:       func(shardpool.DialInfo) { panic("dial") },
		OnWait:       func(shardpool.WaitInfo) { panic("wait") },
		OnConnClosed: func(shardpool.ClosedInfo) { panic("closed") },
	}
	e := newEnv(t, kinds[0].make, shardpool.Options{PoolSize: 1, PoolTimeout: 5 * time.Millisecond,
		Hooks: shardpool.JoinHooks(a.hooks(), shardpool.Hooks{OnConnClosed: mark("first")}, panicky,
			shardpool.Hooks{}, b.hooks(), shardpool.Hooks{OnConnClosed: mark("last")})})
	cn := e.get() // a dial
	_, err := e.p.Get(context.Background())
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout) // a wait
	e.p.Remove(cn, nil)                               // a close
	for _, h := range []*hookLog{&a, &b} {
		h.mu.Lock()
		assert.Len(t, h.dials, 1)
		assert.Len(t, h.waits, 1)
		h.mu.Unlock()
		assert.Equal(t, map[shardpool.CloseReason]int{shardpool.CloseRemoved: 1}, h.closed())
	}
	assert.Equal(t, []string{"first", "last"}, order)

	none := shardpool.JoinHooks(shardpool.Hooks{}, shardpool.Hooks{})
	assert.Nil(t, none.OnDial)
	assert.Nil(t, none.OnWait)
	assert.Nil(t, none.OnConnClosed)
	one := shardpool.JoinHooks(shardpool.Hooks{}, shardpool.Hooks{OnWait: func(shardpool.WaitInfo) {}})
	assert.NotNil(t, one.OnWait)
	assert.Nil(t, one.OnDial)
}

// Hooks see every dial, the Gets' and MinIdleConns's, with its outcome. A
// Get may take a connection that a top-up parked instead of dialing, so the
// Gets' dials are counted from Stats().Misses, and the failing Get runs
// only once no idle connection is left for it to take.
func TestHooksSeeDials(t *testing.T) {
	var h hookLog
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 8, MinIdleConns: 1, Hooks: h.hooks()})
	idle := func() {
		require.Eventually(t, func() bool { return e.p.IdleLen() == 1 }, 5*time.Second, time.Millisecond)
	}
	idle()
	held := []*shardpool.Conn{e.get(), e.get()} // the MinIdleConns one, then a dial or a top-up's
	idle()
	held = append(held, e.get())
	e.d.fail.Store(true)
	testhook.WaitDials(e.p) // the top-ups under way have ended
	for e.p.IdleLen() > 0 { // take what they parked; the top-ups that follow fail
		held = append(held, e.get())
		testhook.WaitDials(e.p)
	}
	_, err := e.p.Get(context.Background())
	require.ErrorIs(t, err, errDial)
	testhook.WaitDials(e.p) // the top-up after the Get, if any, has failed
	h.mu.Lock()
	defer h.mu.Unlock()
	var fg, bg, failed, fgFailed int
	for _, d := range h.dials {
		if d.Background {
			bg++
		} else {
			fg++
		}
		if d.Err != nil {
			failed++
			if !d.Background {
				fgFailed++
			}
			assert.ErrorIs(t, d.Err, errDial)
		}
		assert.Positive(t, d.Duration)
	}
	assert.EqualValues(t, p.Stats().Misses, fg, "Get's dials")
	assert.Equal(t, 1, fgFailed, "the Get that failed")
	assert.GreaterOrEqual(t, bg, 2, "MinIdleConns's dials")
	assert.EqualValues(t, e.d.dials.Load(), len(h.dials)-failed, "every successful dial")
	for _, cn := range held {
		e.p.Put(cn)
	}
}

func TestHooksSeeEveryWaitOutcome(t *testing.T) {
	var h hookLog
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 1, MaxWaiters: 1, PoolTimeout: 30 * time.Millisecond, Hooks: h.hooks()})
	a := e.get()

	_, err := e.p.Get(context.Background()) // waits out PoolTimeout
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	_, err = e.p.Get(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	got := make(chan error, 1)
	go func() {
		cn, err := e.p.Get(context.Background())
		if err == nil {
			e.p.Put(cn)
		}
		got <- err
	}()
	e.waitQueued(3)
	_, err = e.p.Get(context.Background()) // one is waiting: refused
	require.ErrorIs(t, err, shardpool.ErrPoolExhausted)
	e.p.Put(a) // served
	require.NoError(t, <-got)

	e.get() // held: the next Get waits
	go func() { _, err := e.p.Get(context.Background()); got <- err }()
	e.waitQueued(4)
	require.NoError(t, e.p.Close())
	require.ErrorIs(t, <-got, shardpool.ErrClosed)

	want := map[shardpool.WaitOutcome]int{
		shardpool.WaitTimedOut: 1, shardpool.WaitCanceled: 1, shardpool.WaitExhausted: 1,
		shardpool.WaitServed: 1, shardpool.WaitClosed: 1,
	}
	assert.Equal(t, want, h.outcomes())
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.waits {
		switch w.Outcome {
		case shardpool.WaitTimedOut:
			assert.GreaterOrEqual(t, w.Duration, 30*time.Millisecond, "a duration in its unit")
		case shardpool.WaitExhausted:
			assert.Zero(t, w.Duration)
		}
	}
}

func TestHooksSeeEveryCloseReason(t *testing.T) {
	var h hookLog
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 6, MaxIdleConns: 3, IdleTimeout: time.Minute, Hooks: h.hooks(),
		HealthCheckIdle: time.Second, HealthCheck: func(cn *shardpool.Conn) error {
			if cn.NetConn().(*fakeConn).id == 1 {
				return errors.New("sick")
			}
			return nil
		}})
	advance := testhook.ManualClock(p)
	cns := getN(t, e.p, 6, 6)
	e.p.Remove(cns[5], nil)                                       // removed
	require.NoError(t, e.p.CloseConn(cns[4]))                     // removed
	putAll(e.p, cns[:4])                                          // the 4th: idle_cap
	advance(2 * time.Second)                                      // 1..3 due for checks
	require.NoError(t, e.p.Filter(func(cn *shardpool.Conn) bool { // filtered
		return cn.NetConn().(*fakeConn).id == 2
	}))
	held := getAll(t, e.p, 2) // the check closes 1 (unhealthy); takes 3, dials one
	putAll(e.p, held)
	advance(2 * time.Minute)
	n, err := p.ReapStaleConns() // idle_timeout
	require.NoError(t, err)
	require.Equal(t, 2, n)
	held = getN(t, e.p, 3, 3)
	require.NoError(t, p.SetPoolSize(1)) // two shrunk as they come back
	putAll(e.p, held)
	require.NoError(t, e.p.Close()) // pool_closed

	assert.Equal(t, map[shardpool.CloseReason]int{
		shardpool.CloseRemoved: 2, shardpool.CloseIdleCap: 1, shardpool.CloseFiltered: 1,
		shardpool.CloseUnhealthy: 1, shardpool.CloseIdleTimeout: 2, shardpool.CloseShrunk: 2,
		shardpool.ClosePoolClosed: 1,
	}, h.closed())
	assert.EqualValues(t, e.d.dials.Load(), e.d.closed.Load(), "one report per close")
}

// A close for IdleTimeout and one for MaxConnAge are told apart (an
// operator tunes the two separately); Stats.StaleConns counts both.
func TestHooksTellIdleTimeoutFromMaxAge(t *testing.T) {
	var h hookLog
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 2, IdleTimeout: time.Minute, MaxConnAge: 10 * time.Minute,
		IdleCheckFrequency: -1, HealthCheckIdle: -1, Hooks: h.hooks()})
	advance := testhook.ManualClock(p)
	a := e.get()
	e.p.Put(a)
	advance(2 * time.Minute)
	n, err := p.ReapStaleConns() // a: idle 2 min, 2 min old
	require.NoError(t, err)
	require.Equal(t, 1, n)

	b := e.get() // dialed at 2 min
	e.p.Put(b)
	for i := 0; i < 19; i++ { // used every 30 s, never idle a minute, until 11.5 min
		advance(30 * time.Second)
		cn := e.get()
		require.Same(t, b, cn, "use %d", i)
		e.p.Put(cn)
	}
	advance(40 * time.Second) // b: over 10 min old, idle 40 s
	assert.NotSame(t, b, e.get())

	assert.Equal(t, map[shardpool.CloseReason]int{
		shardpool.CloseIdleTimeout: 1, shardpool.CloseMaxAge: 1,
	}, h.closed())
	assert.EqualValues(t, 2, e.p.Stats().StaleConns)
	assert.Equal(t, "idle_timeout", shardpool.CloseIdleTimeout.String())
	assert.Equal(t, "max_age", shardpool.CloseMaxAge.String())
}

// Hooks run outside the pool's locks: here each calls back into the pool,
// which would deadlock on a lock held around the call.
func TestHooksMayCallThePool(t *testing.T) {
	var p *shardpool.ConnPool
	var nested atomic.Bool // a Get in a hook makes events too: one level only
	callBack := func() {
		_ = p.Stats()
		_ = p.IdleLen()
		_ = p.Len()
		if !nested.CompareAndSwap(false, true) {
			return
		}
		defer nested.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if cn, err := p.Get(ctx); err == nil {
			p.Put(cn)
		}
		cancel()
		_ = p.SetPoolSize(int(p.Stats().PoolSize))
		_, _ = p.ReapStaleConns()
	}
	e, sp := newCapEnv(t, shardpool.Options{PoolSize: 4, MaxIdleConns: 2, MaxWaiters: 2, IdleTimeout: time.Minute,
		PoolTimeout: 20 * time.Millisecond,
		Hooks: shardpool.Hooks{
			OnDial:       func(shardpool.DialInfo) { callBack() },
			OnWait:       func(shardpool.WaitInfo) { callBack() },
			OnConnClosed: func(shardpool.ClosedInfo) { callBack() },
		}})
	p = sp
	advance := testhook.ManualClock(p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			// Gets from several goroutines at once: dials, waits (served,
			// timed out, refused), and Puts beyond the idle cap.
			var wg sync.WaitGroup
			for g := 0; g < 6; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if cn, err := e.p.Get(context.Background()); err == nil {
						time.Sleep(time.Millisecond)
						e.p.Put(cn)
					}
				}()
			}
			wg.Wait()
			_ = e.p.Filter(func(*shardpool.Conn) bool { return i%3 == 0 })
			_ = p.SetPoolSize(1) // closes idle surplus, and cuts the idle cap
			advance(2 * time.Minute)
			_, _ = p.ReapStaleConns()
			_ = p.SetPoolSize(2 + i%3)
		}
		_ = p.Shutdown(context.Background())
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: a hook that calls the pool never returned")
	}
}

func TestPanickingHooksLeaveThePoolWhole(t *testing.T) {
	boom := func() { panic("hook panicked") }
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 2, PoolTimeout: 5 * time.Millisecond, Hooks: shardpool.Hooks{
		OnDial:       func(shardpool.DialInfo) { boom() },
		OnWait:       func(shardpool.WaitInfo) { boom() },
		OnConnClosed: func(shardpool.ClosedInfo) { boom() },
	}})
	a, b := e.get(), e.get()
	_, err := e.p.Get(context.Background())
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	e.p.Remove(a, nil)
	e.p.Put(b)
	require.NoError(t, p.CheckInvariants())
	require.NoError(t, p.CheckQuiet())
	e.lens(1, 1)
	assert.EqualValues(t, 1, e.closes(a))
}
