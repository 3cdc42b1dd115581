// Command chaos drives load through shardpool's ConnPool against a real
// redis-server and injects faults into the server:
//
//  1. SIGKILL mid-load, load kept running: callers must get errors fast (the
//     pool's dial-error breaker), no Get may wait past PoolTimeout, and
//     goroutines and heap must stay flat;
//  2. a restart on the same port: the pool must serve again within 2 s of the
//     server accepting connections (while Gets fail fast its probe dials
//     every 100 ms, else once a second);
//  3. SIGSTOP, then SIGCONT: Gets and I/O must time out instead of hanging,
//     and the pool must recover after SIGCONT;
//  4. CLIENT KILL of the server's side of idle pooled connections, which then
//     sit idle past the pool's HealthCheckIdle (as connections a server
//     closes for idleness have): with health checks on, Get drops them and
//     callers see no error; with them off (-health-check-idle=-1s), each dead
//     socket may cost at most one caller one error (which Removes it);
//  5. a hung probe dial: with the server killed and the breaker open, the
//     probe's next dial hangs in a Dialer that ignores its context; the
//     server restarts, and the pool must serve again within the recovery
//     bound all the same (the probe gives up on a dial after the dial
//     timeout).
//
// Then network faults, through toxiproxy used as a library (netfault.go):
// two proxies on 127.0.0.1 in front of the server, one for a shardpool pool
// of the same settings whose OnConnect PINGs each new connection within
// DialTimeout, one for a go-redis v9 client of the same settings
// (goredis.go), the same toxics added to both at once, the load running on
// both:
//
//  6. latency: +50 ms on every reply for 5 s: no request may fail, and the
//     requests must be fast again once the toxic is removed;
//  7. a black hole for established connections (the timeout toxic with
//     timeout 0: connections stay open, bytes stop): requests must fail at
//     the I/O deadline, not hang, and the pool must recover within 2 s of
//     the toxic's removal;
//  8. a black hole for new dials: with the loads halted, the same toxic and
//     every connection through the proxy closed; the loads resume on pools
//     of dead connections whose every redial hangs in its PING: the dials
//     must fail at DialTimeout, the breaker must open, Gets must then fail
//     fast and the probe dial at most once per 100 ms, and the pool must
//     recover within 2 s of the toxic's removal;
//  9. reset_peer: every connection is closed as soon as the pool sends on
//     it; the pool must recover within 2 s of the toxic's removal;
//  10. bandwidth: 1 KB/s from the pool to the server (a request is 14 to
//     50 bytes): no request may fail.
//
// In every network fault no Get may take longer than PoolTimeout + the
// dial timeout + slack, no request's I/O longer than the I/O deadline +
// slack, and the goroutines of shardpool's side must return to their
// count before the fault within 2 s of the load's halt. The go-redis rows
// are reported beside shardpool's, not checked against these bounds (the
// driver cannot fix its pool), but their load is halted within the same
// bound, so that the driver never waits on it for long.
//
// It prints a table of what it measured (fault, client, time to detect,
// time to recover, errors seen, max Get and request, goroutines and open
// connections before and after) and exits with status 1 if a bound is
// violated: a Get or request past its bound, a request that hangs,
// recovery slower than 2 s, goroutine or heap growth, a wrong reply, a
// panic. Status 2 is a usage or setup error. With -round-charts DIR it
// draws each fault's window of the timeline (requests/s, errors/s, p99,
// connections held and idle, waiting Gets; the fault's moments marked) to
// DIR/chaos-round-N-FAULT.png, linked from the -out report.
//
// -faults selects the faults, by name: kill (SIGKILL and the restart),
// stop, clientkill, hungprobe, latency, blackhole, dialhole, reset,
// bandwidth; they run in that order, -rounds times. -goredis=false leaves
// go-redis out.
//
// Usage (scripts/chaos.sh starts redis-server and runs it):
//
//	chaos -addr 127.0.0.1:PORT -pid PID [-pidfile FILE] [-short] [-faults LIST] [-out FILE] [-round-charts DIR] -- redis-server ARGS...
//	chaos -freeport
//
// The arguments after -- restart the server on the same port; the pid of
// each restarted server is written to -pidfile.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if cfg == nil { // -freeport done
		return
	}
	os.Exit(run(cfg))
}

// driver holds the run's state.
type driver struct {
	cfg  *config
	t0   time.Time
	srv  *server
	d    *dialer
	pool *shardpool.ConnPool
	load *load
	smp  *sampler
	tl   *timeline
	net  *netRig // the network rounds' proxies and pools; nil until the first
	rows []*row
	ops  int64
	// goredisHung is set once go-redis's load hung: go-redis is then left
	// out of every later network round, whose rigs are built anew.
	goredisHung bool
}

