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
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/shardpool/shardpool/bench\n")
	for run := range 6 {
		for _, pool := range []string{"shardpool", "baseline", "channel"} {
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
