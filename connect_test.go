package shardpool_test

// OnConnect and Conn.Value: the handshake runs once per new connection,
// before anyone gets it; its failure is a dial failure; the state it sets
// stays with the connection.

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

// session is what a client keeps per connection: here, which handshake
// made it.
type session struct{ n int32 }

// countingHandshake sets a session on each connection and counts its calls.
func countingHandshake(calls *atomic.Int32) func(context.Context, *shardpool.Conn) error {
	return func(_ context.Context, cn *shardpool.Conn) error {
		if cn.Value != nil {
			return errors.New("OnConnect ran twice on one connection")
		}
		cn.Value = &session{n: calls.Add(1)}
		cn.Inited = true
		return nil
	}
}

// Get's and NewConn's connections come with the state OnConnect set, and a
// connection keeps it across Put and Get: OnConnect runs once per
// connection, never on reuse.
func TestOnConnectRunsOncePerConnectionAndValueStays(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		var calls atomic.Int32
		e := newEnv(t, mk, shardpool.Options{PoolSize: 2, OnConnect: countingHandshake(&calls)})
		ctx := context.Background()

		a, err := e.p.Get(ctx)
		require.NoError(t, err)
		require.IsType(t, &session{}, a.Value)
		assert.True(t, a.Inited)
		sa := a.Value.(*session)
		e.p.Put(a)
		for i := 0; i < 100; i++ {
			cn, err := e.p.Get(ctx)
			require.NoError(t, err)
			assert.Same(t, sa, cn.Value, "Value changed across Put and Get")
			e.p.Put(cn)
		}
		assert.EqualValues(t, 1, calls.Load(), "OnConnect ran again on reuse")

		nc, err := e.p.NewConn(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 2, calls.Load(), "NewConn's connection skipped OnConnect")
		assert.IsType(t, &session{}, nc.Value)
		e.p.Remove(nc, nil)
	})
}

// An OnConnect that fails, or panics, fails the Get (or NewConn) with an
// error that wraps both ErrOnConnect and its own; the connection is closed
// once, without OnClose, and its place is free again.
func TestOnConnectFailureFailsTheDial(t *testing.T) {
	errAuth := errors.New("WRONGPASS")
	for _, tc := range []struct {
		name string
		fail func()
		is   error
	}{
		{"error", func() {}, errAuth},
		{"panic", func() { panic("handshake exploded") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
				const size = 8
				var failing atomic.Bool
				failing.Store(true)
				e := newEnv(t, mk, shardpool.Options{
					PoolSize: size, PoolTimeout: 20 * time.Millisecond,
					OnConnect: func(context.Context, *shardpool.Conn) error {
						if !failing.Load() {
							return nil
						}
						tc.fail()
						return errAuth
					},
				})
				for i := 0; i < size/2-1; i++ { // fewer failures than open the breaker
					_, err := e.p.Get(context.Background())
					require.ErrorIs(t, err, shardpool.ErrOnConnect)
					if tc.is != nil {
						require.ErrorIs(t, err, tc.is)
					} else {
						require.ErrorContains(t, err, "handshake exploded")
					}
					_, err = e.p.NewConn(context.Background())
					require.ErrorIs(t, err, shardpool.ErrOnConnect)
				}
				assert.Zero(t, e.p.Len(), "a failed handshake's connection is counted")
				assert.Zero(t, e.d.open(), "a failed handshake's connection was not closed")
				assert.Empty(t, e.d.doubleClosed())
				n := 0
				e.onClose.Range(func(_, _ any) bool { n++; return true })
				assert.Zero(t, n, "OnClose ran for a connection that never joined the pool")

				// Every place is free: PoolSize Gets succeed without waiting.
				failing.Store(false)
				for i := 0; i < size; i++ {
					e.get()
				}
			})
		})
	}
}

