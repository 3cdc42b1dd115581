package shardpool_test

// The breaker: after PoolSize dial errors in a row Get and NewConn fail fast
// with the last one, without dialing; the probe re-opens the pool once the
// dialer works. What counts toward it (dial errors, not a caller's ctx, not
// a shrink) and how the two pools' breakers differ.
// breaker_internal_test.go has the probe's cadence.

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

// 1. Dialers that fail: the error reaches the caller as is, the place the
// dial held is freed, a waiter handed a place whose dial fails gets the
// error, and the pool serves again when the dialer does.
func TestFaultDialerFails(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		// PoolSize 3: the two failures below stay under the breaker's count
		// in both pools (the baseline does not reset it on success).
		e := newEnv(t, mk, shardpool.Options{PoolSize: 3, PoolTimeout: -1})
		e.d.fail.Store(true)
		_, err := e.p.Get(context.Background())
		require.ErrorIs(t, err, errDial)
		e.d.fail.Store(false)
		e.lens(0, 0)
		checkInv(t, e.p)

		// Every place is free: three Gets dial.
		a, b, b2 := e.get(), e.get(), e.get()
		e.lens(3, 0)
		got := make(chan error, 1)
		go func() {
			cn, err := e.p.Get(context.Background())
			if err == nil {
				e.p.Put(cn)
			}
			got <- err
		}()
		e.waitQueued(1)
		e.d.fail.Store(true)
		e.p.Remove(a, errors.New("broken")) // the waiter gets a's place and dials
		select {
		case err := <-got:
			require.ErrorIs(t, err, errDial, "the waiter's dial failed")
		case <-time.After(5 * time.Second):
			t.Fatal("the waiter given a place never returned")
		}
		e.d.fail.Store(false)
		checkInv(t, e.p)
		e.lens(2, 0)
		// a's place came back after the failed dial: one more Get dials.
		c := e.get()
		e.p.Put(b)
		e.p.Put(b2)
		e.p.Put(c)
		e.lens(3, 3)
		checkInv(t, e.p)
		require.NoError(t, e.p.Close())
		closedExactlyOnce(t, e.d)
	})
}

// 4. Dialers that recover: after PoolSize consecutive failures (errors or
// panics) Get fails fast with the last one, without dialing; once the
// dialer works the probe re-opens the pool within about a second.
func TestFaultDialerRecovers(t *testing.T) {
	for _, k := range kinds {
		k := k
		for _, how := range []string{"error", "panic"} {
			how := how
			t.Run(k.name+"/"+how, func(t *testing.T) {
				t.Parallel() // each waits out a probe interval
				var down atomic.Bool
				var calls atomic.Int32
				d := &fakeDialer{}
				e := newEnv(t, k.make, shardpool.Options{PoolSize: 3, Dialer: func(ctx context.Context) (net.Conn, error) {
					calls.Add(1)
					if down.Load() {
						if how == "panic" {
							panic("down")
						}
						return nil, errDial
					}
					return d.Dial(ctx)
				}})
				e.d = d
				held := e.get()
				down.Store(true)
				wantErr := errDial
				if how == "panic" {
					wantErr = shardpool.ErrDialerPanic
				}
				for i := 0; i < 3; i++ {
					_, err := e.p.Get(context.Background())
					require.ErrorIs(t, err, wantErr)
				}
				// Open: fail fast with the last error; only the probe dials.
				before := calls.Load()
				for i := 0; i < 50; i++ {
					_, err := e.p.Get(context.Background())
					require.ErrorIs(t, err, wantErr)
					_, err = e.p.NewConn(context.Background())
					require.ErrorIs(t, err, wantErr)
				}
				assert.LessOrEqual(t, calls.Load()-before, int32(2), "callers dialed while the breaker was open")
				// The held connection is unaffected.
				e.p.Put(held)
				assert.Same(t, held, e.get())
				e.p.Put(held)
				checkInv(t, e.p)

				down.Store(false)
				start := time.Now()
				var cn *shardpool.Conn
				require.Eventually(t, func() bool {
					p, err := e.p.NewConn(context.Background())
					if err != nil {
						return false
					}
					cn = p
					return true
				}, 5*time.Second, time.Millisecond, "the pool never recovered")
				t.Logf("recovered %v after the dialer", time.Since(start).Round(time.Millisecond))
				e.p.Put(cn)
				getN(t, e.p, 3, 2)
				checkInv(t, e.p)
				require.NoError(t, e.p.Close())
				closedExactlyOnce(t, d)
			})
		}
	}
}

