package shardpool

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Leak detection (Options.LeakThreshold): Get records when and from where
// it handed a connection out, and a pool goroutine reports the checkouts
// that have lasted longer than the threshold.
//
// Locking: none. The record hangs off the connection (Conn.leak, made
// when it is dialed, only with LeakThreshold set), written
// by the goroutine that holds the connection checked out and read by the
// leak check and by timeout errors, all through atomics, as a seqlock:
//
//   - track (Get) bumps gen, then stores the program counters, then at.
//   - untrack (Put, Remove) stores 0 to at.
//   - A reader loads gen, then at, then the program counters, then gen
//     again, and uses what it read only if gen did not move. A Get that
//     began writing the counters the reader copied had bumped gen first,
//     so the second load sees it (the atomics are sequentially
//     consistent); and at, stored after the counters, is never newer than
//     them.
//
// reported holds the gen of the last checkout reported. Only the leak
// check writes it, so a checkout is reported once at most.

// leakDepth is how many frames of a Get's stack are recorded.
const leakDepth = 16

// leakRecord is a connection's current checkout, as Get recorded it.
type leakRecord struct {
	gen      atomic.Uint64
	at       atomic.Int64 // clock.exact time of the checkout; 0: none watched
	pcs      [leakDepth]atomic.Uintptr
	reported atomic.Uint64
}

// Leak describes a connection checked out longer than
// Options.LeakThreshold.
type Leak struct {
	Conn  *Conn
	Held  time.Duration // how long it had been checked out when reported
	Stack string        // where the Get that took it was called, innermost first
}

// track records cn's checkout by the caller of Get. Call it from Get
// itself: the stack recorded starts at Get's caller.
//
//go:noinline
func (p *ConnPool) track(cn *Conn) {
	var pcs [leakDepth]uintptr
	n := runtime.Callers(3, pcs[:]) // runtime.Callers, track, Get
	r := cn.leak
	r.gen.Add(1)
	for i := range pcs {
		if i >= n {
			pcs[i] = 0
		}
		r.pcs[i].Store(pcs[i])
	}
	r.at.Store(p.clock.exact())
}

// untrack ends the watch on cn's checkout.
func untrack(cn *Conn) {
	if cn.leak != nil { // nil for a NewConn connection
		cn.leak.at.Store(0)
	}
}

// snapshot reads cn's checkout: when it began (0: none) and its program
// counters. ok is false if a Get changed the record while it was read.
func (r *leakRecord) snapshot(pcs *[leakDepth]uintptr) (gen uint64, at int64, ok bool) {
	gen = r.gen.Load()
	at = r.at.Load()
	if at == 0 {
		return gen, 0, true
	}
	for i := range pcs {
		pcs[i] = r.pcs[i].Load()
	}
	return gen, at, r.gen.Load() == gen
}

// leakEvery is how often the leak check runs for a threshold.
func leakEvery(threshold time.Duration) time.Duration {
	return min(max(threshold/4, time.Millisecond), time.Second)
}

// leakChecker runs checkLeaks every leakEvery until the pool closes.
func (p *ConnPool) leakChecker() { p.every(leakEvery(p.opt.LeakThreshold), p.checkLeaks) }

// checkLeaks reports every checkout older than LeakThreshold that has not
// been reported yet.
func (p *ConnPool) checkLeaks() {
	now := p.clock.exact()
	threshold := int64(p.opt.LeakThreshold)
	var pcs [leakDepth]uintptr
	for _, cn := range p.reg.snapshot() {
		r := cn.leak
		if r == nil {
			continue // NewConn's: not watched
		}
		gen, at, ok := r.snapshot(&pcs)
		if !ok || at == 0 || now-at < threshold || r.reported.Load() == gen {
			continue
		}
		r.reported.Store(gen)
		p.stats.leaks.Inc()
		if p.opt.OnLeak != nil {
			p.reportLeak(Leak{Conn: cn, Held: time.Duration(now - at), Stack: formatStack(pcs[:])})
		}
	}
}

// reportLeak calls OnLeak, recovering a panic in it.
func (p *ConnPool) reportLeak(l Leak) {
	defer func() { _ = recover() }()
	p.opt.OnLeak(l)
}

// oldestCheckout returns the age of the oldest watched checkout and where
// its Get was called, or zeros when none is watched.
func (p *ConnPool) oldestCheckout() (time.Duration, string) {
	var pcs, oldestPCs [leakDepth]uintptr
	oldest := int64(0)
	for _, cn := range p.reg.snapshot() {
		if cn.leak == nil {
			continue
		}
		if _, at, ok := cn.leak.snapshot(&pcs); ok && at != 0 && (oldest == 0 || at < oldest) {
			oldest, oldestPCs = at, pcs
		}
	}
	if oldest == 0 {
		return 0, ""
	}
	return time.Duration(p.clock.exact() - oldest), callSite(oldestPCs[:])
}

// formatStack symbolizes pcs as runtime/debug.Stack does: a function per
// line, and its file:line indented below.
func formatStack(pcs []uintptr) string {
	var b strings.Builder
	frames := runtime.CallersFrames(trimPCs(pcs))
	for {
		f, more := frames.Next()
		if f.Function != "" || f.File != "" {
			fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
		}
		if !more {
			return b.String()
		}
	}
}

// callSite returns the first frame of pcs as "function (file:line)".
func callSite(pcs []uintptr) string {
	f, _ := runtime.CallersFrames(trimPCs(pcs)).Next()
	if f.Function == "" && f.File == "" {
		return "an unknown caller"
	}
	return fmt.Sprintf("%s (%s:%d)", f.Function, f.File, f.Line)
}

// trimPCs drops the unused tail of a recorded stack.
func trimPCs(pcs []uintptr) []uintptr {
	for i, pc := range pcs {
		if pc == 0 {
			return pcs[:i]
		}
	}
	return pcs
}
