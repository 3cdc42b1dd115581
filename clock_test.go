package shardpool

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A pool that sees no Get for quietAfter stops its clock: it does not wake
// at all until it is used again. The first read after the quiet spell is
// as exact as one during traffic: a connection idle longer than
// IdleTimeout across the spell is stale.
func TestQuietPoolStopsItsClock(t *testing.T) {
	const idle = 1500 * time.Millisecond
	// No reaper: its sweeps read the clock (refresh), which this test
	// must see stay put while the pool is quiet.
	p := NewConnPool(&Options{PoolSize: 2, IdleTimeout: idle, IdleCheckFrequency: -1, Dialer: pipeDialer(t)})
	defer func() { require.NoError(t, p.Close()) }()

	cn, err := p.Get(context.Background())
	require.NoError(t, err)
	p.Put(cn)
	parked := time.Now()

	require.Eventually(t, p.clock.dormant.Load, 5*time.Second, time.Millisecond, "the clock never stopped")
	at := p.clock.now.Load()
	time.Sleep(10 * p.clock.res) // ten ticks' worth of time, with no tick
	assert.Equal(t, at, p.clock.now.Load(), "the clock ticked while dormant")

	// Wait out IdleTimeout on the wall clock; the pool's clock stays put.
	time.Sleep(time.Until(parked.Add(idle + 100*time.Millisecond)))
	require.True(t, p.clock.dormant.Load())
	again, err := p.Get(context.Background())
	require.NoError(t, err)
	assert.NotSame(t, cn, again, "handed out a connection idle past IdleTimeout")
	assert.EqualValues(t, 1, p.Stats().StaleConns)
	assert.False(t, p.clock.dormant.Load(), "a Get wakes the clock")
	p.Put(again)
}
