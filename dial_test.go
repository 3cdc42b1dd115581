package shardpool_test

// Dialing: MinIdleConns kept exactly, Close that does not wait for dials,
// DialTimeout and the breaker's probe.

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

// MinIdleConns is exact once the pool is quiet: not short of it, and not a
// connection beyond it, however many Gets and Removes ran at once before.
func TestMinIdleConnsExactAfterChurn(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for round := 0; round < 5; round++ {
			t.Run(fmt.Sprint("round=", round), func(t *testing.T) {
				const minIdle, size = 32, 100
				e := newEnv(t, mk, shardpool.Options{PoolSize: size, MinIdleConns: minIdle})
				// A new pool dials MinIdleConns, and no more.
				settles(t, "IdleLen of a new pool", e.p.IdleLen, minIdle, 50*time.Millisecond, 5*time.Second)
				assert.EqualValues(t, minIdle, e.d.dials.Load(), "dials of a new pool")

				var wg sync.WaitGroup
				for g := 0; g < 64; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 50; i++ {
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
				settles(t, "Len after churn", e.p.Len, minIdle, 50*time.Millisecond, 5*time.Second)
				assert.Equal(t, minIdle, e.p.IdleLen())
				assert.EqualValues(t, minIdle, e.d.open(), "open connections at the dialer")
				checkInv(t, e.p)
			})
		}
	})
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
