package shardpool

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool/internal/connstate"
	"github.com/shardpool/shardpool/internal/testhook"
)

// The shard alone: these tests build connections by hand and give the shard
// the time and limits it needs, without a pool.

// newShardConns makes n connections whose home is s, and lifts the quota
// of s (as a pool without MaxIdleConns does).
func newShardConns(s *shard, n int, bornAt func(i int) int64) []*Conn {
	s.setQuota(math.MaxInt)
	conns := make([]*Conn, n)
	for i := range conns {
		cn := &Conn{bornAt: bornAt(i)}
		cn.home.Store(s)
		conns[i] = cn
	}
	return conns
}

func TestShardParkPopOrderAndHint(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		var s shard
		var closed atomic.Bool
		assert.False(t, s.hasIdle())
		conns := newShardConns(&s, 3, func(int) int64 { return 0 })
		for i, cn := range conns {
			require.Equal(t, parked, s.park(cn, int64(i), fifo, &closed))
			assert.True(t, s.hasIdle())
		}
		assert.Equal(t, notParked, s.park(conns[0], 9, fifo, &closed), "a second park of an idle connection")
		want := []*Conn{conns[2], conns[1], conns[0]} // LIFO
		if fifo {
			want = conns
		}
		for i, w := range want {
			cn, stale, left := s.pop(0, expiry{})
			require.Same(t, w, cn, "fifo=%v pop %d", fifo, i)
			assert.False(t, stale)
			assert.Equal(t, 2-i, left)
			assert.Equal(t, connstate.CheckedOut, cn.tag.State())
		}
		cn, _, _ := s.pop(0, expiry{})
		assert.Nil(t, cn)
		assert.False(t, s.hasIdle(), "a pop that finds the shard empty clears the hint")
		assert.Equal(t, 0, s.idleCount())

		closed.Store(true)
		assert.Equal(t, notParked, s.park(conns[0], 0, fifo, &closed), "park after the pool closed")
	}
}

func TestShardPopClaimsStale(t *testing.T) {
	var s shard
	var closed atomic.Bool
	cn := newShardConns(&s, 1, func(int) int64 { return 0 })[0]
	require.Equal(t, parked, s.park(cn, 100, false, &closed))
	got, stale, _ := s.pop(100+50, expiry{idle: 50})
	require.Same(t, cn, got)
	assert.True(t, stale)
	assert.Equal(t, connstate.Closed, cn.tag.State())
}

func TestShardClaimAndDrain(t *testing.T) {
	var s, other shard
	var closed atomic.Bool
	conns := newShardConns(&s, 3, func(int) int64 { return 0 })
	for _, cn := range conns {
		require.Equal(t, parked, s.park(cn, 0, false, &closed))
	}
	assert.False(t, other.claim(conns[0]), "claim on a shard the connection is not in")
	require.True(t, s.claim(conns[1]))
	assert.Equal(t, connstate.Closed, conns[1].tag.State())
	assert.False(t, s.claim(conns[1]), "claimed twice")

	drained := s.drain(nil)
	assert.ElementsMatch(t, []*Conn{conns[0], conns[2]}, drained)
	for _, cn := range drained {
		assert.Equal(t, connstate.Closed, cn.tag.State())
	}
	idle := s.idleCount()
	assert.Zero(t, idle)
	assert.False(t, s.hasIdle())
}

// A sweep holds the lock for sweepChunk connections at a time; across
// chunks it must still find every stale connection, also while Gets and
// Puts move connections in and out of the list between chunks.
func TestShardSweepAcrossChunks(t *testing.T) {
	const n = 10 * sweepChunk
	for _, fifo := range []bool{false, true} {
		var s shard
		var closed atomic.Bool
		// Every third connection is past MaxConnAge (born at 0); the rest
		// were born at 1000.
		conns := newShardConns(&s, n, func(i int) int64 {
			if i%3 == 0 {
				return 0
			}
			return 1000
		})
		for _, cn := range conns {
			require.Equal(t, parked, s.park(cn, 1000, fifo, &closed))
		}
		exp := expiry{age: 1500}

		// A Get+Put churner on the same shard while the sweep runs.
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				cn, stale, _ := s.pop(0, expiry{})
				if cn == nil || stale {
					continue
				}
				s.park(cn, 1000, fifo, &closed)
			}
		}()
		// Sweep until every stale connection is claimed, with a deadline
		// rather than a count of sweeps: a stale connection the churner
		// holds checked out is invisible to a sweep, and a churner that
		// the scheduler (or -race, under a loaded machine) parks while it
		// holds one hid it from 100 quick sweeps in a row.
		var stale []*Conn
		for deadline := time.Now().Add(5 * time.Second); len(stale) < (n+2)/3 && time.Now().Before(deadline); {
			stale, _ = s.sweep(2000, exp, fifo, stale)
		}
		stop.Store(true)
		wg.Wait()

		want := 0
		for i, cn := range conns {
			if i%3 == 0 {
				want++
				assert.Equal(t, connstate.Closed, cn.tag.State(), "fifo=%v: stale connection %d left", fifo, i)
			} else {
				assert.NotEqual(t, connstate.Closed, cn.tag.State(), "fifo=%v: fresh connection %d closed", fifo, i)
			}
		}
		assert.Len(t, stale, want, "each stale connection claimed once")
		idle := s.idleCount()
		assert.Equal(t, n-want, idle)
	}
}

// Between two chunks of a sweep, the connection it was to look at next is
// taken (checked out by a Get, closed by Filter): the sweep must start
// again from the oldest end rather than follow that connection's links.
func TestShardSweepResumesWhenItsPlaceIsTaken(t *testing.T) {
	const n = 3 * sweepChunk
	for _, fifo := range []bool{false, true} {
		var s shard
		var closed atomic.Bool
		conns := newShardConns(&s, n, func(int) int64 { return 0 }) // all past MaxConnAge
		for _, cn := range conns {
			require.Equal(t, parked, s.park(cn, 0, fifo, &closed))
		}
		var taken *Conn
		testhook.SweepBetweenChunks = func(shAny, nextAny any) {
			sh, next := shAny.(*shard), nextAny.(*Conn)
			if taken == nil && next != nil {
				require.True(t, sh.claim(next))
				taken = next
			}
		}
		stale, _ := s.sweep(100, expiry{age: 50}, fifo, nil)
		testhook.SweepBetweenChunks = nil
		require.NotNil(t, taken)
		assert.Len(t, stale, n-1, "fifo=%v: every stale connection but the one taken", fifo)
		idle := s.idleCount()
		assert.Zero(t, idle)
	}
}
