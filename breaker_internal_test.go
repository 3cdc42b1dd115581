package shardpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// While Gets keep meeting the open breaker, the probe dials as soon as
// ProbeGap allows instead of waiting out ProbeInterval: here the interval
// is an hour, so only a Get's request can bring the next attempt.
func TestProbeComesSoonerWhileGetsFailFast(t *testing.T) {
	p, d := newPipePool(t, Options{PoolSize: 1})
	d.down.Store(true)
	p.breaker.every, p.breaker.gap = time.Hour, time.Millisecond // before any probe runs
	ctx := context.Background()
	_, err := p.Get(ctx) // PoolSize 1: one failure opens the breaker
	require.Error(t, err)
	// The probe's first attempt comes at once, and fails.
	require.Eventually(t, func() bool { return d.attempts.Load() >= 2 }, 5*time.Second, time.Millisecond)
	d.down.Store(false)
	require.Eventually(t, func() bool {
		cn, err := p.Get(ctx) // fails fast, and asks the probe to try now
		if err != nil {
			return false
		}
		p.Put(cn)
		return true
	}, 5*time.Second, 5*time.Millisecond, "the breaker stayed open: the probe waited out its interval")
}

// simulateProbe runs the probe's pacing (probe and breaker.wait) on a
// virtual clock, for a probe that Gets keep asking for an attempt: each
// attempt starts when the last has ended and the pacer allows, and lasts
// durs[i]. It returns the attempts' starts, from the trip at 0.
func simulateProbe(gap time.Duration, burst int, durs []time.Duration) []time.Duration {
	t0 := time.Unix(1e9, 0)
	pace := probePacer{gap: gap, burst: burst}
	var starts []time.Duration
	now := t0
	for i, d := range durs {
		if i > 0 { // the first attempt starts at the trip, unpaced, as in probe
			if e := pace.earliest(); now.Before(e) {
				now = e
			}
		}
		pace.started(now)
		starts = append(starts, now.Sub(t0))
		now = now.Add(d)
	}
	return starts
}

// checkProbeBound checks that no span of starts holds more than burst +
// span/gap of them, the bound breaker.go promises.
func checkProbeBound(t *testing.T, starts []time.Duration, gap time.Duration, burst int) {
	t.Helper()
	for i := range starts {
		for j := i; j < len(starts); j++ {
			span := starts[j] - starts[i]
			if n, most := j-i+1, burst+int(span/gap); n > most {
				t.Fatalf("%d attempts in %v (starts %v to %v), bound %d (burst %d + one per %v)", n, span, starts[i], starts[j], most, burst, gap)
			}
		}
	}
}

// The probe's cadence while Gets keep asking, on a virtual clock: against a
// server that refuses at once, two attempts and then one per ProbeGap;
// behind a black hole, an attempt as each one times out, and the attempt
// after one that the lifting hole cuts short at once (it used to wait for
// ProbeGap from that attempt's start: up to 100 ms of the recovery).
func TestProbePacerCadence(t *testing.T) {
	ms := time.Millisecond
	refused := make([]time.Duration, 8) // each fails at once
	assert.Equal(t, []time.Duration{0, 0, 100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms, 600 * ms},
		simulateProbe(ProbeGap, ProbeBurst, refused), "refused at once")

	// Black hole: each attempt hangs for the dial timeout (250 ms in the
	// chaos driver); the hole lifts as the fifth starts, which fails at
	// once (EOF), and the sixth must start at once.
	hole := []time.Duration{250 * ms, 250 * ms, 250 * ms, 250 * ms, 0, 0}
	assert.Equal(t, []time.Duration{0, 250 * ms, 500 * ms, 750 * ms, 1000 * ms, 1000 * ms},
		simulateProbe(ProbeGap, ProbeBurst, hole), "black hole, cut short at 1 s")
	// Attempts that hang for exactly ProbeGap keep the credit too.
	hole = []time.Duration{100 * ms, 100 * ms, 100 * ms, 0, 0}
	assert.Equal(t, []time.Duration{0, 100 * ms, 200 * ms, 300 * ms, 300 * ms},
		simulateProbe(ProbeGap, ProbeBurst, hole), "black hole of ProbeGap's dial timeout")
	// After the credit, a refusal again: one per ProbeGap.
	hole = []time.Duration{250 * ms, 250 * ms, 0, 0, 0, 0}
	assert.Equal(t, []time.Duration{0, 250 * ms, 500 * ms, 500 * ms, 600 * ms, 700 * ms},
		simulateProbe(ProbeGap, ProbeBurst, hole), "black hole, then refused")
}

