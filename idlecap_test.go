package shardpool_test

// MaxIdleConns: a Put that would park a connection beyond the cap closes it
// instead (after serving a waiting Get), under load as when quiet, and the
// cap bounds what MinIdleConns keeps.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

func TestMaxIdleConnsClosesWhatWouldExceedIt(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 16, MaxIdleConns: 3})
	for round := 0; round < 20; round++ {
		cns := getAll(t, e.p, 16)
		putAllConcurrently(e.p, cns)
		require.NoError(t, p.CheckInvariants())
		// Exact once quiet: as many idle as the cap, the rest closed.
		e.lens(3, 3)
		assert.EqualValues(t, 3, e.d.open(), "round %d", round)
		require.NoError(t, p.CheckQuiet())
	}
	st := e.p.Stats()
	assert.EqualValues(t, e.d.dials.Load()-3, st.IdleCapConns, "every close beyond the cap counted")
	assert.Empty(t, e.d.doubleClosed())
}

func TestMaxIdleConnsNeverExceededUnderLoad(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 12, MaxIdleConns: 4, PoolTimeout: 5 * time.Second})
	stop := everyUntilStopped(100*time.Microsecond, func() {
		if err := p.CheckInvariants(); err != nil {
			t.Error(err)
		}
	})
	var wg sync.WaitGroup
	for g := 0; g < 24; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				cn, err := e.p.Get(context.Background())
				if !assert.NoError(t, err) {
					return
				}
				if i%5 == 0 {
					time.Sleep(20 * time.Microsecond)
				}
				e.p.Put(cn)
			}
		}()
	}
	wg.Wait()
	stop()
	assert.LessOrEqual(t, e.p.IdleLen(), 4)
	require.NoError(t, p.CheckQuiet())
	// Quiet, a Put is refused only when 4 are idle: fill up to the cap.
	cns := getAll(t, e.p, 12)
	putAllConcurrently(e.p, cns)
	e.lens(4, 4)
}

func TestMaxIdleConnsHandsToAWaiterFirst(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 2, MaxIdleConns: 1})
	a, b := e.get(), e.get()
	got := make(chan *shardpool.Conn)
	go func() { cn, _ := e.p.Get(context.Background()); got <- cn }()
	e.waitQueued(1)
	e.p.Put(b)
	e.p.Put(a) // one idle: at the cap
	c := <-got
	assert.Same(t, b, c, "the waiter got the connection, not a close")
	e.p.Put(c) // would be a second idle: closed
	e.lens(1, 1)
	assert.EqualValues(t, 1, e.closes(b))
	assert.EqualValues(t, 1, e.p.Stats().IdleCapConns)
}

func TestMaxIdleConnsCapsMinIdleConns(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 10, MinIdleConns: 6, MaxIdleConns: 2})
	require.Eventually(t, func() bool { return e.p.IdleLen() == 2 }, 5*time.Second, time.Millisecond)
	testhook.WaitDials(e.p) // a dial beyond the cap would show now
	e.lens(2, 2)
	assert.EqualValues(t, 2, e.d.dials.Load())
}
