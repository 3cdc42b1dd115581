package shardpool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool/internal/connstate"
	"github.com/shardpool/shardpool/internal/testhook"
)

// The shard's hot connection (hot.go): the newest idle connection, kept
// outside the list, its state left CheckedOut.

// Put as the hot connection, Get it back: LIFO across hot and the list, with
// each connection's idleAt kept as it moves from hot into the list.
func TestShardHotKeepsLIFOOrder(t *testing.T) {
	var s shard
	var closed atomic.Bool
	conns := newShardConns(&s, 3, func(int) int64 { return 0 })
	for i, cn := range conns {
		ok, orphan := s.putHot(cn, int64(10*(i+1)), &closed)
		require.True(t, ok)
		require.Nil(t, orphan)
		assert.True(t, s.hasIdle())
	}
	idle := s.idleCount()
	assert.Equal(t, 3, idle, "two in the list, one hot")
	assert.Same(t, conns[2], s.hot.Load())
	assert.Equal(t, connstate.CheckedOut, conns[2].tag.State(), "hot, the state stays")
	assert.Equal(t, connstate.Idle, conns[1].tag.State(), "demoted into the list")
	for i, want := range []*Conn{conns[2], conns[1], conns[0]} {
		cn, stale, _ := s.pop(0, expiry{})
		require.Same(t, want, cn, "pop %d", i)
		assert.False(t, stale)
		assert.Equal(t, int64(10*(3-i)), cn.idleAt, "idleAt kept")
		assert.Equal(t, connstate.CheckedOut, cn.tag.State())
	}
	cn, _, _ := s.pop(0, expiry{})
	assert.Nil(t, cn)
	assert.Zero(t, s.idleCount())
}

// A connection closed in place while hot (a claimer moved it
// CheckedOut → Closed) is dropped by the next pop, not handed out, and is
// not counted idle. A stale one is claimed by pop for its caller.
func TestShardHotDropsClosedAndClaimsStale(t *testing.T) {
	var s shard
	var closed atomic.Bool
	conns := newShardConns(&s, 2, func(int) int64 { return 0 })
	ok, _ := s.putHot(conns[0], 100, &closed)
	require.True(t, ok)
	require.True(t, conns[0].tag.CloseCheckedOut(), "a claimer closes it in place")
	idle := s.idleCount()
	assert.Zero(t, idle)
	cn, _, _ := s.pop(0, expiry{})
	assert.Nil(t, cn, "a closed connection is dropped, not handed out")
	assert.Nil(t, s.hot.Load())

	ok, _ = s.putHot(conns[1], 100, &closed)
	require.True(t, ok)
	cn, stale, _ := s.pop(150, expiry{idle: 50})
	require.Same(t, conns[1], cn)
	assert.True(t, stale)
	assert.Equal(t, connstate.Closed, cn.tag.State(), "claimed for its caller to close")
}

// Sweeps, drains and trims see the hot connection: they move it into
// the list first.
func TestShardHotSeenBySweepDrainAndTrim(t *testing.T) {
	var s shard
	var closed atomic.Bool
	conns := newShardConns(&s, 2, func(int) int64 { return 0 })
	for i, cn := range conns {
		ok, _ := s.putHot(cn, int64(100*(i+1)), &closed)
		require.True(t, ok)
	}
	stale, looked := s.sweep(300, expiry{idle: 100}, false, nil)
	assert.Equal(t, 2, looked)
	assert.Equal(t, []*Conn{conns[0], conns[1]}, stale, "both stale, oldest first, the hot one too")
	assert.Nil(t, s.hot.Load())

	conns = newShardConns(&s, 2, func(int) int64 { return 0 })
	for _, cn := range conns {
		ok, _ := s.putHot(cn, 0, &closed)
		require.True(t, ok)
	}
	assert.Same(t, conns[0], s.takeOldest(false))
	assert.Equal(t, []*Conn{conns[1]}, s.drain(nil), "the hot connection drained")
	assert.Equal(t, connstate.Closed, conns[1].tag.State())
	assert.Nil(t, s.hot.Load())
}

