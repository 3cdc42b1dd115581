package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// One chart per fault: the timeline's window of each fault's row, written
// to -round-charts DIR as chaos-round-N-FAULT.png (N counts the faults of
// the run from 1) and linked from the report. The two rows of a network
// fault (shardpool's and go-redis's) share one chart, which draws both.

// chartMargin is how much of the timeline before a row's window its chart
// shows.
const chartMargin = 200 * time.Millisecond

// chartName returns the file name of the n-th fault's chart.
func chartName(n int, fault string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(fault) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return fmt.Sprintf("chaos-round-%d-%s.png", n, strings.TrimSuffix(b.String(), "-"))
}

// assignCharts sets the chart file, in dir, of every row that has a window
// (not the pool Close row); rows of one fault (the same window) share one.
// It returns the rows that draw a chart, one per file.
func assignCharts(rows []*row, dir string) []*row {
	var drawn []*row
	for _, r := range rows {
		if r.to <= r.from {
			continue
		}
		if n := len(drawn); n > 0 && drawn[n-1].from == r.from && drawn[n-1].fault == r.fault {
			r.chart = drawn[n-1].chart
			continue
		}
		r.chart = filepath.Join(dir, chartName(len(drawn)+1, r.fault))
		drawn = append(drawn, r)
	}
	return drawn
}

// chartMarks returns the moments drawn on r's chart: its own marks, else
// its fault's moment.
func chartMarks(r *row) []event {
	if len(r.marks) > 0 {
		return r.marks
	}
	if r.refName != "" {
		return []event{{r.ref, r.refName}}
	}
	return nil
}

// writeRoundCharts draws each fault's chart into -round-charts, after the
// timeline has stopped, and returns how the report links each file:
// relative to the report's directory.
func (dr *driver) writeRoundCharts() (map[string]string, error) {
	dir := dr.cfg.charts
	if dir == "" {
		return nil, nil
	}
	links := map[string]string{}
	base := "."
	if dr.cfg.out != "" {
		base = filepath.Dir(dr.cfg.out)
	}
	for _, r := range assignCharts(dr.rows, dir) {
		title := r.fault
		if err := dr.tl.writeRoundChart(r.chart, title, r.from-chartMargin, r.to, chartMarks(r)); err != nil {
			return nil, fmt.Errorf("chart of %s: %w", r.fault, err)
		}
		link, err := filepath.Rel(base, r.chart)
		if err != nil {
			link = r.chart
		}
		links[r.chart] = filepath.ToSlash(link)
	}
	return links, nil
}
