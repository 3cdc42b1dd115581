package main

import (
	"fmt"
	"math"

	"golang.org/x/perf/benchmath"
)

// All statistics come from benchmath, the library behind benchstat: the
// median and its 95% confidence interval, and the Mann-Whitney U test for
// differences (benchstat's defaults).

var thresholds = benchmath.DefaultThresholds

const confidence = 0.95

// Stat is the summary of one sample.
type Stat struct {
	Sample  *benchmath.Sample
	Summary benchmath.Summary
	Unit    string
}

// summarize returns the summary of values, or ok=false if there are none.
func summarize(values []float64, unit string) (Stat, bool) {
	if len(values) == 0 {
		return Stat{}, false
	}
	s := benchmath.NewSample(append([]float64(nil), values...), &thresholds)
	return Stat{Sample: s, Summary: benchmath.AssumeNothing.Summary(s, confidence), Unit: unit}, true
}

// String formats the median and its confidence interval, as benchstat does.
func (s Stat) String() string {
	r := s.Summary.PctRangeString()
	switch {
	case len(s.Sample.Values) == 1:
		return humanValue(s.Summary.Center, s.Unit) + " (one run)"
	case r != "∞" && r != "?":
		r = "±" + r
	}
	return humanValue(s.Summary.Center, s.Unit) + " " + r
}

// Versus is how x compares with a reference y.
type Versus struct {
	Ratio       float64 // x's median / y's median
	Cmp         benchmath.Comparison
	Significant bool // the U test rejects "same distribution" at alpha
	Better      bool // x is better than y (by median; meaningful if Significant)
}

// versus compares x with ref; higherBetter tells the direction of the metric.
func versus(x, ref Stat, higherBetter bool) Versus {
	cmp := benchmath.AssumeNothing.Compare(ref.Sample, x.Sample)
	v := Versus{Ratio: x.Summary.Center / ref.Summary.Center, Cmp: cmp, Significant: cmp.P < cmp.Alpha}
	if higherBetter {
		v.Better = x.Summary.Center > ref.Summary.Center
	} else {
		v.Better = x.Summary.Center < ref.Summary.Center
	}
	return v
}

// String formats the ratio and benchstat's p-value, or "~" when the
// difference is not significant.
func (v Versus) String() string {
	if math.IsNaN(v.Ratio) || math.IsInf(v.Ratio, 0) {
		return "n/a"
	}
	if !v.Significant {
		return fmt.Sprintf("~ (%s)", v.Cmp)
	}
	return fmt.Sprintf("**%s×** (%s)", ratioString(v.Ratio), v.Cmp)
}

// Factor is how many times better or worse, always >= 1.
func (v Versus) Factor() float64 {
	if v.Ratio < 1 {
		return 1 / v.Ratio
	}
	return v.Ratio
}

// ratioString prints a ratio for a table: two decimals, three below 0.1,
// "<0.001" below that (a "1/29401" reads as a typo), whole numbers from 10.
func ratioString(r float64) string {
	switch {
	case r < 0.001:
		return "<0.001"
	case r < 0.1:
		return fmt.Sprintf("%.3f", r)
	case r >= 10:
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.2f", r)
}
