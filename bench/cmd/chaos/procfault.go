// The process faults, injected into the redis-server process itself (the
// package comment's faults 1 to 5): a table, as netfault.go's network
// faults are, which the driver runs in its order each round, those -faults
// selects; and each fault's run.
package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/shardpool/shardpool"
)

// procFault is one process fault.
type procFault struct {
	name string // its -faults name
	// run injects the fault, with the load running, and adds its rows;
	// round is the rows' suffix (" #N"). An error ends the run (the
	// server not coming back, a hang).
	run func(dr *driver, round string) error
}

// procFaults are the process faults, in the order they run each round.
var procFaults = []procFault{
	{name: "kill", run: (*driver).sigkillAndRestart},
	{name: "stop", run: (*driver).sigstop},
	{name: "clientkill", run: (*driver).clientKill},
	{name: "hungprobe", run: (*driver).hungProbe},
}

// procFaultNames returns the -faults names of the process faults, in the
// order they run.
func procFaultNames() []string {
	names := make([]string, len(procFaults))
	for i, f := range procFaults {
		names[i] = f.name
	}
	return names
}

// sigkillAndRestart is faults 1 and 2: the -faults name kill.
func (dr *driver) sigkillAndRestart(round string) error {
	if err := dr.sigkill(round); err != nil {
		return err
	}
	return dr.restartAfterKill(round)
}

// sigkill is fault 1: SIGKILL mid-load, the load kept running through
// the outage.
func (dr *driver) sigkill(round string) error {
	cfg := dr.cfg
	dr.load.start()
	sleep(200 * time.Millisecond)
	r := dr.begin("SIGKILL" + round)
	dr.d.arm()
	dials0 := dr.d.dials.Load()
	killAt := dr.since()
	r.ref, r.refName = killAt, "SIGKILL"
	if err := dr.srv.kill(3 * time.Second); err != nil {
		r.violate(err.Error())
		_, _ = dr.end(r)
		return err
	}
	sleep(cfg.outage)
	endAt := dr.since()
	dials1 := dr.d.dials.Load()
	s, err := dr.end(r)
	if err != nil {
		return err
	}
	r.detectLabel = "kill → breaker open"
	r.recoverLabel = "(server down)"
	trip := time.Duration(dr.d.trippedAt.Load())
	if trip == 0 {
		r.violate(fmt.Sprintf("the dial-error breaker never tripped: %d dials in %v of outage", dials1-dials0, cfg.outage))
	} else {
		r.detect, r.hasDetect = trip-killAt, true
		after := dials1 - dr.d.dialsAtTrip.Load()
		// Once open, only the probe dials, at most ProbeBurst + one
		// per shardpool.ProbeGap: the driver's load keeps Gets failing
		// fast.
		maxAfter := probeBound(endAt-trip, cfg.poolSize)
		r.notes = append(r.notes, fmt.Sprintf("first error %v after the kill; dials: %d before the breaker opened, %d in the %v after (probe; bound %d)",
			offset(s.firstErr, killAt), dr.d.dialsAtTrip.Load()-dials0, after, (endAt-trip).Round(time.Millisecond), maxAfter))
		if after > maxAfter {
			r.violate(fmt.Sprintf("%d dials after the breaker opened, expected at most %d (%s)", after, maxAfter, probeRate()))
		}
		r.notes = append(r.notes, fmt.Sprintf("slowest failing Get that started after the breaker opened: %v", s.maxFastFail))
		if s.maxFastFail > cfg.slack {
			r.violate(fmt.Sprintf("a Get started after the breaker opened took %v to fail (bound: slack %v)", s.maxFastFail, cfg.slack))
		}
	}
	if s.errs == 0 {
		r.violate("no caller saw an error with the server killed")
	}
	if trip != 0 {
		dr.idleWhileDown(r)
	}
	return nil
}

// idleWhileDown watches the pool idle, its breaker open and the server
// still down, for cfg.idleWatch: nobody Gets, so nothing asks the probe
// for an early attempt, and a dead server must see no more than
// idleProbeBound dials, where the busy pool above may make
// ProbeBurst + one per ProbeGap.
func (dr *driver) idleWhileDown(r *row) {
	w := dr.cfg.idleWatch
	dials0 := dr.d.dials.Load()
	sleep(w)
	n, most := dr.d.dials.Load()-dials0, idleProbeBound(w)
	r.notes = append(r.notes, fmt.Sprintf("then the load halted, the server still down: %d dials in %v of an idle pool (bound %d, one per %v)", n, w, most, shardpool.ProbeInterval))
	if n > most {
		r.violate(fmt.Sprintf("%d dials in %v from an idle pool with the server down, expected at most %d (one per %v)", n, w, most, shardpool.ProbeInterval))
	}
}

