package shardpool_test

// Shutdown: idle connections closed at once and the rest as they come
// back, waiting Gets woken, ctx ending the wait, and Close or a second
// Shutdown arriving meanwhile.

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/shardpool/shardpool"
)

func TestShutdownClosesIdleAtOnceAndTheRestAsTheyComeBack(t *testing.T) {
	before := goleak.IgnoreCurrent()
	// Closes take a while, so that a Shutdown that returned before the
	// last one ended would be seen to.
	d := &fakeDialer{}
	e, _ := newCapEnv(t, shardpool.Options{PoolSize: 3, MinIdleConns: 1, IdleTimeout: time.Minute, IdleCheckFrequency: time.Second,
		Dialer: func(ctx context.Context) (net.Conn, error) {
			c, err := d.Dial(ctx)
			if err != nil {
				return nil, err
			}
			return slowClose{c.(*fakeConn)}, nil
		}})
	e.d = d
	require.Eventually(t, func() bool { return e.p.IdleLen() == 1 }, 5*time.Second, time.Millisecond)
	a, b := e.get(), e.get() // one of them is the MinIdleConns one
	c := e.get()
	e.p.Put(c)
	u, err := e.p.NewConn(context.Background())
	require.NoError(t, err)

	type result struct {
		err    error
		closed int32 // closes of a, b and u when Shutdown returned
		open   int64 // connections open at the dialer then
	}
	done := make(chan result, 1)
	go func() {
		err := e.p.(*shardpool.ConnPool).Shutdown(context.Background())
		done <- result{err, e.closes(a) + e.closes(b) + e.closes(u), d.open()}
	}()
	require.Eventually(t, func() bool { return e.closes(c) == 1 }, 5*time.Second, time.Millisecond,
		"idle connection closed at once")
	_, err = e.p.Get(context.Background())
	assert.ErrorIs(t, err, shardpool.ErrClosed, "Get while shutting down")

	e.p.Put(a)
	assert.EqualValues(t, 1, e.closes(a), "closed as it is Put")
	e.p.Remove(b, nil)
	assert.EqualValues(t, 1, e.closes(b), "closed as it is Removed")
	go e.p.Put(u) // closes u, slowly, while Shutdown waits
	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.EqualValues(t, 3, r.closed, "Shutdown returned before every connection was closed")
		assert.Zero(t, r.open, "Shutdown returned before every connection was closed")
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return once every connection was closed")
	}
	goleak.VerifyNone(t, before) // the pool's goroutines have exited
	e.lens(0, 0)
	assert.EqualValues(t, 0, e.d.open())
	assert.ErrorIs(t, e.p.(*shardpool.ConnPool).Shutdown(context.Background()), shardpool.ErrClosed)
	assert.ErrorIs(t, e.p.Close(), shardpool.ErrClosed)
	e.p.Put(a) // after: silent no-op
	assert.EqualValues(t, 1, e.closes(a))
	assert.Empty(t, e.misuse)
}

func TestShutdownWakesWaitingGets(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 1, PoolTimeout: time.Minute})
	a := e.get()
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := e.p.Get(context.Background()); errs <- err }()
	}
	e.waitQueued(2)
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, shardpool.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting Get still waits after Shutdown began")
		}
	}
	e.p.Put(a)
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, e.closes(a))
}

func TestShutdownContextEnds(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 2})
	a := e.get()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 1, e.closes(a), "what was left is closed as Close would")
	e.p.Put(a)
	assert.EqualValues(t, 1, e.closes(a))
	assert.ErrorIs(t, p.Shutdown(context.Background()), shardpool.ErrClosed)
	assert.ErrorIs(t, e.p.Close(), shardpool.ErrClosed)
}

func TestCloseDuringShutdown(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 2})
	a := e.get()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	waitDraining(t, e)
	require.NoError(t, e.p.Close())
	assert.EqualValues(t, 1, e.closes(a))
	select {
	case err := <-done:
		assert.NoError(t, err, "an interrupted Shutdown returns nil")
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after Close")
	}
	assert.ErrorIs(t, e.p.Close(), shardpool.ErrClosed)
	e.p.Put(a)
	assert.EqualValues(t, 1, e.closes(a))
}

func TestShutdownDuringShutdownWaitsWithIt(t *testing.T) {
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 2})
	a := e.get()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	waitDraining(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, p.Shutdown(ctx), context.DeadlineExceeded, "the second waited, then closed what was left")
	assert.EqualValues(t, 1, e.closes(a))
	assert.NoError(t, <-done)
}

// waitDraining waits until e's pool refuses Gets: a Shutdown has begun.
func waitDraining(t *testing.T, e *env) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := e.p.Get(context.Background())
		return errors.Is(err, shardpool.ErrClosed)
	}, 5*time.Second, time.Millisecond)
}

func TestShutdownDoesNotWaitForAHungDial(t *testing.T) {
	release := make(chan struct{})
	d := &fakeDialer{}
	e, p := newCapEnv(t, shardpool.Options{PoolSize: 2, Dialer: func(ctx context.Context) (net.Conn, error) {
		<-release // ignores ctx
		return d.Dial(ctx)
	}})
	e.d = d
	got := make(chan error, 1)
	go func() { _, err := e.p.Get(context.Background()); got <- err }()
	require.Eventually(t, func() bool { return e.p.Stats().Misses == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, p.Shutdown(context.Background()))
	close(release)
	assert.ErrorIs(t, <-got, shardpool.ErrClosed)
	assert.EqualValues(t, 0, d.open(), "the dial that ended after Shutdown closed its connection")
}

// slowClose is a fakeConn whose Close takes 5 ms before it closes.
type slowClose struct{ *fakeConn }

func (c slowClose) Close() error {
	time.Sleep(5 * time.Millisecond)
	return c.fakeConn.Close()
}