// OnConnect's failures are dial errors: PoolSize of them in a row open the
// breaker, so Get fails fast without dialing, and the probe, which runs
// OnConnect too, closes it once the handshake succeeds again. The Gets
// carry a context value that OnConnect looks for, so the test tells their
// dials from the probe's: a Get that fails fast asks the probe for an
// early attempt, which may dial at any moment after it.
func TestOnConnectFailureOpensTheBreaker(t *testing.T) {
	type getKey struct{}
	d := &fakeDialer{}
	var failing atomic.Bool
	var handshakes, getHandshakes atomic.Int32
	errAuth := errors.New("NOAUTH")
	failing.Store(true)
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 2, Dialer: d.Dial,
		OnConnect: func(ctx context.Context, _ *shardpool.Conn) error {
			handshakes.Add(1)
			if ctx.Value(getKey{}) != nil {
				getHandshakes.Add(1)
			}
			if failing.Load() {
				return errAuth
			}
			return nil
		},
	})
	ctx := context.WithValue(context.Background(), getKey{}, true)
	for i := 0; i < 2; i++ {
		_, err := p.Get(ctx)
		require.ErrorIs(t, err, errAuth)
	}
	require.EqualValues(t, 2, getHandshakes.Load())
	// The breaker is open: the probe dials, and runs OnConnect, on its own.
	require.Eventually(t, func() bool { return handshakes.Load() >= 3 }, 5*time.Second, time.Millisecond, "no probe, or the probe's dial skipped OnConnect")
	_, err := p.Get(ctx)
	require.ErrorIs(t, err, errAuth, "Get with the breaker open")
	assert.EqualValues(t, 2, getHandshakes.Load(), "Get dialed with the breaker open")

	failing.Store(false)
	var cn *shardpool.Conn
	require.Eventually(t, func() bool {
		cn, err = p.Get(context.Background())
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "the breaker stayed open after the handshake recovered")
	p.Put(cn)
	require.NoError(t, p.Close())
	testhook.WaitDials(p)
	closedExactlyOnce(t, d)
}

// MinIdleConns's background dials run OnConnect before they park: an idle
// connection always has its state.
func TestOnConnectRunsBeforeMinIdleConnsPark(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, kinds[0].make, shardpool.Options{PoolSize: 8, MinIdleConns: 4, OnConnect: countingHandshake(&calls)})
	settles(t, "IdleLen", e.p.IdleLen, 4, 20*time.Millisecond, 5*time.Second)
	assert.EqualValues(t, 4, calls.Load())
	for i := 0; i < 4; i++ {
		cn, err := e.p.Get(context.Background())
		require.NoError(t, err)
		assert.IsType(t, &session{}, cn.Value, "an idle connection without its handshake")
		defer e.p.Put(cn)
	}
}

// A handshake that would outlast DialTimeout is cut off there, whether it
// waits on its context or blocks in I/O that ignores it (the pool sets the
// net.Conn's deadline), and the failure counts as a dial error.
func TestOnConnectBoundedByDialTimeout(t *testing.T) {
	l := newLoopback(t) // accepts, never writes: a server that hangs
	for _, tc := range []struct {
		name string
		hook func(context.Context, *shardpool.Conn) error
	}{
		{"waits on ctx", func(ctx context.Context, _ *shardpool.Conn) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		{"blocks in a read", func(_ context.Context, cn *shardpool.Conn) error {
			var b [1]byte
			_, err := cn.NetConn().Read(b[:])
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int32
			p := shardpool.NewConnPool(&shardpool.Options{
				PoolSize: 4, DialTimeout: 30 * time.Millisecond, OnConnect: tc.hook,
				Dialer: func(ctx context.Context) (net.Conn, error) { dials.Add(1); return l.dial(ctx) },
			})
			defer func() { require.NoError(t, p.Close()) }()
			start := time.Now()
			var err error
			within(t, 5*time.Second, "Get with a hung handshake", func() { _, err = p.Get(context.Background()) })
			took := time.Since(start)
			require.ErrorIs(t, err, shardpool.ErrOnConnect)
			var ne net.Error
			if errors.As(err, &ne) {
				assert.True(t, ne.Timeout(), "the read failed for another reason than its deadline: %v", err)
			} else {
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}
			assert.Less(t, took, 5*time.Second, "the handshake outlived DialTimeout")
			assert.Zero(t, p.Len())
		})
	}
}

// The deadline OnConnect ran under is cleared once it succeeds: the
// connection it hands out has none.
func TestOnConnectClearsItsDeadline(t *testing.T) {
	l := newLoopback(t)
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 1, DialTimeout: 20 * time.Millisecond, Dialer: l.dial,
		OnConnect: func(context.Context, *shardpool.Conn) error { return nil },
	})
	defer func() { require.NoError(t, p.Close()) }()
	cn, err := p.Get(context.Background())
	require.NoError(t, err)
	time.Sleep(40 * time.Millisecond) // past the handshake's deadline, on purpose
	_, err = l.peer(t, 0).Write([]byte("x"))
	require.NoError(t, err)
	var b [1]byte
	_, err = cn.NetConn().Read(b[:])
	require.NoError(t, err, "the handshake's deadline outlived it")
	p.Put(cn)
}

