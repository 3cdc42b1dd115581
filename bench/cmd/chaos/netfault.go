package main

import (
	"errors"
	"fmt"
	"time"
)

// The network-fault rounds: toxiproxy, used as a library, sits between the
// pools and redis-server. Two proxies listen on 127.0.0.1 (ports the
// kernel picks), one for a shardpool ConnPool of the driver's settings and
// one for a go-redis v9 client of the same settings (goredis.go); each
// round adds the same toxics to both proxies at the same moment, keeps them
// for a while, removes them, and watches both pools recover, with the load
// of both running throughout.
//
// toxiproxy's model, which the rounds follow: a toxic applies to every
// connection through the proxy, those open when it is added and those
// accepted while it is there, in one direction (upstream: pool → server;
// downstream: server → pool). The proxy accepts a connection at once and
// dials the server for it, so a dial of the pool always succeeds at the
// TCP level; what a toxic can stop is the bytes. The shardpool pool's
// OnConnect therefore sends a PING within the dial's deadline (as a
// driver's HELLO or AUTH does, and as go-redis's HELLO on a new connection
// does): a connection whose bytes do not flow fails its dial after
// DialTimeout, and counts toward the pool's dial-error breaker.
//
// The go-redis rows are reported, not checked against bounds: the driver
// cannot fix go-redis's pool, and the point is to compare it with
// shardpool's under the same faults. They are bounded in time all the
// same: the driver halts their load within the same bound as shardpool's,
// and if their workers hang past it, it reports the hang and stops using
// go-redis for the rest of the run rather than wait.

// netFault is one network-fault round.
type netFault struct {
	name  string // its -faults name
	title string // its rows' fault column, with cfg's figures
	// toxics are the toxics' JSON, as toxiproxy's HTTP API takes them.
	toxics []string
	// cut closes every connection through the proxy once the toxics are
	// in, with the loads halted, so that the pools lose every connection
	// while idle and each connection they then use is a new dial into
	// the toxics. The fault's moment is then when the loads resume.
	cut bool
	// slow is the duration from which a request counts as slowed by the
	// fault (latency, bandwidth); 0 for faults that cause errors.
	slow time.Duration
	// dur is how long the toxics stay.
	dur time.Duration
	// detectLabel and recoverLabel say what detect and recover measure.
	detectLabel, recoverLabel string
	// detectMax bounds detect; maxErrs bounds the errors at shardpool's
	// callers (-1: none).
	detectMax time.Duration
	maxErrs   int64
}

// netFaultNames are the -faults names of the network faults, in the order
// they run.
var netFaultNames = []string{"latency", "blackhole", "dialhole", "reset", "bandwidth"}

