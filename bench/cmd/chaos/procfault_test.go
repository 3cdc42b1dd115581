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

// TestProbeBound pins the probe's dial bound: ProbeBurst attempts at once,
// one per ProbeGap after them, and the Gets' dials of the moment between
// the driver's count of the trip and the pool's (at most PoolSize-1).
func TestProbeBound(t *testing.T) {
	span := 14999 * time.Millisecond // the SIGKILL round's outage after the trip
	if got, want := probeBound(span, 16), int64(149+2+15); got != want {
		t.Errorf("probeBound(%v, 16) = %d, want %d", span, got, want)
	}
	if probeBound(span, 16) < 153 {
		t.Error("a run with 151 probe dials and 2 Gets in the trip's moment would fail")
	}
	// The dial-hole round: the breaker open 1.76 s, each attempt hung for
	// the 250 ms dial timeout: 8 dials counted, bound 17 + 2 + 15.
	if got, want := probeBound(1760*time.Millisecond, 16), int64(17+2+15); got != want {
		t.Errorf("probeBound(1.76s, 16) = %d, want %d", got, want)
	}
}

// TestIdleProbeBound pins the idle pool's bound: one dial per
// ProbeInterval, and one early attempt a Get asked for before the load
// halted. It stays far below what a busy pool may make in the same window,
// so that a probe dialing at the busy cadence while idle fails the round.
func TestIdleProbeBound(t *testing.T) {
	for _, w := range []time.Duration{2500 * time.Millisecond, 5 * time.Second} {
		idle := idleProbeBound(w)
		if want := int64(w/time.Second) + 2; idle != want {
			t.Errorf("idleProbeBound(%v) = %d, want %d", w, idle, want)
		}
		if busy := probeBound(w, 1); idle*4 > busy {
			t.Errorf("idleProbeBound(%v) = %d is not far below the busy bound %d", w, idle, busy)
		}
	}
}