// Close sets closed and then drains: a putHot that publishes after the
// drain sees closed and takes its connection back, and one that demotes
// after it returns the demoted connection for its caller to close. Neither
// is left in a drained shard.
func TestShardHotAfterClose(t *testing.T) {
	var s shard
	var closed atomic.Bool
	conns := newShardConns(&s, 2, func(int) int64 { return 0 })
	ok, _ := s.putHot(conns[0], 0, &closed)
	require.True(t, ok)
	closed.Store(true)
	ok, orphan := s.putHot(conns[1], 0, &closed)
	assert.False(t, ok, "published after closed: taken back for the caller")
	assert.Same(t, conns[0], orphan, "demoted after closed: the caller's to close")
	assert.Nil(t, s.hot.Load())
	idle := s.idleCount()
	assert.Zero(t, idle)
	assert.Equal(t, connstate.CheckedOut, conns[0].tag.State())
	assert.Equal(t, connstate.CheckedOut, conns[1].tag.State())
}

// A Put of a connection that the pool has already parked in the list (a
// second Put) leaves everything as it was, and says so: the connection in
// the list with its idleAt, and the hot connection still hot. (Found
// by FuzzDifferential: a second Put moved the hot connection behind it.)
func TestShardHotRefusesAParkedConnection(t *testing.T) {
	var s shard
	var closed atomic.Bool
	conns := newShardConns(&s, 2, func(int) int64 { return 0 })
	require.Equal(t, parked, s.park(conns[0], 10, false, &closed))
	ok, _ := s.putHot(conns[1], 10, &closed)
	require.True(t, ok)
	ok, orphan := s.putHot(conns[0], 20, &closed)
	assert.False(t, ok)
	assert.Nil(t, orphan)
	assert.Same(t, conns[1], s.hot.Load(), "the hot connection stays")
	assert.Equal(t, int64(10), conns[0].idleAt, "idleAt untouched")
	idle := s.idleCount()
	assert.Equal(t, 2, idle)
}

// A Get that queues between a Put's look at the wait list (none) and its
// publish as the hot connection must still be served: the Put looks again after it
// publishes. The hook queues the Get inside that window.
func TestHotPutServesAGetThatQueuedMeanwhile(t *testing.T) {
	p, _ := newPipePool(t, Options{PoolSize: 1, PoolTimeout: 5 * time.Second})
	cn, err := p.Get(context.Background())
	require.NoError(t, err)
	got := make(chan error, 1)
	testhook.BeforeHotPut = func(pool any) {
		p := pool.(*ConnPool)
		testhook.BeforeHotPut = nil // once
		go func() {
			c, err := p.Get(context.Background())
			if err == nil {
				p.Put(c)
			}
			got <- err
		}()
		require.Eventually(t, func() bool { return p.Stats().PendingRequests == 1 }, 2*time.Second, time.Millisecond)
	}
	t.Cleanup(func() { testhook.BeforeHotPut = nil })
	p.Put(cn)
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(3 * time.Second):
		t.Fatal("the queued Get was not served: a wake-up was lost")
	}
}

// A second Put or a Remove after Put, while the connection is its shard's
// hot connection, is reported and changes nothing.
func TestHotMisuseIsReported(t *testing.T) {
	var misuses []error
	p, _ := newPipePool(t, Options{PoolSize: 2, OnMisuse: func(_ *Conn, err error) { misuses = append(misuses, err) }})
	cn, err := p.Get(context.Background())
	require.NoError(t, err)
	p.Put(cn)
	require.True(t, p.inHot(cn))
	p.Put(cn)
	p.Remove(cn, nil)
	require.Len(t, misuses, 2)
	for _, err := range misuses {
		assert.ErrorIs(t, err, ErrNotCheckedOut)
	}
	assert.Equal(t, 1, p.IdleLen())
	assert.Equal(t, 1, p.Len())
	assert.NotEqual(t, connstate.Closed, cn.tag.State(), "not closed by the Remove")
	again, err := p.Get(context.Background())
	require.NoError(t, err)
	assert.Same(t, cn, again)
	p.Put(again)
}

// A connection parked in the list while an older one is hot (a
// Put parks there while Gets wait) stays ahead of it: the demoted one is
// linked in by its idleAt, so the list stays ordered for sweep.
func TestShardHotDemotesByAge(t *testing.T) {
	var s shard
	var closed atomic.Bool
	conns := newShardConns(&s, 3, func(int) int64 { return 0 })
	ok, _ := s.putHot(conns[0], 10, &closed)
	require.True(t, ok)
	require.Equal(t, parked, s.park(conns[1], 20, false, &closed))
	ok, _ = s.putHot(conns[2], 30, &closed)
	require.True(t, ok)
	for i, want := range []*Conn{conns[2], conns[1], conns[0]} {
		cn, _, _ := s.pop(0, expiry{})
		require.Same(t, want, cn, "pop %d", i)
	}
}

