package shardpool

import (
	"context"
	"testing"
	"time"

	"github.com/shardpool/shardpool/internal/testhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
