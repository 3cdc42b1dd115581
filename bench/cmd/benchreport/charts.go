package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// style is how the charts draw one pool: the same in every chart, whichever
// pools a chart has, so a colour always means the same pool.
type style struct {
	color  color.Color
	dashes []vg.Length
	shape  draw.GlyphDrawer
}

// styles gives each known pool its style. channel-untimed takes a darker
// shade of channel's colour and a dotted line: the same pool, without the
// wait timer. syncpool, the other lower bound, is grey.
var styles = map[string]style{
	poolShard:          {plotutil.Color(0), nil, draw.RingGlyph{}},
	poolBaseline:       {plotutil.Color(1), []vg.Length{vg.Points(6), vg.Points(2)}, draw.SquareGlyph{}},
	poolPuddle:         {plotutil.Color(2), []vg.Length{vg.Points(5), vg.Points(2), vg.Points(1), vg.Points(2)}, draw.TriangleGlyph{}},
	poolChannel:        {plotutil.Color(3), []vg.Length{vg.Points(10), vg.Points(2), vg.Points(2), vg.Points(2)}, draw.CrossGlyph{}},
	poolChannelUntimed: {color.RGBA{R: 196, G: 98, B: 16, A: 255}, []vg.Length{vg.Points(2), vg.Points(2)}, draw.PyramidGlyph{}},
	poolGoRedis:        {plotutil.Color(4), []vg.Length{vg.Points(10), vg.Points(2), vg.Points(2), vg.Points(2), vg.Points(2), vg.Points(2)}, draw.PlusGlyph{}},
	poolGoRedisV8:      {color.RGBA{R: 0, G: 128, B: 128, A: 255}, []vg.Length{vg.Points(4), vg.Points(4)}, draw.CircleGlyph{}},
	poolGoRedisV9:      {color.RGBA{R: 20, G: 20, B: 20, A: 255}, []vg.Length{vg.Points(8), vg.Points(3)}, draw.PlusGlyph{}},
	poolSync:           {color.RGBA{R: 128, G: 128, B: 128, A: 255}, []vg.Length{vg.Points(1), vg.Points(1)}, draw.BoxGlyph{}},
	poolFloor:          {color.RGBA{R: 128, G: 0, B: 128, A: 255}, []vg.Length{vg.Points(4), vg.Points(2)}, draw.TriangleGlyph{}},
}

// styleOf returns pool's style. A pool without one gets plotutil's last
// colour, which no known pool uses (two unknown pools would share it; add
// them to styles).
func styleOf(pool string) style {
	if st, ok := styles[pool]; ok {
		return st
	}
	return style{plotutil.Color(6), plotutil.Dashes(8), draw.CircleGlyph{}}
}

// addLine adds pool's points to p as a line with markers, in pool's style,
// and to the legend.
func addLine(p *plot.Plot, pool string, pts plotter.XYs) error {
	l, sc, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	st := styleOf(pool)
	l.Color, l.Dashes = st.color, st.dashes
	sc.Color, sc.Shape = st.color, st.shape
	p.Add(l, sc)
	p.Legend.Add(poolInfo(pool).Label, l, sc)
	return nil
}

// addPlainLine adds pool's points to p as a line without markers (for
// dense curves), in pool's style, and to the legend.
func addPlainLine(p *plot.Plot, pool string, pts plotter.XYs) error {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	st := styleOf(pool)
	l.Color, l.Dashes = st.color, st.dashes
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(poolInfo(pool).Label, l)
	return nil
}

