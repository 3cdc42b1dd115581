package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestChartName(t *testing.T) {
	for _, tc := range []struct {
		n     int
		fault string
		want  string
	}{
		{1, "SIGKILL #1", "chaos-round-1-sigkill-1.png"},
		{12, "black hole (new dials) #3", "chaos-round-12-black-hole-new-dials-3.png"},
		{3, "bandwidth 1 KB/s #2", "chaos-round-3-bandwidth-1-kb-s-2.png"},
		{4, "latency +50ms #1", "chaos-round-4-latency-50ms-1.png"},
	} {
		if got := chartName(tc.n, tc.fault); got != tc.want {
			t.Errorf("chartName(%d, %q) = %q, want %q", tc.n, tc.fault, got, tc.want)
		}
	}
}

// TestRoundChartDrawsBothClients draws a fault's window of a synthetic
// timeline in which go-redis ran for part of the run, and the whole
// timeline, where it did not run for the rest.
func TestRoundChartDrawsBothClients(t *testing.T) {
	tl := newTimeline(time.Now())
	for i := 1; i <= 100; i++ {
		p := point{at: time.Duration(i) * timelineTick}
		p.sides[sideShardpool] = sidePoint{active: true, reqPerS: 20000, held: 16, pending: 32, getP99: time.Millisecond, reqP99: 2 * time.Millisecond}
		if i > 40 && i <= 80 {
			p.sides[sideGoredis] = sidePoint{active: true, reqPerS: 300, errPerS: float64(i % 3), held: 16, reqP99: 150 * time.Millisecond}
		}
		tl.points = append(tl.points, p)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, chartName(1, "latency +50ms #1"))
	marks := []event{{5 * time.Second, "toxics added"}, {7 * time.Second, "toxics removed"}}
	if err := tl.writeRoundChart(path, "latency +50ms #1", 4*time.Second, 8*time.Second, marks); err != nil {
		t.Fatal(err)
	}
	if err := tl.writeChart(filepath.Join(dir, "all.png")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, filepath.Join(dir, "all.png")} {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s: %v, %d bytes", f, err, len(b))
		}
	}
}
