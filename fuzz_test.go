package shardpool_test

// FuzzDifferential: the sharded pool and the baseline driven side by side,
// single-threaded, by a sequence of operations decoded from the fuzzer's
// input. After every step they must agree on everything the contract fixes.
//
// Run the seed corpus (testdata/fuzz/FuzzDifferential) with the other tests:
//
//	go test -run FuzzDifferential .
//
// and fuzz for a bounded time with
//
//	go test -run '^$' -fuzz FuzzDifferential -fuzztime 30s .
//
// Input format. Byte 0 is the configuration: PoolSize 1..4 (bits 0-1),
// PoolFIFO (bit 2), IdleTimeout none/1m/5m/none (bits 3-4), MaxConnAge
// none/2m/10m/none (bits 5-6), PoolTimeout 100µs or negative (bit 7). Byte 1
// picks close errors: none, or connections whose dial number is a multiple
// of 2, 3 or 5 fail to close, from net.Conn.Close or from OnClose. The rest
// is pairs of (operation, argument); see the fop constants.
//
// What is held equal, and what is not:
//
//   - GOMAXPROCS is 1 while an input runs, so the sharded pool has a single
//     shard and its LIFO/FIFO order is global like the baseline's: Get must
//     return the same connection (by dial number) from both. With several
//     shards only the shard's order is kept and the choice would differ.
//   - No background reaper (IdleCheckFrequency negative) and MinIdleConns 0: the
//     top-up dials are asynchronous, so which Get meets a topped-up
//     connection, and the dial numbering, would depend on scheduling. For
//     the same reason v8's "unpooled overflow" (newConn marking a dial made
//     beyond PoolSize as unpooled) is not reached: without MinIdleConns a
//     Get dials only when fewer than PoolSize pooled connections exist.
//   - Time is the pools' manual clocks, moved together, so idle and age
//     expiry are exact in both.
//   - Get never blocks: when nothing is idle and every place is held, it is
//     given a cancelled context (both pools return ctx.Err()) or, with
//     PoolTimeout 100µs, waits that long (both return ErrPoolTimeout). It is
//     never given a cancelled context otherwise: the baseline checks ctx
//     first and fails, while the sharded pool's hot path does not read ctx
//     and returns an idle connection (or dials with the cancelled ctx). That
//     divergence is deliberate in shardpool (no ctx check on the hot path)
//     and is covered, per pool, by TestFaultCtxCancelledBeforeGet.
//   - A checked-out connection that Filter (or Close) closes keeps the
//     baseline's turn until its holder Puts or Removes it, while the sharded
//     pool frees its place at once. So before every Get the harness hands
//     such connections back (a silent no-op for both), and capacity agrees
//     again. CloseConn frees the turn at once in both.
//   - The dial-error breaker: the baseline, like v8, counts dial errors
//     until its probe succeeds, while shardpool resets the count on every
//     successful dial. Every failure episode therefore ends (DialUp) by
//     tripping both breakers with failing NewConns and letting both probes
//     succeed, so that both counts are zero again. The probes dial with the
//     pool's background context; the harness's dialer holds those dials
//     until it lets them succeed, so the trip lasts exactly as long as the
//     harness wants.
//   - Hits, Misses, Timeouts, StaleConns and WaitCount agree with one shard
//     and no concurrency, and are compared; WaitDuration is wall time.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

// Operations, the first byte of each pair (modulo fopCount).
const (
	fopGet       = iota // Get; arg bit 0 picks a cancelled ctx or PoolTimeout when Get would wait, bit 1 Put or Remove for closed connections handed back first
	fopPut              // Put a held connection (arg picks it), or nil if none
	fopRemove           // Remove a held connection, or nil if none
	fopNewConn          // NewConn
	fopCloseConn        // CloseConn of a held (arg>>6 0, 1), idle (2) or any (3) connection
	fopFilter           // Filter the connections whose dial number mod 8 is a bit set in arg
	fopReap             // ReapStaleConns
	fopAdvance          // move both clocks by fuzzSteps[arg%8]
	fopDialDown         // dials fail from now on: an error (arg even) or a panic (odd)
	fopDialUp           // dials succeed again; both breakers are tripped and reset
	fopClose            // Close both pools when arg < 64; a Get otherwise
	fopMisuse           // Put (arg even) or Remove of an idle connection: ErrNotCheckedOut
	fopStale            // Put/Remove of a closed connection (silent), or of the other pool's (ErrUnknownConn)
	fopGet2             // Get again: Gets should be common
	fopCount
)