// Charts draws the report's charts into dir with gonum/plot and returns
// their file names (relative to dir) by scenario. hdr, if not nil, has the
// exhaustion scenario's histograms, for its percentile plots.
func Charts(ds *Dataset, hdr hdrSet, dir string) (map[string][]string, error) {
	out := map[string][]string{}
	add := func(bench, name string, p *plot.Plot) error {
		if p == nil {
			return nil
		}
		file := name + ".png"
		if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, file)); err != nil {
			return err
		}
		out[bench] = append(out[bench], file)
		return nil
	}
	if sc := ds.Scenarios["HotPathGetPut"]; sc != nil {
		for _, size := range values(sc, "size") {
			p, err := lineChart(sc, nsPerOp, "gomaxprocs", map[string]string{"size": size},
				fmt.Sprintf("Hot path Get+Put, PoolSize %s", size), "GOMAXPROCS (-cpu)")
			if err != nil {
				return nil, err
			}
			if err := add(sc.Name, "hotpath-size"+size, p); err != nil {
				return nil, err
			}
		}
	}
	if sc := ds.Scenarios["ExhaustionWait"]; sc != nil {
		for _, l := range exhaustionLoads(sc) {
			p, err := percentileChart(sc, l.fixed(),
				fmt.Sprintf("Time in the pool per use (Get + Put), %s PoolSize goroutines%s (PoolSize 8)", l.goroutines, l.words()))
			if err != nil {
				return nil, err
			}
			if err := add(sc.Name, "exhaustion-wait-"+l.file(), p); err != nil {
				return nil, err
			}
		}
		for _, l := range exhaustionLoads(sc) {
			if hdr[l] == nil {
				continue
			}
			p, err := hdrChart(hdr[l], fmt.Sprintf("Distribution of time in the pool per use, %s PoolSize goroutines%s", l.goroutines, l.words()))
			if err != nil {
				return nil, err
			}
			if err := add(sc.Name, "exhaustion-hdr-"+l.file(), p); err != nil {
				return nil, err
			}
		}
	}
	if sc := ds.Scenarios["ChurnGetRemove"]; sc != nil {
		p, err := lineChart(sc, nsPerOp, "size", nil, "Churn: Get+Remove (a dial per call)", "PoolSize")
		if err != nil {
			return nil, err
		}
		if err := add(sc.Name, "churn", p); err != nil {
			return nil, err
		}
	}
	if sc := ds.Scenarios["EndToEndRESP"]; sc != nil {
		for _, server := range values(sc, "server") {
			p, err := barChart(sc, opsPerS, "goroutines", map[string]string{"server": server},
				fmt.Sprintf("End to end over TCP (%s server): PING/SET/GET", server), "goroutines")
			if err != nil {
				return nil, err
			}
			if err := add(sc.Name, "e2e-"+server, p); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// values returns the distinct values of key in the scenario, in order.
func values(sc *Scenario, key string) []string {
	var vs []string
	for _, c := range sc.Configs {
		if v := c.Values[key]; !contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return vs
}

// matching returns the configurations that have the values in fixed.
func matching(sc *Scenario, fixed map[string]string) []Config {
	var out []Config
	for _, c := range sc.Configs {
		ok := true
		for k, v := range fixed {
			ok = ok && c.Values[k] == v
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// number parses a configuration value such as "32" or "64x".
func number(s string) (float64, error) { return strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64) }

// lineChart plots the median of m against the numeric key x, a line per
// pool, on log-log axes.
func lineChart(sc *Scenario, m Metric, x string, fixed map[string]string, title, xLabel string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel + " (log scale)"
	p.Y.Label.Text = m.Unit + " (median, log scale; lower is better)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	drawn := 0
	for _, pool := range sortPools(sc.Pools) {
		var pts plotter.XYs
		for _, cfg := range matching(sc, fixed) {
			st, ok := cellFor(sc, cfg, pool, m)
			xv, err := number(cfg.Values[x])
			if !ok || err != nil || st.Summary.Center <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: xv, Y: st.Summary.Center})
		}
		if len(pts) == 0 {
			continue
		}
		if err := addLine(p, pool, pts); err != nil {
			return nil, err
		}
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	return p, nil
}

// percentileChart plots the wait-latency percentiles of each pool at one
// configuration.
func percentileChart(sc *Scenario, fixed map[string]string, title string) (*plot.Plot, error) {
	cfgs := matching(sc, fixed)
	if len(cfgs) == 0 {
		return nil, nil
	}
	ms := []Metric{p50, p99, p999, maxLat}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "Get + Put, ns (median over runs, log scale)"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.NominalX("p50", "p99", "p99.9", "max")
	p.Legend.Top = true
	p.Legend.Left = true
	for _, pool := range sortPools(sc.Pools) {
		var pts plotter.XYs
		for i, m := range ms {
			if st, ok := cellFor(sc, cfgs[0], pool, m); ok && st.Summary.Center > 0 {
				pts = append(pts, plotter.XY{X: float64(i), Y: st.Summary.Center})
			}
		}
		if len(pts) == 0 {
			continue
		}
		if err := addLine(p, pool, pts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// barChart draws grouped bars of the median of m: a group per value of x,
// a bar per pool.
func barChart(sc *Scenario, m Metric, x string, fixed map[string]string, title, xLabel string) (*plot.Plot, error) {
	cfgs := matching(sc, fixed)
	if len(cfgs) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = m.Unit + " (median; higher is better)"
	var groups []string
	for _, c := range cfgs {
		groups = append(groups, c.Values[x])
	}
	var pools []string
	for _, pool := range sortPools(sc.Pools) {
		for _, c := range cfgs {
			if _, ok := cellFor(sc, c, pool, m); ok {
				pools = append(pools, pool)
				break
			}
		}
	}
	w := vg.Points(80 / float64(max(len(pools), 1)))
	top := 0.0
	for i, pool := range pools {
		vals := make(plotter.Values, len(cfgs))
		for j, c := range cfgs {
			if st, ok := cellFor(sc, c, pool, m); ok {
				vals[j] = st.Summary.Center
				top = max(top, vals[j])
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = vg.Length(0)
		bars.Color = styleOf(pool).color
		bars.Offset = w * vg.Length(float64(i)-float64(len(pools)-1)/2)
		p.Add(bars)
		p.Legend.Add(poolInfo(pool).Label, bars)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(groups...)
	p.Add(plotter.NewGrid())
	p.Y.Min, p.Y.Max = 0, top*1.35 // headroom for the legend
	return p, nil
}
