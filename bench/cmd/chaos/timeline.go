package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
)

// The timeline: the pools' state every tick of the run, so that a kill,
// the breaker opening, the probe and the recovery can be seen in a chart
// instead of read from a table.
//
// It has two sides: shardpool's pool (the one the load of the moment runs
// through; the network-fault rounds switch it to their own pool behind the
// proxy) and, during those rounds, the go-redis client beside it.
//
// Locking: the counters are atomics, written by the workers (requests,
// errors) and by the pool's hooks (dials); each side's mu guards the
// histograms that the workers record into and the sampler swaps each tick;
// the pool a side samples is an atomic pointer, swapped between segments;
// only the sampler's goroutine writes points and mu guards events.

// timelineTick is the timeline's resolution.
const timelineTick = 100 * time.Millisecond

// The timeline's sides.
const (
	sideShardpool = iota
	sideGoredis
	numSides
)

type timeline struct {
	t0 time.Time

	sides           [numSides]side
	dials, dialErrs atomic.Int64 // from Hooks.OnDial
	closes          atomic.Int64 // from Hooks.OnConnClosed

	mu     sync.Mutex
	events []event // guarded by mu

	points []point // the sampler's alone until it stops
	stop   chan struct{}
	done   chan struct{}
}

// side is one client's counters on the timeline.
type side struct {
	reqs, errs atomic.Int64 // requests done and failed

	mu   sync.Mutex
	gets *hdrhistogram.Histogram // guarded by mu: Get latencies this tick
	reqL *hdrhistogram.Histogram // guarded by mu: request latencies this tick

	pool atomic.Pointer[poolSource] // what the sampler reads; nil: not running
}

// poolSource reports a pool's connections held and idle and its waiting
// Gets.
type poolSource func() (held, idle, pending int)

// request records one request's outcome and latencies.
func (s *side) request(res result, req time.Duration) {
	s.reqs.Add(1)
	if res.err != nil {
		s.errs.Add(1)
	}
	s.mu.Lock()
	if res.hasGet {
		bench.Record(s.gets, res.get)
	}
	if res.err == nil || res.st == stageIO {
		bench.Record(s.reqL, req)
	}
	s.mu.Unlock()
}

// watch makes the sampler read src from its next tick (nil: stop reading).
func (s *side) watch(src poolSource) {
	if src == nil {
		s.pool.Store(nil)
		return
	}
	s.pool.Store(&src)
}

// point is the timeline at one tick.
type point struct {
	at                    time.Duration
	sides                 [numSides]sidePoint
	dialPerS, dialErrPerS float64 // shardpool's pool
	closedPerS            float64
}

// sidePoint is one side's figures at one tick.
type sidePoint struct {
	active              bool // a pool was being sampled
	reqPerS, errPerS    float64
	getP99, reqP99      time.Duration
	held, idle, pending int
}

// event is a moment marked on a chart: a fault's start, or its end.
type event struct {
	at    time.Duration
	label string
}

