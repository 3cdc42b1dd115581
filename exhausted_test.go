package shardpool

import (
	"context"
	"testing"
	"time"

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