// While spillHot moves the hot connection into the list, a scan (hasIdle:
// hot, then nonEmpty) finds s non-empty at every step: nonEmpty is set
// before the hot pointer lets go. The hook looks between the two steps.
func TestShardSpillHotStaysVisibleToScans(t *testing.T) {
	var s shard
	var closed atomic.Bool
	cn := newShardConns(&s, 1, func(int) int64 { return 0 })[0]
	ok, _ := s.putHot(cn, 0, &closed)
	require.True(t, ok)
	looked := false
	testhook.HotSpilling = func(shAny any) {
		sh := shAny.(*shard)
		looked = true
		// The scan's two reads, in its order, each at the worst moment:
		// the hot pointer read as the move's other step would leave it.
		assert.True(t, sh.nonEmpty.Load() || sh.hot.Load() != nil, "a scan would find s empty")
		assert.True(t, sh.nonEmpty.Load(), "the hot pointer may let go next: nonEmpty must be set already")
	}
	t.Cleanup(func() { testhook.HotSpilling = nil })
	s.drain(nil)
	assert.True(t, looked)
}

// The park side of two Puts at once: a park of a connection that is hot
// (its state still CheckedOut, so Park succeeds) takes it out of
// the hot pointer after it parks, so it is idle once.
func TestShardParkTakesItsConnectionOutOfHot(t *testing.T) {
	var s shard
	var closed atomic.Bool
	cn := newShardConns(&s, 1, func(int) int64 { return 0 })[0]
	ok, _ := s.putHot(cn, 0, &closed)
	require.True(t, ok)
	require.Equal(t, parked, s.park(cn, 0, false, &closed))
	assert.Nil(t, s.hot.Load(), "left hot as well as in the list")
	idle := s.idleCount()
	assert.Equal(t, 1, idle)
}

// A second putHot of the hot connection. The state check before
// the publish does not stop it (the hot connection is still
// CheckedOut; ConnPool.Put's look at the hot pointer is what stops a second Put):
// its swap demotes the connection into the list, and the look after the
// publish takes it out of the hot pointer. It ends idle once, not in both places.
// The same looks resolve two Puts at once, a race in the caller that this
// test cannot run: both would write idleAt, which -race reports.
func TestShardSecondPutHotOfItsConnection(t *testing.T) {
	var s shard
	var closed atomic.Bool
	cn := newShardConns(&s, 1, func(int) int64 { return 0 })[0]
	ok, _ := s.putHot(cn, 0, &closed)
	require.True(t, ok)
	ok, orphan := s.putHot(cn, 0, &closed)
	assert.False(t, ok, "refused: it is idle in the list now")
	assert.Nil(t, orphan)
	assert.Nil(t, s.hot.Load(), "left hot as well as in the list")
	assert.Equal(t, connstate.Idle, cn.tag.State())
	idle := s.idleCount()
	assert.Equal(t, 1, idle)
}

// counts must not miss the hot connection when a Put demotes it into the
// list between counts' two reads (the list's count, then the hot pointer):
// it was idle throughout, so s never held fewer than one idle connection,
// and counts must say at least one. Missing it made the MinIdleConns
// top-up dial one connection too many (TestMinIdleConnsExactAfterChurn,
// about one run in ten at -cpu 2). The hook runs the Put in the window.
func TestShardCountsSeesTheHotConnectionDemotedMeanwhile(t *testing.T) {
	var s shard
	var closed atomic.Bool
	conns := newShardConns(&s, 2, func(int) int64 { return 0 })
	ok, _ := s.putHot(conns[0], 0, &closed)
	require.True(t, ok)
	ran := false
	testhook.CountsHotLoaded = func(any) {
		testhook.CountsHotLoaded = nil // once
		ran = true
		ok, orphan := s.putHot(conns[1], 0, &closed) // demotes conns[0]
		require.True(t, ok)
		require.Nil(t, orphan)
	}
	t.Cleanup(func() { testhook.CountsHotLoaded = nil })
	idle := s.idleCount()
	require.True(t, ran, "the hook did not run")
	assert.GreaterOrEqual(t, idle, 1, "counts missed the demoted hot connection")
	idle = s.idleCount()
	assert.Equal(t, 2, idle, "once the Put is done")
}