func newTimeline(t0 time.Time) *timeline {
	tl := &timeline{t0: t0, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range tl.sides {
		tl.sides[i].gets = bench.NewLatencyHistogram()
		tl.sides[i].reqL = bench.NewLatencyHistogram()
	}
	return tl
}

// shardpool returns the side of shardpool's pool.
func (tl *timeline) shardpool() *side { return &tl.sides[sideShardpool] }

// goredis returns the side of the go-redis client.
func (tl *timeline) goredis() *side { return &tl.sides[sideGoredis] }

// hooks returns the pool hooks that feed the timeline.
func (tl *timeline) hooks() shardpool.Hooks {
	return shardpool.Hooks{
		OnDial: func(d shardpool.DialInfo) {
			tl.dials.Add(1)
			if d.Err != nil {
				tl.dialErrs.Add(1)
			}
		},
		OnConnClosed: func(shardpool.ClosedInfo) { tl.closes.Add(1) },
	}
}

// poolStats is a poolSource over a shardpool ConnPool.
func poolStats(p *shardpool.ConnPool) poolSource {
	return func() (int, int, int) {
		st := p.Stats()
		return int(st.TotalConns), int(st.IdleConns), int(st.PendingRequests)
	}
}

// mark records a fault's start.
func (tl *timeline) mark(label string) {
	tl.mu.Lock()
	tl.events = append(tl.events, event{time.Since(tl.t0), label})
	tl.mu.Unlock()
}

// run samples the sides' pools every tick until close.
func (tl *timeline) run() {
	defer close(tl.done)
	t := time.NewTicker(timelineTick)
	defer t.Stop()
	var spare [numSides][2]*hdrhistogram.Histogram
	for i := range spare {
		spare[i] = [2]*hdrhistogram.Histogram{bench.NewLatencyHistogram(), bench.NewLatencyHistogram()}
	}
	const nc = 3 + 2*numSides
	var last [nc]int64
	lastAt := time.Since(tl.t0)
	for {
		select {
		case <-tl.stop:
			return
		case <-t.C:
		}
		at := time.Since(tl.t0)
		secs := (at - lastAt).Seconds()
		lastAt = at
		now := [nc]int64{tl.dials.Load(), tl.dialErrs.Load(), tl.closes.Load()}
		for i := range tl.sides {
			now[3+2*i], now[4+2*i] = tl.sides[i].reqs.Load(), tl.sides[i].errs.Load()
		}
		rate := func(i int) float64 { return float64(now[i]-last[i]) / secs }
		pt := point{at: at, dialPerS: rate(0), dialErrPerS: rate(1), closedPerS: rate(2)}
		for i := range tl.sides {
			sd := &tl.sides[i]
			sd.mu.Lock()
			gets, reqL := sd.gets, sd.reqL
			sd.gets, sd.reqL = spare[i][0], spare[i][1]
			sd.mu.Unlock()
			sp := sidePoint{reqPerS: rate(3 + 2*i), errPerS: rate(4 + 2*i),
				getP99: time.Duration(gets.ValueAtQuantile(99)), reqP99: time.Duration(reqL.ValueAtQuantile(99))}
			if src := sd.pool.Load(); src != nil {
				sp.active = true
				sp.held, sp.idle, sp.pending = (*src)()
			}
			pt.sides[i] = sp
			gets.Reset()
			reqL.Reset()
			spare[i] = [2]*hdrhistogram.Histogram{gets, reqL}
		}
		tl.points = append(tl.points, pt)
		last = now
	}
}

func (tl *timeline) close() {
	close(tl.stop)
	<-tl.done
}

// writeCSV writes the points, one line per tick. The go-redis columns are
// empty where that client was not running.
func (tl *timeline) writeCSV(path string) error {
	var b strings.Builder
	b.WriteString("seconds,requests_per_s,errors_per_s,get_p99_ms,held,idle,pending,dials_per_s,dial_errors_per_s,closed_per_s," +
		"request_p99_ms,goredis_requests_per_s,goredis_errors_per_s,goredis_request_p99_ms,goredis_held,goredis_idle,goredis_pending\n")
	msf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for _, p := range tl.points {
		sp, gr := p.sides[sideShardpool], p.sides[sideGoredis]
		fmt.Fprintf(&b, "%.1f,%.0f,%.0f,%.3f,%d,%d,%d,%.0f,%.0f,%.0f,%.3f,", p.at.Seconds(), sp.reqPerS, sp.errPerS,
			msf(sp.getP99), sp.held, sp.idle, sp.pending, p.dialPerS, p.dialErrPerS, p.closedPerS, msf(sp.reqP99))
		if gr.active {
			fmt.Fprintf(&b, "%.0f,%.0f,%.3f,%d,%d,%d\n", gr.reqPerS, gr.errPerS, msf(gr.reqP99), gr.held, gr.idle, gr.pending)
		} else {
			b.WriteString(",,,,,\n")
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// window returns the points from from to to, inclusive.
func window(pts []point, from, to time.Duration) []point {
	lo := sort.Search(len(pts), func(i int) bool { return pts[i].at >= from })
	hi := sort.Search(len(pts), func(i int) bool { return pts[i].at > to })
	return pts[lo:hi]
}

// series is one line of a panel.
type series struct {
	name   string
	side   int
	color  int // plotutil.Color index
	dashed bool
	y      func(sidePoint) float64
}

// msOf converts d to milliseconds, for the charts.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// chartPanels are the panels of every chart: requests and errors per
// second, latency p99, and the pools' connections and waiters. The go-redis
// lines are dashed, in the colour of their shardpool counterpart.
var chartPanels = []struct {
	title, ylabel string
	log           bool // a log scale, from 1: request rates differ by 100× between faults
	lines         []series
}{
	{"requests", "per second (log)", true, []series{
		{"requests/s", sideShardpool, 0, false, func(p sidePoint) float64 { return p.reqPerS }},
		{"errors/s", sideShardpool, 1, false, func(p sidePoint) float64 { return p.errPerS }},
		{"go-redis requests/s", sideGoredis, 0, true, func(p sidePoint) float64 { return p.reqPerS }},
		{"go-redis errors/s", sideGoredis, 1, true, func(p sidePoint) float64 { return p.errPerS }},
	}},
	{"latency", "p99 per 100 ms (ms)", false, []series{
		{"Get p99", sideShardpool, 0, false, func(p sidePoint) float64 { return msOf(p.getP99) }},
		{"request p99", sideShardpool, 2, false, func(p sidePoint) float64 { return msOf(p.reqP99) }},
		{"go-redis request p99", sideGoredis, 2, true, func(p sidePoint) float64 { return msOf(p.reqP99) }},
	}},
	{"pool", "connections, waiting Gets", false, []series{
		{"held", sideShardpool, 0, false, func(p sidePoint) float64 { return float64(p.held) }},
		{"idle", sideShardpool, 1, false, func(p sidePoint) float64 { return float64(p.idle) }},
		{"waiting Gets", sideShardpool, 2, false, func(p sidePoint) float64 { return float64(p.pending) }},
		{"go-redis held", sideGoredis, 0, true, func(p sidePoint) float64 { return float64(p.held) }},
		{"go-redis idle", sideGoredis, 1, true, func(p sidePoint) float64 { return float64(p.idle) }},
		{"go-redis waiting", sideGoredis, 2, true, func(p sidePoint) float64 { return float64(p.pending) }},
	}},
}

// writeChart draws the whole timeline; each fault's start is a grey line.
// The full run's chart also shows the shardpool pool's dials per second.
func (tl *timeline) writeChart(path string) error {
	tl.mu.Lock()
	events := append([]event(nil), tl.events...)
	tl.mu.Unlock()
	return drawChart(path, "", tl.points, events, true)
}

// writeRoundChart draws the timeline from from to to, with marks (the
// fault's start and end) as grey lines.
func (tl *timeline) writeRoundChart(path, title string, from, to time.Duration, marks []event) error {
	return drawChart(path, title, window(tl.points, from, to), marks, false)
}

// drawChart draws pts as three panels over one time axis, titled title
// (if set), with events as labelled grey lines; dials adds the shardpool
// pool's dial rates to the last panel.
func drawChart(path, title string, pts []point, events []event, dials bool) error {
	var active [numSides]bool
	for _, p := range pts {
		for i := range active {
			active[i] = active[i] || p.sides[i].active || p.sides[i].reqPerS > 0
		}
	}
	plots := make([][]*plot.Plot, len(chartPanels))
	for i, pn := range chartPanels {
		p := plot.New()
		p.Title.Text = pn.title
		if i == 0 && title != "" {
			p.Title.Text = title + ": " + pn.title
		}
		p.Y.Label.Text = pn.ylabel
		p.X.Label.Text = "seconds since start"
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(9)
		ymax, ymin := 1.0, 0.0
		if pn.log {
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
			ymin = 1
		}
		add := func(name string, c int, dashed bool, y func(point) (float64, bool)) error {
			var xy plotter.XYs
			for _, pt := range pts {
				if v, ok := y(pt); ok {
					v = max(v, ymin)
					xy = append(xy, plotter.XY{X: pt.at.Seconds(), Y: v})
					ymax = max(ymax, v)
				}
			}
			if len(xy) == 0 {
				return nil
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(c)
			l.Width = vg.Points(1.2)
			if dashed {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(l)
			p.Legend.Add(name, l)
			return nil
		}
		for _, s := range pn.lines {
			if !active[s.side] {
				continue
			}
			name := s.name
			if s.side == sideShardpool && active[sideGoredis] {
				name = "shardpool " + name
			}
			err := add(name, s.color, s.dashed, func(pt point) (float64, bool) {
				sp := pt.sides[s.side]
				return s.y(sp), s.side == sideShardpool || sp.active
			})
			if err != nil {
				return err
			}
		}
		if dials && i == len(chartPanels)-1 {
			if err := add("dials/s", 3, false, func(pt point) (float64, bool) { return pt.dialPerS, true }); err != nil {
				return err
			}
			if err := add("failed dials/s", 4, false, func(pt point) (float64, bool) { return pt.dialErrPerS, true }); err != nil {
				return err
			}
		}
		// Headroom above the data for the legend, which sits at the top
		// right: the data keep the lower 60% of the panel.
		if pn.log {
			p.Y.Max = ymin * math.Pow(ymax/ymin, 1/0.6)
		} else {
			p.Y.Max = ymax / 0.6
		}
		for k, e := range events {
			l, err := plotter.NewLine(plotter.XYs{{X: e.at.Seconds(), Y: ymin}, {X: e.at.Seconds(), Y: ymax}})
			if err != nil {
				return err
			}
			l.Color = color.Gray{Y: 160}
			p.Add(l)
			if i == 0 {
				// Every other label lower, so that two moments close
				// together (a round's toxics and its load resuming)
				// stay readable.
				y := ymax
				if k%2 == 1 {
					y = ymin + (ymax-ymin)*0.3
					if pn.log {
						y = ymin * math.Pow(ymax/ymin, 0.45)
					}
				}
				lb, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: e.at.Seconds(), Y: y}}, Labels: []string{e.label}})
				if err != nil {
					return err
				}
				for k := range lb.TextStyle {
					lb.TextStyle[k].Rotation = -0.6
					lb.TextStyle[k].Font.Size = vg.Points(7)
				}
				p.Add(lb)
			}
		}
		plots[i] = []*plot.Plot{p}
	}
	w, h := 14*vg.Inch, 10*vg.Inch
	if title != "" {
		w, h = 10*vg.Inch, 9*vg.Inch
	}
	img := vgimg.New(w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(chartPanels), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