// restartAfterKill is fault 2: the killed server restarted on the same
// port, the load running.
func (dr *driver) restartAfterKill(round string) error {
	dr.load.start()
	sleep(100 * time.Millisecond)
	r := dr.begin("restart" + round)
	dr.d.arm()
	r.ref, r.refName = dr.since(), "the restart"
	backAt, err := dr.restartWatched(r, nil)
	if err != nil {
		return err
	}
	if ok := time.Duration(dr.d.firstOKAt.Load()); ok != 0 {
		r.notes = append(r.notes, fmt.Sprintf("first successful dial (the probe) %v after the server accepted", offset(ok, backAt)))
	}
	return nil
}

// restartWatched restarts the server with the load running, watches for
// restartWatch, and ends r with its detect (exec → accepting) and recovery
// (accepting → all callers served) filled in. beforeEnd, if set, runs just
// before r ends. It returns when the server accepted, as an offset.
func (dr *driver) restartWatched(r *row, beforeEnd func()) (time.Duration, error) {
	execAt := dr.since()
	if err := dr.srv.restart(); err != nil {
		r.violate(err.Error())
		_, _ = dr.end(r)
		return 0, err
	}
	if err := dr.srv.waitUp(10 * time.Second); err != nil {
		r.violate(err.Error())
		_, _ = dr.end(r)
		return 0, err
	}
	backAt := dr.since()
	sleep(dr.cfg.restartWatch)
	if beforeEnd != nil {
		beforeEnd()
	}
	s, err := dr.end(r)
	if err != nil {
		return backAt, err
	}
	r.detectLabel, r.recoverLabel = "exec → accepting", "accepting → all callers served"
	r.detect, r.hasDetect = backAt-execAt, true
	dr.recovery(r, s, backAt, "the server accepting connections")
	return backAt, nil
}

// recovery fills in r's recovery from ref and checks it against the bound.
func (dr *driver) recovery(r *row, s segment, ref time.Duration, what string) {
	switch {
	case s.unrecovered > 0:
		r.violate(fmt.Sprintf("%d workers never succeeded again after %s (last error %v after it)", s.unrecovered, what, offset(s.lastErr, ref)))
	case s.lastOK < ref:
		r.violate("no request succeeded after " + what)
	default:
		// Workers that saw no error after ref were serving at ref.
		r.recover, r.hasRecover = max(s.recoveredAt-ref, 0), true
		if r.recover > dr.cfg.recoverMax {
			r.violate(fmt.Sprintf("recovery took %v after %s, bound %v", r.recover, what, dr.cfg.recoverMax))
		}
	}
}

// sigstop is fault 3: the server frozen, then thawed.
func (dr *driver) sigstop(round string) error {
	cfg := dr.cfg
	dr.load.start()
	sleep(300 * time.Millisecond)
	r := dr.begin("SIGSTOP+SIGCONT" + round)
	dr.d.arm()
	stopAt := dr.since()
	r.ref, r.refName = stopAt, "SIGSTOP"
	if err := dr.srv.signal(syscall.SIGSTOP); err != nil {
		r.violate(err.Error())
		_, _ = dr.end(r)
		return err
	}
	sleep(cfg.freeze)
	contAt := dr.since()
	if err := dr.srv.signal(syscall.SIGCONT); err != nil {
		r.violate(err.Error())
		_, _ = dr.end(r)
		return err
	}
	sleep(cfg.contWatch)
	s, err := dr.end(r)
	if err != nil {
		return err
	}
	r.detectLabel, r.recoverLabel = "stop → first error", "cont → all callers served"
	if s.firstErr != 0 {
		r.detect, r.hasDetect = s.firstErr-stopAt, true
	} else {
		r.violate(fmt.Sprintf("no caller saw an error during a %v freeze", cfg.freeze))
	}
	dr.recovery(r, s, contAt, "SIGCONT")
	if trip := time.Duration(dr.d.trippedAt.Load()); trip != 0 {
		r.notes = append(r.notes, fmt.Sprintf("the dial-error breaker opened %v after SIGSTOP (accept queue full)", trip-stopAt))
	}
	return nil
}