func run(cfg *config) int {
	t0 := time.Now()
	srv := &server{addr: cfg.addr, args: cfg.serverArgs, pidfile: cfg.pidfile}
	srv.pid.Store(int64(cfg.pid))

	// Whatever way we leave, the server is not left frozen.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		srv.release()
		fmt.Fprintf(os.Stderr, "chaos: %v\n", sig)
		os.Exit(130)
	}()
	watchdog := time.AfterFunc(cfg.deadline, func() {
		srv.release()
		fmt.Fprintf(os.Stderr, "chaos: VIOLATION: the run passed its deadline of %v; goroutines:\n", cfg.deadline)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		os.Exit(1)
	})
	defer watchdog.Stop()
	defer srv.release()

	tcpDial, err := bench.LoopbackDialer(cfg.addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	smp := startSampler()
	baseGoroutines := runtime.NumGoroutine()

	d := &dialer{dial: tcpDial, ioTimeout: cfg.ioTimeout, poolSize: int64(cfg.poolSize), t0: t0}
	tl := newTimeline(t0)
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer:          d.Dial,
		OnConnect:       d.OnConnect,
		PoolSize:        cfg.poolSize,
		PoolTimeout:     cfg.poolTimeout,
		DialTimeout:     cfg.dialTimeout,
		HealthCheckIdle: cfg.healthIdle,
		Hooks:           tl.hooks(),
	})
	smp.watch(pool)
	tl.shardpool().watch(poolStats(pool))
	go tl.run()
	dr := &driver{cfg: cfg, t0: t0, srv: srv, d: d, pool: pool, load: newLoad(poolClient{pool}, d, tl.shardpool(), ownerShardpool, "", t0, cfg.workers), smp: smp, tl: tl}

	fmt.Fprintf(os.Stderr, "chaos: redis-server %s (pid %d), %d workers, PoolSize %d, PoolTimeout %v, dial timeout %v, I/O deadline %v, %d round(s)\n",
		cfg.addr, cfg.pid, cfg.workers, cfg.poolSize, cfg.poolTimeout, cfg.dialTimeout, cfg.ioTimeout, cfg.rounds)
	fatal := dr.rounds()

	// Close the pools and the proxies: every goroutine they started must
	// be gone.
	dr.closeNet()
	closeRow := &row{fault: "pool Close", gBefore: runtime.NumGoroutine(), lenBefore: pool.Len()}
	closed := make(chan error, 1)
	go func() { closed <- pool.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			closeRow.notes = append(closeRow.notes, "Close: "+err.Error())
		}
	case <-time.After(5 * time.Second):
		closeRow.violate("Close did not return within 5s")
	}
	smp.watch(nil)
	smp.close()
	tl.close()
	if err := dr.writeTimeline(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	closeRow.gAfter = waitGoroutines(baseGoroutines, 2*time.Second)
	closeRow.lenAfter = pool.Len()
	closeRow.gMax = closeRow.gBefore
	if closeRow.gAfter > baseGoroutines {
		closeRow.violate(fmt.Sprintf("%d goroutines after Close, %d before the pool existed", closeRow.gAfter, baseGoroutines))
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}
	if closeRow.lenAfter != 0 {
		closeRow.violate(fmt.Sprintf("Len %d after Close", closeRow.lenAfter))
	}
	closeRow.notes = append(closeRow.notes, fmt.Sprintf("goroutines before the pool existed: %d", baseGoroutines))
	dr.rows = append(dr.rows, closeRow)

	// A chart that cannot be drawn costs the report its pictures, not its
	// results: the rows and their verdict are printed all the same.
	charts, err := dr.writeRoundCharts()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: round charts:", err)
	}
	report := dr.report(time.Since(t0), fatal, charts)
	fmt.Print(report)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
	}
	for _, r := range dr.rows {
		if len(r.violations) > 0 {
			return 1
		}
	}
	if fatal != nil {
		return 1
	}
	return 0
}

// writeTimeline writes the timeline's CSV and chart, where asked.
func (dr *driver) writeTimeline() error {
	if dr.cfg.csv != "" {
		if err := dr.tl.writeCSV(dr.cfg.csv); err != nil {
			return err
		}
	}
	if dr.cfg.chart != "" {
		return dr.tl.writeChart(dr.cfg.chart)
	}
	return nil
}