// OnConnect may call the pool. A Get from inside it, in a full pool, waits
// like any other Get and times out (the dial holds the only place); Close
// from inside it fails the dial with ErrClosed. Nothing leaks or hangs.
func TestOnConnectCallsThePool(t *testing.T) {
	t.Run("Get", func(t *testing.T) {
		forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
			var p pool
			e := newEnv(t, mk, shardpool.Options{
				PoolSize: 1, PoolTimeout: 20 * time.Millisecond,
				OnConnect: func(ctx context.Context, cn *shardpool.Conn) error {
					_ = p.Len() + p.IdleLen()
					_ = p.Stats()
					inner, err := p.Get(ctx)
					if err == nil {
						p.Put(inner)
					}
					return err
				},
			})
			p = e.p
			within(t, 5*time.Second, "Get from OnConnect", func() {
				_, err := e.p.Get(context.Background())
				require.ErrorIs(t, err, shardpool.ErrOnConnect)
				require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
			})
			// PoolSize failures opened the breaker: its probe may be
			// dialing (and running OnConnect) now. Once the pool is
			// closed and its dials are done, nothing is left open.
			_ = e.p.Close()
			testhook.WaitDials(e.p)
			closedExactlyOnce(t, e.d)
		})
	})
	t.Run("Close", func(t *testing.T) {
		forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
			var p pool
			e := newEnv(t, mk, shardpool.Options{
				PoolSize: 2,
				OnConnect: func(context.Context, *shardpool.Conn) error {
					return p.Close()
				},
			})
			p = e.p
			within(t, 5*time.Second, "Close from OnConnect", func() {
				_, err := e.p.Get(context.Background())
				require.Error(t, err)
			})
			closedExactlyOnce(t, e.d)
		})
	})
	t.Run("Put of its own connection", func(t *testing.T) {
		var misuse atomic.Int32
		var p *shardpool.ConnPool
		d := &fakeDialer{}
		p = shardpool.NewConnPool(&shardpool.Options{
			PoolSize: 1, Dialer: d.Dial,
			OnMisuse: func(_ *shardpool.Conn, err error) {
				if errors.Is(err, shardpool.ErrUnknownConn) {
					misuse.Add(1)
				}
			},
			OnConnect: func(_ context.Context, cn *shardpool.Conn) error {
				p.Put(cn) // not the pool's yet: refused
				return nil
			},
		})
		cn, err := p.Get(context.Background())
		require.NoError(t, err)
		assert.EqualValues(t, 1, misuse.Load())
		assert.Zero(t, p.IdleLen(), "a Put from OnConnect parked the connection Get returned")
		p.Put(cn)
		require.NoError(t, p.Close())
		closedExactlyOnce(t, d)
	})
}

// Close returns promptly while a background dial's OnConnect hangs, and
// the connection is closed once that OnConnect returns.
func TestCloseDoesNotWaitForAHungOnConnect(t *testing.T) {
	d := &fakeDialer{}
	release := make(chan struct{})
	var entered atomic.Int32
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 2, MinIdleConns: 1, DialTimeout: -1, Dialer: d.Dial,
		OnConnect: func(context.Context, *shardpool.Conn) error {
			entered.Add(1)
			<-release // ignores its context
			return nil
		},
	})
	require.Eventually(t, func() bool { return entered.Load() == 1 }, 5*time.Second, time.Millisecond)
	within(t, time.Second, "Close with OnConnect hung", func() { require.NoError(t, p.Close()) })
	close(release)
	testhook.WaitDials(p)
	closedExactlyOnce(t, d)
}

// noDeadlines is a net.Conn that takes no deadlines, as some tunnels'
// connections do.
type noDeadlines struct{ *fakeConn }

func (noDeadlines) SetDeadline(time.Time) error { return errors.New("deadlines not supported") }

// A connection that takes no deadlines still gets its handshake, bounded
// by ctx alone: OnConnect runs, the dial succeeds, in Get's dials and in
// the background ones (which always have a deadline) alike.
func TestOnConnectOnAConnWithoutDeadlines(t *testing.T) {
	d := &fakeDialer{}
	var calls atomic.Int32
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 4, MinIdleConns: 1, OnConnect: countingHandshake(&calls),
		Dialer: func(ctx context.Context) (net.Conn, error) {
			c, err := d.Dial(ctx)
			if err != nil {
				return nil, err
			}
			return noDeadlines{c.(*fakeConn)}, nil
		},
	})
	settles(t, "IdleLen", p.IdleLen, 1, 20*time.Millisecond, 5*time.Second)
	a, err := p.Get(context.Background())
	require.NoError(t, err)
	b, err := p.Get(context.Background())
	require.NoError(t, err)
	assert.IsType(t, &session{}, a.Value)
	assert.IsType(t, &session{}, b.Value)
	p.Put(a)
	p.Put(b)
	require.NoError(t, p.Close())
	testhook.WaitDials(p)
	closedExactlyOnce(t, d)
}
