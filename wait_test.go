package shardpool_test

// The wait path: deadlines, giving up, what a timeout says,
// PendingRequests, and MaxWaiters shedding the Gets beyond it (the internal
// exhausted_test.go has its corner). TestNoLostWakeups (race_test.go)
// covers the hand-off.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
)

type getResult struct {
	cn  *shardpool.Conn
	err error
	at  time.Time
}

// goGet starts a Get on its own goroutine and returns where its result
// will arrive.
func goGet(ctx context.Context, p shardpool.Pooler) <-chan getResult {
	ch := make(chan getResult, 1)
	go func() {
		cn, err := p.Get(ctx)
		ch <- getResult{cn, err, time.Now()}
	}()
	return ch
}

// waitPending waits until n Gets are waiting.
func (e *env) waitPending(n uint32) {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.p.Stats().PendingRequests == n },
		5*time.Second, time.Millisecond, "PendingRequests never reached %d", n)
}

// Each waiter times out PoolTimeout after it started waiting, not when an
// earlier waiter does: the pool's one timer must fire for the right waiter.
func TestTimeoutFiresForEachWaiterAtItsOwnDeadline(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		const timeout = 300 * time.Millisecond
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: timeout})
		held := e.get()

		startA := time.Now()
		a := goGet(context.Background(), e.p)
		e.waitPending(1)
		// B queues well after A, so that their deadlines are far apart.
		require.Eventually(t, func() bool { return time.Since(startA) > timeout/2 },
			5*time.Second, time.Millisecond)
		startB := time.Now()
		b := goGet(context.Background(), e.p)
		e.waitPending(2)

		ra := <-a
		require.ErrorIs(t, ra.err, shardpool.ErrPoolTimeout)
		assert.GreaterOrEqual(t, ra.at.Sub(startA), timeout, "A timed out early")
		select {
		case rb := <-b:
			t.Fatalf("B, queued %v after A, ended with A: %v", startB.Sub(startA), rb.err)
		default:
		}
		assert.EqualValues(t, 1, e.p.Stats().PendingRequests, "B waits on")

		e.p.Put(held) // B's deadline is still ahead: B gets the connection
		rb := <-b
		require.NoError(t, rb.err, "B was served before its deadline")
		assert.Same(t, held, rb.cn)
		e.p.Put(rb.cn)
		assert.EqualValues(t, 1, e.p.Stats().Timeouts)
	})
}

// A Get that gives up leaves the list at once; what is Put later goes to
// the Gets still waiting, in order, and none is lost to the one that left.
func TestAbandonedWaiterLeavesTheList(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: 10 * time.Second})
		held := e.get()

		first := goGet(context.Background(), e.p)
		e.waitPending(1)
		ctx, cancel := context.WithCancel(context.Background())
		middle := goGet(ctx, e.p)
		e.waitPending(2)
		last := goGet(context.Background(), e.p)
		e.waitPending(3)

		cancel()
		require.ErrorIs(t, (<-middle).err, context.Canceled)
		e.waitPending(2)

		e.p.Put(held)
		r := <-first
		require.NoError(t, r.err)
		e.p.Put(r.cn)
		r = <-last
		require.NoError(t, r.err, "the connection went to the Get that gave up")
		e.p.Put(r.cn)

		e.lens(1, 1)
		assert.Zero(t, e.p.Stats().PendingRequests)
		if c, ok := e.p.(invariantChecker); ok {
			require.NoError(t, c.CheckInvariants())
		}
	})
}

// PendingRequests counts the Gets waiting now: not the ones served, timed
// out, cancelled or closed.
func TestPendingRequestsCountsWaitingGets(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		e := newEnv(t, mk, shardpool.Options{PoolSize: 1, PoolTimeout: 10 * time.Second})
		held := e.get()
		assert.Zero(t, e.p.Stats().PendingRequests, "a Get that got a connection")

		results := make([]<-chan getResult, 5)
		for i := range results { // one at a time, so that results is in queue order
			results[i] = goGet(context.Background(), e.p)
			e.waitPending(uint32(i + 1))
		}

		e.p.Put(held)
		r := <-results[0] // the oldest
		require.NoError(t, r.err)
		e.waitPending(4)
		e.p.Remove(r.cn, nil) // frees a place: the next oldest dials
		e.waitPending(3)
		r = <-results[1]
		require.NoError(t, r.err)

		require.NoError(t, e.p.Close())
		e.waitPending(0)
		for _, ch := range results[2:] {
			assert.ErrorIs(t, (<-ch).err, shardpool.ErrClosed)
		}
	})
}