// The bound holds for any mix of attempt durations: at most ProbeBurst +
// span/ProbeGap attempts in any span. (A gap of 0, or a burst that grows
// with the credit, fails it.)
func TestProbePacerBound(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < 200; k++ {
		durs := make([]time.Duration, 60)
		for i := range durs {
			switch rng.Intn(3) {
			case 0: // refused at once
			case 1: // hung for a dial timeout, up to 3 gaps
				durs[i] = time.Duration(rng.Int63n(int64(3 * ProbeGap)))
			default: // a few ms
				durs[i] = time.Duration(rng.Int63n(int64(5 * time.Millisecond)))
			}
		}
		checkProbeBound(t, simulateProbe(ProbeGap, ProbeBurst, durs), ProbeGap, ProbeBurst)
	}
}

// probeCounter is a Dialer that counts its calls and fails every one of
// them, at once, while the server is down: a dead server.
type probeCounter struct {
	calls atomic.Int32
	mu    sync.Mutex
	at    []time.Time // when each call began, guarded by mu
}

func (d *probeCounter) dial(context.Context) (net.Conn, error) {
	d.calls.Add(1)
	d.mu.Lock()
	d.at = append(d.at, time.Now())
	d.mu.Unlock()
	return nil, errors.New("connection refused")
}

// A busy pool (Gets failing fast all the time) sends a dead server at most
// burst + span/gap dials in any span after the trip, and no fewer than the
// pacer's cadence allows; an idle one, one per interval.
func TestProbeDialsBounded(t *testing.T) {
	const gap = 20 * time.Millisecond
	for _, busy := range []bool{true, false} {
		name := "idle"
		if busy {
			name = "busy"
		}
		t.Run(name, func(t *testing.T) {
			d := &probeCounter{}
			p := NewConnPool(&Options{PoolSize: 1, Dialer: d.dial})
			defer func() {
				require.NoError(t, p.Close())
				p.dials.Wait()
			}()
			every := time.Hour // busy: only the Gets' asking brings attempts
			if !busy {
				every = 50 * time.Millisecond
			}
			p.breaker.every, p.breaker.gap = every, gap // before any probe runs
			ctx := context.Background()
			start := time.Now()  // before the trip: every attempt comes after it
			_, err := p.Get(ctx) // PoolSize 1: one failure opens the breaker
			require.Error(t, err)
			const window = 500 * time.Millisecond
			var gets int
			for time.Since(start) < window {
				if busy {
					_, err := p.Get(ctx) // fails fast, asks for an attempt
					require.Error(t, err)
					gets++
					time.Sleep(100 * time.Microsecond)
				} else {
					time.Sleep(time.Millisecond)
				}
			}
			calls := int(d.calls.Load()) - 1 // the first was the Get's
			span := time.Since(start)
			var most int
			if busy {
				most = ProbeBurst + int(span/gap)
			} else {
				most = 1 + int(span/every) // at the trip, then one per interval
			}
			t.Logf("%d probe dials in %v (%d Gets failed fast), bound %d", calls, span, gets, most)
			require.LessOrEqual(t, calls, most, "the probe dialed a dead server too often")
			// And it does dial: a slow machine may delay attempts, not
			// lose half of them.
			require.GreaterOrEqual(t, calls, most/2, "the probe dialed too rarely")
		})
	}
}

