package shardpool

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// The dial-error breaker and its probe.
//
// Each failed dial increments failures and each successful one resets it,
// so it counts consecutive failures. A dial cut short by the caller's
// context does not count; one cut short by DialTimeout does (dialConn
// decides). Once the count reaches PoolSize the breaker is open: dials fail
// at once with the last dial error, without calling the Dialer, and one
// probe goroutine dials every ProbeInterval until a dial succeeds; then it
// resets the count and the pool dials normally again. A Get that fails
// fast asks the probe for an attempt now (want), and the probe makes it as
// soon as its pacer allows (probePacer, below): with no demand it dials
// once per ProbeInterval, and while callers keep coming it dials at once
// when it has dialed little lately, and at most ProbeBurst + n times in
// any n ProbeGaps. One attempt at a time: the probe is a single goroutine.
// It waits for each attempt at most the background dial timeout, even if
// the Dialer ignores its context, so a hung dial cannot keep the breaker
// open. Success resets the count, so sporadic failures spread over hours
// do not trip it, and the probe cannot be lost: probing is cleared before
// the count, so a trip after the reset starts a new probe.
//
// Why a burst, and not one attempt per ProbeGap from the last one's start
// (the cadence before issue 20): behind a black hole (a server, or a
// proxy, that accepts and then never answers) each attempt hangs for the
// dial timeout, and the next starts as it fails. When the hole lifts, the
// attempt in flight fails at once (the proxy closes the connections it
// held: EOF) or finishes late; either way the one that can succeed is the
// next. Counted from the start of the attempt that just failed, ProbeGap
// made it wait up to 100 ms: in the chaos driver's black holes (250 ms dial
// timeout, 2 s faults) the last attempt began 10-55 ms before the toxics
// went, so the pool came back 26-92 ms after them, where go-redis v9, whose
// callers dial themselves, came back in 7-11 ms. An attempt that hung for
// the dial timeout has spent that time not dialing; the pacer counts it as
// credit, so the attempt after a short one (the one the lifting hole cut)
// starts at once. Against a server that refuses at once the credit never
// builds up: attempts are ProbeGap apart, as before.
//
// Why the probe half-opens the breaker after a hole lifts (issue 20):
// with the pacer's credit the attempt after the cut one came at once, but
// the Gets still waited for it, one whole dial with its handshake, before
// they dialed themselves; go-redis v9's callers, which have no breaker
// between them and the server, redial the moment the hole lifts, and came
// back that one dial sooner. So when an attempt fails before its dial
// timeout right after one that hung until it (the black hole's timeout
// changed into a quick failure: something at the far end moved), the probe
// does not retry: it leaves the breaker one failure short of open and
// ends, and the Gets dial as they do when it is closed. If the server
// answers, the pool is back after one round of the Gets' own dials, as
// go-redis's is; if not, the first of those dials to fail opens the
// breaker again and a new probe starts.
//
// Why a warm-up at half-open: the Gets that failed fast come back when
// their callers retry, each on its own cadence, and only then dial, where
// go-redis's callers were queued and dialed the moment the hole lifted. So
// the probe counts the Gets that failed fast during its last attempt
// (demand, at most PoolSize) and, as it half-opens, starts that many
// background dials that park their connections idle (warmUp): the callers
// find them dialed, or on their way, when they retry.
//
// The bound that keeps the breaker's purpose: the probe half-opens at most
// once per ProbeInterval, and each time lets through no more dials than
// the warm-up's and the Gets' that start before one fails, at most
// PoolSize (each holds a place). The pacer outlives each probe, so across
// the probes of one outage the probe's own attempts stay within
// ProbeBurst + span/ProbeGap. A server that refuses at once, or one that
// keeps every attempt hanging, never half-opens it: neither is a hang
// followed by a quick failure. An idle pool has no demand: half-open, it
// dials nothing.
//
// Locking: none. The breaker's state is atomics and a channel with room
// for one token, touched by its methods only; the pacer belongs to the
// goroutine that holds probing. The probe and the warm-up's dials run in
// p.dials, which Close does not wait for.

