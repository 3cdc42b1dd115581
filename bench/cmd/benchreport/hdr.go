package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// The exhaustion scenario logs every run's latency histogram (bench.SaveHistogram,
// HdrHistogram's interval log format, tagged with the benchmark's name). The
// report merges each pool's runs at each goroutine count and draws the
// classic HDR percentile plot: latency against percentile, the percentile
// axis stretched as 1/(1-q) on a log scale, so that the tail (99%, 99.9%,
// ...) gets as much room as the body.

// hdrSet is the merged histograms of the exhaustion scenario, by load and
// pool.
type hdrSet map[exhaustionLoad]map[string]*hdrhistogram.Histogram

// exhaustionLoad is one load of the exhaustion scenario: its goroutine
// count (4x) and its caller (spins, yields; "" in runs from before the
// caller key).
type exhaustionLoad struct{ goroutines, caller string }

// fixed selects the load's configurations.
func (l exhaustionLoad) fixed() map[string]string {
	return map[string]string{"goroutines": l.goroutines, "caller": l.caller}
}

// words describes the load in a chart title.
func (l exhaustionLoad) words() string {
	switch l.caller {
	case "yields":
		return ", callers yielding after each Put"
	case "io":
		return ", callers holding connections across a loopback round trip"
	}
	return ""
}

// file is the load's part of a chart's file name: 16x, 16x-yields.
func (l exhaustionLoad) file() string {
	if l.caller == "" || l.caller == "spins" {
		return l.goroutines
	}
	return l.goroutines + "-" + l.caller
}

// exhaustionLoads returns the loads of the exhaustion scenario, in order.
func exhaustionLoads(sc *Scenario) []exhaustionLoad {
	var out []exhaustionLoad
	for _, c := range sc.Configs {
		l := exhaustionLoad{c.Values["goroutines"], c.Values["caller"]}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// calibrationShare is the fraction of a benchmark's largest run below
// which a run counts as one of go test's short calibration runs (b.N = 1,
// 100, ... before the timed run) and is left out of the merge. A later
// calibration run with more than that share is a measurement of the same
// load, only shorter (at -benchtime 500ms, 50 ms or more), and is kept.
const calibrationShare = 0.1

// loadHDR reads interval logs and merges, per benchmark name, the runs that
// are not calibration runs.
func loadHDR(paths []string) (hdrSet, error) {
	byTag := map[string][]*hdrhistogram.Histogram{}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		rd := hdrhistogram.NewHistogramLogReader(f)
		for {
			h, err := rd.NextIntervalHistogram()
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if h == nil {
				break
			}
			byTag[h.Tag()] = append(byTag[h.Tag()], h)
		}
		f.Close()
	}
	set := hdrSet{}
	for tag, hs := range byTag {
		pool, load, ok := parseHDRTag(tag)
		if !ok {
			continue
		}
		var largest int64
		for _, h := range hs {
			largest = max(largest, h.TotalCount())
		}
		merged := hdrhistogram.New(hs[0].LowestTrackableValue(), hs[0].HighestTrackableValue(), int(hs[0].SignificantFigures()))
		for _, h := range hs {
			if float64(h.TotalCount()) >= calibrationShare*float64(largest) {
				merged.Merge(h)
			}
		}
		if set[load] == nil {
			set[load] = map[string]*hdrhistogram.Histogram{}
		}
		set[load][pool] = merged
	}
	return set, nil
}

// parseHDRTag reads pool=, goroutines= and caller= from a benchmark name
// such as BenchmarkExhaustionWait/pool=shardpool/size=8/goroutines=4x/caller=spins.
func parseHDRTag(tag string) (pool string, load exhaustionLoad, ok bool) {
	for _, part := range strings.Split(tag, "/") {
		k, v, found := strings.Cut(part, "=")
		switch {
		case !found:
		case k == "pool":
			pool = v
		case k == "goroutines":
			load.goroutines = v
		case k == "caller":
			load.caller = v
		}
	}
	return pool, load, pool != "" && load.goroutines != ""
}

// percentileTicks marks the 1/(1-q) axis at 0%, 50%, 90%, 99%, 99.9%, ...
// and labels them, from 50% on, where their labels do not come closer
// than a space to the last label drawn, given the labels' style and the
// axis's width; the rest stay unlabelled marks. 0% is never labelled: it
// is the axis's left end, a third of a decade from 50%, and its label
// would crowd 50%'s.
type percentileTicks struct {
	style text.Style // the tick labels' style
	width vg.Length  // the axis's width, at least roughly
}

func (pt percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	lastRight := vg.Length(math.Inf(-1))
	gap := pt.style.Width(" ")
	add := func(x float64, label string) {
		if x < lo*(1-tol) || x > hi*(1+tol) {
			return
		}
		if label != "" && hi > lo {
			at := pt.width * vg.Length(math.Log10(x/lo)/math.Log10(hi/lo))
			half := pt.style.Width(label) / 2
			if at-half < lastRight+gap {
				label = ""
			} else {
				lastRight = at + half
			}
		}
		ticks = append(ticks, plot.Tick{Value: x, Label: label})
	}
	add(1, "")
	add(2, "50%")
	for k := 1; k <= 12; k++ {
		x := math.Pow(10, float64(k))
		add(x, percentileLabel(1-1/x))
	}
	return ticks
}

// percentileLabel formats quantile q as 99.9%.
func percentileLabel(q float64) string {
	s := fmt.Sprintf("%.10f", 100*q)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// hdrChart draws one goroutine count's percentile plot: a line per pool,
// latency in µs on a log scale. It plots each pool's runs merged into one
// histogram, which is not what the report's tables quote (the median over
// runs of each run's percentile), and says so under its title.
func hdrChart(byPool map[string]*hdrhistogram.Histogram, title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title + "\n" + hdrSubtitle
	p.X.Label.Text = "percentile (log scale of 1/(1-q); the left end is 0%)"
	p.Y.Label.Text = "Get + Put, µs (log scale; lower is better)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{style: p.X.Tick.Label, width: chartWidth - vg.Inch}
	logAxis(&p.Y)
	p.Add(plotter.NewGrid())
	var pools []string
	for pool := range byPool {
		pools = append(pools, pool)
	}
	drawn := 0
	for _, pool := range sortPools(pools) {
		pts := percentilePoints(byPool[pool])
		if len(pts) < 2 {
			continue
		}
		if err := addPlainLine(p, pool, pts); err != nil {
			return nil, err
		}
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	snap125(&p.Y)
	return p, nil
}

// hdrSubtitle says what an HDR chart plots, which differs from what the
// tables beside it quote.
const hdrSubtitle = "All runs merged into one histogram per pool; the tables give the median over runs of each run's percentile."

// percentilePoints samples h at quantiles evenly spaced on the 1/(1-q)
// log axis, 20 per decade, as far as h has samples for (1/(1-q) <= count),
// then its maximum.
func percentilePoints(h *hdrhistogram.Histogram) plotter.XYs {
	var pts plotter.XYs
	n := float64(h.TotalCount())
	for k := 0; ; k++ {
		x := math.Pow(10, float64(k)/20)
		if x > n {
			break
		}
		q := 1 - 1/x
		v := float64(h.ValueAtQuantile(100*q)) / 1e3
		pts = append(pts, plotter.XY{X: x, Y: max(v, 1e-3)})
	}
	if len(pts) > 0 {
		pts = append(pts, plotter.XY{X: n, Y: max(float64(h.Max())/1e3, 1e-3)})
	}
	return pts
}
