package shardpool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardpool/shardpool/internal/testhook"
	"github.com/stretchr/testify/require"
)

// A top-up that runs while a MinIdleConns dial's connection is both parked
// and still counted as being dialed counts it twice and dials too little;
// the check that follows the dial's end must make that up. Here a Get takes
// the connection and Removes it inside that window, so the Remove's top-up
// sees no idle connection but one dial "under way", and dials nothing.
func TestMinIdleConnsCheckAfterDialEnds(t *testing.T) {
	var done atomic.Bool
	testhook.AfterIdleConnParked = func(pool any) {
		p := pool.(*ConnPool)
		if done.Swap(true) {
			return
		}
		cn, err := p.Get(context.Background())
		require.NoError(t, err)
		p.Remove(cn, nil)
	}
	defer func() { testhook.AfterIdleConnParked = nil }()

	p := NewConnPool(&Options{PoolSize: 4, MinIdleConns: 1, Dialer: pipeDialer(t)})
	defer func() {
		require.NoError(t, p.Close())
		p.dials.Wait() // before the hook is unset
	}()
	require.Eventually(t, func() bool { return done.Load() && p.IdleLen() == 1 }, 5*time.Second, time.Millisecond,
		"MinIdleConns left short after a connection was counted twice")
}