// clientKill is fault 4: the server closes its side of the idle connections.
func (dr *driver) clientKill(round string) error {
	cfg := dr.cfg
	dr.load.start()
	sleep(300 * time.Millisecond)
	r := dr.begin("CLIENT KILL" + round)
	// Let the load go, and make every connection idle and live.
	if _, err := dr.halt(); err != nil {
		r.violate(err.Error())
		return err
	}
	if err := fill(dr.pool, cfg.poolSize); err != nil {
		r.violate("filling the pool: " + err.Error())
		dr.load.start()
		_, _ = dr.end(r)
		return nil
	}
	idle := dr.pool.IdleLen()
	r.lenBefore = dr.pool.Len()
	killed, err := dr.srv.clientKill()
	if err != nil {
		r.violate("CLIENT KILL: " + err.Error())
		dr.load.start()
		_, _ = dr.end(r)
		return nil
	}
	// The FINs arrive, and the connections sit idle for killIdle, as
	// connections a server closes for idleness have.
	sleep(cfg.killIdle)
	resumeAt := dr.since()
	r.ref, r.refName = resumeAt, "the load resumed"
	dr.load.start()
	sleep(cfg.killWatch)
	s, err := dr.end(r)
	if err != nil {
		return err
	}
	r.detectLabel, r.recoverLabel = "resume → first error", "resume → all callers served"
	if s.firstErr != 0 {
		r.detect, r.hasDetect = s.firstErr-resumeAt, true
	}
	dr.recovery(r, s, resumeAt, "the load resumed")
	peer := s.kinds[stageIO][classPeer]
	r.notes = append(r.notes, fmt.Sprintf("%d idle connections, %d killed by the server; %d callers met a dead socket (EOF/reset)", idle, killed, peer))
	if killed < idle {
		r.violate(fmt.Sprintf("CLIENT KILL closed %d connections, the pool had %d idle", killed, idle))
	}
	if s.errs > int64(killed) {
		r.violate(fmt.Sprintf("%d errors for %d dead sockets: a dead socket was handed out more than once, or healthy requests failed", s.errs, killed))
	}
	st := dr.pool.Stats()
	r.notes = append(r.notes, fmt.Sprintf("idle %v before the load resumed; the pool's health checks dropped %d connections so far (Stats.Unhealthy)", cfg.killIdle, st.Unhealthy))
	if cfg.healthIdle >= 0 && cfg.killIdle > cfg.effectiveHealthIdle() && s.errs > 0 {
		r.violate(fmt.Sprintf("%d callers met a dead socket idle past HealthCheckIdle %v: the health check let it through", s.errs, cfg.effectiveHealthIdle()))
	}
	return nil
}

// hungProbe is fault 5: the server is killed; once the breaker is open, the
// probe's next dial hangs in a Dialer that ignores its context; then the
// server restarts. The probe must give up on the hung dial after the dial
// timeout and dial again one probe interval later, so that the pool serves
// within the recovery bound of the server accepting again.
func (dr *driver) hungProbe(round string) error {
	cfg := dr.cfg
	dr.load.start()
	sleep(200 * time.Millisecond)
	r := dr.begin("hung probe dial" + round)
	defer dr.d.releaseHung()
	dr.d.arm()
	killAt := dr.since()
	r.ref, r.refName = killAt, "SIGKILL"
	if err := dr.srv.kill(3 * time.Second); err != nil {
		r.violate(err.Error())
		_, _ = dr.end(r)
		return err
	}
	if !waitFor(cfg.outage, func() bool { return dr.d.trippedAt.Load() != 0 }) {
		r.violate("the dial-error breaker never opened")
		_, _ = dr.end(r)
		return nil
	}
	dr.d.hangNextDial()
	// The probe dials at least once per shardpool.ProbeInterval.
	if !waitFor(2*shardpool.ProbeInterval+cfg.slack, func() bool { return dr.d.hungAt.Load() != 0 }) {
		r.violate("the probe never dialed after the breaker opened")
		_, _ = dr.end(r)
		return nil
	}
	hungAt := time.Duration(dr.d.hungAt.Load())
	// Released only at the end: the pool had to recover without it.
	backAt, err := dr.restartWatched(r, dr.d.releaseHung)
	if err != nil {
		return err
	}
	r.notes = append(r.notes, fmt.Sprintf("the probe's dial hung from %v after the kill until the end of the row; the server accepted %v after that",
		hungAt-killAt, backAt-hungAt))
	if ok := time.Duration(dr.d.firstOKAt.Load()); ok != 0 {
		r.notes = append(r.notes, fmt.Sprintf("first successful dial %v after the server accepted", offset(ok, backAt)))
	}
	return nil
}

// waitFor polls cond every 5 ms for up to bound, and reports whether it
// came true.
func waitFor(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		sleep(5 * time.Millisecond)
	}
	return true
}

// fill checks out n connections, pings each (Removing the dead), and puts
// the live ones back, so that the pool holds up to n idle live connections.
func fill(pool *shardpool.ConnPool, n int) error {
	cns := make([]*shardpool.Conn, 0, n)
	var err error
	for range n {
		cn, gerr := pool.Get(context.Background())
		if gerr != nil {
			err = gerr
			break
		}
		cns = append(cns, cn)
	}
	for _, cn := range cns {
		rc := respClient(cn)
		if perr := rc.Ping(); perr != nil {
			pool.Remove(cn, perr)
			continue
		}
		release(pool, cn, rc)
	}
	return err
}
