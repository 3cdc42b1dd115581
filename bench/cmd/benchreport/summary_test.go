package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestSummary checks the reader's summary: go-redis-v9 (a hyphenated name
// ending in a digit) is one pool, a peer; the winner is named; shardpool's
// ratio to go-redis v9 and to the best peer are given; a loss to the best
// peer is said in the paragraph.
func TestSummary(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "hotpath.txt")
	writeRun(t, raw, map[string]float64{"shardpool": 30, "baseline": 120, "go-redis-v9": 200, "puddle": 20})
	ds, err := Load([]string{raw})
	if err != nil {
		t.Fatal(err)
	}
	if sc := ds.Scenarios["HotPathGetPut"]; !contains(sc.Pools, "go-redis-v9") {
		t.Fatalf("pools = %v, want go-redis-v9 among them", sc.Pools)
	}
	var b strings.Builder
	(&Report{DS: ds}).Write(&b)
	md := b.String()
	if i, j := strings.Index(md, "## Summary"), strings.Index(md, "## Machine and run"); i < 0 || j < i {
		t.Fatalf("the summary does not open the report:\n%s", md)
	}
	for _, want := range []string{
		"| Hot path: Get+Put with idle connections | cpu=2 | time per op (lower is better) | puddle |",
		"**0.16×** (p=0.002 n=6)", // vs go-redis v9: 32.5 / 202.5
		"**1.44×** (p=0.002 n=6) puddle",
		"**Where it loses:** hot path: Get+Put with idle connections (cpu=2)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "did not run in this report") {
		t.Error("the summary says go-redis v9 did not run")
	}
}

// TestSummaryWithoutGoRedis checks that a report without go-redis v9's
// pool says so instead of leaving its column unexplained.
func TestSummaryWithoutGoRedis(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "hotpath.txt")
	writeRun(t, raw, map[string]float64{"shardpool": 30, "baseline": 120, "puddle": 40})
	ds, err := Load([]string{raw})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	(&Report{DS: ds}).Write(&b)
	md := b.String()
	for _, want := range []string{"go-redis v9's own pool did not run in this report", "| n/a |", "in 1 of the 1 headline rows that have a peer"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestHDRPlot checks the exhaustion percentile plots: runs are merged per
// pool and goroutine count, calibration runs (far smaller than the largest
// run) are left out, and a chart is drawn per goroutine count.
func TestHDRPlot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "exhaustion.hlog")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := hdrhistogram.NewHistogramLogWriter(f)
	write := func(pool string, n int, value int64) {
		h := hdrhistogram.New(1, 60e9, 2)
		for range n {
			_ = h.RecordValue(value)
		}
		h.SetTag("BenchmarkExhaustionWait/pool=" + pool + "/size=8/goroutines=4x/caller=spins")
		if err := w.OutputIntervalHistogram(h); err != nil {
			t.Fatal(err)
		}
	}
	write("shardpool", 1, 1e9) // a calibration run: left out
	write("shardpool", 1000, 1000)
	write("shardpool", 900, 2000)
	write("go-redis-v9", 1000, 5000)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	set, err := loadHDR([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	load := exhaustionLoad{"4x", "spins"}
	sp := set[load]["shardpool"]
	if sp == nil || set[load]["go-redis-v9"] == nil {
		t.Fatalf("set = %v", set)
	}
	if sp.TotalCount() != 1900 || sp.Max() > 2100 {
		t.Errorf("shardpool merged %d values, max %d; want 1900, max about 2000 (calibration run left out)", sp.TotalCount(), sp.Max())
	}
	raw := filepath.Join(dir, "exhaustion.txt")
	body := "pkg: x\n"
	for _, pool := range []string{"shardpool", "go-redis-v9"} {
		body += "BenchmarkExhaustionWait/pool=" + pool + "/size=8/goroutines=4x/caller=spins-2 \t1000\t100 ns/op\t1000 p50-ns\t2000 p99-ns\n"
	}
	if err := os.WriteFile(raw, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := Load([]string{raw})
	if err != nil {
		t.Fatal(err)
	}
	charts, err := Charts(ds, set, dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range charts["ExhaustionWait"] {
		found = found || c == "exhaustion-hdr-4x.png"
	}
	if !found {
		t.Fatalf("charts = %v, want exhaustion-hdr-4x.png", charts)
	}
	if st, err := os.Stat(filepath.Join(dir, "exhaustion-hdr-4x.png")); err != nil || st.Size() == 0 {
		t.Fatalf("chart not written: %v", err)
	}
	if got := percentileLabel(0.999); got != "99.9%" {
		t.Errorf("percentileLabel(0.999) = %q", got)
	}
}

// TestSummaryLossesElsewhere checks that a win on a scenario's first metric
// does not hide a loss on another: shardpool's throughput beats go-redis
// v9's, its max latency is far worse, and both the table and the paragraph
// say so.
func TestSummaryLossesElsewhere(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "exhaustion.txt")
	var b strings.Builder
	b.WriteString("pkg: x\n")
	for run := range 6 {
		for pool, v := range map[string][2]float64{"shardpool": {2e6, 60e6}, "baseline": {5e5, 80e6}, "go-redis-v9": {5e5, 5e6}} {
			fmt.Fprintf(&b, "BenchmarkExhaustionWait/pool=%s/size=8/goroutines=64x/caller=spins-2 \t1000\t100 ns/op\t%.0f ops/s\t%.0f max-ns\n",
				pool, v[0]+float64(run), v[1]+float64(run))
		}
	}
	md := reportOf(t, raw, b.String())
	for _, want := range []string{
		"| max latency is 12.00× worse than go-redis v9 (60 ms vs 5 ms) |",
		"though its max latency is 12.00× worse than go-redis v9",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md[:min(len(md), 3000)])
		}
	}
}