// Behind a black hole each probe attempt hangs for the dial timeout; when
// the hole lifts, the attempt in flight fails at once (a proxy closes the
// connections it held), and the next dial must come at once, not ProbeGap
// after the failed one's start. (It is a Get's: the probe half-opens the
// breaker, TestGetsRedialAtOnceWhenBlackHoleLifts. Where no hang came
// before, the pacer's credit makes the probe's next attempt come at once:
// TestProbePacerCadence.)
func TestProbeRetriesAtOnceWhenBlackHoleLifts(t *testing.T) {
	const gap = 200 * time.Millisecond
	d := &pipes{}
	lifted := make(chan struct{})
	var calls atomic.Int32
	var liftedAt, nextAt atomic.Int64 // UnixNano
	p := NewConnPool(&Options{
		PoolSize: 1, DialTimeout: 250 * time.Millisecond,
		Dialer: func(ctx context.Context) (net.Conn, error) {
			n := calls.Add(1)
			select {
			case <-lifted:
				nextAt.CompareAndSwap(0, time.Now().UnixNano())
				return d.dial(ctx)
			default:
			}
			select { // the black hole: no answer until the dial timeout or the lift
			case <-ctx.Done():
				return nil, fmt.Errorf("dial %d: %w", n, ctx.Err())
			case <-lifted:
				return nil, fmt.Errorf("dial %d: %w", n, io.EOF)
			}
		},
	})
	defer func() {
		require.NoError(t, p.Close())
		p.dials.Wait()
		d.closeAll()
	}()
	p.breaker.every, p.breaker.gap = time.Hour, gap // before any probe runs
	ctx := context.Background()
	done := make(chan struct{})
	var getter sync.WaitGroup
	defer func() { close(done); getter.Wait() }() // before the pool closes
	getter.Add(1)
	go func() { // a busy pool: Gets fail fast and ask for attempts
		defer getter.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if cn, err := p.Get(ctx); err == nil {
				p.Put(cn)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// The Gets' dial (PoolSize 1) times out and trips the breaker; the
	// probe's first two attempts time out; the hole lifts once the third
	// has begun.
	require.Eventually(t, func() bool { return calls.Load() >= 4 }, 5*time.Second, time.Millisecond)
	liftedAt.Store(time.Now().UnixNano())
	close(lifted)
	require.Eventually(t, func() bool { return nextAt.Load() != 0 }, 5*time.Second, time.Millisecond, "no dial after the lift")
	after := time.Duration(nextAt.Load() - liftedAt.Load())
	t.Logf("the next attempt came %v after the lift (gap %v)", after, gap)
	require.Less(t, after, gap/2, "the probe waited for its gap after the attempt the lift cut short")
}

// getKey marks the contexts of the tests' Gets, so that a Dialer tells
// their dials from the background ones (the probe's, the warm-up's).
type getKey struct{}

// scriptedDialer is a Dialer through pipes for the half-open tests. Until
// up is set, how each dial fails is fail's call, given the dial's context
// and number (from 1); lifted, when closed, cuts short the dials that wait
// for it. A dial that connects takes connectIn first. It counts the
// background dials, and the dials that begin after the third background
// one has begun (late; the Gets' among them in getsLate): by then the
// breaker has been open for a while, and only the probe dials unless it
// half-opened the breaker. inFlight and maxInFlight count the dials under
// way.
type scriptedDialer struct {
	pipes
	fail      func(ctx context.Context, n int32) error
	up        atomic.Bool
	lifted    chan struct{}
	connectIn time.Duration

	n           atomic.Int32
	bg          atomic.Int32
	late        atomic.Int32
	getsLate    atomic.Int32
	inFlight    atomic.Int32
	maxInFlight atomic.Int32
	bgBegun     chan struct{} // a background dial began (room for one)
}

func newScriptedDialer(fail func(ctx context.Context, n int32) error) *scriptedDialer {
	return &scriptedDialer{fail: fail, lifted: make(chan struct{}), bgBegun: make(chan struct{}, 1)}
}

func (d *scriptedDialer) dial(ctx context.Context) (net.Conn, error) {
	n := d.n.Add(1)
	get := ctx.Value(getKey{}) != nil
	if d.bg.Load() >= 3 {
		d.late.Add(1)
		if get {
			d.getsLate.Add(1)
		}
	}
	if !get {
		d.bg.Add(1)
		select {
		case d.bgBegun <- struct{}{}:
		default:
		}
	}
	in := d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	for m := d.maxInFlight.Load(); in > m && !d.maxInFlight.CompareAndSwap(m, in); m = d.maxInFlight.Load() {
	}
	if d.up.Load() {
		time.Sleep(d.connectIn)
		return d.pipes.dial(ctx)
	}
	return nil, d.fail(ctx, n)
}

// hang is a black hole: no answer until the dial's deadline, or until the
// test lifts it, which closes what it held (EOF). It times out as a
// net.Conn read past its deadline does, by a timer of its own: the error
// may come before the context's own timer has ended it.
func (d *scriptedDialer) hang(ctx context.Context, n int32) error {
	dl, ok := ctx.Deadline()
	if !ok {
		panic("hang: an unbounded dial")
	}
	t := time.NewTimer(time.Until(dl))
	defer t.Stop()
	select {
	case <-t.C:
		return fmt.Errorf("dial %d: read: %w", n, os.ErrDeadlineExceeded)
	case <-d.lifted:
		return fmt.Errorf("dial %d: %w", n, io.EOF)
	}
}

// gets counts what busyGets' Gets did: ok succeeded; away is how many
// goroutines rest for a second or more.
type gets struct{ ok, away atomic.Int32 }

// busyGets runs Gets on p from k goroutines until the test ends, each
// resting rest (loaded before each rest) after an error.
func busyGets(t *testing.T, p *ConnPool, k int, rest *atomic.Int64) *gets {
	g := new(gets)
	ctx := context.WithValue(context.Background(), getKey{}, true)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cn, err := p.Get(ctx)
				if err == nil {
					g.ok.Add(1)
					p.Put(cn)
				}
				pause := time.Duration(0)
				if err != nil {
					pause = time.Duration(rest.Load())
				}
				if pause >= time.Second {
					g.away.Add(1)
				}
				select {
				case <-done:
					return
				case <-time.After(pause):
				}
			}
		}()
	}
	t.Cleanup(func() { close(done); wg.Wait() }) // before the pool closes (cleanups run last first)
	return g
}

