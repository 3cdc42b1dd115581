package shardpool_test

// Health checks: Get checks connections idle for HealthCheckIdle or longer,
// drops the ones that fail, and checks nothing else.

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
	"github.com/shardpool/shardpool/internal/testhook"
)

// loopback is a TCP server on 127.0.0.1 that keeps the server side of every
// connection it accepts, in order, for the test to close or write to.
type loopback struct {
	ln    net.Listener
	mu    sync.Mutex
	peers []net.Conn
	wg    sync.WaitGroup
}

func newLoopback(t *testing.T) *loopback {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &loopback{ln: ln}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.peers = append(l.peers, c)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		l.wg.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.peers {
			_ = c.Close()
		}
	})
	return l
}

func (l *loopback) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", l.ln.Addr().String())
}

// peer returns the server side of the i-th connection, once accepted.
func (l *loopback) peer(t *testing.T, i int) net.Conn {
	t.Helper()
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.peers) > i }, 5*time.Second, time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peers[i]
}

// The built-in check, on real TCP connections: a connection the server
// closed, or one with bytes nobody asked for, is dropped and replaced, and
// the caller never sees an error; a healthy one is handed out again.
func TestBuiltInHealthCheckOnLoopbackTCP(t *testing.T) {
	for _, fault := range []string{"server closed", "unexpected bytes", "none"} {
		t.Run(fault, func(t *testing.T) {
			l := newLoopback(t)
			p := shardpool.NewConnPool(&shardpool.Options{PoolSize: 2, HealthCheckIdle: time.Hour, Dialer: l.dial})
			defer func() { _ = p.Close() }()
			advance := testhook.ManualClock(p)

			a, err := p.Get(context.Background())
			require.NoError(t, err)
			p.Put(a)
			switch fault {
			case "server closed":
				require.NoError(t, l.peer(t, 0).Close())
			case "unexpected bytes":
				_, err := l.peer(t, 0).Write([]byte("+late reply\r\n"))
				require.NoError(t, err)
			}
			// Let the FIN or the bytes reach the client's socket: the
			// check reads without waiting. A read with a deadline would
			// consume them, so poll the kernel through the check itself.
			if fault != "none" {
				require.Eventually(t, func() bool {
					return shardpool.CheckConn(a) != nil
				}, 5*time.Second, time.Millisecond, "the fault never reached the client's socket")
			}

			advance(time.Hour) // idle for HealthCheckIdle: checked
			b, err := p.Get(context.Background())
			require.NoError(t, err, "a failed check must not reach the caller")
			defer p.Put(b)
			st := p.Stats()
			if fault == "none" {
				assert.Same(t, a, b, "a healthy connection is handed out again")
				assert.Zero(t, st.Unhealthy)
				return
			}
			assert.NotSame(t, a, b, "the unhealthy connection was handed out")
			assert.EqualValues(t, 1, st.Unhealthy)
			assert.EqualValues(t, 2, st.Misses, "dialed a replacement")
			assert.Equal(t, 1, p.Len())
		})
	}
}

// Connections idle for less than HealthCheckIdle are handed out unchecked:
// a busy pool pays nothing for checks. Once one has been idle that long, it
// is checked exactly once, by the Get that takes it.
func TestHealthCheckSkipsRecentlyUsedConnections(t *testing.T) {
	d := &fakeDialer{}
	var checks atomic.Int32
	p := shardpool.NewConnPool(&shardpool.Options{
		PoolSize: 4, HealthCheckIdle: time.Minute, Dialer: d.Dial,
		HealthCheck: func(*shardpool.Conn) error { checks.Add(1); return nil },
	})
	defer func() { require.NoError(t, p.Close()) }()
	advance := testhook.ManualClock(p)
	for i := 0; i < 1000; i++ {
		cn, err := p.Get(context.Background())
		require.NoError(t, err)
		if i%100 == 0 {
			advance(time.Second) // time passes, but never a minute of idleness
		}
		p.Put(cn)
	}
	assert.Zero(t, checks.Load(), "checked connections in use")

	advance(time.Minute)
	cn, err := p.Get(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, checks.Load())
	p.Put(cn)
	cn, err = p.Get(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, checks.Load(), "checked again right after its last use")
	p.Put(cn)
}

// A check that fails or panics drops the connection (counted in Unhealthy,
// closed once) and Get moves on; negative HealthCheckIdle turns checks off.
func TestHealthCheckFailuresAndOff(t *testing.T) {
	errSick := errors.New("sick")
	for _, tc := range []struct {
		name  string
		idle  time.Duration
		check func(*shardpool.Conn) error
		drops bool
	}{
		{"fails", time.Minute, func(*shardpool.Conn) error { return errSick }, true},
		{"panics", time.Minute, func(*shardpool.Conn) error { panic("check panicked") }, true},
		{"off", -1, func(*shardpool.Conn) error { return errSick }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDialer{}
			p := shardpool.NewConnPool(&shardpool.Options{PoolSize: 4, HealthCheckIdle: tc.idle, HealthCheck: tc.check, Dialer: d.Dial})
			advance := testhook.ManualClock(p)
			conns := make([]*shardpool.Conn, 3)
			for i := range conns {
				var err error
				conns[i], err = p.Get(context.Background())
				require.NoError(t, err)
			}
			for _, cn := range conns {
				p.Put(cn)
			}
			advance(time.Hour)
			cn, err := p.Get(context.Background())
			require.NoError(t, err)
			st := p.Stats()
			if tc.drops {
				// Every idle one failed in turn; then Get dialed.
				assert.EqualValues(t, 3, st.Unhealthy)
				assert.EqualValues(t, 4, d.dials.Load())
				assert.Equal(t, 1, p.Len())
			} else {
				assert.Zero(t, st.Unhealthy)
				assert.EqualValues(t, 3, d.dials.Load())
			}
			p.Put(cn)
			require.NoError(t, p.Close())
			closedExactlyOnce(t, d)
		})
	}
}
