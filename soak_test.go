package shardpool_test

// TestSoak: a mixed-operation soak. Many goroutines run every call on the
// pool while the dialer injects random faults (errors, panics, hangs until
// ctx ends, slow dials, failing closes, and outages long enough to trip the
// breaker), the pool is closed and remade now and then, and a monitor checks
// the invariants throughout. It runs only when asked:
//
//	SHARDPOOL_SOAK=60s go test -race -run TestSoak .
//	go test -race -run TestSoak . -args -soak 60s
//
// CI runs it with SHARDPOOL_SOAK=10s.

import (
	"context"
	"errors"
	"flag"
	"math/rand"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
)

var soakFlag = flag.Duration("soak", 0, "run TestSoak for this long (also: env SHARDPOOL_SOAK)")

func soakDuration(t *testing.T) time.Duration {
	if *soakFlag > 0 {
		return *soakFlag
	}
	if v := os.Getenv("SHARDPOOL_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "SHARDPOOL_SOAK")
		return d
	}
	return 0
}

// soakCounters are what the soak reports.
type soakCounters struct {
	ops, gets, puts, removes, newConns, closeConns, filters, reaps, closes atomic.Int64
	errs                                                                   atomic.Int64 // errors returned to callers
	dialErrs, dialPanics, dialHangs, slowDials, closeErrs, outages         atomic.Int64 // faults injected
}

func TestSoak(t *testing.T) {
	d := soakDuration(t)
	if d <= 0 {
		t.Skip("set SHARDPOOL_SOAK=60s or pass -args -soak 60s to run the soak")
	}
	for _, k := range kinds {
		k := k
		t.Run(k.name, func(t *testing.T) {
			var c soakCounters
			deadline := time.Now().Add(d)
			epoch := 0
			for time.Now().Before(deadline) {
				epoch++
				// An epoch lasts up to 3 s, then Close runs mid-load.
				end := time.Now().Add(3 * time.Second)
				if end.After(deadline) {
					end = deadline
				}
				soakEpoch(t, k.make, int64(epoch), end, &c)
				if t.Failed() {
					return
				}
			}
			t.Logf("%s, %v: %d pools, %d operations (Get %d, Put %d, Remove %d, NewConn %d, CloseConn %d, Filter %d, Reap %d, Close %d), %d errors to callers",
				k.name, d, epoch, c.ops.Load(), c.gets.Load(), c.puts.Load(), c.removes.Load(), c.newConns.Load(),
				c.closeConns.Load(), c.filters.Load(), c.reaps.Load(), c.closes.Load(), c.errs.Load())
			t.Logf("faults injected: %d dial errors, %d dial panics, %d dials hung until ctx ended, %d slow dials, %d close errors, %d outages",
				c.dialErrs.Load(), c.dialPanics.Load(), c.dialHangs.Load(), c.slowDials.Load(), c.closeErrs.Load(), c.outages.Load())
		})
	}
}