// TestSummaryFloor checks that the summary gives shardpool's ratio to the
// floor for every -cpu of the headline size, and that the floor, a
// yardstick, never wins a row.
func TestSummaryFloor(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "hotpath.txt")
	writeRun(t, raw, map[string]float64{"shardpool": 30, "baseline": 120, "floor": 15})
	ds, err := Load([]string{raw})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	(&Report{DS: ds}).Write(&b)
	md := b.String()
	// 32.5 / 17.5: the medians of 30..35 and 15..20.
	if want := "1.86× at cpu=2 (32.5 ns against 17.5 ns)"; !strings.Contains(md, "**Against the floor.**") || !strings.Contains(md, want) {
		t.Errorf("report lacks the floor line with %q:\n%s", want, md)
	}
	if strings.Contains(md, "| time per op (lower is better) | floor") {
		t.Errorf("the floor won a row:\n%s", md)
	}
}

// TestExhaustionHeadlineAndQueued checks that the exhaustion headline is
// the caller=io load where a run has it, and that queued-% is shown as a
// plain table and never ranks the pools.
func TestExhaustionHeadlineAndQueued(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "exhaustion.txt")
	var b strings.Builder
	b.WriteString("pkg: x\n")
	for run := range 6 {
		for _, caller := range []string{"spins", "io"} {
			for pool, q := range map[string]float64{"shardpool": 99, "baseline": 10} {
				fmt.Fprintf(&b, "BenchmarkExhaustionWait/pool=%s/size=8/goroutines=64x/caller=%s-2 \t1000\t100 ns/op\t%d ops/s\t%.0f queued-%%\n",
					pool, caller, 1000+run, q+float64(run))
			}
		}
	}
	md := reportOf(t, raw, b.String())
	if !strings.Contains(md, "| Exhaustion: many more goroutines than connections | caller=io |") {
		t.Errorf("the summary's exhaustion row is not caller=io:\n%s", md[:min(len(md), 3000)])
	}
	if !strings.Contains(md, "**share of Gets that queued") || !strings.Contains(md, "| caller=io | 102% | 12.5% |") {
		t.Errorf("report lacks the queued table:\n%s", md)
	}
	// Before the sections: the summary and "Where shardpool loses", which
	// rank the pools.
	if ranked := md[:strings.Index(md, "## 1.")]; strings.Contains(ranked, "queued") {
		t.Errorf("queued-%% ranks the pools:\n%s", ranked)
	}
}

// reportOf writes body, benchmark output, to raw and returns the report
// made from it.
func reportOf(t *testing.T, raw, body string) string {
	t.Helper()
	if err := os.WriteFile(raw, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := Load([]string{raw})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	(&Report{DS: ds}).Write(&out)
	return out.String()
}
