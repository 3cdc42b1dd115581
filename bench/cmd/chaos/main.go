// Command chaos drives load through shardpool's ConnPool against a real
// redis-server and injects faults into the server:
//
//  1. SIGKILL mid-load, load kept running: callers must get errors fast (the
//     pool's dial-error breaker), no Get may wait past PoolTimeout, and
//     goroutines and heap must stay flat; then the load halts, the server
//     still down, and the idle pool must dial it at most once a second;
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
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
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

// run runs the driver and returns the exit status: 0, 1 if a bound was
// violated, 2 for a setup error.
func run(cfg *config) int {
	t0 := time.Now()
	srv := &server{addr: cfg.addr, args: cfg.serverArgs, pidfile: cfg.pidfile}
	srv.pid.Store(int64(cfg.pid))
	watchdog := guard(srv, cfg.deadline)
	defer watchdog.Stop()
	defer srv.release()

	dr, baseGoroutines, err := newDriver(cfg, t0, srv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "chaos: redis-server %s (pid %d), %d workers, PoolSize %d, PoolTimeout %v, dial timeout %v, I/O deadline %v, %d round(s)\n",
		cfg.addr, cfg.pid, cfg.workers, cfg.poolSize, cfg.poolTimeout, cfg.dialTimeout, cfg.ioTimeout, cfg.rounds)
	fatal := dr.rounds()
	if err := dr.closeAll(baseGoroutines); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	return dr.finish(fatal)
}

// guard makes sure that, whatever way the driver leaves, the server is not
// left frozen: on SIGINT or SIGTERM it thaws the server and exits with 130,
// and past the deadline it thaws it, prints the goroutines and exits with
// 1. The caller stops the returned watchdog when the run ends.
func guard(srv *server, deadline time.Duration) *time.Timer {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		srv.release()
		fmt.Fprintf(os.Stderr, "chaos: %v\n", sig)
		os.Exit(130)
	}()
	return time.AfterFunc(deadline, func() {
		srv.release()
		fmt.Fprintf(os.Stderr, "chaos: VIOLATION: the run passed its deadline of %v; goroutines:\n", deadline)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		os.Exit(1)
	})
}

// newDriver builds the driver: the sampler, the timeline, and the pool on
// a dialer to cfg.addr, with its load. It returns the goroutine count
// before the pool existed, which Close must get back to.
func newDriver(cfg *config, t0 time.Time, srv *server) (*driver, int, error) {
	tcpDial, err := bench.LoopbackDialer(cfg.addr)
	if err != nil {
		return nil, 0, err
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
	return dr, baseGoroutines, nil
}

// closeAll closes the pools and the proxies, stops the sampler and the
// timeline and writes the timeline's files, and adds the "pool Close" row:
// every goroutine the pools and proxies started must be gone, back to
// baseGoroutines. Its error is the timeline's files not written.
func (dr *driver) closeAll(baseGoroutines int) error {
	dr.closeNet()
	pool := dr.pool
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
	dr.smp.watch(nil)
	dr.smp.close()
	dr.tl.close()
	if err := dr.writeTimeline(); err != nil {
		return err
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
	return nil
}

// finish draws the round charts, prints the report (and writes it to -out)
// and returns the exit status: 1 if a row violated a bound or the run could
// not go on (fatal), 2 if the report could not be written.
func (dr *driver) finish(fatal error) int {
	// A chart that cannot be drawn costs the report its pictures, not its
	// results: the rows and their verdict are printed all the same.
	charts, err := dr.writeRoundCharts()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: round charts:", err)
	}
	report := dr.report(time.Since(dr.t0), fatal, charts)
	fmt.Print(report)
	if dr.cfg.out != "" {
		if err := os.WriteFile(dr.cfg.out, []byte(report), 0o644); err != nil {
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
