package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
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
		if err := savePNG(p, filepath.Join(dir, file)); err != nil {
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
// pool, on log-log axes: x marked at the values measured, y at 1, 2, 5 ×
// 10^k.
func lineChart(sc *Scenario, m Metric, x string, fixed map[string]string, title, xLabel string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel + " (log scale)"
	p.Y.Label.Text = m.Unit + " (median, log scale; lower is better)"
	var xs valueTicks
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, &xs
	logAxis(&p.Y)
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
			if !slices.Contains(xs, xv) {
				xs = append(xs, xv)
			}
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
	snap125(&p.Y)
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
	logAxis(&p.Y)
	p.NominalX("p50", "p99", "p99.9", "max")
	drawn := 0
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
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	snap125(&p.Y)
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
	p.NominalX(groups...)
	p.Add(plotter.NewGrid())
	p.Y.Tick.Marker = linearTicks{}
	p.Y.Min, p.Y.Max = 0, top*1.05
	return p, nil
}

// chartWidth and chartHeight are the size of a chart's plot: its title,
// axes and data. Its legend goes to the right of the plot, outside the
// data, widening the image by the legend's width and two legendGaps.
const (
	chartWidth  = 7.5 * vg.Inch
	chartHeight = 5.5 * vg.Inch
	legendGap   = vg.Length(12)

	// legendFontSize is a point less than gonum/plot's default, to keep
	// the legend's column narrow.
	legendFontSize = vg.Length(11)
)

// savePNG draws p into a PNG file at path: the plot on the left, its legend
// to the right of the data, where it cannot hide a line or a bar, aligned
// with the data's top. A title's first line is drawn in the title's font,
// any further lines (a subtitle) smaller.
func savePNG(p *plot.Plot, path string) error {
	leg, title := p.Legend, p.Title.Text
	p.Legend, p.Title.Text = plot.NewLegend(), ""
	defer func() { p.Legend, p.Title.Text = leg, title }()
	leg.Top, leg.Left = true, true
	leg.XOffs, leg.YOffs = 0, 0
	leg.TextStyle.Font.Size = legendFontSize
	lw := legendWidth(leg)
	w := chartWidth
	if lw > 0 {
		w += lw + 2*legendGap
	}
	img := vgimg.New(w, chartHeight)
	c := draw.New(img)
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
	if title != "" {
		drawTitle(&c, p.Title.TextStyle, p.Title.Padding, title)
	}
	area := draw.Crop(c, 0, chartWidth-w, 0, 0)
	// gonum/plot places a centred axis label at the axis's arithmetic
	// midpoint when it makes room for the label (Axis.GlyphBoxes), which
	// on a log axis lies near the axis's far end: the label's half length
	// then squeezes the data from the top or the right. So the axis labels
	// are drawn here, beside the data, instead.
	xl, yl := p.X.Label, p.Y.Label
	p.X.Label.Text, p.Y.Label.Text = "", ""
	defer func() { p.X.Label.Text, p.Y.Label.Text = xl.Text, yl.Text }()
	inner := area
	if xl.Text != "" {
		inner.Min.Y += xl.TextStyle.Height(xl.Text) + xl.Padding
	}
	if yl.Text != "" {
		inner.Min.X += yl.TextStyle.Height(yl.Text) + yl.TextStyle.FontExtents().Descent + yl.Padding
	}
	p.Draw(inner)
	data := p.DataCanvas(inner)
	if xl.Text != "" {
		descent := xl.TextStyle.FontExtents().Descent
		c.FillText(xl.TextStyle, vg.Point{X: data.Center().X, Y: area.Min.Y + descent}, xl.Text)
	}
	if yl.Text != "" {
		sty := yl.TextStyle
		sty.Rotation += math.Pi / 2
		c.FillText(sty, vg.Point{X: area.Min.X + sty.Height(yl.Text) - sty.FontExtents().Descent, Y: data.Center().Y}, yl.Text)
	}
	if lw > 0 {
		leg.Draw(draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: area.Max.X + legendGap, Y: data.Min.Y},
			Max: vg.Point{X: area.Max.X + legendGap + lw, Y: data.Max.Y},
		}})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// drawTitle draws title's lines at the top of c, centred over the plot
// (the chartWidth on the left) unless a line is too wide for that, which
// then begins near c's left edge, and takes
// their height and pad off c. Lines after the first are drawn two points
// smaller.
func drawTitle(c *draw.Canvas, sty text.Style, pad vg.Length, title string) {
	for i, line := range strings.Split(title, "\n") {
		if i > 0 {
			sty.Font.Size -= 2
		}
		width := sty.Width(line)
		x := max(c.Min.X+chartWidth/2, c.Min.X+legendGap/2+width/2)
		descent := sty.FontExtents().Descent
		c.FillText(sty, vg.Point{X: x, Y: c.Max.Y + descent}, line)
		c.Max.Y -= sty.Height(line)
	}
	c.Max.Y -= pad
}

