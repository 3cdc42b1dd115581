package shardpool_test

// SetPoolSize: growing serves the waiting Gets; shrinking closes the idle
// surplus at once (longest idle first) and the rest as it comes back, dials
// nothing while the pool holds more than its size, and caps MinIdleConns
// and MaxIdleConns. resize_internal_test.go has a shrink racing a Get's
// dial; breaker_test.go, a shrink that must not open the breaker.

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

func TestSetPoolSizeGrowingServesWaiters(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 1, PoolTimeout: 10 * time.Second})
	held := e.get()
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			cn, err := e.p.Get(context.Background())
			if err == nil {
				e.p.Put(cn)
			}
			errs <- err
		}()
	}
	e.waitQueued(3)
	require.NoError(t, p.SetPoolSize(4))
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("waiting Gets not served after the pool grew")
		}
	}
	e.p.Put(held)
	assert.EqualValues(t, 4, e.p.Stats().PoolSize)
	assert.LessOrEqual(t, e.d.dials.Load(), int64(4))
}

func TestSetPoolSizeShrinking(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 6, PoolTimeout: 20 * time.Millisecond, IdleTimeout: time.Hour})
	advance := testhook.ManualClock(p)
	cns := getN(t, e.p, 6, 6)
	out, idle := cns[:3], cns[3:]
	for _, cn := range idle { // idle at 1s, 2s, 3s
		advance(time.Second)
		e.p.Put(cn)
	}
	require.NoError(t, p.SetPoolSize(2))
	// Idle surplus closed at once, longest idle first: all three here,
	// since the three checked out are surplus too.
	e.lens(3, 0)
	for _, cn := range idle {
		assert.EqualValues(t, 1, e.closes(cn))
	}
	assert.EqualValues(t, 2, e.p.Stats().PoolSize)

	// Holding 3 of 2: a Get waits instead of dialing.
	_, err := e.p.Get(context.Background())
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	assert.EqualValues(t, 6, e.d.dials.Load(), "no dial while the pool holds more than its size")

	// The first Put closes the surplus one; the next ones park.
	e.p.Put(out[0])
	assert.EqualValues(t, 1, e.closes(out[0]))
	e.p.Put(out[1])
	e.p.Put(out[2])
	e.lens(2, 2)
	assert.EqualValues(t, 4, e.p.Stats().ShrunkConns)
	assert.Zero(t, e.closes(out[1])+e.closes(out[2]))
	e.p.Put(e.get()) // still a pool
	assert.EqualValues(t, 6, e.d.dials.Load())
	require.NoError(t, p.CheckQuiet())
}

func TestSetPoolSizeShrinkClosesLongestIdleFirst(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		e, p := newCapEnv(t, shardpool.Options{PoolSize: 5, PoolFIFO: fifo, IdleTimeout: time.Hour})
		advance := testhook.ManualClock(p)
		cns := getAll(t, e.p, 5) // from several shards
		for _, cn := range cns {
			advance(time.Second)
			e.p.Put(cn)
		}
		require.NoError(t, p.SetPoolSize(2))
		e.lens(2, 2)
		for i, cn := range cns {
			want := int32(0)
			if i < 3 {
				want = 1
			}
			assert.Equal(t, want, e.closes(cn), "fifo %v: connection put %d", fifo, i)
		}
	}
}

func TestSetPoolSizeInFlightDialIsSurplus(t *testing.T) {
	release := make(chan struct{})
	var dials atomic.Int32
	d := &fakeDialer{}
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 2, PoolTimeout: 20 * time.Millisecond,
		Dialer: func(ctx context.Context) (net.Conn, error) {
			if dials.Add(1) == 2 {
				<-release
			}
			return d.Dial(ctx)
		}})
	e.d = d
	a := e.get()
	got := make(chan *shardpool.Conn)
	go func() { cn, _ := e.p.Get(context.Background()); got <- cn }()
	require.Eventually(t, func() bool { return dials.Load() == 2 }, 5*time.Second, time.Millisecond)
	require.NoError(t, p.SetPoolSize(1))
	close(release)
	b := <-got
	require.NotNil(t, b, "the dial under way finishes")
	e.p.Put(b) // surplus: closed
	e.lens(1, 0)
	_, err := e.p.Get(context.Background())
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	e.p.Put(a)
	e.lens(1, 1)
	assert.EqualValues(t, 2, d.dials.Load())
}

func TestSetPoolSizeCapsIdleOptions(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 8, MinIdleConns: 6, MaxIdleConns: 5})
	require.Eventually(t, func() bool { return e.p.IdleLen() == 5 }, 5*time.Second, time.Millisecond)
	st := e.p.Stats()
	assert.Equal(t, [3]uint32{8, 5, 5}, [3]uint32{st.PoolSize, st.MinIdleConns, st.MaxIdleConns})
	require.NoError(t, p.SetPoolSize(3))
	e.lens(3, 3)
	st = e.p.Stats()
	assert.Equal(t, [3]uint32{3, 3, 3}, [3]uint32{st.PoolSize, st.MinIdleConns, st.MaxIdleConns}, "capped by the size")
	require.NoError(t, p.SetPoolSize(10))
	st = e.p.Stats()
	assert.Equal(t, [3]uint32{10, 5, 5}, [3]uint32{st.PoolSize, st.MinIdleConns, st.MaxIdleConns})
	require.Eventually(t, func() bool { return e.p.IdleLen() == 5 }, 5*time.Second, time.Millisecond,
		"MinIdleConns back to its cap, MaxIdleConns")
	testhook.WaitDials(e.p)
	e.lens(5, 5)
	require.NoError(t, p.CheckQuiet())
}

func TestSetPoolSizeBadInput(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 3})
	require.NoError(t, p.SetPoolSize(0))
	def := shardpool.NewConnPool(nil)
	assert.EqualValues(t, def.Stats().PoolSize, e.p.Stats().PoolSize, "0 means the default")
	require.NoError(t, def.Close())
	require.NoError(t, p.SetPoolSize(-7))
	require.NoError(t, e.p.Close())
	assert.ErrorIs(t, p.SetPoolSize(5), shardpool.ErrClosed)
}
