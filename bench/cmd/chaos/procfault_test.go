// Tests of the process-fault table.
package main

import (
	"slices"
	"testing"
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
