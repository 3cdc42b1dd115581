package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// The CPU-speed probe times a fixed busy loop a few times. scripts/bench.sh
// runs it just before the benchmarks and just after them and records both
// in machine.txt, beside the load average; the report shows them in its
// header and compares them, so that a run during which the shared machine
// slowed down says so instead of passing its slow figures off as results.

const (
	// probeIters is the work of one timed run: about 60 ms on a current
	// x86-64 core (a 64-bit multiply and an add per step, each step
	// depending on the last, so about 4 cycles a step).
	probeIters = 50_000_000
	// probeRuns is how many timed runs a probe makes.
	probeRuns = 5
	// probeUnit is the unit of a probe's result: lower is faster.
	probeUnit = "ns/iter"
	// probeKey starts the machine.txt key of a probe: "CPU probe before",
	// "CPU probe after".
	probeKey = "CPU probe"
	// probeWarn is the change between the probes before and after, or the
	// spread within one, beyond which the report warns that the machine's
	// speed changed during the run.
	probeWarn = 0.10
)

// probeSink keeps the loop's result alive, so the compiler cannot drop it.
var probeSink atomic.Uint64

// probeLoop runs n steps of a linear congruential generator: pure register
// arithmetic, with no memory traffic and no allocation, each step waiting
// for the last, so that its time follows the core's speed alone.
//
//go:noinline
func probeLoop(n int) uint64 {
	x := uint64(n)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// Probe is the result of one probe: the time per iteration of each run.
type Probe struct {
	Iters     int       // iterations per run
	NsPerIter []float64 // one per run, in run order
}

// runProbe times runs runs of iters iterations of probeLoop, after an
// untimed warm-up run of a quarter of that (which lets an idle core clock
// up).
func runProbe(runs, iters int) Probe {
	probeSink.Add(probeLoop(iters / 4))
	p := Probe{Iters: iters}
	for range runs {
		t0 := time.Now()
		probeSink.Add(probeLoop(iters))
		p.NsPerIter = append(p.NsPerIter, float64(time.Since(t0).Nanoseconds())/float64(iters))
	}
	return p
}

// Median returns the median time per iteration (0 for no runs).
func (p Probe) Median() float64 {
	if len(p.NsPerIter) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(p.NsPerIter))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Spread returns (max-min)/median over the runs: how steady the machine
// was during the probe itself.
func (p Probe) Spread() float64 {
	m := p.Median()
	if m == 0 {
		return 0
	}
	return (slices.Max(p.NsPerIter) - slices.Min(p.NsPerIter)) / m
}

// String formats the probe for machine.txt. It starts with the median in
// probeUnit, which parseProbe reads back, and ends with the spread:
//
//	1.302 ns/iter (median of 5 runs of 50M iterations, 65 ms each; min 1.299, max 1.351, spread 4.0%)
func (p Probe) String() string {
	if len(p.NsPerIter) == 0 {
		return "no runs"
	}
	m := p.Median()
	return fmt.Sprintf("%.3f %s (median of %d runs of %gM iterations, %.0f ms each; min %.3f, max %.3f, spread %.1f%%)",
		m, probeUnit, len(p.NsPerIter), float64(p.Iters)/1e6, m*float64(p.Iters)/1e6,
		slices.Min(p.NsPerIter), slices.Max(p.NsPerIter), 100*p.Spread())
}

// parseProbe reads back the median and the spread (a fraction) of a
// probe's String.
func parseProbe(s string) (median, spread float64, ok bool) {
	if _, err := fmt.Sscanf(s, "%g "+probeUnit, &median); err != nil || median <= 0 {
		return 0, 0, false
	}
	if i := strings.LastIndex(s, "spread "); i >= 0 {
		if _, err := fmt.Sscanf(s[i:], "spread %g%%", &spread); err == nil {
			spread /= 100
		}
	}
	return median, spread, true
}

// cpuProbeCmd runs a probe and prints it, as a machine.txt line
// "CPU probe LABEL: ..." when -label is given.
func cpuProbeCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("cpuprobe", flag.ExitOnError)
	label := fs.String("label", "", "print a machine.txt line, `CPU probe LABEL: ...` (before, after)")
	runs := fs.Int("runs", probeRuns, "timed runs")
	iters := fs.Int("iters", probeIters, "iterations per run")
	_ = fs.Parse(args)
	if fs.NArg() != 0 || *runs < 1 || *iters < 1_000_000 {
		return fmt.Errorf("cpuprobe: wants -runs >= 1, -iters >= 1000000 and no arguments")
	}
	p := runProbe(*runs, *iters)
	if *label != "" {
		_, err := fmt.Fprintf(w, "%s %s: %s\n", probeKey, *label, p)
		return err
	}
	_, err := fmt.Fprintln(w, p)
	return err
}

// probeChange compares the probes before and after the run recorded in
// machine: after's median over before's, and the larger of their spreads.
func probeChange(machine [][2]string) (ratio, spread float64, ok bool) {
	var before, after string
	for _, kv := range machine {
		switch kv[0] {
		case probeKey + " before":
			before = kv[1]
		case probeKey + " after":
			after = kv[1]
		}
	}
	b, sb, okB := parseProbe(before)
	a, sa, okA := parseProbe(after)
	if !okB || !okA {
		return 0, 0, false
	}
	return a / b, math.Max(sa, sb), true
}

// probeChangeString says how the speed of the machine changed between the
// probes: "after/before = 1.03, the loop took 3.0% longer at the end".
func probeChangeString(ratio float64) string {
	d := 100 * (ratio - 1)
	switch {
	case math.Abs(d) < 0.05:
		return fmt.Sprintf("after/before = %.2f, the same speed at the end", ratio)
	case d > 0:
		return fmt.Sprintf("after/before = %.2f, the loop took %.1f%% longer at the end", ratio, d)
	default:
		return fmt.Sprintf("after/before = %.2f, the loop took %.1f%% less time at the end", ratio, -d)
	}
}
