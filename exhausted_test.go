package shardpool

import (
	"context"
	"testing"
	"time"

	"github.com/shardpool/shardpool/internal/testhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Get that finds MaxWaiters Gets waiting is refused only if it could not
// take an idle connection or dial. The queue is held full here by a waiter
// that no Get owns, so that an idle connection and a free place can sit
// beside a full queue, which real Gets only see for a moment.
func TestExhaustedGetTakesIdleOrDialsFirst(t *testing.T) {
	p, _ := newPipePool(t, Options{PoolSize: 2, MaxWaiters: 1, PoolTimeout: time.Hour})
	ctx := context.Background()
	a, err := p.Get(ctx)
	require.NoError(t, err)
	p.Put(a)

	w := &waiter{ch: make(chan *Conn, 1)}
	require.Equal(t, queuedFirst, p.waiters.enqueue(w, p.clock.exact()))
	defer p.waiters.remove(w)

	got, err := p.Get(ctx)
	require.NoError(t, err, "an idle connection was there to take")
	assert.Same(t, a, got)
	b, err := p.Get(ctx)
	require.NoError(t, err, "a place was free to dial into")
	_, err = p.Get(ctx)
	require.ErrorIs(t, err, ErrPoolExhausted)
	st := p.Stats()
	assert.EqualValues(t, 1, st.Exhausted)
	assert.EqualValues(t, 2, st.Misses)
	require.True(t, p.waiters.remove(w))
	p.Put(got)
	p.Put(b)
}

// A Get that loaded the size just before a SetPoolSize shrank the pool
// must not dial into a place the old size allowed: from the moment
// SetPoolSize returns, no dial starts while the pool holds the new size.
// The hook runs the shrink inside that window.
func TestNoDialBeyondASizeSetMeanwhile(t *testing.T) {
	p, d := newPipePool(t, Options{PoolSize: 2, PoolTimeout: 20 * time.Millisecond})
	a, err := p.Get(context.Background())
	require.NoError(t, err)
	testhook.AfterSizeLoad = func(pool any) {
		p := pool.(*ConnPool)
		testhook.AfterSizeLoad = nil // once; only this goroutine dials here
		require.NoError(t, p.SetPoolSize(1))
	}
	t.Cleanup(func() { testhook.AfterSizeLoad = nil })

	_, err = p.Get(context.Background()) // loaded size 2; the pool holds 1 of 1
	require.ErrorIs(t, err, ErrPoolTimeout)
	assert.EqualValues(t, 1, d.attempts.Load(), "a dial beyond the new size")
	require.NoError(t, p.CheckQuiet())
	p.Put(a)
}