// restFor returns a rest for busyGets.
func restFor(d time.Duration) *atomic.Int64 {
	r := new(atomic.Int64)
	r.Store(int64(d))
	return r
}

// newScriptedPool returns a pool of PoolSize 4 dialing through d, with
// the probe's cadence set before any probe runs, closed when the test
// ends.
func newScriptedPool(t *testing.T, d *scriptedDialer, dialTimeout, every, gap time.Duration) *ConnPool {
	p := NewConnPool(&Options{PoolSize: 4, DialTimeout: dialTimeout, Dialer: d.dial})
	p.breaker.every, p.breaker.gap = every, gap
	t.Cleanup(func() {
		require.NoError(t, p.Close())
		p.dials.Wait()
		d.closeAll()
	})
	return p
}

// liftWhileProbing waits, behind d's black hole, until the breaker is open
// and the probe's attempts hang, and lifts the hole just after one of them
// began, so that it is in flight and the lift cuts it short; before the
// lift it calls before, if not nil. It returns d.bg at the lift.
func liftWhileProbing(t *testing.T, d *scriptedDialer, before func()) int32 {
	require.Eventually(t, func() bool { return d.bg.Load() >= 2 }, 10*time.Second, time.Millisecond)
	<-d.bgBegun // drain: the next one is an attempt that begins now
	<-d.bgBegun
	if before != nil {
		before()
	}
	bg := d.bg.Load()
	d.up.Store(true)
	close(d.lifted)
	return bg
}

