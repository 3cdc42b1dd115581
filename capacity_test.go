package shardpool_test

// Capacity control, shardpool's own: MaxIdleConns, SetPoolSize, Shutdown,
// MaxWaiters and leak detection.

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
)

func TestMaxWaitersShedsLoad(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 1, MaxWaiters: 2, PoolTimeout: time.Minute})
	a := e.get()
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			cn, err := e.p.Get(context.Background())
			if err == nil {
				e.p.Put(cn)
			}
			errs <- err
		}()
	}
	e.waitQueued(2)
	refused := make(chan error, 1)
	go func() { _, err := e.p.Get(context.Background()); refused <- err }()
	select {
	case err := <-refused:
		require.ErrorIs(t, err, shardpool.ErrPoolExhausted)
	case <-time.After(5 * time.Second):
		t.Fatal("a Get beyond MaxWaiters waited")
	}
	st := e.p.Stats()
	assert.EqualValues(t, 1, st.Exhausted)
	assert.EqualValues(t, 2, st.PendingRequests)
	assert.EqualValues(t, 2, st.WaitCount, "a refused Get is not counted as waiting")
	e.p.Put(a)
	for i := 0; i < 2; i++ {
		require.NoError(t, <-errs)
	}
}

func TestCapacityOptionsNormalized(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 2, MaxIdleConns: -1, MaxWaiters: -1, LeakThreshold: -time.Second,
		OnLeak: func(shardpool.Leak) { panic("no leak detection with a negative threshold") }})
	a, b := e.get(), e.get()
	e.p.Put(a)
	e.p.Put(b)
	e.lens(2, 2) // no idle cap
	assert.Zero(t, e.p.Stats().Leaks)
}
