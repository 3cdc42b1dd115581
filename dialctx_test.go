package shardpool

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A dial's context keeps context's contract, lazily: its deadline is the
// earlier of its parent's and its own, it ends at that deadline, when its
// parent ends, or at release, and Err is nil exactly while Done is open.
func TestBoundedCtx(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		c := boundedFrom(context.Background(), time.Now(), time.Hour)
		dl, ok := c.Deadline()
		assert.True(t, ok)
		assert.InDelta(t, float64(time.Hour), float64(time.Until(dl)), float64(time.Minute))
		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pdl, _ := parent.Deadline()
		dl, _ = boundedFrom(parent, time.Now(), time.Hour).Deadline()
		assert.Equal(t, pdl, dl, "the parent's earlier deadline")
		c.release()
	})
	t.Run("expires without Done", func(t *testing.T) {
		c := boundedFrom(context.Background(), time.Now(), 20*time.Millisecond)
		assert.NoError(t, c.Err())
		require.Eventually(t, func() bool { return c.Err() != nil }, 5*time.Second, time.Millisecond)
		assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
		assert.True(t, closed(c.Done()), "Done made after the end is closed")
	})
	t.Run("expires with Done", func(t *testing.T) {
		c := boundedFrom(context.Background(), time.Now(), 20*time.Millisecond)
		done := c.Done()
		assert.False(t, closed(done))
		assert.NoError(t, c.Err())
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Done never closed at the deadline")
		}
		assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	})
	t.Run("parent ends", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		c := boundedFrom(parent, time.Now(), time.Hour)
		done := c.Done()
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Done never closed when the parent ended")
		}
		assert.ErrorIs(t, c.Err(), context.Canceled)
		c.release()
		assert.ErrorIs(t, c.Err(), context.Canceled)
	})
	t.Run("release", func(t *testing.T) {
		c := boundedFrom(context.Background(), time.Now(), time.Hour)
		done := c.Done()
		c.release()
		assert.True(t, closed(done))
		assert.ErrorIs(t, c.Err(), context.Canceled)
		c.release() // twice: a no-op
		var unbounded *boundedCtx
		unbounded.release()
	})
	t.Run("Err implies Done", func(t *testing.T) {
		for i := 0; i < 200; i++ {
			c := boundedFrom(context.Background(), time.Now(), time.Duration(i%5)*time.Microsecond)
			done := c.Done()
			for c.Err() == nil {
			}
			require.True(t, closed(done), "Err set while Done was open")
		}
	})
}

// A dial whose Dialer never asks for Done costs the bound one allocation:
// no timer.
func TestBoundedCtxAllocatesOnce(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		c := boundedFrom(context.Background(), time.Now(), time.Second)
		_, _ = c.Deadline()
		_ = c.Err()
		c.release()
	})
	assert.Equal(t, 1.0, allocs)
}

// Contexts derived from a dial's context follow it without a goroutine of
// their own, as they follow a WithDeadline context: a net.Dialer hangs an
// AfterFunc on it for every connect.
func TestBoundedCtxChildrenNeedNoGoroutine(t *testing.T) {
	const n = 100
	before := runtime.NumGoroutine()
	parents := make([]*boundedCtx, n)
	stops := make([]func() bool, n)
	for i := range parents {
		parents[i] = boundedFrom(context.Background(), time.Now(), time.Hour)
		stops[i] = context.AfterFunc(parents[i], func() {})
		_, cancel := context.WithCancel(parents[i])
		defer cancel()
	}
	assert.Less(t, runtime.NumGoroutine()-before, n/2, "a goroutine per derived context")
	for i, c := range parents {
		stops[i]()
		c.release()
		assert.True(t, closed(c.Done()))
	}
}

// A release that races the first asks for Done ends the context whoever
// wins, and the askers get one channel between them; Err agrees.
func TestBoundedCtxReleaseRacesDone(t *testing.T) {
	rounds := 20000
	if testing.Short() {
		rounds = 5000
	}
	for i := 0; i < rounds; i++ {
		c := boundedFrom(context.Background(), time.Now(), time.Hour)
		var dones [2]<-chan struct{}
		var wg sync.WaitGroup
		var ready sync.WaitGroup
		start := make(chan struct{})
		wg.Add(3)
		ready.Add(3)
		for j := range dones {
			j := j
			go func() { defer wg.Done(); ready.Done(); <-start; dones[j] = c.Done() }()
		}
		go func() { defer wg.Done(); ready.Done(); <-start; c.release() }()
		ready.Wait()
		close(start) // all three at once, as far as the scheduler lets them
		wg.Wait()
		require.Equal(t, dones[0], dones[1], "two Done channels")
		require.True(t, closed(dones[0]), "released, and Done open")
		require.ErrorIs(t, c.Err(), context.Canceled)
	}
}

// boundedFrom bounds parent by the deadline now + d, as a dial that
// started at now does.
func boundedFrom(parent context.Context, now time.Time, d time.Duration) *boundedCtx {
	return newBoundedCtx(parent, int64(now.Sub(monoEpoch)+d))
}
