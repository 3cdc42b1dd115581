package shardpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
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
// connections it held), and the next attempt must come at once, not
// ProbeGap after the failed one's start.
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
