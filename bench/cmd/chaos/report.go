package main

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardpool/shardpool"
)

// row is one line of the results table: one fault and what it did.
type row struct {
	fault                 string
	detectLabel           string
	recoverLabel          string
	detect, recover       time.Duration
	hasDetect, hasRecover bool
	gBefore, gAfter, gMax int
	lenBefore, lenAfter   int
	lenMax                int
	heapBefore, heapAfter uint64
	seg                   segment
	ref                   time.Duration // the fault's moment, for the details
	refName               string
	stall                 time.Duration // longest gap between sampler ticks
	notes                 []string
	violations            []string

	// client is whose row it is: shardpool's (empty in the rows of the
	// faults to the server itself) or go-redis's, beside it in the
	// network-fault rounds, which set netFault.
	client   string
	netFault bool
	// from and to are the row's window of the timeline, marks the
	// moments drawn in its chart, chart the chart's file.
	from, to    time.Duration
	marks       []event
	chart       string
	unrecovered string // why recover is unset, in a network fault
	hung        bool   // go-redis's workers hung past the bound
}

func (r *row) violate(msg string) { r.violations = append(r.violations, msg) }

// sampler watches the goroutine count and the pool's Len every 5 ms, to
// catch growth that is gone again by the time a fault's "after" is taken.
type sampler struct {
	pool  atomic.Pointer[shardpool.ConnPool]
	other atomic.Pointer[redis.Client] // the go-redis client, in the network rounds
	mu    sync.Mutex
	gMax  int
	lMax  int
	oMax  int           // the largest go-redis TotalConns
	gap   time.Duration // longest time between two samples
	last  time.Time
	stop  chan struct{}
	done  chan struct{}
	limit int // samples at most, so the loop is bounded by count too
}

func startSampler() *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{}), limit: 10_000_000}
	go s.run()
	return s
}

func (s *sampler) run() {
	defer close(s.done)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for range s.limit {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		g, l, o := runtime.NumGoroutine(), 0, 0
		if p := s.pool.Load(); p != nil {
			l = p.Len()
		}
		if c := s.other.Load(); c != nil {
			o = int(c.PoolStats().TotalConns)
		}
		now := time.Now()
		s.mu.Lock()
		s.gMax, s.lMax, s.oMax = max(s.gMax, g), max(s.lMax, l), max(s.oMax, o)
		if !s.last.IsZero() {
			s.gap = max(s.gap, now.Sub(s.last))
		}
		s.last = now
		s.mu.Unlock()
	}
}

func (s *sampler) watch(p *shardpool.ConnPool) { s.pool.Store(p) }

// watchOther makes the sampler watch a go-redis client's connections too
// (nil: none).
func (s *sampler) watchOther(c *redis.Client) { s.other.Store(c) }

func (s *sampler) resetMax() {
	s.mu.Lock()
	s.gMax, s.lMax, s.oMax, s.gap, s.last = 0, 0, 0, 0, time.Time{}
	s.mu.Unlock()
}

// maxOther returns the largest go-redis TotalConns seen since resetMax.
func (s *sampler) maxOther() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oMax
}

// max returns the largest goroutine count and pool Len seen since resetMax,
// and the longest gap between two samples: a stall of the whole process
// (CPU starvation, a GC pause) shows up there.
func (s *sampler) max() (goroutines, poolLen int, gap time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gMax, s.lMax, s.gap
}

func (s *sampler) close() {
	close(s.stop)
	<-s.done
}