// A timeout says why: the error wraps ErrPoolTimeout and describes the pool.
func TestPoolTimeoutErrorDescribesPool(t *testing.T) {
	d := &fakeDialer{}
	p := shardpool.NewConnPool(&shardpool.Options{Dialer: d.Dial, PoolSize: 2, PoolTimeout: 50 * time.Millisecond})
	defer p.Close()
	ctx := context.Background()
	a, err := p.Get(ctx)
	require.NoError(t, err)
	b, err := p.Get(ctx)
	require.NoError(t, err)

	other := goGet(context.Background(), p) // waits beside ours
	require.Eventually(t, func() bool { return p.Stats().PendingRequests == 1 }, 5*time.Second, time.Millisecond)
	_, err = p.Get(ctx)
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	var te *shardpool.PoolTimeoutError
	require.ErrorAs(t, err, &te)
	assert.GreaterOrEqual(t, te.Waited, 50*time.Millisecond)
	assert.Equal(t, 2, te.PoolSize)
	assert.Equal(t, 2, te.Held)
	assert.Equal(t, 2, te.CheckedOut)
	assert.Zero(t, te.Dialing)
	assert.Zero(t, te.Idle)
	assert.Zero(t, te.DialErrors)
	assert.Contains(t, err.Error(), "waiting for a connection: 2 of 2 held (2 checked out, 0 dialing, 0 idle), ")
	assert.Contains(t, err.Error(), " Gets waiting, dial errors: none")
	require.ErrorIs(t, (<-other).err, shardpool.ErrPoolTimeout)

	// With dials failing, it says so and gives the last error. NewConn
	// dials outside the bound, so the pool stays full meanwhile.
	d.fail.Store(true)
	_, err = p.NewConn(ctx)
	require.ErrorIs(t, err, errDial)
	_, err = p.Get(ctx)
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, te.DialErrors)
	assert.ErrorIs(t, te.LastDialError, errDial)
	assert.Contains(t, err.Error(), "dial errors: 1 in a row; last: fake dial error")
	d.fail.Store(false)
	p.Put(a)
	p.Put(b)

	msg := (&shardpool.PoolTimeoutError{PoolSize: 4, Held: 4, DialErrors: 4, LastDialError: errDial}).Error()
	assert.Contains(t, msg, "dial errors: 4 in a row, failing fast until a probe dial succeeds; last: fake dial error")
	assert.True(t, errors.Is(&shardpool.PoolTimeoutError{}, shardpool.ErrPoolTimeout))
}

// A connection Put past MaxConnAge while a Get waits is closed, not handed
// on: the waiting Get gets its place and dials a fresh one.
func TestPutOfTooOldConnectionGivesWaiterAFreshOne(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			e := newEnv(t, k.make, shardpool.Options{PoolSize: 1, MaxConnAge: time.Minute, PoolTimeout: 10 * time.Second})
			advance := k.manualClock(e.p)
			old := e.get()
			waiting := goGet(context.Background(), e.p)
			e.waitPending(1)
			advance(61 * time.Second)

			e.p.Put(old)
			r := <-waiting
			require.NoError(t, r.err)
			assert.NotSame(t, old, r.cn, "a connection past MaxConnAge was handed on")
			assert.EqualValues(t, 1, e.closes(old))
			assert.EqualValues(t, 2, e.d.dials.Load())
			assert.EqualValues(t, 1, e.p.Stats().StaleConns)
			e.p.Put(r.cn)
			e.lens(1, 1)
		})
	}
}

func TestMaxWaitersShedsLoad(t *testing.T) {
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 1, MaxWaiters: 2, PoolTimeout: time.Minute})
	a := e.get()
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			cn, err := e.p.Get(context.Background())
			if err == nil {
				e.p.Put(cn)
			}
			errs <- err
		}()
	}
	e.waitQueued(2)
	refused := make(chan error, 1)
	go func() { _, err := e.p.Get(context.Background()); refused <- err }()
	select {
	case err := <-refused:
		require.ErrorIs(t, err, shardpool.ErrPoolExhausted)
	case <-time.After(5 * time.Second):
		t.Fatal("a Get beyond MaxWaiters waited")
	}
	st := e.p.Stats()
	assert.EqualValues(t, 1, st.Exhausted)
	assert.EqualValues(t, 2, st.PendingRequests)
	assert.EqualValues(t, 2, st.WaitCount, "a refused Get is not counted as waiting")
	e.p.Put(a)
	for i := 0; i < 2; i++ {
		require.NoError(t, <-errs)
	}
}
