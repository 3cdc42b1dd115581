package shardpool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The registry's contract: every connection added and not removed is in
// len, snapshot and drain, each as of one instant; add refuses after
// drain and remove is then a no-op; the emptied channel is closed exactly
// when the last connection is removed (or at once when there is none),
// whichever shards the connections are in and whatever runs meanwhile.

func newTestRegistry(n int) *registry {
	r := new(registry)
	r.init(n)
	return r
}

// checkRegistry checks that the registry holds exactly want, each where it
// thinks it is.
func checkRegistry(t *testing.T, r *registry, want []*Conn) {
	t.Helper()
	assert.Equal(t, len(want), r.len())
	assert.ElementsMatch(t, want, r.snapshot())
	r.lockAll()
	defer r.unlockAll()
	for _, cn := range want {
		assert.True(t, r.registered(cn), "a connection added is not where it thinks it is")
	}
}

func TestRegistryAddRemove(t *testing.T) {
	r := newTestRegistry(4)
	var conns []*Conn
	for i := 0; i < 20; i++ {
		cn := new(Conn)
		require.True(t, r.add(cn, i*7)) // every shard, and hints beyond the shards
		conns = append(conns, cn)
	}
	checkRegistry(t, r, conns)
	// Remove from the middle, the ends, and every shard.
	for _, i := range []int{5, 0, 19, 11, 2} {
		r.remove(conns[i])
		conns[i] = nil
	}
	var left []*Conn
	for _, cn := range conns {
		if cn != nil {
			left = append(left, cn)
		}
	}
	checkRegistry(t, r, left)
	for _, cn := range left {
		r.remove(cn)
	}
	checkRegistry(t, r, nil)
}

func TestRegistryDrain(t *testing.T) {
	r := newTestRegistry(2)
	a, b := new(Conn), new(Conn)
	require.True(t, r.add(a, 0))
	require.True(t, r.add(b, 1))
	ch := r.emptied()
	assert.ElementsMatch(t, []*Conn{a, b}, r.drain())
	assertClosed(t, ch, "drain leaves the emptied channel open")
	assert.False(t, r.add(new(Conn), 0), "add after drain")
	assert.False(t, r.add(new(Conn), 1), "add after drain")
	r.remove(a) // a no-op
	assert.Zero(t, r.len())
	assertClosed(t, r.emptied(), "emptied after drain")
}

func TestRegistryEmptied(t *testing.T) {
	r := newTestRegistry(4)
	assertClosed(t, r.emptied(), "emptied of an empty registry")

	a, b := new(Conn), new(Conn)
	require.True(t, r.add(a, 1))
	ch := r.emptied()
	require.True(t, r.add(b, 2)) // added after emptied: counted too
	r.remove(a)
	assertOpen(t, ch, "closed with a connection left")
	assert.Equal(t, ch, r.emptied(), "a second emptied returned another channel")
	r.remove(b)
	assertClosed(t, ch, "open once the last connection is gone")
	assertClosed(t, r.emptied(), "emptied once empty")

	// A registry emptied once and filled again gets a new channel.
	require.True(t, r.add(a, 3))
	ch = r.emptied()
	assertOpen(t, ch, "closed with a connection in")
	r.remove(a)
	assertClosed(t, ch, "open once the last connection is gone")
}

// TestRegistryEmptiedConcurrent calls emptied while connections are added
// and removed on every shard, from as many goroutines: the channel must
// stay open while a connection is registered, and be closed by the remove
// of the last.
func TestRegistryEmptiedConcurrent(t *testing.T) {
	const shards, workers = 4, 8
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	for round := 0; round < rounds; round++ {
		r := newTestRegistry(shards)
		keep := new(Conn)
		require.True(t, r.add(keep, 0))
		var start, done sync.WaitGroup
		start.Add(1)
		for w := 0; w < workers; w++ {
			w := w
			done.Add(1)
			go func() {
				defer done.Done()
				var mine []*Conn
				for i := 0; i < 3; i++ { // some registered before emptied counts
					cn := new(Conn)
					require.True(t, r.add(cn, w+i))
					mine = append(mine, cn)
				}
				start.Wait()
				for i := 0; i < 40; i++ {
					if i%3 == 2 && len(mine) > 0 {
						r.remove(mine[0])
						mine = mine[1:]
					} else {
						cn := new(Conn)
						require.True(t, r.add(cn, w*i))
						mine = append(mine, cn)
					}
					if i%8 == 0 {
						runtime.Gosched()
					}
				}
				for _, cn := range mine {
					r.remove(cn)
				}
			}()
		}
		start.Done()
		runtime.Gosched()
		ch := r.emptied() // while the workers add and remove
		done.Wait()
		assertOpen(t, ch, "closed while a connection is registered")
		assert.Equal(t, 1, r.len())
		r.remove(keep)
		assertClosed(t, ch, "open after the last remove")
		if t.Failed() {
			return
		}
	}
}

// TestRegistryInstant checks that len and snapshot see one instant: while
// every worker moves a connection from one shard to another (remove, then
// add), never more than the total are registered at once, so neither may
// report more. Counting shard after shard without holding them all would.
func TestRegistryInstant(t *testing.T) {
	const shards, workers = 4, 4
	r := newTestRegistry(shards)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var moves atomic.Int64
	for w := 0; w < workers; w++ {
		w, cn := w, new(Conn)
		require.True(t, r.add(cn, w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r.remove(cn)
				cn = new(Conn)
				r.add(cn, w+i)
				moves.Add(1)
			}
		}()
	}
	// Look until the workers have moved enough connections, whenever they
	// get to run.
	want := int64(200000)
	if testing.Short() {
		want = 50000
	}
	for i := 0; moves.Load() < want; i++ {
		if i%2 == 0 {
			if n := r.len(); n > workers {
				t.Errorf("len %d with %d connections at most", n, workers)
				break
			}
		} else if n := len(r.snapshot()); n > workers {
			t.Errorf("snapshot of %d with %d connections at most", n, workers)
			break
		}
	}
	close(stop)
	wg.Wait()
}

func assertClosed(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Error(msg)
	}
}

func assertOpen(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
		t.Error(msg)
	default:
	}
}
