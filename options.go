package shardpool

import (
	"context"
	"net"
	"runtime"
	"time"
)

// DefaultDialTimeout is the DialTimeout used when Options.DialTimeout is 0,
// and the bound of background dials when it is negative. It is go-redis's
// default.
const DefaultDialTimeout = 5 * time.Second

// DefaultHealthCheckIdle is the HealthCheckIdle used when
// Options.HealthCheckIdle is 0.
const DefaultHealthCheckIdle = time.Second

// DefaultPoolTimeout is the PoolTimeout used when Options.PoolTimeout is 0.
// It matches what a go-redis client with default options gives its pool
// (ReadTimeout 3s + 1s).
const DefaultPoolTimeout = 4 * time.Second

// Options configures a pool. The zero value of every field is usable; the
// pool works on a normalized copy (see each field), so changing an Options
// after NewConnPool has no effect.
type Options struct {
	// Dialer opens a new network connection. The context is the caller's
	// for dials made by Get and NewConn, and one cancelled by Close for
	// dials made in the background. A nil Dialer makes every dial fail with
	// ErrNoDialer. After PoolSize failed dials in a row (OnConnect's
	// failures included), Gets fail fast with the last dial error, without
	// calling the Dialer, until a background probe dials successfully
	// (see ProbeInterval).
	Dialer func(context.Context) (net.Conn, error)

	// OnConnect, if set, runs once on every new connection, after the
	// Dialer returns it and before it is handed to a Get or parked idle:
	// for Get's dials, NewConn's, the MinIdleConns dials and the breaker's
	// probe. It is the place for a handshake (AUTH, SELECT, HELLO) and for
	// setting cn.Value, cn.Inited, or both.
	//
	// It runs within the dial's bound: ctx is the dial's context, whose
	// deadline is DialTimeout's, and the net.Conn's deadline is set to that
	// deadline while it runs (and cleared after), so that a handshake's I/O
	// cannot outlast it even if OnConnect ignores ctx. On a net.Conn whose
	// SetDeadline fails (one without deadlines) OnConnect runs bounded by
	// ctx alone. A client that sets its own deadline per command replaces
	// the pool's: give the handshake ctx's deadline, not a later one.
	//
	// An error, or a panic (recovered), fails the dial: the pool closes the
	// network connection (OnClose is not called: the connection never
	// joined the pool), frees its place, and counts a dial error toward the
	// breaker, unless the caller's context ended first, as for the Dialer.
	// The Get or NewConn that dialed gets an error that wraps both
	// ErrOnConnect and OnConnect's error (errors.Is finds either). The
	// probe's connection is closed after OnConnect succeeds, without
	// OnClose: the probe only learns whether the server accepts again.
	//
	// cn belongs to no pool while OnConnect runs: Put, Remove and CloseConn
	// of it are refused (ErrUnknownConn), and Filter and Close do not see
	// it. OnConnect may call the pool; a Get from it competes for places
	// like any other Get. nil means no handshake.
	OnConnect func(ctx context.Context, cn *Conn) error

	// DialTimeout bounds every dial attempt: Get's, NewConn's, the
	// MinIdleConns dials' and the breaker probe's. 0 means
	// DefaultDialTimeout (5 s). Negative means that Get's and NewConn's
	// dials are bounded by the caller's context only; background dials and
	// the probe are still bounded, by DefaultDialTimeout. The bound reaches
	// the Dialer as its context's deadline, counted on the pool's coarse
	// clock when it runs (so it may fall up to that clock's resolution
	// early), and arms a timer only if the Dialer asks for Done. The probe
	// does not wait past it even for a Dialer that ignores its context: it
	// counts the attempt as failed and tries again one probe interval
	// later.
	DialTimeout time.Duration

	// OnClose, if set, is called once for each connection the pool closes,
	// before its network connection is closed. Its error is returned by
	// CloseConn, Filter and Close.
	OnClose func(*Conn) error

	// Hooks observe the pool's slow paths (dials, waits, closes), for
	// metrics; see Hooks. The zero value observes nothing, and then the
	// pool pays a nil check per slow-path event and nothing on the hot
	// path.
	Hooks Hooks

	// OnMisuse, if set, is called when Put or Remove is given a connection
	// it cannot take: err is ErrUnknownConn or ErrNotCheckedOut. The call is
	// otherwise a no-op. It runs on the caller's goroutine.
	OnMisuse func(cn *Conn, err error)

	// PoolFIFO makes Get take the connection that has been idle longest
	// (FIFO) instead of the one idle shortest (LIFO, the default). LIFO
	// lets surplus connections go stale and be reaped; FIFO spreads use.
	// ConnPool keeps the order within each of its shards.
	PoolFIFO bool

	// PoolSize bounds the connections the pool holds, and so the ones
	// checked out at once. Values <= 0 mean 10 × GOMAXPROCS; values above
	// 2,097,151 mean that. Connections made by NewConn are the caller's
	// and do not count. SetPoolSize changes it on a live pool.
	PoolSize int

	// MaxConcurrentDials bounds the pool's dials in flight at once: Get's
	// and MinIdleConns's, not NewConn's, which are the caller's. It keeps a
	// cold start, or the moment a restarted server accepts again, from
	// becoming a storm of dials. A Get that would dial beyond it waits for
	// a dial slot or a connection, whichever comes first, within
	// PoolTimeout and its context. Values <= 0, and values above PoolSize,
	// mean PoolSize (no bound beyond PoolSize's): the current PoolSize,
	// after SetPoolSize.
	MaxConcurrentDials int

	// MinIdleConns is how many idle connections the pool keeps dialed in
	// the background. Negative means 0; it is capped at PoolSize and at
	// MaxIdleConns, the current ones after SetPoolSize.
	MinIdleConns int

	// MaxIdleConns bounds the idle connections the pool holds. A Put that
	// would exceed it closes the connection instead, frees its place and
	// so lets a waiting Get dial, and counts it in Stats().IdleCapConns.
	// 0 (or negative) means no bound beyond PoolSize; a value above
	// PoolSize bounds nothing until SetPoolSize grows the pool past it.
	// The bound is exact: IdleLen never exceeds it, not even for a moment
	// (except while SetPoolSize lowers it, until it returns). A Put is
	// refused only when the pool as a whole holds MaxIdleConns idle, or,
	// under concurrent Gets, when one of them frees room on another core
	// just as the Put looks. With it unset, Get and Put pay nothing for
	// it.
	MaxIdleConns int

	// MaxWaiters bounds how many Gets wait at once. A Get that would wait
	// while MaxWaiters are already waiting returns ErrPoolExhausted at
	// once, and is counted in Stats().Exhausted: under overload the pool
	// sheds load instead of holding every caller for PoolTimeout. Waiting
	// means what it does for Stats().PendingRequests: queued for a
	// connection, a place or a dial slot, not dialing. A Get that can take
	// an idle connection or dial is never refused, even if it arrives
	// while the queue is full. 0 (or negative) means no bound.
	//
	MaxWaiters int

	// LeakThreshold turns on leak detection: a connection that a Get
	// handed out and that has not been Put or Removed this long after is
	// reported once to OnLeak, with the stack of that Get, and counted in
	// Stats().Leaks. A connection that comes back later is not reported
	// again for that checkout. Connections from NewConn are the caller's
	// and are not watched. The pool's timeout error (PoolTimeoutError)
	// then also names the oldest checkout: how long it has been held and
	// where it was taken. It costs each Get a stack capture (a few hundred
	// ns, no allocation); it is a debugging aid. The check runs on a pool
	// goroutine every quarter of LeakThreshold (at least every
	// millisecond, at most every second), so a leak is reported between
	// LeakThreshold and LeakThreshold plus that period after its Get.
	// 0 (or negative) turns it off, and then Get and Put pay nothing for
	// it.
	LeakThreshold time.Duration

	// OnLeak is called once for each leaked checkout (see LeakThreshold),
	// on the pool's leak-check goroutine, outside the pool's locks; the
	// next check waits for it to return. A panic in it is recovered and
	// ignored. nil means leaks are only counted (Stats().Leaks) and named
	// in timeout errors.
	OnLeak func(Leak)

	// MaxConnAge closes a connection once it is this old, when it is next
	// met idle. 0 (or negative) keeps connections of any age.
	MaxConnAge time.Duration

	// MaxConnAgeJitter spreads MaxConnAge: each connection's age limit is
	// drawn uniformly from MaxConnAge ± MaxConnAgeJitter when it is dialed,
	// so that connections dialed together (at start, after a restart) do
	// not all expire together. 0 (or negative) means no spread; a value
	// above MaxConnAge means MaxConnAge (limits from 0 to twice the age).
	// It has no effect without MaxConnAge.
	MaxConnAgeJitter time.Duration

	// PoolTimeout bounds how long Get waits for a connection when PoolSize
	// are held. 0 means DefaultPoolTimeout; negative means no bound beyond
	// the caller's context.
	PoolTimeout time.Duration

	// IdleTimeout closes a connection that has been idle this long: the
	// reaper closes it within IdleCheckFrequency after that, and a Get
	// that meets it first closes it then. 0 (or negative) keeps idle
	// connections forever.
	IdleTimeout time.Duration

	// HealthCheckIdle is how long a connection must have been idle before
	// Get checks its health (HealthCheck) before handing it out. 0 means
	// DefaultHealthCheckIdle (1 s); negative turns checks off. Connections
	// used more recently are handed out unchecked, so a busy pool pays
	// nothing for checks: no syscall, and no clock read beyond the pool's
	// coarse clock.
	HealthCheckIdle time.Duration

	// HealthCheck checks an idle connection that Get is about to hand out
	// (see HealthCheckIdle); a non-nil error means it is unusable. nil
	// means the built-in check: one non-blocking question to the kernel
	// about the socket, which takes no byte off the stream and finds a
	// connection the server has closed (EOF, reset) or one with unexpected
	// unread bytes. It checks the socket of a net.Conn that offers it
	// (syscall.Conn, as *net.TCPConn and *net.UnixConn do), and of one
	// that wraps such a conn and exposes it through a method
	// NetConn() net.Conn (as *tls.Conn does), through any depth of
	// wrapping. Under a *tls.Conn unread bytes are not a failure (TLS 1.3
	// session tickets arrive after the handshake); a close or reset is,
	// also behind unread bytes on Linux. A net.Conn with no socket to
	// find this way passes: give a wrapper a NetConn method to have it
	// checked. A connection that fails is
	// closed and counted in Stats().Unhealthy, and Get moves on to the
	// next idle connection or dials: the error never reaches the caller. A
	// check that panics fails. It runs outside the pool's locks, with the
	// connection checked out to the pool, usually on the goroutine of the
	// Get that would take it; keep it short and non-blocking, since Gets
	// waiting for a connection may wait for it.
	HealthCheck func(*Conn) error

	// IdleCheckFrequency is how often the background reaper sweeps out
	// stale idle connections (past IdleTimeout or MaxConnAge). The reaper
	// runs when either of those is set. 0 means a quarter of the shorter
	// of the two, but at most a minute (go-redis's client default) and at
	// least a second, so that a pool nobody uses wakes at most once a
	// second: an IdleTimeout of 5 minutes is swept every minute, one of
	// 20 s every 5 s, one of 50 ms every second. Negative turns the reaper
	// off: stale connections are then closed only when a Get meets them
	// (with LIFO order, the ones deep in a shard may wait for that a long
	// time) or when ReapStaleConns is called.
	IdleCheckFrequency time.Duration
}