// legendWidth returns the width of l's entries: 0 if it has none.
func legendWidth(l plot.Legend) vg.Length {
	r := l.Rectangle(draw.Canvas{})
	return r.Max.X - r.Min.X
}

// logAxis sets a to a log scale marked by oneTwoFive.
func logAxis(a *plot.Axis) {
	a.Scale, a.Tick.Marker = plot.LogScale{}, oneTwoFive{}
}

// snap125 widens a log axis's range to the nearest 1, 2 or 5 × 10^k on
// either side, so that it begins and ends on a labelled mark. Call it after
// adding the data.
func snap125(a *plot.Axis) {
	if a.Min > 0 && a.Max >= a.Min {
		a.Min, a.Max = floor125(a.Min), ceil125(a.Max)
	}
}

// tol absorbs rounding in comparing an axis's range with a mark's value.
const tol = 1e-9

// decade returns k such that 10^k <= x < 10^(k+1), x > 0.
func decade(x float64) int { return int(math.Floor(math.Log10(x) + tol)) }

// mark returns m × 10^k, computed so that it prints exactly (3 × 10^-1 is
// 0.3, not 0.30000000000000004).
func mark(m, k int) float64 {
	if k < 0 {
		return float64(m) / math.Pow10(-k)
	}
	return float64(m) * math.Pow10(k)
}

// floor125 returns the largest 1, 2 or 5 × 10^k not above x > 0.
func floor125(x float64) float64 {
	k := decade(x)
	for _, m := range []int{5, 2, 1} {
		if v := mark(m, k); v <= x*(1+tol) {
			return v
		}
	}
	return mark(1, k)
}

// ceil125 returns the smallest 1, 2 or 5 × 10^k not below x > 0.
func ceil125(x float64) float64 {
	k := decade(x)
	for _, m := range []int{1, 2, 5} {
		if v := mark(m, k); v >= x*(1-tol) {
			return v
		}
	}
	return mark(1, k+1)
}

// maxDecades125 is the widest range, in decades, over which oneTwoFive
// labels 2 and 5 × 10^k as well as 10^k; wider, they would crowd the axis.
const maxDecades125 = 8

// oneTwoFive marks a log axis at 1, 2 and 5 × 10^k, labelled, and at the
// other multiples of 10^k (3, 4, 6, 7, 8, 9), unlabelled, so that a value
// can be read off the axis to within a factor of 1.5 or so. Over more than
// maxDecades125 decades it labels only 10^k. A range too narrow for two
// labelled marks gets all its multiples of 10^k labelled, and one too
// narrow even for that linearTicks.
type oneTwoFive struct{}

func (oneTwoFive) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi >= lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	major := func(m int) bool { return m == 1 || m == 2 || m == 5 }
	if math.Log10(hi/lo) > maxDecades125 {
		major = func(m int) bool { return m == 1 }
	}
	ticks, n := logMarks(lo, hi, major)
	if n < 2 {
		ticks, n = logMarks(lo, hi, func(int) bool { return true })
	}
	if n < 2 {
		return linearTicks{}.Ticks(lo, hi)
	}
	return ticks
}

// logMarks returns the marks m × 10^k (m = 1..9) within [lo, hi], labelled
// where major(m), and how many are labelled.
func logMarks(lo, hi float64, major func(m int) bool) ([]plot.Tick, int) {
	var ticks []plot.Tick
	n := 0
	for k := decade(lo); k <= decade(hi); k++ {
		for m := 1; m <= 9; m++ {
			v := mark(m, k)
			if v < lo*(1-tol) || v > hi*(1+tol) {
				continue
			}
			t := plot.Tick{Value: v}
			if major(m) {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
				n++
			}
			ticks = append(ticks, t)
		}
	}
	return ticks, n
}

// valueTicks labels an axis at the given values, those within its range:
// the settings a chart was measured at (GOMAXPROCS 1, 2, 8, 32), which a
// reader looks for on the axis rather than round numbers between them.
type valueTicks []float64

func (vs valueTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for _, v := range vs {
		if v >= lo*(1-tol) && v <= hi*(1+tol) {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
	}
	return ticks
}

// linearTicks marks a linear axis at multiples of a step of 1, 2 or 5 ×
// 10^k, the smallest that gives at most about eight labels (plot's
// DefaultTicks gives three or four), labelled without trailing zeros:
// 20000, not 20000.00.
type linearTicks struct{}

func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	step := ceil125((hi - lo) / 8)
	digits := max(0, -decade(step))
	var ticks []plot.Tick
	for i := math.Ceil(lo/step - tol); i*step <= hi*(1+tol)+tol; i++ {
		v := i * step
		if v == 0 {
			v = 0 // not -0
		}
		label := strconv.FormatFloat(v, 'f', digits, 64)
		if digits > 0 {
			label = strings.TrimSuffix(strings.TrimRight(label, "0"), ".")
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}