// The breaker's probe cadence. While the breaker is open the probe dials
// once every ProbeInterval (from the start of its last attempt), and,
// while Gets keep failing fast, sooner: at once if it has dialed little
// lately, and never more than ProbeBurst + n times in any n ProbeGaps.
// So a dead server sees about one dial per ProbeInterval from a pool
// nobody uses, and at most ProbeBurst + span/ProbeGap dials in any span
// from a busy one: 2 + 10 per second, one at a time. A server whose
// hanging attempts turn into quick failures (a black hole that moved) may
// also see, once per ProbeInterval, up to PoolSize dials from a busy pool
// that the probe let through to find out whether it is back.
const (
	ProbeInterval = time.Second
	ProbeGap      = 100 * time.Millisecond
	// ProbeBurst is how many attempts the probe may make back to back
	// after it has not dialed for ProbeBurst ProbeGaps.
	ProbeBurst = 2
)

// breaker counts consecutive dial failures against PoolSize and, while
// open, paces the probe.
type breaker struct {
	failures atomic.Uint32 // consecutive failed dials
	lastErr  atomic.Pointer[dialError]
	probing  atomic.Bool // a probe goroutine runs

	// hung is whether the last failure counted ran until its dial
	// timeout; halfOpenAt is when the probe last half-opened the breaker,
	// in nanoseconds on the pool's clock (exact reads), math.MinInt64/2
	// before it ever did. Written by failed and the probe.
	hung       atomic.Bool
	halfOpenAt atomic.Int64

	// wanted is set by a Get that failed fast and sent a token on asked
	// (room for one); the probe clears it before each attempt, so the
	// channel stays off the path of every Get but the first.
	wanted atomic.Bool
	asked  chan struct{}
	// demand counts the Gets that failed fast during the probe's current
	// attempt, up to the pool's size: the half-open's warm-up dials for
	// them. attempting clears it.
	demand atomic.Int32

	// every, gap and burst are the probe's cadence: ProbeInterval,
	// ProbeGap and ProbeBurst, which tests may change before the pool
	// dials.
	every, gap time.Duration
	burst      int

	// pace is the probe's pacer. It outlives each probe goroutine, so that
	// a probe started when a half-open ends keeps the pace of the one
	// before, and the pacer's bound holds across them. Only the goroutine
	// that holds probing touches it: probing's clearing and its next
	// compare-and-swap hand it over.
	pace probePacer
}

type dialError struct{ err error }

func (b *breaker) init() {
	b.asked = make(chan struct{}, 1)
	b.every, b.gap, b.burst = ProbeInterval, ProbeGap, ProbeBurst
	b.halfOpenAt.Store(math.MinInt64 / 2)
}

// open reports whether dials fail fast: size dials in a row have failed
// (the current PoolSize: a shrink can open the breaker).
func (b *breaker) open(size int) bool { return b.failures.Load() >= uint32(size) }

// failureCount returns the consecutive failures counted, for invariants.
func (b *breaker) failureCount() int { return int(b.failures.Load()) }

// lastError returns the last dial error, the one dials fail fast with.
func (b *breaker) lastError() error {
	if e := b.lastErr.Load(); e != nil {
		return e.err
	}
	return nil
}

