package shardpool

import "time"

// Hooks: callbacks on the pool's slow paths, for metrics and tracing.
//
// Locking: a hook is called on the goroutine where its event happens,
// after the pool has released every lock it held for the event, so a hook
// may call back into the pool (Stats, even Get and Put). The hot path (a
// Get served by an idle connection, a Put that parks) calls none. Each
// call site tests its func for nil first, so a pool without hooks pays one
// predictable branch per slow-path event.

// Hooks observe a pool's slow paths: dials, waits for a connection, and
// connections closed. Every field is optional; set them in Options.Hooks.
//
// A hook runs on the goroutine of the event (a Get's, a Put's, or one of
// the pool's), after the pool has released its locks, so it may call the
// pool; the caller whose call made the event waits for it, so keep it
// short. A Get made from a hook should carry a deadline (or the pool a
// PoolTimeout): a stale or unhealthy connection can be closed while the
// pool is handing connections to waiting Gets, and the handing resumes
// only when the hook returns. A hook that panics has the panic recovered
// and ignored: the pool is left as if the hook had returned. (shardpool
// only.)
type Hooks struct {
	// OnDial is called after each dial the pool makes, successful or not:
	// for Get, NewConn, MinIdleConns and the breaker's probe. A Get that
	// fails fast while the breaker is open makes no dial and no call.
	OnDial func(DialInfo)
	// OnWait is called when a Get that found no connection stops waiting
	// for one, whatever ended the wait, and when MaxWaiters refuses one.
	OnWait func(WaitInfo)
	// OnConnClosed is called after the pool closes a connection, once per
	// connection, with the reason. Options.OnClose runs before the close;
	// this runs after it, with its error.
	OnConnClosed func(ClosedInfo)
}

// JoinHooks returns Hooks that call, for each event, the hooks of every
// set given, in order: for two exporters, or an exporter and a tracer, on
// one pool. A field no set has stays nil (the pool skips it as before),
// and one only one set has is that set's func itself. Each call has its
// own recover, so a hook that panics does not keep the others from the
// event.
func JoinHooks(sets ...Hooks) Hooks {
	var dial []func(DialInfo)
	var wait []func(WaitInfo)
	var closed []func(ClosedInfo)
	for _, h := range sets {
		dial = appendHook(dial, h.OnDial)
		wait = appendHook(wait, h.OnWait)
		closed = appendHook(closed, h.OnConnClosed)
	}
	return Hooks{OnDial: joinHook(dial), OnWait: joinHook(wait), OnConnClosed: joinHook(closed)}
}

func appendHook[T any](fs []func(T), f func(T)) []func(T) {
	if f == nil {
		return fs
	}
	return append(fs, f)
}

func joinHook[T any](fs []func(T)) func(T) {
	switch len(fs) {
	case 0:
		return nil
	case 1:
		return fs[0]
	}
	return func(v T) {
		for _, f := range fs {
			callHook(f, v)
		}
	}
}

// DialInfo describes one dial.
type DialInfo struct {
	Duration   time.Duration // from the call to the Dialer to its return
	Err        error         // nil for a successful dial
	Background bool          // a MinIdleConns dial or the breaker's probe
}

// WaitInfo describes one wait of a Get for a connection.
type WaitInfo struct {
	Duration time.Duration // how long the Get waited; 0 when it was refused
	Outcome  WaitOutcome
}

// WaitOutcome is how a Get's wait ended.
type WaitOutcome uint8

const (
	// WaitServed: the Get was handed a connection, or a place to dial
	// into (it then dials, and may still fail).
	WaitServed WaitOutcome = iota
	// WaitTimedOut: PoolTimeout passed (ErrPoolTimeout).
	WaitTimedOut
	// WaitCanceled: the Get's context ended.
	WaitCanceled
	// WaitClosed: the pool was closed (ErrClosed).
	WaitClosed
	// WaitExhausted: MaxWaiters Gets were waiting, and the Get was refused
	// without waiting (ErrPoolExhausted).
	WaitExhausted
)

var waitOutcomes = [...]string{"served", "timeout", "canceled", "closed", "exhausted"}

// String returns the outcome's name, as metrics label it: served, timeout,
// canceled, closed or exhausted.
func (o WaitOutcome) String() string {
	if int(o) < len(waitOutcomes) {
		return waitOutcomes[o]
	}
	return "invalid"
}

// ClosedInfo describes a connection the pool closed.
type ClosedInfo struct {
	Conn   *Conn
	Reason CloseReason
	Err    error // what closing it returned (Options.OnClose's error joined with the close's)
}

// CloseReason is why the pool closed a connection.
type CloseReason uint8

const (
	// CloseRemoved: the caller asked (Remove, CloseConn, or Put of a
	// NewConn connection).
	CloseRemoved CloseReason = iota
	// CloseIdleTimeout: idle past IdleTimeout.
	CloseIdleTimeout
	// CloseMaxAge: older than MaxConnAge (as MaxConnAgeJitter spreads it
	// for the connection); also when it was idle past IdleTimeout too.
	CloseMaxAge
	// CloseUnhealthy: it failed its health check.
	CloseUnhealthy
	// CloseIdleCap: MaxIdleConns connections were already idle.
	CloseIdleCap
	// CloseFiltered: Filter selected it.
	CloseFiltered
	// CloseShrunk: the pool held more than PoolSize after SetPoolSize.
	CloseShrunk
	// ClosePoolClosed: Close or Shutdown closed it, or a dial ended after
	// them.
	ClosePoolClosed
)

var closeReasons = [...]string{"removed", "idle_timeout", "max_age", "unhealthy", "idle_cap", "filtered", "shrunk", "pool_closed"}

// String returns the reason's name, as metrics label it: removed,
// idle_timeout, max_age, unhealthy, idle_cap, filtered, shrunk or
// pool_closed.
func (r CloseReason) String() string {
	if int(r) < len(closeReasons) {
		return closeReasons[r]
	}
	return "invalid"
}

// callHook calls f(v), recovering a panic in it.
func callHook[T any](f func(T), v T) {
	defer func() { _ = recover() }()
	f(v)
}

// dialed reports a dial to OnDial, if set. start is the clock.exact time
// the dial began.
func (p *ConnPool) dialed(start int64, err error, bg bool) {
	if f := p.opt.Hooks.OnDial; f != nil {
		callHook(f, DialInfo{Duration: time.Duration(p.clock.exact() - start), Err: err, Background: bg})
	}
}

// waited reports the end of a wait to OnWait, if set.
func (p *ConnPool) waited(d time.Duration, o WaitOutcome) {
	if f := p.opt.Hooks.OnWait; f != nil {
		callHook(f, WaitInfo{Duration: d, Outcome: o})
	}
}
