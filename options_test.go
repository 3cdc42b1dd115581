package shardpool_test

// Options normalization of shardpool's own options: negative values turn
// the feature off. The options both pools share are checked by
// TestNegativeOptionsAreNormalized in contract_test.go.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/shardpool/shardpool"
)

func TestCapacityOptionsNormalized(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 2, MaxIdleConns: -1, MaxWaiters: -1, LeakThreshold: -time.Second,
		OnLeak: func(shardpool.Leak) { panic("no leak detection with a negative threshold") }})
	a, b := e.get(), e.get()
	e.p.Put(a)
	e.p.Put(b)
	e.lens(2, 2) // no idle cap
	assert.Zero(t, e.p.Stats().Leaks)
}