// netFaults returns the network faults cfg selects, in order.
func netFaults(cfg *config) []netFault {
	var fs []netFault
	for _, name := range netFaultNames {
		if !cfg.faults[name] {
			continue
		}
		f := netFault{name: name, dur: cfg.netFault, maxErrs: -1}
		switch name {
		case "latency":
			// +latency on every reply for 5 s: no request should fail
			// (latency is well under the I/O deadline, and the Gets wait
			// for each other well under PoolTimeout), all are slower.
			ms := cfg.latency.Milliseconds()
			f.title = fmt.Sprintf("latency +%dms", ms)
			f.toxics = []string{fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, ms)}
			f.slow, f.dur = cfg.latency, cfg.latencyFor
			f.detectLabel, f.recoverLabel = "toxic → first request ≥ latency", "toxic removed → last request ≥ latency"
			f.detectMax, f.maxErrs = 2*cfg.latency+cfg.slack, 0
		case "blackhole":
			// timeout=0: the proxy keeps every connection open and drops
			// the bytes, both ways, as a silent network partition or a
			// stateful firewall that lost the flow does. Requests in
			// flight must fail at the I/O deadline; the pool's redials
			// meet the same black hole (their PING fails at
			// DialTimeout), its breaker opens, and once the toxic is
			// removed (which closes the connections it held) the probe
			// finds the server again.
			f.title = "black hole (established)"
			f.toxics = []string{
				`{"name":"hole_up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`,
				`{"name":"hole_down","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`,
			}
			f.detectLabel, f.recoverLabel = "toxic → first error", "toxic removed → all callers served"
			f.detectMax = cfg.ioTimeout + cfg.slack
		case "dialhole":
			// What is simulated: new connections are accepted but never
			// answered (a server whose accept loop is stuck, or a proxy
			// or load balancer that completes the TCP handshake and
			// then black-holes the flow), and the pool has no live
			// connection left to fall back on. With the loads halted,
			// the same timeout=0 toxic as the black hole goes in, then
			// every connection through the proxy is closed (a second
			// timeout toxic, timeout=1ms, added and removed: toxiproxy
			// has no call that drops connections without also closing
			// its listener, which would refuse dials instead of
			// hanging them). The loads resume: each dead idle
			// connection costs a caller one EOF (or a health check
			// drops it), and from then on every connection the pool
			// has is a fresh dial whose handshake PING hangs.
			// So this round is about DialTimeout and the breaker: the
			// dials must fail at DialTimeout, the breaker must open
			// after PoolSize of them, Gets must then fail fast, the
			// probe must dial at most 2 + once per 100 ms, and after
			// the toxic goes the probe must half-open the breaker at
			// once, so that the Gets' dials and its warm-up's bring
			// the pool back.
			f.title = "black hole (new dials)"
			f.toxics = []string{
				`{"name":"hole_up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`,
				`{"name":"hole_down","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`,
			}
			f.cut = true
			f.detectLabel, f.recoverLabel = "load resumed → breaker open", "toxic removed → all callers served"
			f.detectMax = 2*cfg.dialTimeout + cfg.slack
		case "reset":
			// reset_peer with timeout 0: the proxy closes a connection
			// as soon as bytes arrive from the pool, with an RST for
			// connections accepted while the toxic is there (toxiproxy
			// sets SO_LINGER 0 only when a connection starts, so the
			// ones already open get a FIN: EOF to the caller). Each
			// request on a connection fails at once, each redial too
			// (its PING is reset), until the toxic goes.
			f.title = "reset_peer"
			f.toxics = []string{`{"name":"reset","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`}
			f.detectLabel, f.recoverLabel = "toxic → first error", "toxic removed → all callers served"
			f.detectMax = cfg.slack
		case "bandwidth":
			// rate KB/s from the pool to the server: a request of the
			// driver is 14 (PING) to about 50 (SET) bytes, so at 1 KB/s
			// it takes 14-50 ms on the wire instead of microseconds;
			// no request should fail (well under the I/O deadline).
			f.title = fmt.Sprintf("bandwidth %d KB/s", cfg.bandwidth)
			f.toxics = []string{fmt.Sprintf(`{"name":"bandwidth","type":"bandwidth","stream":"upstream","attributes":{"rate":%d}}`, cfg.bandwidth)}
			// A slowed request is one of 40 ms at 1 KB/s: a SET (about
			// 46 bytes) takes that long on the wire, while requests
			// without the toxic took under 20 ms in every run on 2
			// cores with both loads and toxiproxy. A mark at PING's
			// 14 ms met that noise: "recovery" then measured the last
			// scheduling hiccup after the removal, up to 1.9 s later.
			// -bandwidth is 1 or 2, so the mark is 40 or 20 ms.
			f.slow = time.Duration(40/cfg.bandwidth) * time.Millisecond
			f.detectLabel, f.recoverLabel = fmt.Sprintf("toxic → first request ≥ %v", f.slow), fmt.Sprintf("toxic removed → last request ≥ %v", f.slow)
			f.detectMax, f.maxErrs = 100*time.Millisecond+cfg.slack, 0
		}
		fs = append(fs, f)
	}
	return fs
}

