package main

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Goroutines by owner. In the network-fault rounds three things run in
// this process at once: shardpool's pool with its load, the go-redis
// client with its load, and toxiproxy, which runs goroutines for every
// connection through it. A plain runtime.NumGoroutine cannot tell whose
// goroutines did not go away, so each owner starts its goroutines under a
// pprof label (side=...), which the goroutines they start inherit, and
// countGoroutines reads the labels back from the goroutine profile.

// The labels' values. Goroutines with no label (the driver's own, the
// pools' background goroutines started from main) count as shardpool's.
const (
	ownerShardpool = "shardpool"
	ownerGoredis   = "go-redis"
	ownerToxiproxy = "toxiproxy"
)

// labelled returns a context whose pprof label names owner, for pprof.Do
// and pprof.SetGoroutineLabels.
func labelled(owner string) context.Context {
	return pprof.WithLabels(context.Background(), pprof.Labels("side", owner))
}

// goroutineCount is the number of goroutines of each owner.
type goroutineCount struct {
	shardpool, goredis, toxiproxy int
}

// countGoroutines counts the process's goroutines by owner.
func countGoroutines() goroutineCount {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		return goroutineCount{}
	}
	return parseGoroutines(b.String())
}

// parseGoroutines counts the goroutines of a goroutine profile in its
// debug=1 text form by their "side" label: records of the form
//
//	N @ 0x... 0x...
//	# labels: {"side":"go-redis"}
//	#	0x...	function+0x..	file:line
//
// separated by blank lines.
func parseGoroutines(profile string) goroutineCount {
	var c goroutineCount
	n := 0 // the goroutines of the record being read
	owner := &c.shardpool
	flush := func() {
		*owner += n
		n, owner = 0, &c.shardpool
	}
	for _, line := range strings.Split(profile, "\n") {
		if count, _, ok := strings.Cut(line, " @ "); ok {
			if v, err := strconv.Atoi(count); err == nil {
				flush()
				n = v
				continue
			}
		}
		if strings.HasPrefix(line, "# labels:") {
			switch {
			case strings.Contains(line, `"side":"`+ownerToxiproxy+`"`):
				owner = &c.toxiproxy
			case strings.Contains(line, `"side":"`+ownerGoredis+`"`):
				owner = &c.goredis
			}
		}
	}
	flush()
	return c
}

// settleGoroutines waits, up to bound, until neither the shardpool side
// nor the go-redis side has more goroutines than want, polling every
// 20 ms; it returns the last count.
func settleGoroutines(want goroutineCount, bound time.Duration) goroutineCount {
	deadline := time.Now().Add(bound)
	c := countGoroutines()
	for i := 0; (c.shardpool > want.shardpool || c.goredis > want.goredis) && time.Now().Before(deadline) && i < 1000; i++ {
		time.Sleep(20 * time.Millisecond)
		c = countGoroutines()
	}
	return c
}
