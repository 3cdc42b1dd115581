// Tests of the process-fault table.
package main

import (
	"slices"
	"testing"
	"time"
)

// TestFaultOrder: the -faults names and their order, as -faults's help and
// scripts/chaos.sh list them: the process faults' table, then the network
// faults'.
func TestFaultOrder(t *testing.T) {
	if got, want := procFaultNames(), []string{"kill", "stop", "clientkill", "hungprobe"}; !slices.Equal(got, want) {
		t.Errorf("process faults %q, want %q", got, want)
	}
	want := []string{"kill", "stop", "clientkill", "hungprobe", "latency", "blackhole", "dialhole", "reset", "bandwidth"}
	if !slices.Equal(allFaults, want) {
		t.Errorf("allFaults %q, want %q", allFaults, want)
	}
	for _, f := range procFaults {
		if f.run == nil {
			t.Errorf("process fault %s has no run", f.name)
		}
	}
}

// TestProbeBound pins the probe's dial bound: one attempt at once, one per
// ProbeGap after it, and the Gets' dials of the moment between the
// driver's count of the trip and the pool's (at most PoolSize-1).
func TestProbeBound(t *testing.T) {
	span := 14999 * time.Millisecond // the SIGKILL round's outage after the trip
	if got, want := probeBound(span, 16), int64(149+1+15); got != want {
		t.Errorf("probeBound(%v, 16) = %d, want %d", span, got, want)
	}
	if probeBound(span, 16) < 152 {
		t.Error("a run with 150 probe dials and 2 Gets in the trip's moment would fail")
	}
}