// netRound runs one network fault with both loads running and adds a row
// for each client.
func (dr *driver) netRound(f netFault, round string) error {
	cfg := dr.cfg
	if dr.net == nil {
		rig, err := newNetRig(cfg, dr.t0, dr.tl, cfg.goredis && !dr.goredisHung)
		if err != nil {
			return err
		}
		dr.net = rig
	}
	rig := dr.net
	// The timeline and the sampler watch the pools behind the proxies.
	dr.tl.shardpool().watch(poolStats(rig.pool))
	dr.smp.watch(rig.pool)
	if rig.rdb != nil {
		dr.tl.goredis().watch(goredisStats(rig.rdb))
		dr.smp.watchOther(rig.rdb)
	}
	defer func() {
		dr.tl.shardpool().watch(poolStats(dr.pool))
		dr.tl.goredis().watch(nil)
		dr.smp.watch(dr.pool)
		dr.smp.watchOther(nil)
	}()

	rows := []*row{{fault: f.title + round, client: ownerShardpool, netFault: true}}
	if rig.rdb != nil {
		rows = append(rows, &row{fault: f.title + round, client: ownerGoredis, netFault: true})
	}
	// Before: the loads halted, the pools idle.
	g0 := countGoroutines()
	rows[0].gBefore, rows[0].lenBefore = g0.shardpool, rig.pool.Len()
	if len(rows) > 1 {
		rows[1].gBefore, rows[1].lenBefore = g0.goredis, int(rig.rdb.PoolStats().TotalConns)
	}
	_, rows[0].heapBefore = measure()

	loads := rig.loads()
	for _, l := range loads {
		l.start()
	}
	from := dr.since()
	sleep(300 * time.Millisecond)
	dr.tl.mark(f.title + round)
	dr.smp.resetMax()
	for _, r := range rows {
		r.detectLabel, r.recoverLabel = f.detectLabel, f.recoverLabel
		if f.cut && r.client == ownerGoredis {
			// go-redis v9 has a dial-error breaker too, but it counts
			// failed connects only: its handshake runs after its pool's
			// dialer, and toxiproxy accepts every connect, so it never
			// opens here.
			r.detectLabel = "load resumed → first error"
		}
		dr.rows = append(dr.rows, r)
	}
	var err error
	var marks []event
	toxAt := dr.since()
	if f.cut {
		// Halt the loads, add the toxics and close the connections,
		// resume: the fault's moment is the resumption.
		results := haltLoads(loads, cfg.reqBound()+time.Second)
		for _, h := range results {
			dr.ops += h.s.ok + h.s.errs
		}
		if err := dr.settleHalts(rig, rows, results); err != nil {
			return err
		}
		loads = rig.loads() // without go-redis if it hung
		toxAt = dr.since()
		err = rig.toxiproxy("adding "+f.name, rig.active(), addToxics(f))
		marks = append(marks, event{toxAt, "toxics added, connections closed"})
		for _, l := range loads {
			l.start()
		}
	}
	rig.d.arm()
	dials0 := rig.d.dials.Load()
	faultAt := dr.since()
	for _, l := range loads {
		l.slowMark.Store(int64(f.slow))
	}
	if f.cut {
		marks = append(marks, event{faultAt, "load resumed"})
	} else {
		err = rig.toxiproxy("adding "+f.name, rig.active(), addToxics(f))
		marks = append(marks, event{faultAt, "toxics added"})
	}
	addedIn := dr.since() - toxAt
	refName := "the toxics"
	if f.cut {
		refName = "the load resumed"
	}
	for _, r := range rows {
		r.ref, r.refName = faultAt, refName
	}
	if err == nil {
		sleep(f.dur)
	}
	endAt := dr.since()
	dials1 := rig.d.dials.Load()
	if rerr := rig.toxiproxy("removing "+f.name, rig.active(), removeToxics); rerr != nil {
		err = errors.Join(err, rerr)
	}
	clearedAt := dr.since()
	for _, l := range loads {
		l.clearedAt.Store(int64(clearedAt))
	}
	if err != nil {
		rows[0].violate(err.Error())
		for _, l := range loads {
			_, _ = l.halt(cfg.reqBound() + time.Second)
		}
		return err
	}
	sleep(cfg.netWatch)
	trip := time.Duration(rig.d.trippedAt.Load())
	_, lenMax, stall := dr.smp.max()
	grMax := dr.smp.maxOther()
	rows[0].gAfter, rows[0].lenAfter = -1, rig.pool.Len()
	rows[0].lenMax, rows[0].stall = max(lenMax, rows[0].lenBefore, rows[0].lenAfter), stall

	// Halt both loads, each bounded; go-redis's concurrently with
	// shardpool's, so that neither waits on the other.
	results := haltLoads(loads, cfg.reqBound()+time.Second)
	for _, l := range loads {
		l.slowMark.Store(0)
		l.clearedAt.Store(0)
	}
	to := dr.since()
	for i, r := range rows {
		r.from, r.to = from, to
		r.marks = append(marks[:len(marks):len(marks)], event{endAt, "toxics removed"})
		if i < len(results) { // go-redis's load is gone if it hung at the cut
			r.seg = results[i].s
			dr.ops += r.seg.ok + r.seg.errs
		}
	}
	if len(rows) > 1 && rig.rdb != nil {
		rows[1].lenAfter = int(rig.rdb.PoolStats().TotalConns)
		rows[1].lenMax = max(grMax, rows[1].lenBefore, rows[1].lenAfter)
	}
	if err := dr.settleHalts(rig, rows, results); err != nil {
		return err
	}

	// After: the loads halted; the goroutines they and the faults started
	// must go within 2 s.
	g1 := settleGoroutines(g0, 2*time.Second)
	rows[0].gAfter = g1.shardpool
	_, rows[0].heapAfter = measure()
	if len(rows) > 1 {
		rows[1].gAfter = g1.goredis
	}
	proxies := "shardpool's proxy"
	if len(rows) > 1 {
		proxies = "both proxies"
	}
	rows[0].notes = append(rows[0].notes, fmt.Sprintf("toxics added in %v on %s; toxiproxy's goroutines %d before, %d after (theirs: one set per open connection)",
		addedIn.Round(100*time.Microsecond), proxies, g0.toxiproxy, g1.toxiproxy))

	for _, r := range rows {
		evaluate(cfg, f, r, faultAt, endAt, stall)
	}
	dr.checkNet(f, rows[0], faultAt, endAt, trip, time.Duration(rig.d.firstOKAt.Load()), dials1-rig.d.dialsAtTrip.Load(), dials1-dials0)
	return nil
}