func soakEpoch(t *testing.T, mk func(*shardpool.Options) pool, seed int64, end time.Time, c *soakCounters) {
	const size, goroutines = 8, 32
	fd := &fakeDialer{}
	var outage atomic.Bool
	var dialMu sync.Mutex
	dialRng := rand.New(rand.NewSource(seed))
	roll := func(n int) int { dialMu.Lock(); defer dialMu.Unlock(); return dialRng.Intn(n) }
	dial := func(ctx context.Context) (net.Conn, error) {
		if outage.Load() {
			c.dialErrs.Add(1)
			return nil, errDial
		}
		switch r := roll(100); {
		case r < 3:
			c.dialErrs.Add(1)
			return nil, errDial
		case r < 4:
			c.dialPanics.Add(1)
			panic("soak: dialer panicked")
		case r < 5:
			c.dialHangs.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		case r < 10:
			c.slowDials.Add(1)
			select {
			case <-time.After(time.Duration(roll(500)) * time.Microsecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return fd.Dial(ctx)
	}
	p := mk(&shardpool.Options{
		PoolSize: size, MinIdleConns: 2, PoolTimeout: 50 * time.Millisecond, Dialer: dial,
		IdleTimeout: 20 * time.Millisecond, MaxConnAge: 200 * time.Millisecond, IdleCheckFrequency: 5 * time.Millisecond,
		OnClose: func(cn *shardpool.Conn) error {
			if cn.NetConn().(*fakeConn).id%17 == 0 {
				c.closeErrs.Add(1)
				return errors.New("soak: OnClose failed")
			}
			return nil
		},
		OnMisuse: func(_ *shardpool.Conn, err error) { t.Errorf("OnMisuse: %v", err) },
	})

	// Holds, as in race_test.go's stress: counted is set while a pooled
	// connection counts in out; whoever clears it takes it out, once.
	type hold struct {
		g       int
		counted atomic.Bool
	}
	var (
		holders  sync.Map
		out      atomic.Int32
		unpooled atomic.Int32
		closed   atomic.Bool
		stop     = make(chan struct{})
	)
	check := func() {
		if n := out.Load(); n > size {
			t.Errorf("%d connections checked out, PoolSize %d", n, size)
		}
		if n := p.Len(); n > size+goroutines {
			t.Errorf("Len %d beyond PoolSize %d and %d callers' NewConns", n, size, goroutines)
		}
		if ic, ok := p.(invariantChecker); ok {
			if err := ic.CheckInvariants(); err != nil {
				t.Error(err)
			}
		}
	}
	stopCheck := everyUntilStopped(500*time.Microsecond, check)
	var monitor sync.WaitGroup
	// Outages: every so often the dialer fails for long enough to trip the
	// breaker; the probe has to re-open the pool.
	monitor.Add(1)
	go func() {
		defer monitor.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2500 * time.Millisecond):
				c.outages.Add(1)
				outage.Store(true)
				select {
				case <-stop:
				case <-time.After(100 * time.Millisecond):
				}
				outage.Store(false)
			}
		}
	}()

	allowed := func(err error) bool {
		for _, e := range []error{shardpool.ErrClosed, shardpool.ErrPoolTimeout, shardpool.ErrDialerPanic,
			errDial, context.Canceled, context.DeadlineExceeded} {
			if errors.Is(err, e) {
				return true
			}
		}
		return false
	}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed*1000 + int64(g)))
			for !closed.Load() {
				c.ops.Add(1)
				switch r := rng.Intn(100); {
				case r < 70:
					c.gets.Add(1)
					// Callers bound their calls (a hanging dial ends with
					// ctx); some with very short deadlines.
					timeout := 200 * time.Millisecond
					if rng.Intn(10) == 0 {
						timeout = time.Duration(rng.Intn(2000)) * time.Microsecond
					}
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					cn, err := p.Get(ctx)
					if err != nil {
						cancel()
						c.errs.Add(1)
						if !allowed(err) {
							t.Errorf("Get: unexpected error %v", err)
						}
						continue
					}
					h := &hold{g: g}
					h.counted.Store(true)
					if other, loaded := holders.LoadOrStore(cn, h); loaded {
						t.Errorf("connection handed to goroutines %d and %d", other.(*hold).g, g)
						cancel()
						return
					}
					out.Add(1)
					if rng.Intn(4) == 0 {
						time.Sleep(time.Duration(rng.Intn(100)) * time.Microsecond) // use it
					}
					holders.Delete(cn)
					if h.counted.Swap(false) {
						out.Add(-1)
					}
					switch x := rng.Intn(20); {
					case x < 16:
						c.puts.Add(1)
						p.Put(cn)
					case x < 19:
						c.removes.Add(1)
						p.Remove(cn, errors.New("soak: broken"))
					default:
						c.closeConns.Add(1)
						if err := p.CloseConn(cn); err != nil && !errors.Is(err, shardpool.ErrClosed) {
							assert.Contains(t, err.Error(), "OnClose failed")
						}
					}
					cancel()
				case r < 80:
					c.newConns.Add(1)
					ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
					cn, err := p.NewConn(ctx)
					cancel()
					if err != nil {
						c.errs.Add(1)
						if !allowed(err) {
							t.Errorf("NewConn: unexpected error %v", err)
						}
						continue
					}
					unpooled.Add(1)
					if rng.Intn(2) == 0 {
						c.puts.Add(1)
						p.Put(cn)
					} else {
						c.closeConns.Add(1)
						_ = p.CloseConn(cn)
					}
					unpooled.Add(-1)
				case r < 90:
					c.reaps.Add(1)
					if _, err := p.ReapStaleConns(); err != nil && !errors.Is(err, shardpool.ErrClosed) {
						t.Errorf("ReapStaleConns: %v", err)
					}
				default:
					c.filters.Add(1)
					id := rng.Int63n(size)
					err := p.Filter(func(cn *shardpool.Conn) bool {
						if cn.NetConn().(*fakeConn).id%size != id {
							return false
						}
						if h, ok := holders.Load(cn); ok && h.(*hold).counted.Swap(false) {
							out.Add(-1)
						}
						return true
					})
					if err != nil && !errors.Is(err, shardpool.ErrClosed) {
						assert.Contains(t, err.Error(), "OnClose failed")
					}
				}
			}
		}(g)
	}

	// Close mid-load at the end of the epoch.
	time.Sleep(time.Until(end)) // pacing, not synchronisation
	c.closes.Add(1)
	err := p.Close()
	if err != nil {
		assert.Contains(t, err.Error(), "OnClose failed")
	}
	closed.Store(true)
	within(t, 10*time.Second, "callers after Close", wg.Wait)
	close(stop)
	monitor.Wait()
	stopCheck()
	check()
	assert.Zero(t, p.Len())
	require.Eventually(t, func() bool { return fd.open() == 0 }, 5*time.Second, time.Millisecond,
		"%d connections left open after Close", fd.open())
	assert.Empty(t, fd.doubleClosed(), "connections closed twice")
}