// The breakers differ by design: shardpool counts consecutive dial errors
// (a success resets the count); the baseline, like v8, counts them until
// its probe succeeds, so sporadic errors add up and trip it.
func TestFaultSporadicDialErrors(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		// Only dials with okCtx succeed: the probe's (the pool's own
		// context) keep failing, so a tripped breaker stays open.
		type okKey struct{}
		okCtx := context.WithValue(context.Background(), okKey{}, true)
		d := &fakeDialer{}
		e := newEnv(t, mk, shardpool.Options{PoolSize: 2, Dialer: func(ctx context.Context) (net.Conn, error) {
			if ctx.Value(okKey{}) == nil {
				return nil, errDial
			}
			return d.Dial(ctx)
		}})
		e.d = d
		tripped := false
		for i := 0; i < 4; i++ {
			_, err := e.p.NewConn(context.Background())
			require.ErrorIs(t, err, errDial)
			before := e.d.dials.Load()
			cn, err := e.p.NewConn(okCtx)
			if err != nil {
				require.ErrorIs(t, err, errDial, "fail fast with the last dial error")
				assert.Equal(t, before, e.d.dials.Load())
				tripped = true
				break
			}
			e.p.Put(cn)
		}
		_, isSharded := e.p.(*shardpool.ConnPool)
		assert.Equal(t, !isSharded, tripped, "tripped by sporadic errors (v8: yes; shardpool: no)")
	})
}

// A caller whose ctx is already done must not trip the breaker for
// everybody: its ctx error is not a dial error.
func TestFaultCancelledCallerDoesNotTripBreaker(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		d := &fakeDialer{}
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, Dialer: ctxDialer(d)})
		e.d = d
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.p.Get(ctx)
		require.ErrorIs(t, err, context.Canceled)
		cn, err := e.p.Get(context.Background())
		require.NoError(t, err, "another caller's cancelled ctx tripped the breaker")
		e.p.Put(cn)
	})
}

// The breaker closes within one probe interval plus DialTimeout after the
// server accepts again, even when the probe's first dial hangs in a Dialer
// that ignores its context.
func TestBreakerClosesDespiteHungProbeDial(t *testing.T) {
	d := &fakeDialer{}
	hang := make(chan struct{})
	var calls atomic.Int32
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 2, DialTimeout: 50 * time.Millisecond,
		Dialer: func(ctx context.Context) (net.Conn, error) {
			switch calls.Add(1) {
			case 1, 2:
				return nil, errDial // trips the breaker
			case 3:
				<-hang // the probe's first attempt: hangs, ignoring ctx
			}
			return d.Dial(ctx) // the server accepts again
		},
	})
	for i := 0; i < 2; i++ {
		_, err := p.Get(context.Background())
		require.ErrorIs(t, err, errDial)
	}
	require.Eventually(t, func() bool { return calls.Load() == 3 }, 5*time.Second, time.Millisecond)
	tripped := time.Now()
	var cn *shardpool.Conn
	require.Eventually(t, func() bool {
		var err error
		cn, err = p.Get(context.Background())
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "the breaker stayed open behind a hung probe dial")
	t.Logf("breaker closed %v after the probe's dial hung", time.Since(tripped))
	p.Put(cn)
	require.NoError(t, p.Close())
	close(hang)
	testhook.WaitDials(p)
	closedExactlyOnce(t, d)
}

func TestSetPoolSizeShrinkDoesNotOpenTheBreaker(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 4})
	e.d.fail.Store(true)
	for i := 0; i < 3; i++ { // 3 of 4 in a row: still closed
		_, err := e.p.Get(context.Background())
		require.ErrorIs(t, err, errDial)
	}
	require.NoError(t, p.SetPoolSize(2))
	e.d.fail.Store(false)
	e.p.Put(e.get()) // dials: not a fast fail with the last error
	assert.EqualValues(t, 1, e.d.dials.Load())
}
