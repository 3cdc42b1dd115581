package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRun writes a synthetic `go test -bench` output in which each pool of
// the hot path takes the given ns/op, six times, with a little spread.
func writeRun(t *testing.T, path string, nsPerOp map[string]float64) {
	t.Helper()
	var names []string
	for pool := range nsPerOp {
		names = append(names, pool)
	}
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/shardpool/shardpool/bench\n")
	for run := range 6 {
		for _, pool := range sortPools(names) {
			for _, cpu := range []string{"", "-2"} {
				fmt.Fprintf(&b, "BenchmarkHotPathGetPut/pool=%s/size=32%s \t1000000\t%.1f ns/op\n",
					pool, cpu, nsPerOp[pool]+float64(run))
			}
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "hotpath.txt")
	writeRun(t, raw, map[string]float64{"shardpool": 30, "baseline": 120, "channel": 20})
	ds, err := Load([]string{raw})
	if err != nil {
		t.Fatal(err)
	}
	sc := ds.Scenarios["HotPathGetPut"]
	if sc == nil || len(sc.Configs) != 2 || len(sc.Pools) != 3 {
		t.Fatalf("scenario = %+v", sc)
	}
	if got := sc.Label(sc.Configs[0]); got != "cpu=1" {
		t.Errorf("label = %q, want cpu=1", got)
	}
	var b strings.Builder
	r := &Report{DS: ds}
	r.Write(&b)
	md := b.String()
	for _, want := range []string{
		"3.77× faster than the baseline",       // medians 122.5 / 32.5
		"slower than the best peer, channel",   // shardpool loses to it
		"time per op 1.44× worse than channel", // and that is listed
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestReportChannelVariants checks that channel-untimed, faster than every
// pool, is parsed as one pool despite its hyphen, is never the best peer,
// is quoted apart in the verdict, and is labelled and listed as a lower
// bound; and that the charts draw it.
func TestReportChannelVariants(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "hotpath.txt")
	writeRun(t, raw, map[string]float64{"shardpool": 30, "baseline": 120, "channel": 40, "channel-untimed": 20, "syncpool": 10})
	ds, err := Load([]string{raw})
	if err != nil {
		t.Fatal(err)
	}
	sc := ds.Scenarios["HotPathGetPut"]
	if want := []string{"shardpool", "baseline", "channel", "channel-untimed", "syncpool"}; strings.Join(sortPools(sc.Pools), " ") != strings.Join(want, " ") {
		t.Fatalf("pools = %v, want %v", sortPools(sc.Pools), want)
	}
	if name, _, ok := bestPeer(sc, sc.Configs[0], nsPerOp); !ok || name != "channel" {
		t.Errorf("best peer = %q, %v; want channel", name, ok)
	}
	var b strings.Builder
	(&Report{DS: ds}).Write(&b)
	md := b.String()
	for _, want := range []string{
		"faster than the best peer, channel (",                                        // the timed one
		"slower than channel-untimed, the lower bound that waits without a timer (p=", // quoted apart
		"| channel (timed) | channel-untimed (no wait timer; lower bound) |",          // table columns
		"- `channel-untimed` (lower bound, not a peer): the same channel pool waiting without a timer",
		"- `channel` (peer): a hand-rolled pool",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "worse than channel-untimed") {
		t.Errorf("report lists a loss to channel-untimed, a lower bound:\n%s", md)
	}
	charts, err := Charts(ds, nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(charts["HotPathGetPut"]) != 1 {
		t.Errorf("charts = %v", charts)
	}
}

// TestProbe checks the CPU-speed probe: what it prints reads back, and the
// report's header compares before with after, warning on a big change.
func TestProbe(t *testing.T) {
	p := runProbe(3, 1_000_000)
	m, spread, ok := parseProbe(p.String())
	if !ok || m <= 0 || spread < 0 || (m-p.Median())/p.Median() > 0.001 {
		t.Fatalf("parseProbe(%q) = %v, %v, %v; median %v", p.String(), m, spread, ok, p.Median())
	}
	var out strings.Builder
	if err := cpuProbeCmd([]string{"-label", "before", "-runs", "2", "-iters", "1000000"}, &out); err != nil ||
		!strings.HasPrefix(out.String(), "CPU probe before: ") {
		t.Fatalf("cpuprobe printed %q, %v", out.String(), err)
	}

	for _, tc := range []struct {
		after   string
		change  string
		warning bool
	}{
		{"1.030 ns/iter (median of 5 runs of 50M iterations, 52 ms each; min 1.020, max 1.040, spread 1.9%)", "after/before = 1.03, the loop took 3.0% longer at the end", false},
		{"1.250 ns/iter (median of 5 runs of 50M iterations, 62 ms each; min 1.200, max 1.300, spread 8.0%)", "after/before = 1.25, the loop took 25.0% longer at the end", true},
	} {
		r := &Report{DS: &Dataset{Scenarios: map[string]*Scenario{}}, Machine: [][2]string{
			{"load average at start", "0.10 0.20 0.30"},
			{"CPU probe before", "1.000 ns/iter (median of 5 runs of 50M iterations, 50 ms each; min 0.990, max 1.010, spread 2.0%)"},
			{"load average at end", "1.10 0.20 0.30"},
			{"CPU probe after", tc.after},
		}}
		var b strings.Builder
		r.Write(&b)
		md := b.String()
		for _, want := range []string{
			"| CPU probe after | " + tc.after + " |\n| CPU probe change | " + tc.change + " |",
			"a big difference between before and after",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("report lacks %q:\n%s", want, md)
			}
		}
		if got := strings.Contains(md, "speed changed during this run"); got != tc.warning {
			t.Errorf("after %q: warning = %v, want %v:\n%s", tc.after, got, tc.warning, md)
		}
	}
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	old, cur := filepath.Join(dir, "old.txt"), filepath.Join(dir, "new.txt")
	writeRun(t, old, map[string]float64{"shardpool": 30, "baseline": 120, "channel": 20})
	writeRun(t, cur, map[string]float64{"shardpool": 30, "baseline": 120, "channel": 20})
	var out strings.Builder
	if regressed, err := compareCmd([]string{old, cur}, &out); err != nil || regressed {
		t.Fatalf("same data: regressed=%v err=%v\n%s", regressed, err, out.String())
	}
	writeRun(t, cur, map[string]float64{"shardpool": 60, "baseline": 120, "channel": 20})
	out.Reset()
	if regressed, err := compareCmd([]string{old, cur}, &out); err != nil || !regressed {
		t.Fatalf("shardpool twice as slow: regressed=%v err=%v\n%s", regressed, err, out.String())
	}
}