// failed counts a failed dial of a pool of size connections; hung is
// whether it ran until its dial timeout. It reports true when this failure
// must start the probe: the breaker is open and no probe runs. The caller
// starts it, or calls probeNotStarted.
func (b *breaker) failed(err error, hung bool, size int) (startProbe bool) {
	b.lastErr.Store(&dialError{err})
	b.hung.Store(hung)
	if b.failures.Add(1) < uint32(size) {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

// probeNotStarted undoes failed's claim of the probe when the pool could
// not start it (it is closing).
func (b *breaker) probeNotStarted() { b.probing.Store(false) }

// succeeded counts a successful dial. It writes only when it must, so that
// a pool dialing well keeps the line clean.
func (b *breaker) succeeded() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
}

// probeSucceeded closes the breaker after the probe's successful attempt.
// It clears probing first: a trip after the reset must start a new probe.
func (b *breaker) probeSucceeded() {
	b.probing.Store(false)
	b.failures.Store(0)
}

// probeFailed records the failed attempt of the probe of a pool of size
// connections, which ended at now (an exact clock read), and reports whether the probe must end because it half-opened
// the breaker: the attempt failed before its timeout right after a
// failure that hung until it, and the breaker has not half-opened in the
// last ProbeInterval. Half-open, the breaker lets dials through until one
// fails, which opens it again: failures is one short of size. probing is
// cleared first, as in probeSucceeded.
func (b *breaker) probeFailed(err error, hung bool, now int64, size int) (halfOpened bool) {
	b.lastErr.Store(&dialError{err})
	cut := !hung && b.hung.Load()
	b.hung.Store(hung)
	if !cut || now-b.halfOpenAt.Load() < int64(b.every) {
		return false
	}
	b.halfOpenAt.Store(now)
	b.probing.Store(false)
	b.failures.Store(uint32(size - 1))
	return true
}

// keepClosed caps the failures counted, if the breaker is closed at size
// old, below size n, so that a shrink does not open it: n dials in a row
// must fail, and errors counted against the old size do not make a new
// size's worth.
func (b *breaker) keepClosed(old, n int) {
	for {
		e := b.failures.Load()
		if e >= uint32(old) || e < uint32(n) || b.failures.CompareAndSwap(e, uint32(n-1)) {
			return
		}
	}
}

// want asks the probe for an attempt as soon as gap allows, for a Get that
// met the open breaker of a pool of size connections, and counts it in
// demand. One Get asks; the others see wanted set. Once demand reaches
// size the Gets only load it, so a storm of them does not contend on it.
func (b *breaker) want(size int) {
	if b.demand.Load() < int32(size) {
		b.demand.Add(1)
	}
	if !b.wanted.Load() && b.wanted.CompareAndSwap(false, true) {
		select {
		case b.asked <- struct{}{}:
		default: // already asked
		}
	}
}

// attempting is called by the probe before each attempt: a Get that fails
// fast during it asks for the next one.
func (b *breaker) attempting() {
	b.wanted.Store(false)
	b.demand.Store(0)
}

// demanded returns how many Gets failed fast during the current attempt
// (at most the pool's size, give or take the Gets that raced at the cap).
func (b *breaker) demanded() int { return int(b.demand.Load()) }

// probePacer paces the probe's attempts: a token bucket of burst tokens,
// one back every gap, kept as its theoretical arrival time (the GCRA): tat
// is when the bucket would be full again, and an attempt may start at t if
// t >= tat - (burst-1)*gap. The zero tat is a full bucket: the first
// attempt after a trip starts at once, and so does a second if the first
// fails fast (a Get asked meanwhile).
//
// The bound: n attempts that start at t1 <= ... <= tn each move tat on by
// at least gap, so tat >= t1 + (n-1)*gap before the n-th, which may start
// only at tn >= tat - (burst-1)*gap; so tn - t1 >= (n-burst)*gap, and any
// span of time holds at most burst + span/gap starts. With burst 2 and gap
// 100 ms: 2 + 10 per second, against 1 + 10 with one per gap.
//
// The credit: attempts that each last gap or more (behind a black hole,
// the dial timeout: 250 ms in the chaos driver, 5 s by default) find the
// bucket full when they start, since tat <= the last start + gap, so each
// leaves one token: the attempt after one that fails at once may start at
// once. Attempts that fail at once (a refused connect) drain the bucket
// after burst of them, and then start gap apart.
//
// The probe goroutine owns it: no locking.
type probePacer struct {
	gap   time.Duration
	burst int
	tat   time.Time
}

// earliest returns when the next attempt may start.
func (pc *probePacer) earliest() time.Time {
	return pc.tat.Add(-time.Duration(pc.burst-1) * pc.gap)
}

// started records an attempt that started at t, which must not be before
// earliest.
func (pc *probePacer) started(t time.Time) {
	if pc.tat.Before(t) {
		pc.tat = t
	}
	pc.tat = pc.tat.Add(pc.gap)
}

// wait waits until every after last, the start of the probe's last
// attempt, or until a Get asks for an attempt, and in both cases until
// pace allows the next: every attempt keeps pace's bound, even with every
// shorter than gap (tests). It reports false if closed is closed first.
func (b *breaker) wait(last time.Time, pace *probePacer, closed <-chan struct{}) bool {
	earliest := pace.earliest()
	idle := last.Add(b.every)
	if idle.Before(earliest) {
		idle = earliest
	}
	t := time.NewTimer(time.Until(idle))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-closed:
		return false
	case <-b.asked:
	}
	return waitUntil(earliest, closed)
}