var fopNames = [...]string{"Get", "Put", "Remove", "NewConn", "CloseConn", "Filter", "Reap",
	"Advance", "DialDown", "DialUp", "Close", "Misuse", "Stale", "Get"}

var fuzzSteps = [8]time.Duration{time.Second, 10 * time.Second, 30 * time.Second, 59 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute}

var (
	errFuzzDial    = errors.New("fuzz: dial failed")
	errFuzzClose   = errors.New("fuzz: net.Conn.Close failed")
	errFuzzOnClose = errors.New("fuzz: OnClose failed")
	errFuzzReason  = errors.New("fuzz: caller gave up on the connection")
)

// The errors compared by class (errors.Is), in a fixed order.
var fuzzErrClasses = []struct {
	name string
	err  error
}{
	{"ErrClosed", shardpool.ErrClosed},
	{"ErrPoolTimeout", shardpool.ErrPoolTimeout},
	{"ErrNoDialer", shardpool.ErrNoDialer},
	{"ErrUnknownConn", shardpool.ErrUnknownConn},
	{"ErrNotCheckedOut", shardpool.ErrNotCheckedOut},
	{"ErrDialerPanic", shardpool.ErrDialerPanic},
	{"Canceled", context.Canceled},
	{"DeadlineExceeded", context.DeadlineExceeded},
	{"dial", errFuzzDial},
	{"close", errFuzzClose},
	{"onClose", errFuzzOnClose},
}

// errClass names the classes err belongs to: "nil", "other", or a
// "+"-joined list (Filter and Close join several errors).
func errClass(err error) string {
	if err == nil {
		return "nil"
	}
	var names []string
	for _, c := range fuzzErrClasses {
		if errors.Is(err, c.err) {
			names = append(names, c.name)
		}
	}
	if len(names) == 0 {
		return "other"
	}
	return strings.Join(names, "+")
}

// Who a dial is for, carried in its context.
type fuzzDialKey struct{}

type dialPurpose int

const (
	dialBackground dialPurpose = iota // the pool's own: the breaker's probe
	dialHarness                       // Get and NewConn: follows the dialer's mode
	dialForceFail                     // NewConn tripping the breaker: fails
	dialCheck                         // NewConn testing the breaker is reset: succeeds, numbered apart
)

type dialMode int

const (
	dialOK dialMode = iota
	dialErr
	dialPanic
)

// fuzzConn is a net.Conn numbered by dial order (1, 2, ...) within its pool.
// Probe connections are 0, dialCheck ones negative; neither is tracked.
type fuzzConn struct {
	id   int64
	side *fuzzSide
}