// reapEvery returns how often the reaper sweeps, for IdleCheckFrequency
// freq and the normalized IdleTimeout and MaxConnAge; 0 means no reaper.
// See IdleCheckFrequency for the rule.
func reapEvery(freq, idle, age time.Duration) time.Duration {
	shortest := idle
	if shortest == 0 || (age > 0 && age < shortest) {
		shortest = age
	}
	switch {
	case freq < 0 || shortest == 0:
		return 0
	case freq > 0:
		return freq
	}
	return min(max(shortest/4, time.Second), time.Minute)
}

// defaultPoolSize is the PoolSize used for values <= 0.
func defaultPoolSize() int { return min(10*runtime.GOMAXPROCS(0), maxPoolSize) }

// normalize replaces out-of-range values by the documented defaults.
func (opt *Options) normalize() {
	if opt.PoolSize <= 0 {
		opt.PoolSize = defaultPoolSize()
	}
	opt.PoolSize = min(opt.PoolSize, maxPoolSize)
	opt.MaxIdleConns = max(0, opt.MaxIdleConns)
	opt.MinIdleConns = max(0, min(opt.MinIdleConns, opt.PoolSize))
	if opt.MaxIdleConns > 0 {
		opt.MinIdleConns = min(opt.MinIdleConns, opt.MaxIdleConns)
	}
	opt.MaxWaiters = max(0, opt.MaxWaiters)
	opt.LeakThreshold = max(0, opt.LeakThreshold)
	// 0 follows PoolSize, capped at each dial by the size of the moment
	// (ConnPool.dialLimit), so a value above it serves a later growth.
	opt.MaxConcurrentDials = max(0, opt.MaxConcurrentDials)
	opt.MaxConnAge = max(0, opt.MaxConnAge)
	opt.MaxConnAgeJitter = max(0, min(opt.MaxConnAgeJitter, opt.MaxConnAge))
	opt.IdleTimeout = max(0, opt.IdleTimeout)
	opt.IdleCheckFrequency = reapEvery(opt.IdleCheckFrequency, opt.IdleTimeout, opt.MaxConnAge)
	if opt.DialTimeout == 0 {
		opt.DialTimeout = DefaultDialTimeout
	}
	if opt.HealthCheckIdle == 0 {
		opt.HealthCheckIdle = DefaultHealthCheckIdle
	}
	if opt.HealthCheck == nil {
		opt.HealthCheck = connCheck
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = DefaultPoolTimeout
	}
}