// waitGoroutines waits up to bound for the goroutine count to fall to want,
// and returns the count.
func waitGoroutines(want int, bound time.Duration) int {
	deadline := time.Now().Add(bound)
	n := runtime.NumGoroutine()
	for i := 0; n > want && time.Now().Before(deadline) && i < 1000; i++ {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// rounds runs the warm-up and the selected faults cfg.rounds times: the
// process faults (procFaults), then the network faults (netFaults), each
// in its table's order. It returns an error when the run cannot go on (a
// hang, the server not coming back).
func (dr *driver) rounds() error {
	for r := 1; r <= dr.cfg.rounds; r++ {
		steps := []func(string) error{dr.warmup}
		for _, f := range procFaults {
			if dr.cfg.faults[f.name] {
				steps = append(steps, func(round string) error { return f.run(dr, round) })
			}
		}
		for _, f := range netFaults(dr.cfg) {
			steps = append(steps, func(round string) error { return dr.netRound(f, round) })
		}
		for _, step := range steps {
			if err := step(fmt.Sprintf(" #%d", r)); err != nil {
				fmt.Fprintln(os.Stderr, "chaos: VIOLATION:", err)
				if errors.Is(err, errHang) {
					_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
				}
				return err
			}
		}
		// The network faults' pools and proxies go at the end of each
		// round: their connections (and toxiproxy's goroutines for
		// each) would otherwise sit through the next round's server
		// faults and blur its goroutine counts.
		dr.closeNet()
	}
	return nil
}

// since returns the offset of now from the start of the run.
func (dr *driver) since() time.Duration { return time.Since(dr.t0) }

// halt ends the current segment of load, bounded so that a hang is caught.
func (dr *driver) halt() (segment, error) {
	s, err := dr.load.halt(dr.cfg.reqBound() + time.Second)
	dr.ops += s.ok + s.errs
	return s, err
}

// begin starts a row: load running, a moment to settle, then the "before"
// measurements.
func (dr *driver) begin(fault string) *row {
	r := &row{fault: fault, from: dr.since()}
	dr.tl.mark(fault)
	r.gBefore, r.heapBefore = measure()
	r.lenBefore = dr.pool.Len()
	dr.smp.resetMax()
	dr.rows = append(dr.rows, r)
	return r
}

// checkShared checks the bounds every row of shardpool's shares, fault
// rounds and network rounds alike: PoolSize never exceeded, no wrong reply,
// no panic; and notes errors of no expected kind and stalls of the driver
// itself.
func (r *row) checkShared(s segment, cfg *config) {
	if r.lenMax > cfg.poolSize {
		r.violate(fmt.Sprintf("pool Len reached %d, over PoolSize %d", r.lenMax, cfg.poolSize))
	}
	if n := s.kinds[stageIO][classWrong] + s.kinds[stageGet][classWrong]; n > 0 {
		r.violate(fmt.Sprintf("%d wrong replies (a socket shared by two callers?): %s", n, s.sample[stageIO][classWrong]))
	}
	if n := s.kinds[stageGet][classOther] + s.kinds[stageIO][classOther]; n > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d errors of no expected kind", n))
	}
	for _, p := range s.panics {
		r.violate("panic in " + p)
	}
	if r.stall > cfg.slack {
		r.notes = append(r.notes, fmt.Sprintf("the driver itself stalled for %v (CPU starvation or a pause of the process): time bounds in this row met that stall too", r.stall))
	}
}

// end takes the "after" measurements with load still running, then halts
// the load and checks the segment's common bounds.
func (dr *driver) end(r *row) (segment, error) {
	r.gAfter, r.heapAfter = measure()
	r.lenAfter = dr.pool.Len()
	r.gMax, r.lenMax, r.stall = dr.smp.max()
	r.gMax = max(r.gMax, r.gBefore, r.gAfter)
	r.lenMax = max(r.lenMax, r.lenBefore, r.lenAfter)
	s, err := dr.halt()
	r.to = dr.since()
	if err != nil {
		r.violate(err.Error())
		return s, err
	}
	r.seg = s
	cfg := dr.cfg
	if s.maxGet > cfg.getBound() {
		r.violate(fmt.Sprintf("a Get took %v, bound %v (PoolTimeout + dial timeout + slack)", s.maxGet, cfg.getBound()))
	}
	if s.maxReq > cfg.reqBound() {
		r.violate(fmt.Sprintf("a request took %v, bound %v (PoolTimeout + dial timeout + I/O deadline + slack)", s.maxReq, cfg.reqBound()))
	}
	if g := max(r.gAfter, r.gMax); g > r.gBefore+cfg.goroutines {
		r.violate(fmt.Sprintf("goroutines grew from %d to %d (slack %d)", r.gBefore, g, cfg.goroutines))
	}
	if r.heapAfter > r.heapBefore+cfg.heapMiB<<20 {
		r.violate(fmt.Sprintf("live heap grew from %d KiB to %d KiB (slack %d MiB)", r.heapBefore>>10, r.heapAfter>>10, cfg.heapMiB))
	}
	r.checkShared(s, cfg)
	return s, nil
}

// measure returns the goroutine count and, after a GC, the live heap.
func measure() (int, uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// sleep waits d; every wait of the driver is a bounded sleep.
func sleep(d time.Duration) { time.Sleep(d) }

// warmup checks that the pool serves before any fault.
func (dr *driver) warmup(round string) error {
	dr.load.start()
	sleep(dr.cfg.warmup)
	s, err := dr.halt()
	if err != nil {
		return err
	}
	if s.ok == 0 || s.errs > 0 {
		return fmt.Errorf("warm-up%s: %d requests served, %d errors (%s): the server is not usable", round, s.ok, s.errs, firstSample(s))
	}
	return nil
}

func firstSample(s segment) string {
	var parts []string
	for st := range numStages {
		for c := range numClasses {
			if s.sample[st][c] != "" {
				parts = append(parts, s.sample[st][c])
			}
		}
	}
	return strings.Join(parts, "; ")
}

// offset returns t-ref, or "never" as a duration string when t is unset.
func offset(t, ref time.Duration) string {
	if t == 0 {
		return "never"
	}
	return (t - ref).Round(100 * time.Microsecond).String()
}
