// The driver's settings: the config, the flags that fill it and their
// defaults, the -faults list, and the time bounds derived from them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
	"github.com/shardpool/shardpool/bench/internal/freeport"
)

// config is the driver's settings.
type config struct {
	addr    string
	pid     int
	pidfile string
	out     string
	csv     string // the timeline, one line per tick
	chart   string // the timeline, drawn (PNG)
	charts  string // directory of one chart per fault (PNG)
	short   bool
	rounds  int
	faults  map[string]bool

	workers     int
	poolSize    int
	poolTimeout time.Duration
	dialTimeout time.Duration
	healthIdle  time.Duration // Options.HealthCheckIdle
	killIdle    time.Duration // how long killed connections sit idle before the load resumes
	ioTimeout   time.Duration
	slack       time.Duration // scheduling slack on every time bound
	recoverMax  time.Duration // bound on recovery after restart and SIGCONT
	goroutines  int           // allowed goroutine growth
	heapMiB     uint64        // allowed live-heap growth
	deadline    time.Duration // the whole run

	warmup, outage, restartWatch, freeze, contWatch, killWatch time.Duration
	idleWatch                                                  time.Duration // the idle pool's watch after SIGKILL

	// The network-fault rounds (netfault.go).
	goredis    bool          // run go-redis v9 beside shardpool
	latency    time.Duration // the latency toxic's
	latencyFor time.Duration // how long it stays
	bandwidth  int64         // the bandwidth toxic's rate, KB/s
	netFault   time.Duration // how long the other toxics stay
	netWatch   time.Duration // how long the pools are watched after

	serverArgs []string
}

// parseFlags parses the command line. It returns a nil config and no error
// once -freeport has printed its port.
func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	cfg := &config{}
	printPort, faults := cfg.define(fs)
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if *printPort {
		port, err := freeport.Loopback()
		if err != nil {
			return nil, err
		}
		fmt.Println(port)
		return nil, nil
	}
	cfg.serverArgs = fs.Args()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.faults, err = parseFaults(*faults); err != nil {
		return nil, err
	}
	cfg.setPhases()
	return cfg, nil
}

// define defines the flags on fs, each filling its field of c, and returns
// the two that are no field: -freeport and the -faults list.
func (c *config) define(fs *flag.FlagSet) (printPort *bool, faults *string) {
	printPort = fs.Bool("freeport", false, "print a free TCP port of 127.0.0.1 and exit")
	fs.StringVar(&c.addr, "addr", "", "address of the redis-server (loopback only)")
	fs.IntVar(&c.pid, "pid", 0, "pid of the redis-server")
	fs.StringVar(&c.pidfile, "pidfile", "", "file to write the pid of a restarted server to")
	fs.StringVar(&c.out, "out", "", "also write the results to this file")
	fs.StringVar(&c.csv, "timeline", "", "write the timeline (pool state every 100 ms) to this CSV file")
	fs.StringVar(&c.chart, "chart", "", "draw the timeline to this PNG file")
	fs.StringVar(&c.charts, "round-charts", "", "draw each fault's window of the timeline to DIR/chaos-round-N-FAULT.png, linked from -out")
	fs.BoolVar(&c.short, "short", false, "short phases, one round (CI)")
	faults = fs.String("faults", strings.Join(allFaults, ","), "faults to inject, in this order each round: kill (SIGKILL and the restart), stop (SIGSTOP, SIGCONT), clientkill, hungprobe, "+
		"and the network faults through toxiproxy: latency, blackhole (established connections), dialhole (new dials), reset (reset_peer), bandwidth")
	fs.BoolVar(&c.goredis, "goredis", true, "run the go-redis v9 client beside shardpool in the network faults")
	fs.DurationVar(&c.latency, "latency", 50*time.Millisecond, "the latency fault's added latency (whole milliseconds)")
	fs.DurationVar(&c.latencyFor, "latency-for", 5*time.Second, "how long the latency fault lasts")
	fs.Int64Var(&c.bandwidth, "bandwidth", 1, "the bandwidth fault's rate, KB/s: 1 or 2")
	fs.DurationVar(&c.netFault, "net-fault", 2*time.Second, "how long each other network fault lasts")
	fs.DurationVar(&c.netWatch, "net-watch", 2500*time.Millisecond, "how long the pools are watched after a network fault ends")
	fs.IntVar(&c.rounds, "rounds", 0, "rounds of the faults (default 1 with -short, else 3)")
	fs.IntVar(&c.workers, "workers", 48, "goroutines driving load")
	fs.IntVar(&c.poolSize, "pool-size", 16, "Options.PoolSize")
	fs.DurationVar(&c.poolTimeout, "pool-timeout", 500*time.Millisecond, "Options.PoolTimeout")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 250*time.Millisecond, "Options.DialTimeout")
	fs.DurationVar(&c.healthIdle, "health-check-idle", 0, "Options.HealthCheckIdle (0: the pool's default, 1s; negative: no checks)")
	fs.DurationVar(&c.killIdle, "kill-idle", 1200*time.Millisecond, "how long the connections CLIENT KILL closed sit idle before the load resumes")
	fs.DurationVar(&c.ioTimeout, "io-timeout", 200*time.Millisecond, "deadline of each command's I/O")
	fs.DurationVar(&c.slack, "slack", 300*time.Millisecond, "scheduling slack allowed on every time bound")
	fs.DurationVar(&c.recoverMax, "recover-max", 2*time.Second, "bound on recovery after a restart or SIGCONT")
	fs.IntVar(&c.goroutines, "goroutine-slack", 4, "allowed goroutine growth over a fault")
	fs.Uint64Var(&c.heapMiB, "heap-slack-mib", 8, "allowed live-heap growth over a fault, MiB")
	fs.DurationVar(&c.deadline, "deadline", 0, "bound on the whole run (default 150s with -short, else 10m)")
	return printPort, faults
}