// waitUntil waits until t, or until closed is closed first (it then
// reports false).
func waitUntil(t time.Time, closed <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-closed:
		return false
	}
}

// startProbe runs the probe in the background, for a dial whose failure
// claimed it (breaker.failed).
func (p *ConnPool) startProbe() {
	if !p.dials.Go(p.probe) {
		p.breaker.probeNotStarted()
	}
}

// probe dials every ProbeInterval, or sooner when a Get asks, as its pacer
// allows, until a dial succeeds or the pool closes.
func (p *ConnPool) probe() {
	pace := &p.breaker.pace
	pace.gap, pace.burst = p.breaker.gap, p.breaker.burst
	var last time.Time // when the last attempt began
	for first := true; ; first = false {
		if first {
			// At once after a trip (the bucket has long been full),
			// but as the pacer allows after a half-open.
			if !waitUntil(pace.earliest(), p.closedCh) {
				return
			}
		} else if !p.breaker.wait(last, pace, p.closedCh) {
			return
		}
		p.breaker.attempting()
		last = time.Now()
		pace.started(last)
		hung, err := p.probeDial()
		if err == nil {
			p.breaker.probeSucceeded()
			p.checkMinIdleConns() // top-ups stopped while the breaker was open
			return
		}
		if p.closed.Load() {
			return
		}
		// The demand is read before probeFailed may release probing: a
		// probe started after that clears it for its own attempt.
		demand := p.breaker.demanded()
		if p.breaker.probeFailed(err, hung, p.clock.exact(), p.poolSize()) {
			// Half-open: the Gets dial; a failure starts a new probe.
			p.warmUp(demand)
			return
		}
	}
}

// warmUp starts up to n background dials, each parking its connection
// idle, when the probe half-opens the breaker with n Gets having failed
// fast during its last attempt. Those Gets come back when their callers
// retry; the connections are dialed, or on their way, by then, instead of
// each dial starting with its own retry. An idle pool (n = 0) dials
// nothing. The dials take free places and dial slots, stop at the first
// that is not free and at MaxIdleConns, and go through dialConn: one that
// fails opens the breaker again, as a Get's would. So the bound of the
// half-open holds: at most PoolSize dials, once per ProbeInterval.
func (p *ConnPool) warmUp(n int) {
	if p.idle.on {
		n = min(n, p.maxIdle()-p.IdleLen())
	}
	for ; n > 0; n-- {
		if p.closed.Load() || p.breaker.open(p.poolSize()) || !p.tryAcquire() {
			return
		}
		if !p.dials.Go(p.warmDial) {
			p.endDial(true)
			return
		}
	}
}

// warmDial is one of warmUp's dials.
func (p *ConnPool) warmDial() { p.dialIdle() }

// probeDial makes one probe attempt (a dial and OnConnect) and closes what
// it dials; hung reports that it failed because it reached the background
// dial timeout. It waits for the dial at most that long, even if the
// Dialer ignores its context: a hung attempt must not hold the breaker
// open once the server accepts again. Such an attempt runs on, and closes
// its connection if it ever gets one.
func (p *ConnPool) probeDial() (hung bool, err error) {
	ctx, bounded := p.dialContext(p.bgCtx, true)
	defer bounded.release()
	res := make(chan error, 1) // the attempt never blocks on it
	start := p.clock.exact()
	if !p.dials.Go(func() {
		cn, err := p.connect(ctx)
		if err == nil {
			_ = cn.Close()
		}
		res <- err
	}) {
		return false, ErrClosed
	}
	select {
	case err = <-res:
		hung = err != nil && ranOut(bounded, err)
	case <-ctx.Done():
		err = fmt.Errorf("shardpool: probe dial gave no answer in time: %w", ctx.Err())
		hung = true
	}
	p.dialed(start, err, true)
	return hung, err
}