// evaluate fills in r's detect and recover from its segment: for a fault
// that slows requests, from the first and last slowed request; for one
// that fails them, from the first error and the moment every worker that
// saw an error was served again.
//
// A request that started once the toxics were gone and still took the
// slow mark was not slowed by them: either the pool kept some slowness
// (then it counts toward recover), or the whole process stalled (then it
// does not). The sampler's longest gap, stall, tells the two apart: a stall
// of half the mark or more, in the process that runs both clients, is what
// made such a request slow (on these shared 2-core machines, another
// process's burst of CPU); the go-redis row shows the same moment.
func evaluate(cfg *config, f netFault, r *row, faultAt, endAt, stall time.Duration) {
	s := r.seg
	if f.slow > 0 {
		if s.firstSlow != 0 {
			r.detect, r.hasDetect = s.firstSlow-faultAt, true
		}
		if s.lastSlow != 0 {
			r.recover, r.hasRecover = max(s.lastSlow-endAt, 0), true
		}
		switch {
		case s.slowAfter == 0:
		case stall >= f.slow/2:
			r.notes = append(r.notes, fmt.Sprintf("%d requests that started after the toxics were gone took %v or more (the slowest %v): not counted in recover, since the process stalled for %v meanwhile",
				s.slowAfter, f.slow, s.maxSlowAfter.Round(100*time.Microsecond), stall.Round(100*time.Microsecond)))
		default:
			r.recover, r.hasRecover = max(r.recover, s.lastSlowAfter-endAt), true
		}
		return
	}
	if s.firstErr != 0 {
		r.detect, r.hasDetect = s.firstErr-faultAt, true
	}
	switch {
	case s.unrecovered > 0:
		r.unrecovered = fmt.Sprintf("%d workers never succeeded again after the toxics were removed (last error %v after it)", s.unrecovered, offset(s.lastErr, endAt))
	case s.lastOK < endAt:
		r.unrecovered = "no request succeeded after the toxics were removed"
	default:
		// Workers that saw no error after endAt were serving at endAt.
		r.recover, r.hasRecover = max(s.recoveredAt-endAt, 0), true
	}
}

