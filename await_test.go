package shardpool

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A Put that parks its connection behind an active server waits for that
// server a moment (awaitRound), but never blocks on it: here the server
// never comes, nobody takes the connection, and Put must still return.
func TestPutBehindAStalledServerReturns(t *testing.T) {
	p, _ := newPipePool(t, Options{PoolSize: 1, PoolTimeout: time.Hour})
	p.spin = true // take the spinning branch whatever GOMAXPROCS is

	cn, err := p.Get(context.Background())
	require.NoError(t, err)

	// A queue long enough for the spinning branch, and a server that has
	// been elected but is not running.
	for i := 0; i < awaitQueue*p.opt.PoolSize; i++ {
		st := p.waiters.enqueue(&waiter{ch: make(chan *Conn, 1)}, p.clock.exact())
		require.Contains(t, []enqueued{queued, queuedFirst}, st)
	}
	p.serving.n.Store(1)

	done := make(chan struct{})
	go func() {
		p.Put(cn)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Put blocked behind a server that never ran")
	}
	require.Equal(t, 1, p.IdleLen(), "the connection waits, parked, for the round it kicked")
	p.serving.n.Store(0) // Close sends poolClosed to the queued waiters
}
