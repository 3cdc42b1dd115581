package main

import (
	"fmt"
	"image/color"
	"os"
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

// The timeline: the pool's state every tick of the run, so that a kill,
// the breaker opening, the probe and the recovery can be seen in a chart
// instead of read from a table.
//
// Locking: the counters are atomics, written by the workers (requests,
// errors) and by the pool's hooks (dials); getMu guards the histogram of
// Get latencies that the workers record into and the sampler swaps each
// tick; only the sampler's goroutine writes points and mu guards events.

// timelineTick is the timeline's resolution.
const timelineTick = 100 * time.Millisecond

type timeline struct {
	t0 time.Time

	reqs, errs      atomic.Int64 // requests done and failed
	dials, dialErrs atomic.Int64 // from Hooks.OnDial
	closes          atomic.Int64 // from Hooks.OnConnClosed

	getMu sync.Mutex
	gets  *hdrhistogram.Histogram // guarded by getMu: Get latencies this tick

	mu     sync.Mutex
	events []event // guarded by mu

	points []point // the sampler's alone until it stops
	stop   chan struct{}
	done   chan struct{}
}

type point struct {
	at                    time.Duration
	reqPerS, errPerS      float64
	getP99                time.Duration
	held, idle, pending   int
	dialPerS, dialErrPerS float64
	closedPerS            float64
}

// event is a fault's start, marked on the chart.
type event struct {
	at    time.Duration
	label string
}

func newTimeline(t0 time.Time) *timeline {
	return &timeline{t0: t0, gets: bench.NewLatencyHistogram(), stop: make(chan struct{}), done: make(chan struct{})}
}

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

// request records one request's outcome and its Get's latency.
func (tl *timeline) request(get time.Duration, err error) {
	tl.reqs.Add(1)
	if err != nil {
		tl.errs.Add(1)
	}
	tl.getMu.Lock()
	bench.Record(tl.gets, get)
	tl.getMu.Unlock()
}

// mark records a fault's start.
func (tl *timeline) mark(label string) {
	tl.mu.Lock()
	tl.events = append(tl.events, event{time.Since(tl.t0), label})
	tl.mu.Unlock()
}

// run samples pool every tick until close.
func (tl *timeline) run(pool *shardpool.ConnPool) {
	defer close(tl.done)
	t := time.NewTicker(timelineTick)
	defer t.Stop()
	next := bench.NewLatencyHistogram()
	var last [5]int64
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
		now := [5]int64{tl.reqs.Load(), tl.errs.Load(), tl.dials.Load(), tl.dialErrs.Load(), tl.closes.Load()}
		rate := func(i int) float64 { return float64(now[i]-last[i]) / secs }
		tl.getMu.Lock()
		gets := tl.gets
		tl.gets = next
		tl.getMu.Unlock()
		st := pool.Stats()
		tl.points = append(tl.points, point{
			at: at, reqPerS: rate(0), errPerS: rate(1),
			getP99: time.Duration(gets.ValueAtQuantile(99)),
			held:   int(st.TotalConns), idle: int(st.IdleConns), pending: int(st.PendingRequests),
			dialPerS: rate(2), dialErrPerS: rate(3), closedPerS: rate(4),
		})
		gets.Reset()
		next = gets
		last = now
	}
}

func (tl *timeline) close() {
	close(tl.stop)
	<-tl.done
}

// writeCSV writes the points, one line per tick.
func (tl *timeline) writeCSV(path string) error {
	var b strings.Builder
	b.WriteString("seconds,requests_per_s,errors_per_s,get_p99_ms,held,idle,pending,dials_per_s,dial_errors_per_s,closed_per_s\n")
	for _, p := range tl.points {
		fmt.Fprintf(&b, "%.1f,%.0f,%.0f,%.3f,%d,%d,%d,%.0f,%.0f,%.0f\n", p.at.Seconds(), p.reqPerS, p.errPerS,
			float64(p.getP99)/float64(time.Millisecond), p.held, p.idle, p.pending, p.dialPerS, p.dialErrPerS, p.closedPerS)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// series is one line of a panel.
type series struct {
	name string
	y    func(point) float64
}

// writeChart draws the timeline as three panels over one time axis:
// requests and errors per second, Get p99, and the pool's connections and
// waiters with dials per second; each fault's start is a grey line.
func (tl *timeline) writeChart(path string) error {
	panels := []struct {
		title, ylabel string
		lines         []series
	}{
		{"requests", "per second", []series{
			{"requests/s", func(p point) float64 { return p.reqPerS }},
			{"errors/s", func(p point) float64 { return p.errPerS }},
		}},
		{"Get latency", "p99 per 100 ms (ms)", []series{
			{"Get p99", func(p point) float64 { return float64(p.getP99) / float64(time.Millisecond) }},
		}},
		{"pool", "connections, Gets, dials/s", []series{
			{"held", func(p point) float64 { return float64(p.held) }},
			{"idle", func(p point) float64 { return float64(p.idle) }},
			{"waiting Gets", func(p point) float64 { return float64(p.pending) }},
			{"dials/s", func(p point) float64 { return p.dialPerS }},
			{"failed dials/s", func(p point) float64 { return p.dialErrPerS }},
		}},
	}
	tl.mu.Lock()
	events := append([]event(nil), tl.events...)
	tl.mu.Unlock()

	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.Y.Label.Text = pn.ylabel
		p.X.Label.Text = "seconds since start"
		p.Legend.Top = true
		ymax := 1.0
		for j, s := range pn.lines {
			pts := make(plotter.XYs, len(tl.points))
			for k, pt := range tl.points {
				pts[k].X, pts[k].Y = pt.at.Seconds(), s.y(pt)
				ymax = max(ymax, pts[k].Y)
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(j)
			l.Dashes = plotutil.Dashes(j)
			p.Add(l)
			p.Legend.Add(s.name, l)
		}
		for _, e := range events {
			l, err := plotter.NewLine(plotter.XYs{{X: e.at.Seconds(), Y: 0}, {X: e.at.Seconds(), Y: ymax}})
			if err != nil {
				return err
			}
			l.Color = color.Gray{Y: 160}
			p.Add(l)
			if i == 0 {
				lb, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: e.at.Seconds(), Y: ymax}}, Labels: []string{e.label}})
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
	const w, h = 14 * vg.Inch, 10 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter}
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
