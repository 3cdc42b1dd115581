package shardpool

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// While Gets keep meeting the open breaker, the probe dials as soon as
// probeGap allows instead of waiting out probeInterval: here the interval
// is an hour, so only a Get's request can bring the next attempt.
func TestProbeComesSoonerWhileGetsFailFast(t *testing.T) {
	var (
		down     atomic.Bool
		attempts atomic.Int32
		mu       sync.Mutex
		peers    []net.Conn
	)
	down.Store(true)
	p := NewConnPool(&Options{PoolSize: 1, Dialer: func(context.Context) (net.Conn, error) {
		attempts.Add(1)
		if down.Load() {
			return nil, errors.New("server down")
		}
		a, b := net.Pipe()
		mu.Lock()
		peers = append(peers, b)
		mu.Unlock()
		return a, nil
	}})
	p.probeEvery, p.probeGap = time.Hour, time.Millisecond // before any probe runs
	defer func() {
		require.NoError(t, p.Close())
		testWaitDials(p)
		mu.Lock()
		defer mu.Unlock()
		for _, c := range peers {
			_ = c.Close()
		}
	}()
	ctx := context.Background()
	_, err := p.Get(ctx) // PoolSize 1: one failure opens the breaker
	require.Error(t, err)
	// The probe's first attempt comes at once, and fails.
	require.Eventually(t, func() bool { return attempts.Load() >= 2 }, 5*time.Second, time.Millisecond)
	down.Store(false)
	require.Eventually(t, func() bool {
		cn, err := p.Get(ctx) // fails fast, and asks the probe to try now
		if err != nil {
			return false
		}
		p.Put(cn)
		return true
	}, 5*time.Second, 5*time.Millisecond, "the breaker stayed open: the probe waited out its interval")
}

// testWaitDials waits for the background dials of a closed pool.
func testWaitDials(p *ConnPool) { p.dials.Wait() }
