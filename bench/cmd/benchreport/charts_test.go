package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgimg"
)

// labelled returns the values of the labelled ticks and their labels.
func labelled(ticks []plot.Tick) (vals []float64, labels []string) {
	for _, t := range ticks {
		if !t.IsMinor() {
			vals = append(vals, t.Value)
			labels = append(labels, t.Label)
		}
	}
	return vals, labels
}

// minor returns the values of the unlabelled ticks.
func minor(ticks []plot.Tick) []float64 {
	var vals []float64
	for _, t := range ticks {
		if t.IsMinor() {
			vals = append(vals, t.Value)
		}
	}
	return vals
}

func TestOneTwoFive(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		labels []string
		minor  []float64
	}{
		{5, 300, []string{"5", "10", "20", "50", "100", "200"},
			[]float64{6, 7, 8, 9, 30, 40, 60, 70, 80, 90, 300}},
		// the hot path's range after snap125: 23 and 44 fall between
		// labels a factor of 2 or 2.5 apart, with marks at 30 and 40.
		{5, 2000, []string{"5", "10", "20", "50", "100", "200", "500", "1000", "2000"}, nil},
		{0.05, 2, []string{"0.05", "0.1", "0.2", "0.5", "1", "2"}, nil},
		// too narrow for two of 1, 2, 5: every multiple of 10^k labelled.
		{23, 44, []string{"30", "40"}, nil},
		// wider than maxDecades125: only the powers of ten.
		{0.01, 1e7, []string{"0.01", "0.1", "1", "10", "100", "1000", "10000", "100000", "1000000", "10000000"}, nil},
	} {
		ticks := oneTwoFive{}.Ticks(tc.lo, tc.hi)
		_, labels := labelled(ticks)
		if !slices.Equal(labels, tc.labels) {
			t.Errorf("%g..%g: labels %q, want %q", tc.lo, tc.hi, labels, tc.labels)
		}
		if tc.minor != nil && !slices.Equal(minor(ticks), tc.minor) {
			t.Errorf("%g..%g: minor ticks %v, want %v", tc.lo, tc.hi, minor(ticks), tc.minor)
		}
		for _, tk := range ticks {
			if tk.Value < tc.lo*(1-tol) || tk.Value > tc.hi*(1+tol) {
				t.Errorf("%g..%g: tick %g out of range", tc.lo, tc.hi, tk.Value)
			}
		}
	}
	// A range with no multiple of 10^k at all still gets two labels.
	if _, labels := labelled(oneTwoFive{}.Ticks(23, 24)); len(labels) < 2 {
		t.Errorf("23..24: labels %q, want at least two", labels)
	}
}

func TestSnap125(t *testing.T) {
	for _, tc := range []struct{ x, floor, ceil float64 }{
		{9.3, 5, 10},
		{1150, 1000, 2000},
		{1000, 1000, 1000},
		{0.09, 0.05, 0.1},
		{3, 2, 5},
		{520000, 500000, 1000000},
	} {
		if got := floor125(tc.x); got != tc.floor {
			t.Errorf("floor125(%g) = %g, want %g", tc.x, got, tc.floor)
		}
		if got := ceil125(tc.x); got != tc.ceil {
			t.Errorf("ceil125(%g) = %g, want %g", tc.x, got, tc.ceil)
		}
	}
	a := plot.New().Y
	a.Min, a.Max = 9.3, 1150
	snap125(&a)
	if a.Min != 5 || a.Max != 2000 {
		t.Errorf("snap125(9.3..1150) = %g..%g, want 5..2000", a.Min, a.Max)
	}
}

func TestLinearTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		labels []string
	}{
		{0, 62000, []string{"0", "10000", "20000", "30000", "40000", "50000", "60000"}},
		{0, 1, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
		{-0.3, 0.3, []string{"-0.3", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3"}},
	} {
		if _, labels := labelled(linearTicks{}.Ticks(tc.lo, tc.hi)); !slices.Equal(labels, tc.labels) {
			t.Errorf("%g..%g: labels %q, want %q", tc.lo, tc.hi, labels, tc.labels)
		}
	}
}

func TestValueTicks(t *testing.T) {
	vals, labels := labelled(valueTicks{1, 2, 8, 32, 64}.Ticks(1, 32))
	if !slices.Equal(vals, []float64{1, 2, 8, 32}) || !slices.Equal(labels, []string{"1", "2", "8", "32"}) {
		t.Errorf("ticks %v %q, want 1 2 8 32", vals, labels)
	}
}

// TestSavePNGLegendOutside checks that savePNG puts the legend beside the
// plot, widening the image, and leaves the plot's legend, title and axis
// labels as they were.
func TestSavePNGLegendOutside(t *testing.T) {
	p := plot.New()
	p.Title.Text = "title\nsubtitle"
	p.X.Label.Text, p.Y.Label.Text = "x", "y"
	logAxis(&p.Y)
	if err := addLine(p, poolShard, plotter.XYs{{X: 1, Y: 23}, {X: 2, Y: 44}}); err != nil {
		t.Fatal(err)
	}
	snap125(&p.Y)
	path := filepath.Join(t.TempDir(), "c.png")
	if err := savePNG(p, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	px := func(l vg.Length) int { return int(math.Ceil(l.Dots(vgimg.DefaultDPI))) }
	leg := p.Legend
	leg.TextStyle.Font.Size = legendFontSize
	if want := px(chartWidth + legendWidth(leg) + 2*legendGap); cfg.Width < want-1 || cfg.Height != px(chartHeight) {
		t.Errorf("image %dx%d, want at least %d wide (plot and legend) and %d high", cfg.Width, cfg.Height, want, px(chartHeight))
	}
	if p.Title.Text != "title\nsubtitle" || p.X.Label.Text != "x" || p.Y.Label.Text != "y" || legendWidth(p.Legend) == 0 {
		t.Errorf("savePNG changed the plot: title %q, labels %q %q", p.Title.Text, p.X.Label.Text, p.Y.Label.Text)
	}
}
