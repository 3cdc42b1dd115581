package shardpool_test

// Leak detection: a connection held past LeakThreshold reported once per
// checkout with the Get's caller, named in PoolTimeoutError, and reports
// going on without OnLeak or after it panicked.

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
)

// leakLog collects OnLeak's reports.
type leakLog struct {
	mu    sync.Mutex
	leaks []shardpool.Leak
}

func (l *leakLog) add(k shardpool.Leak) { l.mu.Lock(); l.leaks = append(l.leaks, k); l.mu.Unlock() }

// of returns the reports of cn.
func (l *leakLog) of(cn *shardpool.Conn) []shardpool.Leak {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []shardpool.Leak
	for _, k := range l.leaks {
		if k.Conn == cn {
			out = append(out, k)
		}
	}
	return out
}

func TestLeakReportedOncePerCheckout(t *testing.T) {
	var log leakLog
	const threshold = 30 * time.Millisecond
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 4, LeakThreshold: threshold, OnLeak: log.add})
	reported := func(cn *shardpool.Conn, n int) {
		t.Helper()
		require.Eventually(t, func() bool { return len(log.of(cn)) >= n }, 5*time.Second, time.Millisecond)
	}

	leaked, err := e.p.Get(context.Background())
	require.NoError(t, err)
	start := time.Now()
	returned := e.get()
	e.p.Put(returned) // back at once: never reported
	reported(leaked, 1)
	assert.Empty(t, log.of(returned))
	k := log.of(leaked)[0]
	assert.GreaterOrEqual(t, k.Held, threshold)
	assert.LessOrEqual(t, k.Held, time.Since(start))
	first, _, _ := strings.Cut(k.Stack, "\n")
	assert.Equal(t, "github.com/shardpool/shardpool_test.TestLeakReportedOncePerCheckout", first,
		"the stack starts at the Get's caller:\n%s", k.Stack)
	assert.Contains(t, k.Stack, "leak_test.go:")

	// Later checks have run once a connection taken after the report is
	// reported too; the first is still reported once.
	clock := e.get()
	reported(clock, 1)
	assert.Len(t, log.of(leaked), 1, "a leak reported twice")

	// A new checkout of the same connection is a new leak.
	e.p.Put(leaked)
	again := e.get()
	require.Same(t, leaked, again, "LIFO: the same connection")
	reported(leaked, 2)
	assert.EqualValues(t, 3, e.p.Stats().Leaks)
	e.p.Put(again)
	e.p.Put(clock)
}

func TestLeakNamedInTimeoutError(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 1, LeakThreshold: time.Hour, PoolTimeout: 20 * time.Millisecond})
	held, err := e.p.Get(context.Background())
	require.NoError(t, err)
	_, err = e.p.Get(context.Background())
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	var te *shardpool.PoolTimeoutError
	require.ErrorAs(t, err, &te)
	assert.GreaterOrEqual(t, te.OldestCheckout, 20*time.Millisecond)
	assert.Contains(t, te.OldestCheckoutAt, "shardpool_test.TestLeakNamedInTimeoutError (")
	assert.Contains(t, err.Error(), "; oldest checkout: held ")
	assert.Contains(t, err.Error(), "leak_test.go:")
	e.p.Put(held)

	// Without LeakThreshold the message has no such part.
	e2, _ := newCapEnv(t, shardpool.Options{PoolSize: 1, PoolTimeout: 10 * time.Millisecond})
	held = e2.get()
	_, err = e2.p.Get(context.Background())
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	assert.NotContains(t, err.Error(), "oldest checkout")
	e2.p.Put(held)
}

func TestLeakWithoutOnLeakOrWithAPanickingOne(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 2, LeakThreshold: 5 * time.Millisecond})
	a := e.get()
	require.Eventually(t, func() bool { return e.p.Stats().Leaks == 1 }, 5*time.Second, time.Millisecond)
	e.p.Put(a)

	var log leakLog
	calls := 0
	e2, _ := newCapEnv(t, shardpool.Options{PoolSize: 2, LeakThreshold: 5 * time.Millisecond, OnLeak: func(k shardpool.Leak) {
		if calls++; calls == 1 {
			panic("OnLeak panicked")
		}
		log.add(k)
	}})
	b := e2.get()
	require.Eventually(t, func() bool { return e2.p.Stats().Leaks == 1 }, 5*time.Second, time.Millisecond)
	c := e2.get()
	require.Eventually(t, func() bool { return len(log.of(c)) == 1 }, 5*time.Second, time.Millisecond,
		"reports go on after OnLeak panicked")
	e2.p.Put(b)
	e2.p.Put(c)
}