// When a black hole lifts, the probe's attempt in flight fails at once
// (EOF) after the ones before it hung: the probe half-opens the breaker,
// and the Gets (and the warm-up) dial at once, several together, as
// go-redis's callers do, instead of waiting for one more probe dial to
// succeed first. Each dial that connects takes 20 ms, so that the dials
// before the first success overlap.
func TestGetsRedialAtOnceWhenBlackHoleLifts(t *testing.T) {
	var d *scriptedDialer
	d = newScriptedDialer(func(ctx context.Context, n int32) error { return d.hang(ctx, n) })
	d.connectIn = 20 * time.Millisecond
	p := newScriptedPool(t, d, 300*time.Millisecond, time.Hour, 10*time.Millisecond)
	served := busyGets(t, p, 4, restFor(time.Millisecond))
	liftWhileProbing(t, d, nil)
	d.maxInFlight.Store(d.inFlight.Load())
	require.Eventually(t, func() bool { return served.ok.Load() > 0 }, 10*time.Second, time.Millisecond, "the pool never came back")
	assert.GreaterOrEqual(t, d.maxInFlight.Load(), int32(2), "one dial at a time after the lift: the pool waited for the probe's")
}

// The warm-up: the Gets that failed fast during the attempt the lift cut
// short find connections dialed for them when they come back. Here they
// do not come back (they rest for an hour after the lift): PoolSize
// connections are dialed and parked idle all the same. An idle pool, in
// which no Get failed fast, dials nothing when it half-opens.
func TestWarmUpAfterHalfOpen(t *testing.T) {
	t.Run("busy", func(t *testing.T) {
		var d *scriptedDialer
		d = newScriptedDialer(func(ctx context.Context, n int32) error { return d.hang(ctx, n) })
		p := newScriptedPool(t, d, 300*time.Millisecond, time.Hour, 10*time.Millisecond)
		rest := restFor(time.Millisecond)
		g := busyGets(t, p, 4, rest)
		var gets int32
		liftWhileProbing(t, d, func() {
			// The four Gets fail fast during the attempt, then stay away.
			require.Eventually(t, func() bool { return p.breaker.demanded() >= 4 }, 10*time.Second, time.Millisecond)
			rest.Store(int64(time.Hour))
			require.Eventually(t, func() bool { return g.away.Load() == 4 }, 10*time.Second, time.Millisecond)
			gets = d.n.Load() - d.bg.Load()
		})
		require.Eventually(t, func() bool { return p.IdleLen() == 4 }, 10*time.Second, time.Millisecond, "no warm-up")
		assert.Equal(t, gets, d.n.Load()-d.bg.Load(), "a Get dialed: the test's Gets were to stay away")
		require.NoError(t, p.CheckInvariants())
	})
	t.Run("idle", func(t *testing.T) {
		var d *scriptedDialer
		d = newScriptedDialer(func(ctx context.Context, n int32) error { return d.hang(ctx, n) })
		p := newScriptedPool(t, d, 300*time.Millisecond, 50*time.Millisecond, 10*time.Millisecond)
		var trip sync.WaitGroup // PoolSize Gets whose dials hang open the breaker
		for i := 0; i < 4; i++ {
			trip.Add(1)
			go func() {
				defer trip.Done()
				_, err := p.Get(context.Background())
				assert.Error(t, err)
			}()
		}
		trip.Wait()
		bg := liftWhileProbing(t, d, nil)
		require.Eventually(t, func() bool { return p.breaker.halfOpenAt.Load() != math.MinInt64/2 }, 10*time.Second, time.Millisecond, "the cut attempt did not half-open the breaker")
		assert.Never(t, func() bool { return d.bg.Load() != bg || p.IdleLen() != 0 }, 200*time.Millisecond, 5*time.Millisecond, "an idle pool dialed when it half-opened")
	})
}

