package shardpool_test

// Health checks: Get checks connections idle for HealthCheckIdle or longer,
// drops the ones that fail, and checks nothing else.

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

// wrapped is a net.Conn wrapper that exposes what it wraps, as a metrics
// or tracing wrapper should for the pool's health check to see through it.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// dual is a wrapper that offers a socket of its own as well as what it
// wraps, as a wrapper must for go-redis v9's health check, here one that
// cannot give it: the check must use the conn it wraps.
type dual struct{ net.Conn }

func (d dual) NetConn() net.Conn { return d.Conn }
func (d dual) SyscallConn() (syscall.RawConn, error) {
	return nil, errors.New("dual: no socket of its own")
}

// transports are the net.Conns the built-in check must see through: a
// bare TCP conn, one and two wrappers, TLS, a wrapper over TLS, and a
// wrapper that also offers a socket of its own, over TCP and over TLS.
var transports = []struct {
	name string
	tls  bool
	wrap func(net.Conn) net.Conn
}{
	{"tcp", false, func(c net.Conn) net.Conn { return c }},
	{"wrapped", false, func(c net.Conn) net.Conn { return wrapped{c} }},
	{"wrapped twice", false, func(c net.Conn) net.Conn { return wrapped{wrapped{c}} }},
	{"tls", true, func(c net.Conn) net.Conn { return c }},
	{"wrapped tls", true, func(c net.Conn) net.Conn { return wrapped{c} }},
	{"dual", false, func(c net.Conn) net.Conn { return dual{c} }},
	{"dual tls", true, func(c net.Conn) net.Conn { return dual{c} }},
}

// pendingOnSocket reports whether bytes wait on the TCP socket under cn,
// without taking them: the test's own look at what the check sees.
func pendingOnSocket(t *testing.T, cn *shardpool.Conn) bool {
	nc := cn.NetConn()
	for {
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = w.NetConn()
	}
	raw, err := nc.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var n int
	require.NoError(t, raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}))
	return n > 0
}

// The built-in check, on real TCP connections, bare, wrapped and under
// TLS: a connection the server closed or reset, or (outside TLS) one with
// bytes nobody asked for, is dropped and replaced, and the caller never
// sees an error; a healthy one is handed out again, under TLS even with a
// record from the server still unread.
func TestBuiltInHealthCheckOnLoopbackTCP(t *testing.T) {
	for _, tr := range transports {
		for _, fault := range []string{"server closed", "server reset", "unexpected bytes", "none"} {
			if tr.tls && fault == "unexpected bytes" {
				continue // under TLS, unread bytes are not a failure
			}
			t.Run(tr.name+"/"+fault, func(t *testing.T) {
				testBuiltInHealthCheck(t, tr.tls, tr.wrap, fault)
			})
		}
	}
}

func testBuiltInHealthCheck(t *testing.T, overTLS bool, wrap func(net.Conn) net.Conn, fault string) {
	l := newLoopback(t)
	if overTLS {
		l = newTLSLoopback(t)
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		c, err := l.dial(ctx)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}
	p := shardpool.NewConnPool(&shardpool.Options{PoolSize: 2, HealthCheckIdle: time.Hour, Dialer: dial})
	defer func() { _ = p.Close() }()
	advance := testhook.ManualClock(p)

	a, err := p.Get(context.Background())
	require.NoError(t, err)
	p.Put(a)
	if overTLS {
		// A record the client has not read, as a TLS 1.3 session ticket
		// sent after the handshake would be (Go's server sends its tickets
		// in the handshake's flight, where the client's handshake reads
		// them, so the test sends one of its own): the check must not
		// count it as a failure, nor let it hide a close behind it.
		_, err := l.peer(t, 0).Write([]byte("ticket"))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return pendingOnSocket(t, a) }, 5*time.Second, time.Millisecond,
			"the record never reached the client's socket")
	}
	switch fault {
	case "server closed":
		require.NoError(t, l.peer(t, 0).Close())
	case "server reset":
		l.reset(t, 0)
	case "unexpected bytes":
		_, err := l.peer(t, 0).Write([]byte("+late reply\r\n"))
		require.NoError(t, err)
	}
	// Let the FIN, RST or bytes reach the client's socket: the check does
	// not wait. A read would consume them, so poll the kernel through the
	// check itself.
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
