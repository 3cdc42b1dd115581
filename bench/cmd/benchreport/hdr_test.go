package main

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// TestPercentileTicks checks that the HDR chart's percentile labels never
// come closer than a space, however many decades the axis spans, and that
// 0% is a mark without a label (it would crowd 50%).
func TestPercentileTicks(t *testing.T) {
	p := plot.New()
	pt := percentileTicks{style: p.X.Tick.Label, width: chartWidth - vg.Inch}
	gap := pt.style.Width(" ")
	for _, hi := range []float64{10, 1e3, 1.4e7, 1e9, 1e12} {
		ticks := pt.Ticks(1, hi)
		if len(ticks) == 0 || ticks[0].Value != 1 || !ticks[0].IsMinor() {
			t.Errorf("1..%g: first tick %v, want an unlabelled mark at 1 (0%%)", hi, ticks)
		}
		vals, labels := labelled(ticks)
		if len(labels) < 2 || labels[0] != "50%" {
			t.Errorf("1..%g: labels %q, want 50%% and more", hi, labels)
		}
		at := func(i int) vg.Length {
			return pt.width * vg.Length(math.Log10(vals[i])/math.Log10(hi))
		}
		for i := 1; i < len(vals); i++ {
			right := at(i-1) + pt.style.Width(labels[i-1])/2
			left := at(i) - pt.style.Width(labels[i])/2
			if left < right+gap {
				t.Errorf("1..%g: %s and %s overlap", hi, labels[i-1], labels[i])
			}
		}
	}
	// The committed 64x chart's range labels every decade.
	if _, labels := labelled(pt.Ticks(1, 1.4e7)); !slices.Equal(labels, []string{"50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"}) {
		t.Errorf("1..1.4e7: labels %q", labels)
	}
}

// TestHDRChartSaysWhatItPlots checks that the HDR chart's title says it
// plots the runs merged, not the tables' median over runs.
func TestHDRChartSaysWhatItPlots(t *testing.T) {
	h := hdrhistogram.New(1, 60e9, 2)
	for v := int64(1); v <= 1000; v++ {
		_ = h.RecordValue(v * 100)
	}
	p, err := hdrChart(map[string]*hdrhistogram.Histogram{poolShard: h}, "Distribution")
	if err != nil || p == nil {
		t.Fatalf("hdrChart: %v, %v", p, err)
	}
	for _, want := range []string{"merged", "median over runs"} {
		if !strings.Contains(p.Title.Text, want) {
			t.Errorf("title %q lacks %q", p.Title.Text, want)
		}
	}
}