// Half-open keeps the breaker's bound. Against a server that refuses at
// once, or one behind a black hole that never lifts, the probe never
// half-opens it (no hang followed by a quick failure), so no Get dials
// while it is open. Against one that alternates (each dial hangs, then the
// next fails at once: the worst case), it half-opens at most once per
// ProbeInterval, and each time lets through at most PoolSize dials, the
// warm-up's and the Gets' together, on top of the probe's own
// burst + span/gap.
func TestHalfOpenBounded(t *testing.T) {
	const (
		dialTimeout = 20 * time.Millisecond
		every       = 300 * time.Millisecond
		gap         = 20 * time.Millisecond
		window      = 600 * time.Millisecond
	)
	refuse := func(_ context.Context, n int32) error { return fmt.Errorf("dial %d: connection refused", n) }
	cases := []struct {
		name        string
		fail        func(d *scriptedDialer) func(context.Context, int32) error
		mayHalfOpen bool
	}{
		{"refused", func(*scriptedDialer) func(context.Context, int32) error { return refuse }, false},
		{"black hole", func(d *scriptedDialer) func(context.Context, int32) error { return d.hang }, false},
		{"hang then refuse", func(d *scriptedDialer) func(context.Context, int32) error {
			return func(ctx context.Context, n int32) error {
				if n%2 == 1 {
					return d.hang(ctx, n)
				}
				time.Sleep(time.Millisecond)
				return refuse(ctx, n)
			}
		}, true},
	}
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			d := newScriptedDialer(nil)
			d.fail = c.fail(d)
			p := newScriptedPool(t, d, dialTimeout, every, gap)
			busyGets(t, p, 8, restFor(time.Millisecond))
			require.Eventually(t, func() bool { return d.bg.Load() >= 3 }, 10*time.Second, time.Millisecond)
			start := time.Now()
			time.Sleep(window)
			span := time.Since(start) + 2*dialTimeout // the third background dial began before start
			late, getsLate := int(d.late.Load()), int(d.getsLate.Load())
			halfOpened := p.breaker.halfOpenAt.Load() != math.MinInt64/2
			t.Logf("%d dials (%d the Gets') while the breaker was open or half-open, in about %v; half-opened: %v", late, getsLate, span, halfOpened)
			if !c.mayHalfOpen {
				require.False(t, halfOpened, "the breaker half-opened")
				require.Zero(t, getsLate, "Gets dialed while the breaker was open")
				return
			}
			require.True(t, halfOpened, "the probe never half-opened the breaker")
			most := ProbeBurst + int(span/gap) + 4*(1+int(span/every))
			require.LessOrEqual(t, late, most, "half-open let through too many dials")
		})
	}
}

// The pacer outlives each probe: a probe started when a half-open ends
// (the Gets' first failed dial opens the breaker again) keeps the pace of
// the one before, so that the bound of burst + span/gap holds across
// them. Here the pacer left by an earlier probe allows no attempt for
// 200 ms: the new probe's first attempt waits for it.
func TestProbeKeepsPaceAcrossProbes(t *testing.T) {
	const wait = 200 * time.Millisecond
	d := &probeCounter{}
	p := NewConnPool(&Options{PoolSize: 1, Dialer: d.dial})
	defer func() {
		require.NoError(t, p.Close())
		p.dials.Wait()
	}()
	p.breaker.gap = 100 * time.Millisecond
	start := time.Now()
	// As an earlier probe leaves it: earliest = tat - (burst-1)*gap.
	p.breaker.pace = probePacer{tat: start.Add(wait + p.breaker.gap)}
	_, err := p.Get(context.Background()) // PoolSize 1: one failure opens the breaker
	require.Error(t, err)
	require.Eventually(t, func() bool { return d.calls.Load() >= 2 }, 5*time.Second, time.Millisecond)
	d.mu.Lock()
	first := d.at[1].Sub(start)
	d.mu.Unlock()
	require.GreaterOrEqual(t, first, wait, "the new probe dialed before its pacer allowed")
}
