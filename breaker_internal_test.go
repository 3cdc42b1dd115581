package shardpool

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// While Gets keep meeting the open breaker, the probe dials as soon as
// ProbeGap allows instead of waiting out ProbeInterval: here the interval
// is an hour, so only a Get's request can bring the next attempt.
func TestProbeComesSoonerWhileGetsFailFast(t *testing.T) {
	p, d := newPipePool(t, Options{PoolSize: 1})
	d.down.Store(true)
	p.breaker.every, p.breaker.gap = time.Hour, time.Millisecond // before any probe runs
	ctx := context.Background()
	_, err := p.Get(ctx) // PoolSize 1: one failure opens the breaker
	require.Error(t, err)
	// The probe's first attempt comes at once, and fails.
	require.Eventually(t, func() bool { return d.attempts.Load() >= 2 }, 5*time.Second, time.Millisecond)
	d.down.Store(false)
	require.Eventually(t, func() bool {
		cn, err := p.Get(ctx) // fails fast, and asks the probe to try now
		if err != nil {
			return false
		}
		p.Put(cn)
		return true
	}, 5*time.Second, 5*time.Millisecond, "the breaker stayed open: the probe waited out its interval")
}