// checkNet checks shardpool's row of a network fault against its bounds.
// trip is when the dial-error breaker opened (0: it did not), firstOK when
// a dial first succeeded since the fault began (0: none), probeDials the
// dials from the trip until the toxics were removed, dials all dials from
// the toxics' start to their removal.
func (dr *driver) checkNet(f netFault, r *row, faultAt, endAt, trip, firstOK time.Duration, probeDials, dials int64) {
	cfg := dr.cfg
	s := r.seg
	ioBound := cfg.ioTimeout + cfg.slack
	switch {
	case s.maxGet > cfg.getBound():
		r.violate(fmt.Sprintf("a Get took %v, bound %v (PoolTimeout + dial timeout + slack)", s.maxGet, cfg.getBound()))
	case s.maxIO > ioBound:
		r.violate(fmt.Sprintf("a request's I/O took %v, bound %v (I/O deadline + slack): it hung past its deadline", s.maxIO, ioBound))
	case s.maxReq > cfg.reqBound():
		r.violate(fmt.Sprintf("a request took %v, bound %v (PoolTimeout + dial timeout + I/O deadline + slack)", s.maxReq, cfg.reqBound()))
	}
	if r.gAfter > r.gBefore+cfg.goroutines {
		r.violate(fmt.Sprintf("goroutines (shardpool's side: the driver, the pools, the load) grew from %d to %d and stayed for 2 s (slack %d)", r.gBefore, r.gAfter, cfg.goroutines))
	}
	r.checkShared(s, cfg)
	if f.maxErrs >= 0 && s.errs > f.maxErrs {
		r.violate(fmt.Sprintf("%d callers saw an error (%s), bound %d: this fault should only slow requests", s.errs, firstSample(s), f.maxErrs))
	}
	if f.slow > 0 && s.firstSlow == 0 {
		r.violate(fmt.Sprintf("no request took %v or more: the toxic had no effect", f.slow))
	}
	if f.slow == 0 {
		if s.errs == 0 {
			r.violate("no caller saw an error during the fault")
		}
		if r.unrecovered != "" {
			r.violate(r.unrecovered)
		}
	}
	if !f.cut && trip != 0 {
		r.notes = append(r.notes, fmt.Sprintf("the dial-error breaker opened %v after the toxics (%d dials from the toxics to their removal)", (trip-faultAt).Round(100*time.Microsecond), dials))
	}
	if f.cut {
		// This round is judged on the breaker: detect is when it opened.
		r.hasDetect = trip != 0
		r.detect = trip - faultAt
		if trip == 0 {
			r.violate(fmt.Sprintf("the dial-error breaker never opened: %d dials during the round", dials))
		} else {
			maxAfter := probeBound(endAt-trip, cfg.poolSize)
			r.notes = append(r.notes, fmt.Sprintf("the breaker opened %v after the load resumed; %d dials from then to the toxics' removal, %d after it opened (the probe; bound %d, %s)",
				(trip-faultAt).Round(100*time.Microsecond), dials, probeDials, maxAfter, probeRate()))
			if probeDials > maxAfter {
				r.violate(fmt.Sprintf("%d dials after the breaker opened, expected at most %d (%s)", probeDials, maxAfter, probeRate()))
			}
			r.notes = append(r.notes, fmt.Sprintf("slowest failing Get that started after the breaker opened: %v", s.maxFastFail))
			if s.maxFastFail > cfg.slack {
				r.violate(fmt.Sprintf("a Get started after the breaker opened took %v to fail (bound: slack %v)", s.maxFastFail, cfg.slack))
			}
		}
	}
	if trip != 0 && firstOK > endAt {
		// The probe's attempt, or after it half-opened the breaker a
		// Get's or the warm-up's: when the pool found the server again,
		// the first part of recover.
		r.notes = append(r.notes, fmt.Sprintf("first successful dial %v after the toxics were removed", (firstOK-endAt).Round(100*time.Microsecond)))
	}
	if r.hasDetect && r.detect > f.detectMax {
		r.violate(fmt.Sprintf("detect took %v, bound %v", r.detect, f.detectMax))
	}
	if r.hasRecover && r.recover > cfg.recoverMax {
		r.violate(fmt.Sprintf("recovery took %v after the toxics were removed, bound %v", r.recover, cfg.recoverMax))
	}
	r.notes = append(r.notes, fmt.Sprintf("longest I/O of a request (its Get excluded): %v (bound %v)", s.maxIO.Round(100*time.Microsecond), ioBound))
}
