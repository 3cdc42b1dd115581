package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
)

func testConfig(t *testing.T, extra ...string) *config {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:6379", "-pid", "42", "-short"}, extra...)
	cfg, err := parseFlags(append(args, "--", "redis-server"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestParseFaultsSelectsRounds(t *testing.T) {
	cfg := testConfig(t)
	for _, f := range allFaults {
		if !cfg.faults[f] {
			t.Errorf("fault %s is not on by default", f)
		}
	}
	var names []string
	for _, f := range netFaults(cfg) {
		names = append(names, f.name)
	}
	if !slices.Equal(names, netFaultNames) {
		t.Errorf("default network faults %q, want %q", names, netFaultNames)
	}

	cfg = testConfig(t, "-faults", "bandwidth, kill,latency")
	names = names[:0]
	for _, f := range netFaults(cfg) {
		names = append(names, f.name)
	}
	if want := []string{"latency", "bandwidth"}; !slices.Equal(names, want) {
		t.Errorf("-faults bandwidth,kill,latency: network faults %q, want %q (the fixed order)", names, want)
	}
	if !cfg.faults["kill"] || cfg.faults["stop"] {
		t.Errorf("-faults bandwidth,kill,latency selected %v", cfg.faults)
	}

	for _, bad := range []string{"latency,nosuch", "", " , "} {
		if _, err := parseFaults(bad); err == nil {
			t.Errorf("parseFaults(%q) accepted it", bad)
		}
	}
	if _, err := parseFlags([]string{"-addr", "127.0.0.1:1", "-pid", "1", "-bandwidth", "0", "--", "x"}); err == nil {
		t.Error("-bandwidth 0 accepted")
	}
}

// TestNetFaultsToxicsAreValid adds each round's toxics, and the cut's, to
// a proxy that is not started: toxiproxy must accept their JSON.
func TestNetFaultsToxicsAreValid(t *testing.T) {
	cfg := testConfig(t)
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	for _, f := range netFaults(cfg) {
		p := toxiproxy.NewProxy(api, f.name, "127.0.0.1:0", "127.0.0.1:1")
		toxics := f.toxics
		if f.cut {
			toxics = append(toxics[:len(toxics):len(toxics)], cutToxic)
		}
		for _, js := range toxics {
			w, err := p.Toxics.AddToxicJson(strings.NewReader(js))
			if err != nil {
				t.Errorf("%s: toxic %s: %v", f.name, js, err)
				continue
			}
			if w.Toxicity != 1 {
				t.Errorf("%s: toxic %s has toxicity %v, want 1", f.name, w.Name, w.Toxicity)
			}
		}
		if got := len(p.Toxics.GetToxicArray()); got != len(toxics) {
			t.Errorf("%s: %d toxics in the proxy, want %d", f.name, got, len(toxics))
		}
	}
}

func TestNetFaultBounds(t *testing.T) {
	cfg := testConfig(t)
	byName := map[string]netFault{}
	for _, f := range netFaults(cfg) {
		byName[f.name] = f
		if f.dur <= 0 || f.detectMax <= 0 || f.detectLabel == "" || f.title == "" {
			t.Errorf("%s: incomplete: %+v", f.name, f)
		}
	}
	if f := byName["latency"]; f.slow != 50*time.Millisecond || f.dur != 5*time.Second || f.maxErrs != 0 || !strings.Contains(f.toxics[0], `"latency":50`) {
		t.Errorf("latency: %+v", f)
	}
	if f := byName["dialhole"]; !f.cut || byName["blackhole"].cut {
		t.Error("only the new-dials black hole closes the connections")
	}
	// A SET (about 46 bytes) takes 40 ms or more at 1 KB/s.
	if f := byName["bandwidth"]; f.slow != 40*time.Millisecond || !strings.Contains(f.toxics[0], `"rate":1}`) {
		t.Errorf("bandwidth: slow %v, toxics %q", f.slow, f.toxics)
	}
	// No network fault may make the run longer than its -short budget.
	var total time.Duration
	for _, f := range byName {
		total += f.dur + cfg.netWatch + 2*time.Second
	}
	if total > 40*time.Second {
		t.Errorf("the network faults take up to %v in -short", total)
	}
}

func TestEvaluate(t *testing.T) {
	cfg := testConfig(t)
	const faultAt, endAt = 10 * time.Second, 12 * time.Second
	slow := netFault{slow: 50 * time.Millisecond}
	r := &row{seg: segment{firstSlow: faultAt + 52*time.Millisecond, lastSlow: endAt + 3*time.Millisecond}}
	evaluate(cfg, slow, r, faultAt, endAt, 0)
	if !r.hasDetect || r.detect != 52*time.Millisecond || !r.hasRecover || r.recover != 3*time.Millisecond {
		t.Errorf("slowing fault: detect %v (%v), recover %v (%v)", r.detect, r.hasDetect, r.recover, r.hasRecover)
	}
	// Slowed requests that all ended before the removal: recovered at once.
	r = &row{seg: segment{firstSlow: faultAt + time.Second, lastSlow: endAt - time.Millisecond}}
	evaluate(cfg, slow, r, faultAt, endAt, 0)
	if r.recover != 0 || !r.hasRecover {
		t.Errorf("recover %v, want 0", r.recover)
	}
	// A slow request that started after the toxics were gone counts toward
	// recover when the process did not stall, and not when it did (both
	// clients then show it at the same moment).
	r = &row{seg: segment{firstSlow: faultAt + 52*time.Millisecond, lastSlow: endAt + 3*time.Millisecond,
		slowAfter: 2, maxSlowAfter: 60 * time.Millisecond, lastSlowAfter: endAt + 2400*time.Millisecond}}
	evaluate(cfg, slow, r, faultAt, endAt, 5*time.Millisecond)
	if r.recover != 2400*time.Millisecond {
		t.Errorf("slow after the removal without a stall: recover %v, want 2.4s", r.recover)
	}
	r = &row{seg: segment{firstSlow: faultAt + 52*time.Millisecond, lastSlow: endAt + 3*time.Millisecond,
		slowAfter: 2, maxSlowAfter: 60 * time.Millisecond, lastSlowAfter: endAt + 2400*time.Millisecond}}
	evaluate(cfg, slow, r, faultAt, endAt, 100*time.Millisecond)
	if r.recover != 3*time.Millisecond || len(r.notes) != 1 || !strings.Contains(r.notes[0], "stalled") {
		t.Errorf("slow after the removal during a stall: recover %v, notes %q", r.recover, r.notes)
	}

	failing := netFault{}
	r = &row{seg: segment{firstErr: faultAt + 200*time.Millisecond, lastErr: endAt + 10*time.Millisecond,
		recoveredAt: endAt + 40*time.Millisecond, lastOK: endAt + time.Second}}
	evaluate(cfg, failing, r, faultAt, endAt, 0)
	if r.detect != 200*time.Millisecond || r.recover != 40*time.Millisecond || r.unrecovered != "" {
		t.Errorf("failing fault: detect %v, recover %v, %q", r.detect, r.recover, r.unrecovered)
	}
	r = &row{seg: segment{firstErr: faultAt, lastErr: endAt + time.Second, unrecovered: 3, lastOK: endAt}}
	evaluate(cfg, failing, r, faultAt, endAt, 0)
	if r.hasRecover || !strings.Contains(r.unrecovered, "3 workers") {
		t.Errorf("unrecovered: recover %v, %q", r.hasRecover, r.unrecovered)
	}
}

func TestCheckNet(t *testing.T) {
	cfg := testConfig(t)
	dr := &driver{cfg: cfg}
	const faultAt, endAt = 10 * time.Second, 12 * time.Second
	faults := map[string]netFault{}
	for _, f := range netFaults(cfg) {
		faults[f.name] = f
	}
	healthy := func() *row {
		return &row{gBefore: 7, gAfter: 7, lenMax: cfg.poolSize, hasDetect: true, detect: 50 * time.Millisecond,
			hasRecover: true, recover: 10 * time.Millisecond,
			seg: segment{ok: 1000, errs: 10, maxGet: 600 * time.Millisecond, maxIO: 201 * time.Millisecond, maxReq: 700 * time.Millisecond,
				firstErr: faultAt + 200*time.Millisecond, firstSlow: faultAt + 50*time.Millisecond}}
	}
	for _, tc := range []struct {
		name   string
		fault  string
		change func(*row)
		trip   time.Duration
		probes int64
		want   string // in a violation; "" for none
	}{
		{"blackhole within bounds", "blackhole", nil, 0, 0, ""},
		{"request hung past its I/O deadline", "blackhole", func(r *row) { r.seg.maxIO = cfg.ioTimeout + cfg.slack + time.Millisecond }, 0, 0, "hung past its deadline"},
		{"Get past PoolTimeout and dial", "reset", func(r *row) { r.seg.maxGet = cfg.getBound() + time.Millisecond }, 0, 0, "a Get took"},
		{"goroutines stayed", "reset", func(r *row) { r.gAfter = r.gBefore + cfg.goroutines + 1 }, 0, 0, "goroutines"},
		{"slow recovery", "blackhole", func(r *row) { r.recover = cfg.recoverMax + time.Millisecond }, 0, 0, "recovery took"},
		{"no error in a black hole", "blackhole", func(r *row) { r.seg.errs = 0 }, 0, 0, "no caller saw an error"},
		{"errors under latency", "latency", nil, 0, 0, "callers saw an error"},
		{"latency without effect", "latency", func(r *row) { r.seg.errs, r.seg.firstSlow = 0, 0 }, 0, 0, "had no effect"},
		{"latency within bounds", "latency", func(r *row) { r.seg.errs = 0 }, 0, 0, ""},
		{"breaker never opened", "dialhole", nil, 0, 0, "never opened"},
		{"breaker opened, probe in bounds", "dialhole", nil, faultAt + 260*time.Millisecond, 10, ""},
		{"probe dialing too often", "dialhole", nil, faultAt + 260*time.Millisecond, 40, "dials after the breaker opened"},
		// 1.74 s open: the probe's 2 + 17 and the trip's moment's 15.
		{"probe at its bound", "dialhole", nil, faultAt + 260*time.Millisecond, 34, ""},
		{"probe one past its bound", "dialhole", nil, faultAt + 260*time.Millisecond, 35, "expected at most 34 (2 + one per 100ms)"},
		{"breaker too slow", "dialhole", nil, faultAt + 2*cfg.dialTimeout + cfg.slack + time.Millisecond, 1, "detect took"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			if tc.change != nil {
				tc.change(r)
			}
			dr.checkNet(faults[tc.fault], r, faultAt, endAt, tc.trip, endAt+4*time.Millisecond, tc.probes, 50)
			got := strings.Join(r.violations, "; ")
			if note := "first successful dial 4ms after the toxics were removed"; (tc.trip != 0) != slices.ContainsFunc(r.notes, func(n string) bool { return n == note }) {
				t.Errorf("with trip %v, notes %q: the probe's first success noted only when the breaker opened", tc.trip, r.notes)
			}
			switch {
			case tc.want == "" && got != "":
				t.Errorf("violations: %s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("violations %q, want one with %q", got, tc.want)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	var pts []point
	for i := 1; i <= 50; i++ {
		pts = append(pts, point{at: time.Duration(i) * timelineTick})
	}
	w := window(pts, 1*time.Second, 2*time.Second)
	if len(w) != 11 || w[0].at != time.Second || w[len(w)-1].at != 2*time.Second {
		t.Fatalf("window(1s, 2s): %d points from %v", len(w), w)
	}
	if w := window(pts, 10*time.Second, 11*time.Second); len(w) != 0 {
		t.Errorf("a window past the end has %d points", len(w))
	}
	if w := window(pts, -time.Second, 150*time.Millisecond); len(w) != 1 {
		t.Errorf("a window from before the start has %d points, want 1", len(w))
	}
}

func TestAssignChartsSharesOnePerFault(t *testing.T) {
	rows := []*row{
		{fault: "SIGKILL #1", from: 1 * time.Second, to: 3 * time.Second},
		{fault: "latency +50ms #1", client: ownerShardpool, from: 4 * time.Second, to: 9 * time.Second},
		{fault: "latency +50ms #1", client: ownerGoredis, from: 4 * time.Second, to: 9 * time.Second},
		{fault: "black hole (new dials) #1", from: 9 * time.Second, to: 12 * time.Second},
		{fault: "pool Close"},
	}
	drawn := assignCharts(rows, "out")
	if len(drawn) != 3 {
		t.Fatalf("%d charts, want 3", len(drawn))
	}
	want := []string{"chaos-round-1-sigkill-1.png", "chaos-round-2-latency-50ms-1.png", "chaos-round-2-latency-50ms-1.png",
		"chaos-round-3-black-hole-new-dials-1.png", ""}
	for i, r := range rows {
		w := want[i]
		if w != "" {
			w = filepath.Join("out", w)
		}
		if r.chart != w {
			t.Errorf("row %d (%s): chart %q, want %q", i, r.fault, r.chart, w)
		}
	}
}

func TestParseGoroutines(t *testing.T) {
	profile := `goroutine profile: total 9
3 @ 0x1 0x2
#	0x1	main.(*load).worker+0x1	/x/load.go:1

2 @ 0x1 0x3
# labels: {"side":"go-redis"}
#	0x3	github.com/redis/go-redis/v9.(*Client).Ping+0x1	/x/c.go:1

4 @ 0x1 0x4
# labels: {"side":"toxiproxy"}
#	0x4	github.com/Shopify/toxiproxy/v2.(*ToxicLink).read+0x1	/x/link.go:1
`
	got := parseGoroutines(profile)
	if want := (goroutineCount{shardpool: 3, goredis: 2, toxiproxy: 4}); got != want {
		t.Errorf("parseGoroutines = %+v, want %+v", got, want)
	}
	// The real profile: this goroutine, unlabelled, counts as shardpool's.
	if c := countGoroutines(); c.shardpool < 1 {
		t.Errorf("countGoroutines = %+v", c)
	}
}

func TestGoredisStage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want stage
	}{
		{redis.ErrPoolTimeout, stageGet},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, stageGet},
		{&net.OpError{Op: "read", Err: errors.New("timeout")}, stageIO},
		{fmt.Errorf("wrapped: %w", redis.ErrPoolTimeout), stageGet},
	} {
		if got := goredisStage(tc.err); got != tc.want {
			t.Errorf("goredisStage(%v) = %s, want %s", tc.err, stageNames[got], stageNames[tc.want])
		}
	}
	if classify(redis.ErrPoolTimeout) != classPoolTimeout {
		t.Error("go-redis's pool timeout is not classified as one")
	}
}

// silentServer starts a listener on 127.0.0.1 that accepts connections
// and never answers (the new-dials black hole, or a frozen server), and
// returns its address; the test's cleanup closes it and its connections.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The accepting goroutine owns conns until done is closed.
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 8 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestHandshakeDialFailsAtItsDeadline dials a listener that accepts and
// never answers (the new-dials black hole) through pools whose OnConnect
// is the dialer's with handshake: its PING must give up at the dial's
// deadline (DialTimeout), not the I/O timeout, a cancelled dial at once,
// and both count as failed dials.
func TestHandshakeDialFailsAtItsDeadline(t *testing.T) {
	tcpDial, err := bench.LoopbackDialer(silentServer(t))
	if err != nil {
		t.Fatal(err)
	}
	d := &dialer{dial: tcpDial, ioTimeout: 5 * time.Second, handshake: true, poolSize: 2, t0: time.Now()}
	pool := func(dialTimeout time.Duration) *shardpool.ConnPool {
		p := shardpool.NewConnPool(&shardpool.Options{Dialer: d.Dial, OnConnect: d.OnConnect, PoolSize: 2, DialTimeout: dialTimeout})
		t.Cleanup(func() { p.Close() })
		return p
	}

	start := time.Now()
	_, err = pool(60 * time.Millisecond).Get(context.Background())
	if err == nil || classify(err) != classTimeout || !errors.Is(err, shardpool.ErrOnConnect) {
		t.Fatalf("dial into a black hole: %v, want a timeout of OnConnect", err)
	}
	if took := time.Since(start); took < 40*time.Millisecond || took > 2*time.Second {
		t.Errorf("the dial gave up after %v, want about 60ms (its deadline, not the 5s I/O timeout)", took)
	}

	// A dial bounded by its caller's context only: no deadline, and the
	// cancellation must end the PING.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start = time.Now()
	if _, err := pool(-1).Get(ctx); err == nil {
		t.Fatal("a cancelled dial succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a cancelled dial took %v", took)
	}
	if d.trippedAt.Load() == 0 {
		t.Error("two failed dials with poolSize 2 did not count as the breaker's trip")
	}
}

// TestSettleHalts checks where a halt's failure lands: go-redis's hang is a
// note on its own row and leaves go-redis out of later rounds, never a
// violation of shardpool's; shardpool's hang is a violation of its row and
// ends the run, even when go-redis hung in the same halt.
func TestSettleHalts(t *testing.T) {
	hang := fmt.Errorf("%w: test", errHang)
	for _, tc := range []struct {
		name                   string
		spErr, grErr           error
		wantErr, wantViolation bool
		wantGoredisOut         bool
	}{
		{"go-redis hangs", nil, hang, false, false, true},
		{"shardpool hangs", hang, nil, true, true, false},
		{"both hang", hang, hang, true, true, true},
		{"neither", nil, nil, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dr := &driver{}
			rig := &netRig{rdb: &redis.Client{}}
			rows := []*row{{client: ownerShardpool}, {client: ownerGoredis}}
			err := dr.settleHalts(rig, rows, []halted{{err: tc.spErr}, {err: tc.grErr}})
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			if got := len(rows[0].violations) > 0; got != tc.wantViolation {
				t.Errorf("shardpool's row violated = %v, want %v", got, tc.wantViolation)
			}
			if len(rows[1].violations) > 0 {
				t.Errorf("go-redis's row has violations %v: its rows are reported, not checked", rows[1].violations)
			}
			if rows[1].hung != tc.wantGoredisOut || dr.goredisHung != tc.wantGoredisOut || (rig.rdb == nil) != tc.wantGoredisOut {
				t.Errorf("go-redis left out: row %v, driver %v, rig %v; want %v", rows[1].hung, dr.goredisHung, rig.rdb == nil, tc.wantGoredisOut)
			}
		})
	}
}