// ms formats d in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// report renders the results table and the details of each fault. charts
// maps a row's chart file to how the report links it (relative to the
// report's directory); rows without one get no link.
func (dr *driver) report(elapsed time.Duration, fatal error, charts map[string]string) string {
	cfg := dr.cfg
	header := []string{"fault", "client", "detect", "recover", "errors", "ok", "max Get", "max request",
		"goroutines before→after (max)", "open conns before→after (max)", "live heap KiB before→after", "result"}
	if len(charts) > 0 {
		header = append(header, "chart")
	}
	table := [][]string{header}
	failed := fatal != nil
	faults, netRows := 0, 0
	for _, r := range dr.rows {
		detect, recover := "—", "—"
		if r.hasDetect {
			detect = ms(r.detect)
		}
		if r.hasRecover {
			recover = ms(r.recover)
		}
		result := "ok"
		switch {
		case len(r.violations) > 0:
			result, failed = "FAIL", true
		case r.client == ownerGoredis && r.hung:
			result = "HANG (reported)"
		case r.client == ownerGoredis:
			result = "reported"
		}
		client := r.client
		if client == "" {
			client = ownerShardpool
		}
		var cells []string
		switch {
		case r.fault == "pool Close":
			cells = []string{r.fault, client, "—", "—", "—", "—", "—", "—",
				fmt.Sprintf("%d→%d", r.gBefore, r.gAfter), fmt.Sprintf("%d→%d", r.lenBefore, r.lenAfter), "—", result}
		case r.netFault:
			netRows++
			maxGet, heap := ms(r.seg.maxGet), fmt.Sprintf("%d→%d", r.heapBefore>>10, r.heapAfter>>10)
			if r.client == ownerGoredis {
				maxGet, heap = "n/a", "—"
			} else {
				faults++
			}
			cells = []string{r.fault, client, detect, recover,
				fmt.Sprint(r.seg.errs), fmt.Sprint(r.seg.ok), maxGet, ms(r.seg.maxReq),
				fmt.Sprintf("%d→%d", r.gBefore, r.gAfter),
				fmt.Sprintf("%d→%d (%d)", r.lenBefore, r.lenAfter, r.lenMax),
				heap, result}
		default:
			faults++
			cells = []string{
				r.fault, client, detect, recover,
				fmt.Sprint(r.seg.errs), fmt.Sprint(r.seg.ok),
				ms(r.seg.maxGet), ms(r.seg.maxReq),
				fmt.Sprintf("%d→%d (%d)", r.gBefore, r.gAfter, r.gMax),
				fmt.Sprintf("%d→%d (%d)", r.lenBefore, r.lenAfter, r.lenMax),
				fmt.Sprintf("%d→%d", r.heapBefore>>10, r.heapAfter>>10),
				result,
			}
		}
		if len(charts) > 0 {
			link := "—"
			if c, ok := charts[r.chart]; ok && r.chart != "" {
				link = fmt.Sprintf("[png](%s)", c)
			}
			cells = append(cells, link)
		}
		table = append(table, cells)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## shardpool chaos against redis-server (%s)\n\n", map[bool]string{true: "short", false: "default"}[cfg.short])
	health := "HealthCheckIdle " + cfg.effectiveHealthIdle().String()
	if cfg.healthIdle < 0 {
		health = "health checks off"
	}
	fmt.Fprintf(&b, "%d workers, PoolSize %d, PoolTimeout %v, DialTimeout %v, I/O deadline %v, %s; bounds: Get %v, request %v, recovery %v, goroutine growth %d, heap growth %d MiB.\n\n",
		cfg.workers, cfg.poolSize, cfg.poolTimeout, cfg.dialTimeout, cfg.ioTimeout, health, cfg.getBound(), cfg.reqBound(), cfg.recoverMax, cfg.goroutines, cfg.heapMiB)
	if netRows > 0 {
		fmt.Fprintf(&b, "Network faults go through toxiproxy (in-process, 127.0.0.1), one proxy per client, the same toxics added to both at once; "+
			"%d workers on each client. shardpool's OnConnect PINGs each new connection within DialTimeout (a failed PING fails the dial); go-redis v9 has the same PoolSize "+
			"(and MaxActiveConns), PoolTimeout, DialTimeout, Read/WriteTimeout = the I/O deadline, MaxRetries -1 and DialerRetries 1. "+
			"Their rows are reported, not checked against the bounds (its Get latency is not visible through its API: n/a); "+
			"goroutines there are each client's own (pprof labels), toxiproxy's left out; the live heap is the whole process's and is not bounded. "+
			"A network fault's I/O bound: the I/O deadline + slack = %v. Errors count failed requests: with its dial-error breaker open, shardpool fails each Get at once "+
			"and its workers try again %v later, so in an outage it counts far more errors than go-redis, whose callers each wait out a read timeout "+
			"(go-redis v9's breaker counts failed connects only; its handshake runs after its pool's dialer, and toxiproxy accepts every connect); "+
			"compare detect and recover.\n\n", cfg.workers, cfg.ioTimeout+cfg.slack, errPause)
	}
	writeTable(&b, table)

	b.WriteString("\nDetails (detect and recover are measured from the event named):\n\n")
	embedded := map[string]bool{}
	for _, r := range dr.rows {
		fmt.Fprintf(&b, "- %s", r.fault)
		if r.client == ownerGoredis {
			b.WriteString(" (go-redis)")
		}
		if r.detectLabel != "" {
			fmt.Fprintf(&b, ": detect = %s; recover = %s", r.detectLabel, r.recoverLabel)
		}
		b.WriteString("\n")
		if r.fault != "pool Close" {
			if kinds := errorKinds(r.seg); kinds != "" {
				fmt.Fprintf(&b, "  - errors: %s\n", kinds)
			}
			if r.client == ownerGoredis {
				fmt.Fprintf(&b, "  - request p99 %s, max %s\n", ms(r.seg.p99Req), ms(r.seg.maxReq))
			} else {
				fmt.Fprintf(&b, "  - Get p99 %s, max %s; request p99 %s, max %s\n", ms(r.seg.p99Get), ms(r.seg.maxGet), ms(r.seg.p99Req), ms(r.seg.maxReq))
			}
			if r.refName != "" {
				if r.client != ownerGoredis {
					fmt.Fprintf(&b, "  - slowest Get: %s\n", r.seg.slowGet.describe(r.ref, r.refName))
				}
				if r.seg.slowReq.took > 0 {
					fmt.Fprintf(&b, "  - slowest request: %s\n", r.seg.slowReq.describe(r.ref, r.refName))
				}
			}
			if r.client != ownerGoredis {
				fmt.Fprintf(&b, "  - longest stall of the driver (gap between 5 ms samples): %s\n", ms(r.stall))
			}
			if r.client == ownerGoredis && r.unrecovered != "" {
				fmt.Fprintf(&b, "  - not recovered: %s\n", r.unrecovered)
			}
		}
		for _, n := range r.notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
		for _, v := range r.violations {
			fmt.Fprintf(&b, "  - VIOLATION: %s\n", v)
		}
		if c, ok := charts[r.chart]; ok && r.chart != "" && !embedded[r.chart] {
			embedded[r.chart] = true
			fmt.Fprintf(&b, "\n  ![%s](%s)\n\n", r.fault, c)
		}
	}
	verdict := "PASS"
	if failed {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "\n%s: %d requests, %d faults injected, %v.\n", verdict, dr.ops, faults, elapsed.Round(100*time.Millisecond))
	if fatal != nil {
		fmt.Fprintf(&b, "The run stopped early: %v\n", fatal)
	}
	return b.String()
}

// errorKinds lists a segment's errors by stage and kind, with one message
// of each kind.
func errorKinds(s segment) string {
	var parts []string
	for st := range numStages {
		for c := range numClasses {
			if n := s.kinds[st][c]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %s ×%d (%q)", stageNames[st], classNames[c], n, shorten(s.sample[st][c], 90)))
			}
		}
	}
	return strings.Join(parts, ", ")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// writeTable writes rows as a Markdown table with aligned columns.
func writeTable(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			fmt.Fprintf(b, " %s%s |", c, strings.Repeat(" ", widths[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
}