// check rejects settings the driver cannot run with.
func (c *config) check() error {
	switch {
	case c.addr == "" || c.pid <= 0 || len(c.serverArgs) == 0:
		return errors.New("usage: chaos -addr 127.0.0.1:PORT -pid PID [-pidfile FILE] [-short] [-faults LIST] [-out FILE] [-round-charts DIR] -- SERVER [ARGS]")
	case c.workers < 1 || c.poolSize < 1 || c.poolTimeout <= 0 || c.dialTimeout <= 0 || c.ioTimeout <= 0:
		return errors.New("-workers, -pool-size and the timeouts must be positive")
	}
	if err := bench.CheckLoopback(c.addr); err != nil {
		return err
	}
	if c.latency < time.Millisecond || c.latencyFor <= 0 || c.netFault <= 0 || c.netWatch <= 0 {
		return errors.New("-latency (1ms or more), -latency-for, -net-fault and -net-watch must be positive")
	}
	// Above 2 KB/s a SET spends under 20 ms on the wire, which requests
	// without the toxic reach too on 2 busy cores: the fault could not be
	// told from noise (see netFaults).
	if c.bandwidth < 1 || c.bandwidth > 2 {
		return errors.New("-bandwidth must be 1 or 2 (KB/s): faster, a request's time on the wire falls into the noise")
	}
	return nil
}

// setPhases sets the process faults' phase durations for -short or not,
// and the defaults of -rounds and -deadline.
func (c *config) setPhases() {
	if c.short {
		c.warmup, c.outage, c.restartWatch = time.Second, 2500*time.Millisecond, 3*time.Second
		c.freeze, c.contWatch, c.killWatch = 1500*time.Millisecond, 2*time.Second, 1500*time.Millisecond
		c.idleWatch = 2500 * time.Millisecond
	} else {
		// A 4 s freeze puts about 320 connections (PoolSize places, one
		// per I/O deadline each) in the server's accept queue of 511.
		c.warmup, c.outage, c.restartWatch = 3*time.Second, 15*time.Second, 8*time.Second
		c.freeze, c.contWatch, c.killWatch = 4*time.Second, 6*time.Second, 4*time.Second
		c.idleWatch = 5 * time.Second
	}
	if c.rounds <= 0 {
		c.rounds = 3
		if c.short {
			c.rounds = 1
		}
	}
	if c.deadline <= 0 {
		c.deadline = 10 * time.Minute
		if c.short {
			// About 45 s of faults on 2 cores; CI allows 3 minutes,
			// compiling included.
			c.deadline = 150 * time.Second
		}
	}
}

// allFaults are the -faults names, in the order they run each round: the
// process faults, then the network faults.
var allFaults = append(procFaultNames(), netFaultNames...)

// parseFaults parses -faults: names from allFaults, comma-separated.
func parseFaults(list string) (map[string]bool, error) {
	faults := map[string]bool{}
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(allFaults, f) {
			return nil, fmt.Errorf("-faults: unknown fault %q (known: %s)", f, strings.Join(allFaults, ", "))
		}
		faults[f] = true
	}
	if len(faults) == 0 {
		return nil, errors.New("-faults: no fault selected")
	}
	return faults, nil
}

// getBound is the longest a Get may take: the wait for a place, then the
// dial into it.
func (c *config) getBound() time.Duration { return c.poolTimeout + c.dialTimeout + c.slack }

// reqBound is the longest a request (Get and one command) may take.
func (c *config) reqBound() time.Duration {
	return c.poolTimeout + c.dialTimeout + c.ioTimeout + c.slack
}

// effectiveHealthIdle is the pool's HealthCheckIdle after its defaults.
func (c *config) effectiveHealthIdle() time.Duration {
	if c.healthIdle == 0 {
		return shardpool.DefaultHealthCheckIdle
	}
	return c.healthIdle
}