func (c *fuzzConn) Read([]byte) (int, error)         { return 0, errors.New("fuzz") }
func (c *fuzzConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *fuzzConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (c *fuzzConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }
func (c *fuzzConn) Close() error {
	if c.id <= 0 {
		return nil
	}
	s := c.side
	s.mu.Lock()
	s.netClose[c.id]++
	s.mu.Unlock()
	if s.h.closeErrMod != 0 && !s.h.onCloseErr && c.id%s.h.closeErrMod == 0 {
		return errFuzzClose
	}
	return nil
}

func fuzzID(cn *shardpool.Conn) int64 { return cn.NetConn().(*fuzzConn).id }

// fuzzSide is one of the two pools with its dialer and records.
type fuzzSide struct {
	name    string
	h       *fuzzHarness
	p       pool
	inv     invariantChecker // the sharded pool's; nil for the baseline
	advance func(time.Duration)
	probeGo chan struct{} // lets the probe's dial succeed

	// Harness goroutine only.
	dials   int   // dialer calls for Get and NewConn
	fails   int   // of which failed since the breaker was last reset
	nextID  int64 // dial number of the last connection dialed
	checkID int64
	conns   map[int64]*shardpool.Conn
	misuse  []string
	filter  []int64 // ids the last Filter's fn was called with

	mu       sync.Mutex // the records below, in case a close runs elsewhere
	netClose map[int64]int
	onClose  map[int64]int
}

func (s *fuzzSide) dial(ctx context.Context) (net.Conn, error) {
	purpose, _ := ctx.Value(fuzzDialKey{}).(dialPurpose)
	switch purpose {
	case dialBackground:
		// The probe: it waits until the harness lets it succeed, or Close.
		select {
		case <-s.probeGo:
			return &fuzzConn{side: s}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case dialCheck:
		s.checkID--
		return &fuzzConn{id: s.checkID, side: s}, nil
	case dialForceFail:
		s.dials++
		s.fails++
		return nil, errFuzzDial
	}
	s.dials++
	switch s.h.mode {
	case dialErr:
		s.fails++
		return nil, errFuzzDial
	case dialPanic:
		s.fails++
		panic("fuzz: dialer panicked")
	}
	s.nextID++
	return &fuzzConn{id: s.nextID, side: s}, nil
}

func (s *fuzzSide) onCloseHook(cn *shardpool.Conn) error {
	id := fuzzID(cn)
	if id <= 0 {
		return nil
	}
	s.mu.Lock()
	s.onClose[id]++
	s.mu.Unlock()
	if s.h.closeErrMod != 0 && s.h.onCloseErr && id%s.h.closeErrMod == 0 {
		return errFuzzOnClose
	}
	return nil
}

func (s *fuzzSide) closes(id int64) (net, onClose int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.netClose[id], s.onClose[id]
}

type fuzzHeld struct {
	id     int64
	pooled bool
}

type fuzzHarness struct {
	t           *testing.T
	opt         shardpool.Options
	closeErrMod int64
	onCloseErr  bool

	sides  [2]*fuzzSide
	mode   dialMode
	closed bool
	held   []fuzzHeld     // checked out by the harness, in order of checkout
	pooled map[int64]bool // every connection seen, and whether from Get

	ctx, cancelled, forceFail, check context.Context
	trace                            []string
}

func newFuzzHarness(t *testing.T, data []byte) (*fuzzHarness, []byte) {
	var c0, c1 byte
	if len(data) > 0 {
		c0, data = data[0], data[1:]
	}
	if len(data) > 0 {
		c1, data = data[0], data[1:]
	}
	h := &fuzzHarness{t: t, pooled: map[int64]bool{}}
	h.opt = shardpool.Options{
		PoolSize:    1 + int(c0&3),
		PoolFIFO:    c0&4 != 0,
		IdleTimeout: [4]time.Duration{0, time.Minute, 5 * time.Minute, 0}[c0>>3&3],
		MaxConnAge:  [4]time.Duration{0, 2 * time.Minute, 10 * time.Minute, 0}[c0>>5&3],
		PoolTimeout: 100 * time.Microsecond,
		// MinIdleConns 0, and no reaper: see the comment at the top.
		IdleCheckFrequency: -1,
	}
	if c0&128 != 0 {
		h.opt.PoolTimeout = -1
	}
	h.closeErrMod = [4]int64{0, 2, 3, 5}[c1&3]
	h.onCloseErr = c1&4 != 0
	h.tracef("options %+v, close errors every %d (OnClose %v)", h.opt, h.closeErrMod, h.onCloseErr)

	base, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	h.ctx = context.WithValue(base, fuzzDialKey{}, dialHarness)
	cancelled, cancel2 := context.WithCancel(h.ctx)
	cancel2()
	h.cancelled = cancelled
	h.forceFail = context.WithValue(base, fuzzDialKey{}, dialForceFail)
	h.check = context.WithValue(base, fuzzDialKey{}, dialCheck)

	epoch := time.Unix(1_700_000_000, 0)
	for i, k := range kinds {
		s := &fuzzSide{
			name: k.name, h: h, probeGo: make(chan struct{}, 1),
			conns: map[int64]*shardpool.Conn{}, netClose: map[int64]int{}, onClose: map[int64]int{},
		}
		opt := h.opt
		opt.Dialer = s.dial
		opt.OnClose = s.onCloseHook
		opt.OnMisuse = func(_ *shardpool.Conn, err error) { s.misuse = append(s.misuse, errClass(err)) }
		s.p = k.make(&opt)
		if inv, ok := s.p.(invariantChecker); ok {
			s.inv = inv
		}
		if k.name == "baseline" {
			// Like kinds[1].manualClock, from a fixed epoch.
			var now atomic.Int64
			now.Store(epoch.UnixNano())
			testhook.BaselineClock(s.p, func() time.Time { return time.Unix(0, now.Load()) })
			s.advance = func(d time.Duration) { now.Add(int64(d)) }
		} else {
			s.advance = k.manualClock(s.p)
		}
		h.sides[i] = s
	}
	return h, data
}

func (h *fuzzHarness) tracef(format string, args ...any) {
	h.trace = append(h.trace, fmt.Sprintf(format, args...))
}

// fatalf fails the input with the operations that led here.
func (h *fuzzHarness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("%s\nafter:\n  %s", fmt.Sprintf(format, args...), strings.Join(h.trace, "\n  "))
}

// same fails unless the two pools' values agree.
func (h *fuzzHarness) same(what string, sp, bl any) {
	h.t.Helper()
	if !assert.ObjectsAreEqual(sp, bl) {
		h.fatalf("%s differs: shardpool %v, baseline %v", what, sp, bl)
	}
}

// expect fails unless got is want.
func (h *fuzzHarness) expect(what string, want, got any) {
	h.t.Helper()
	if !assert.ObjectsAreEqual(want, got) {
		h.fatalf("%s: want %v, got %v", what, want, got)
	}
}

// closedID reports whether the connection numbered id has been closed (the
// pools agree on that after every step).
func (h *fuzzHarness) closedID(id int64) bool {
	n, _ := h.sides[0].closes(id)
	return n > 0
}

func (h *fuzzHarness) heldIndex(id int64) int {
	for i, hc := range h.held {
		if hc.id == id {
			return i
		}
	}
	return -1
}

// idleIDs lists the connections the harness believes idle: from Get, not
// held, not closed.
func (h *fuzzHarness) idleIDs() []int64 {
	var ids []int64
	for id, pooled := range h.pooled {
		if pooled && h.heldIndex(id) < 0 && !h.closedID(id) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (h *fuzzHarness) pooledHeldOpen() int {
	n := 0
	for _, hc := range h.held {
		if hc.pooled && !h.closedID(hc.id) {
			n++
		}
	}
	return n
}

// both calls f on each pool and returns the two error classes, failing if
// they differ.
func (h *fuzzHarness) both(what string, f func(s *fuzzSide) error) string {
	h.t.Helper()
	var classes [2]string
	for i, s := range h.sides {
		classes[i] = errClass(f(s))
	}
	if classes[0] != "nil" || classes[1] != "nil" {
		h.tracef("  %s: %s / %s", what, classes[0], classes[1])
	}
	h.same(what+" error", classes[0], classes[1])
	return classes[0]
}

func (h *fuzzHarness) step(op, arg byte) {
	h.t.Helper()
	code := int(op) % fopCount
	if code == fopClose && arg >= 64 {
		code = fopGet
	}
	h.tracef("%s %d", fopNames[code], arg)
	switch code {
	case fopGet, fopGet2:
		h.get(arg)
	case fopPut, fopRemove:
		if len(h.held) == 0 {
			for _, s := range h.sides {
				if code == fopPut {
					s.p.Put(nil)
				} else {
					s.p.Remove(nil, errFuzzReason)
				}
			}
			h.expectMisuse("Put/Remove(nil)", "ErrUnknownConn")
			break
		}
		i := int(arg) % len(h.held)
		h.handBack(i, code == fopPut)
		h.expectMisuse("Put/Remove of a held connection")
	case fopNewConn:
		var cns [2]*shardpool.Conn
		class := h.both("NewConn", func(s *fuzzSide) (err error) {
			cns[s.index()], err = s.p.NewConn(h.ctx)
			return err
		})
		if class == "nil" {
			h.took(cns, false)
		}
	case fopCloseConn:
		id, ok := h.pickCloseConn(arg)
		h.tracef("  CloseConn #%d", id)
		h.both("CloseConn", func(s *fuzzSide) error {
			if !ok {
				return s.p.CloseConn(nil)
			}
			return s.p.CloseConn(s.conns[id])
		})
	case fopFilter:
		h.both("Filter", func(s *fuzzSide) error {
			s.filter = s.filter[:0]
			return s.p.Filter(func(cn *shardpool.Conn) bool {
				id := fuzzID(cn)
				s.filter = append(s.filter, id)
				return id > 0 && arg&(1<<(id%8)) != 0
			})
		})
		for _, s := range h.sides {
			sort.Slice(s.filter, func(i, j int) bool { return s.filter[i] < s.filter[j] })
		}
		h.same("ids Filter's fn saw", h.sides[0].filter, h.sides[1].filter)
	case fopReap:
		var ns [2]int
		h.both("ReapStaleConns", func(s *fuzzSide) (err error) {
			ns[s.index()], err = s.p.ReapStaleConns()
			return err
		})
		h.same("ReapStaleConns count", ns[0], ns[1])
	case fopAdvance:
		for _, s := range h.sides {
			s.advance(fuzzSteps[arg%8])
		}
	case fopDialDown:
		h.mode = dialErr
		if arg&1 != 0 {
			h.mode = dialPanic
		}
	case fopDialUp:
		h.dialUp()
	case fopClose:
		var classes [2]string
		for i, s := range h.sides {
			classes[i] = errClass(s.p.Close())
		}
		if classes[0] != "nil" || classes[1] != "nil" {
			h.tracef("  Close: %s / %s", classes[0], classes[1])
		}
		// shardpool does not report errors closing stale connections;
		// the baseline, as go-redis v8, reports them all. With expiry on,
		// shardpool may say nil where the baseline has close errors.
		expiry := h.opt.IdleTimeout > 0 || h.opt.MaxConnAge > 0
		if !expiry || classes[0] != "nil" {
			h.same("Close error", classes[0], classes[1])
		}
		h.closed = true
	case fopMisuse:
		idle := h.idleIDs()
		if len(idle) == 0 {
			for _, s := range h.sides {
				s.p.Put(nil)
			}
			h.expectMisuse("Put(nil)", "ErrUnknownConn")
			break
		}
		id := idle[int(arg>>1)%len(idle)]
		h.tracef("  on idle #%d", id)
		for _, s := range h.sides {
			if arg&1 == 0 {
				s.p.Put(s.conns[id])
			} else {
				s.p.Remove(s.conns[id], errFuzzReason)
			}
		}
		h.expectMisuse("Put/Remove of an idle connection", "ErrNotCheckedOut")
	case fopStale:
		var gone []int64
		for id := range h.pooled {
			if h.closedID(id) && h.heldIndex(id) < 0 {
				gone = append(gone, id)
			}
		}
		sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
		if arg&2 != 0 || len(gone) == 0 {
			// The other pool's connection, if there is one.
			for i, s := range h.sides {
				other := h.sides[1-i]
				var cn *shardpool.Conn
				for id := int64(1); id <= other.nextID; id++ {
					if c := other.conns[id]; c != nil {
						cn = c
						break
					}
				}
				if cn == nil {
					cn = shardpool.NewConn(&fuzzConn{side: s})
				}
				if arg&1 == 0 {
					s.p.Put(cn)
				} else {
					s.p.Remove(cn, errFuzzReason)
				}
				require.ErrorIs(h.t, s.p.CloseConn(cn), shardpool.ErrUnknownConn)
			}
			h.expectMisuse("Put/Remove of another pool's connection", "ErrUnknownConn")
			break
		}
		id := gone[int(arg>>2)%len(gone)]
		h.tracef("  on closed #%d", id)
		for _, s := range h.sides {
			if arg&1 == 0 {
				s.p.Put(s.conns[id])
			} else {
				s.p.Remove(s.conns[id], errFuzzReason)
			}
		}
		h.expectMisuse("Put/Remove of a closed connection")
	}
	h.compare()
}

func (s *fuzzSide) index() int {
	if s == s.h.sides[0] {
		return 0
	}
	return 1
}

// get is a Get on both pools that never blocks (see the top comment).
func (h *fuzzHarness) get(arg byte) {
	h.t.Helper()
	// Hand back the connections closed under the harness (by Filter or
	// Close): the baseline frees their turns only now.
	for i := 0; i < len(h.held); {
		if h.closedID(h.held[i].id) {
			h.handBack(i, arg&2 == 0)
			continue
		}
		i++
	}
	h.expectMisuse("Put/Remove of a connection closed under its holder")

	ctx, how := h.ctx, ""
	if !h.closed && h.sides[1].p.IdleLen() == 0 && h.pooledHeldOpen() >= h.opt.PoolSize {
		// Nothing idle and every place held: Get would wait.
		if h.opt.PoolTimeout < 0 || arg&1 == 0 {
			ctx, how = h.cancelled, " (cancelled ctx)"
		} else {
			how = " (PoolTimeout)"
		}
	}
	var cns [2]*shardpool.Conn
	class := h.both("Get"+how, func(s *fuzzSide) (err error) {
		cns[s.index()], err = s.p.Get(ctx)
		return err
	})
	if class == "nil" {
		h.took(cns, true)
	}
}

// took records the connections both pools just handed out.
func (h *fuzzHarness) took(cns [2]*shardpool.Conn, pooled bool) {
	h.t.Helper()
	ids := [2]int64{fuzzID(cns[0]), fuzzID(cns[1])}
	// One shard: LIFO/FIFO order is global in both, so the same
	// connection, by dial number, comes back.
	h.same("connection handed out (dial number)", ids[0], ids[1])
	id := ids[0]
	h.tracef("  got #%d", id)
	if h.heldIndex(id) >= 0 {
		h.fatalf("connection #%d handed out while the harness holds it", id)
	}
	if h.closedID(id) {
		h.fatalf("closed connection #%d handed out", id)
	}
	if p, seen := h.pooled[id]; seen && (!p || !pooled) {
		h.fatalf("connection #%d handed out again after NewConn", id)
	}
	for i, s := range h.sides {
		s.conns[id] = cns[i]
	}
	h.pooled[id] = pooled
	h.held = append(h.held, fuzzHeld{id, pooled})
}

// handBack Puts or Removes held connection i on both pools.
func (h *fuzzHarness) handBack(i int, put bool) {
	id := h.held[i].id
	h.held = append(h.held[:i], h.held[i+1:]...)
	h.tracef("  hand back #%d (put %v)", id, put)
	for _, s := range h.sides {
		if put {
			s.p.Put(s.conns[id])
		} else {
			s.p.Remove(s.conns[id], errFuzzReason)
		}
	}
}

func (h *fuzzHarness) pickCloseConn(arg byte) (int64, bool) {
	switch arg >> 6 {
	case 0, 1:
		if len(h.held) > 0 {
			return h.held[int(arg)%len(h.held)].id, true
		}
		fallthrough
	case 2:
		if idle := h.idleIDs(); len(idle) > 0 {
			return idle[int(arg)%len(idle)], true
		}
	}
	n := h.sides[0].nextID
	if n == 0 {
		return 0, false
	}
	return 1 + int64(arg)%n, true
}

// expectMisuse checks what both pools reported to OnMisuse since the last
// step, and clears it.
func (h *fuzzHarness) expectMisuse(what string, want ...string) {
	h.t.Helper()
	for _, s := range h.sides {
		got := s.misuse
		s.misuse = nil
		if len(want) == 0 && len(got) == 0 {
			continue
		}
		h.expect(s.name+": OnMisuse after "+what, want, got)
	}
}

// dialUp ends a failure episode: dials succeed again, and both breakers are
// reset. The baseline (v8) resets its count only when its probe succeeds,
// shardpool on any successful dial; so both are tripped first, with failing
// NewConns, then their probes are let through.
func (h *fuzzHarness) dialUp() {
	h.t.Helper()
	h.mode = dialOK
	if h.closed || h.sides[0].fails == 0 {
		return
	}
	for h.sides[0].fails < h.opt.PoolSize || h.sides[1].fails < h.opt.PoolSize {
		h.both("NewConn tripping the breaker", func(s *fuzzSide) error {
			_, err := s.p.NewConn(h.forceFail)
			return err
		})
		h.same("dial errors counted", h.sides[0].fails, h.sides[1].fails)
	}
	for _, s := range h.sides {
		s.probeGo <- struct{}{}
		// Tripped, NewConn fails without dialing, until the probe's
		// success resets the breaker.
		before := s.dials
		deadline := time.Now().Add(10 * time.Second)
		for {
			cn, err := s.p.NewConn(h.check)
			if err == nil {
				require.NoError(h.t, s.p.CloseConn(cn))
				break
			}
			if !errors.Is(err, errFuzzDial) && !errors.Is(err, shardpool.ErrDialerPanic) {
				h.fatalf("%s: NewConn while the breaker is open: %v", s.name, err)
			}
			if time.Now().After(deadline) {
				h.fatalf("%s: the breaker did not reset after its probe succeeded", s.name)
			}
			time.Sleep(50 * time.Microsecond)
		}
		h.expect(s.name+": dials while the breaker was open", before, s.dials)
		s.fails = 0
	}
}

// compare checks, after every step, everything the two pools must agree on
// and each pool's own consistency.
func (h *fuzzHarness) compare() {
	h.t.Helper()
	var lens, idles [2]int
	var stats [2]shardpool.Stats
	idle := len(h.idleIDs())
	for i, s := range h.sides {
		if s.inv != nil {
			if err := s.inv.CheckInvariants(); err != nil {
				h.fatalf("%s: CheckInvariants: %v", s.name, err)
			}
		}
		lens[i], idles[i] = s.p.Len(), s.p.IdleLen()
		stats[i] = *s.p.Stats()
		stats[i].WaitDuration = 0 // wall time
		h.expect(s.name+": Stats().TotalConns vs Len", uint32(lens[i]), stats[i].TotalConns)
		h.expect(s.name+": Stats().IdleConns vs IdleLen", uint32(idles[i]), stats[i].IdleConns)

		// Every connection dialed is held, idle or closed, closed at most
		// once, and OnClose ran for exactly the closed ones.
		live := 0
		for id := int64(1); id <= s.nextID; id++ {
			n, onClose := s.closes(id)
			if n > 1 || onClose != n {
				h.fatalf("%s: connection #%d closed %d times, OnClose %d times", s.name, id, n, onClose)
			}
			if n == 0 {
				live++
				if s.conns[id] == nil {
					h.fatalf("%s: connection #%d dialed but never handed out", s.name, id)
				}
			}
		}
		h.expect(s.name+": Len vs open connections (one lost or leaked?)", live, lens[i])
		h.expect(s.name+": IdleLen vs connections put back and open", idle, idles[i])
		if n := h.pooledHeldOpen() + idles[i]; n > h.opt.PoolSize {
			h.fatalf("%s: %d pooled connections open, PoolSize %d", s.name, n, h.opt.PoolSize)
		}
	}
	h.same("Len", lens[0], lens[1])
	h.same("IdleLen", idles[0], idles[1])
	h.same("Stats", stats[0], stats[1])
	h.same("dials", h.sides[0].dials, h.sides[1].dials)
	h.same("dial errors counted", h.sides[0].fails, h.sides[1].fails)
	h.same("connections dialed", h.sides[0].nextID, h.sides[1].nextID)
	for id := int64(1); id <= h.sides[0].nextID; id++ {
		a, _ := h.sides[0].closes(id)
		b, _ := h.sides[1].closes(id)
		if a != b {
			h.fatalf("connection #%d: closed %d times by shardpool, %d by the baseline", id, a, b)
		}
	}
	h.expectMisuse("the step")
}

func (h *fuzzHarness) finish() {
	h.t.Helper()
	if !h.closed {
		h.step(fopClose, 0)
	}
	// Handing back after Close is a silent no-op.
	for len(h.held) > 0 {
		h.handBack(0, len(h.held)%2 == 0)
	}
	h.compare()
	for _, s := range h.sides {
		h.expect(s.name+": Len after Close", 0, s.p.Len())
		for id := int64(1); id <= s.nextID; id++ {
			if n, _ := s.closes(id); n != 1 {
				h.fatalf("%s: connection #%d closed %d times by the end", s.name, id, n)
			}
		}
	}
}

// fuzzMaxSteps bounds the work per input; an input running longer than
// fuzzHang is a hang.
const (
	fuzzMaxSteps = 300
	fuzzHang     = 20 * time.Second
)

func FuzzDifferential(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzDifferential; two more here
	// so that a bare `go test -fuzz` has something without testdata.
	f.Add([]byte{0x0b, 0x00, fopGet, 0, fopGet, 0, fopPut, 0, fopAdvance, 4, fopGet, 0, fopReap, 0})
	f.Add([]byte{0x82, 0x09, fopDialDown, 0, fopGet, 0, fopGet, 0, fopGet, 0, fopDialUp, 0, fopGet, 0, fopClose, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// One P: one shard, a global idle order (see the top comment).
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		// The fuzzer has no time limit per input: turn a hang into a crash,
		// which it reports with the input.
		watchdog := time.AfterFunc(fuzzHang, func() {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			panic(fmt.Sprintf("FuzzDifferential: input %x still running after %v\n%s", data, fuzzHang, buf))
		})
		defer watchdog.Stop()
		h, ops := newFuzzHarness(t, data)
		defer func() {
			// Whatever happened, leave no pool open: their goroutines
			// would show up in goleak.
			for _, s := range h.sides {
				_ = s.p.Close()
			}
		}()
		h.compare()
		for i := 0; i+1 < len(ops) && i/2 < fuzzMaxSteps; i += 2 {
			h.step(ops[i], ops[i+1])
		}
		h.finish()
	})
}
