package main

import (
	"fmt"
	"io"
	"strings"
)

// The reader's summary opens the report: for each scenario's headline
// configurations, the winner and shardpool's ratio to go-redis v9's pool
// (the pool most readers run today) and to the best peer, then a paragraph
// saying where shardpool pays and where it does not.

// summaryRow is one line of the summary table.
type summaryRow struct {
	scenario, config string
	metric           Metric
	shard            Stat
	winner           string // a pool name, or "" when none is significantly best
	winnerNote       string // how the winner was decided
	vsV9, vsPeer     string // Versus strings, or "n/a"
	v9Name           string // the go-redis pool compared with, for the table
	outcome          int    // +1 shardpool wins, 0 tie, -1 loses (against the best peer)
	noPeer           bool   // no peer ran: the outcome is against the baseline
	// lossesElsewhere are the scenario's other metrics at this
	// configuration on which shardpool loses beyond noise to go-redis v9
	// or to the best peer: a win on the first metric does not hide them.
	lossesElsewhere []string
}

// v9Ref returns the go-redis v9 contender of a scenario: its pool, or the
// client end to end where the pool alone did not run.
func v9Ref(sc *Scenario) string {
	for _, name := range []string{poolGoRedisV9, poolGoRedis} {
		if contains(sc.Pools, name) {
			return name
		}
	}
	return ""
}

// winnerAt returns the pool with the best median at cfg among shardpool, the
// baseline and the peers (never a lower bound), and whether it is ahead of
// the runner-up beyond noise.
func winnerAt(sc *Scenario, cfg Config, m Metric) (best string, clear bool) {
	var bestSt, second Stat
	found, hasSecond := false, false
	for _, pool := range sortPools(sc.Pools) {
		if poolInfo(pool).Role == RoleLowerBound {
			continue
		}
		st, ok := cellFor(sc, cfg, pool, m)
		if !ok {
			continue
		}
		better := func(a, b Stat) bool {
			if m.HigherBetter {
				return a.Summary.Center > b.Summary.Center
			}
			return a.Summary.Center < b.Summary.Center
		}
		switch {
		case !found:
			best, bestSt, found = pool, st, true
		case better(st, bestSt):
			second, hasSecond = bestSt, true
			best, bestSt = pool, st
		case !hasSecond || better(st, second):
			second, hasSecond = st, true
		}
	}
	if !found {
		return "", false
	}
	if !hasSecond {
		return best, true
	}
	v := versus(bestSt, second, m.HigherBetter)
	return best, v.Significant
}

// summaryRows collects the summary's rows: every headline configuration of
// every compared scenario, on its first metric.
func (r *Report) summaryRows() []summaryRow {
	var rows []summaryRow
	for _, sp := range specs {
		sc := r.DS.Scenarios[sp.Bench]
		if sc == nil || sp.Own {
			continue
		}
		m := sp.Metrics[0]
		for _, cfg := range sc.Select(sp.Headline) {
			x, ok := cellFor(sc, cfg, poolShard, m)
			if !ok {
				continue
			}
			row := summaryRow{scenario: sp.Title, config: sc.Label(cfg), metric: m, shard: x, vsV9: "n/a", vsPeer: "n/a"}
			winner, clear := winnerAt(sc, cfg, m)
			row.winner = winner
			if !clear {
				row.winnerNote = " (not beyond noise)"
			}
			if ref := v9Ref(sc); ref != "" {
				if y, ok := cellFor(sc, cfg, ref, m); ok {
					row.vsV9 = versus(x, y, m.HigherBetter).String()
					row.v9Name = poolInfo(ref).Label
				}
			}
			// The outcome is against the best peer, or against the
			// baseline where no peer takes part (the reaper scenarios).
			var v Versus
			if name, peer, ok := bestPeer(sc, cfg, m); ok {
				v = versus(x, peer, m.HigherBetter)
				row.vsPeer = v.String() + " " + poolInfo(name).Label
			} else if base, ok := cellFor(sc, cfg, poolBaseline, m); ok {
				v = versus(x, base, m.HigherBetter)
				row.noPeer = true
			}
			switch {
			case v.Significant && v.Better:
				row.outcome = 1
			case v.Significant:
				row.outcome = -1
			}
			row.lossesElsewhere = lossesElsewhere(sc, sp, cfg)
			rows = append(rows, row)
		}
	}
	return rows
}

// lossesElsewhere lists the metrics after the first on which shardpool
// loses beyond noise at cfg, to go-redis v9's pool or to the best peer:
// "max latency is 8.58× worse than go-redis v9 (61.9 ms vs 7.21 ms)".
func lossesElsewhere(sc *Scenario, sp Spec, cfg Config) []string {
	var out []string
	for _, m := range sp.Metrics[1:] {
		x, ok := cellFor(sc, cfg, poolShard, m)
		if !ok {
			continue
		}
		var refs []string
		if contains(sc.Pools, poolGoRedisV9) {
			refs = append(refs, poolGoRedisV9)
		}
		if name, _, ok := bestPeer(sc, cfg, m); ok && name != poolGoRedisV9 {
			refs = append(refs, name)
		}
		for _, ref := range refs {
			y, ok := cellFor(sc, cfg, ref, m)
			if !ok {
				continue
			}
			if v := versus(x, y, m.HigherBetter); v.Significant && !v.Better {
				out = append(out, fmt.Sprintf("%s is %s× worse than %s (%s vs %s)", m.Title, factorString(v.Factor()),
					poolInfo(ref).Label, humanValue(x.Summary.Center, m.Unit), humanValue(y.Summary.Center, m.Unit)))
			}
		}
	}
	return out
}

// writeSummary writes the reader's summary: the table and the paragraph.
func (r *Report) writeSummary(w io.Writer) {
	rows := r.summaryRows()
	if len(rows) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Summary\n\n")
	p("Each scenario at its headline configuration (the sections below have every configuration). " +
		"The winner is the best median among shardpool, the baseline and the peers (lower bounds left out); " +
		"a ratio is shardpool's median over the other pool's in the metric's unit, in bold when beyond noise, " +
		"`~` when not. \"go-redis v9\" is go-redis v9's own pool where it ran; end to end on redis-server it is the whole go-redis v9 client, " +
		"so that ratio includes the client's own work (building commands, hooks), not the pool's alone. " +
		"The last column lists the scenario's other metrics at that configuration on which shardpool loses to go-redis v9 or to the best peer.\n\n")
	ran := false
	for _, sc := range r.DS.Scenarios {
		ran = ran || contains(sc.Pools, poolGoRedisV9)
	}
	if !ran {
		p("> go-redis v9's own pool did not run in this report (see the notes below); its column compares with the v9 client end to end where that ran, n/a elsewhere.\n\n")
	}
	p("| scenario | configuration | metric | winner | shardpool | vs go-redis v9 | vs best peer | but loses on |\n|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		winner := "n/a"
		if row.winner != "" {
			winner = poolInfo(row.winner).Label + row.winnerNote
		}
		vsV9 := row.vsV9
		if row.v9Name != "" && row.v9Name != poolInfo(poolGoRedisV9).Label {
			vsV9 += " (" + row.v9Name + ")"
		}
		elsewhere := "—"
		if len(row.lossesElsewhere) > 0 {
			elsewhere = strings.Join(row.lossesElsewhere, "; ")
		}
		p("| %s | %s | %s %s | %s | %s | %s | %s | %s |\n", row.scenario, row.config, row.metric.Title,
			higherLower(row.metric), winner, row.shard, vsV9, row.vsPeer, elsewhere)
	}
	p("\n%s\n\n", summaryParagraph(rows))
	if line := r.floorLine(); line != "" {
		p("%s\n\n", line)
	}
}

// floorLine gives shardpool's hot-path cost as a ratio to the floor (one
// atomic slot per P, bench/pools.go) at the headline size, for every -cpu
// the run has: how far the pool is from the least its design must do on
// this machine. "" when the floor did not run.
func (r *Report) floorLine() string {
	sc := r.DS.Scenarios["HotPathGetPut"]
	if sc == nil || !contains(sc.Pools, poolFloor) {
		return ""
	}
	size := ""
	for _, sp := range specs {
		if sp.Bench == "HotPathGetPut" {
			size = sp.Headline["size"]
		}
	}
	var parts []string
	for _, cfg := range sc.Configs {
		if cfg.Values["size"] != size {
			continue
		}
		x, ok1 := cellFor(sc, cfg, poolShard, nsPerOp)
		y, ok2 := cellFor(sc, cfg, poolFloor, nsPerOp)
		if !ok1 || !ok2 {
			continue
		}
		v := versus(x, y, false)
		parts = append(parts, fmt.Sprintf("%s× at cpu=%s (%s against %s)", ratioString(v.Ratio), cfg.Values["gomaxprocs"],
			humanValue(x.Summary.Center, nsPerOp.Unit), humanValue(y.Summary.Center, nsPerOp.Unit)))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("**Against the floor.** On the hot path at size=%s, shardpool's Get+Put costs %s the floor's: one atomic slot per P, "+
		"a Swap and a CompareAndSwap, the least a bounded per-P pool does (what shardpool adds: the closed and waiters checks, misuse "+
		"detection, the hit count, expiry and stats).", size, strings.Join(parts, ", "))
}

// higherLower says which way a metric is better, for the summary table.
func higherLower(m Metric) string {
	if m.HigherBetter {
		return "(higher is better)"
	}
	return "(lower is better)"
}

// summaryParagraph says, from the rows, where shardpool pays and where it
// does not. Wins against a peer and wins against the baseline (where no
// peer has the feature) are counted apart, and a win on a scenario's first
// metric names the metrics it loses on there.
func summaryParagraph(rows []summaryRow) string {
	var peerWins, baseWins, ties, losses []string
	withPeer := 0
	for _, row := range rows {
		name := fmt.Sprintf("%s (%s)", strings.ToLower(row.scenario[:1])+row.scenario[1:], row.config)
		if len(row.lossesElsewhere) > 0 {
			name += ", though its " + strings.Join(row.lossesElsewhere, "; its ")
		}
		if !row.noPeer {
			withPeer++
		}
		switch {
		case row.outcome == 1 && row.noPeer:
			baseWins = append(baseWins, name)
		case row.outcome == 1:
			peerWins = append(peerWins, name)
		case row.outcome == 0:
			ties = append(ties, name)
		default:
			losses = append(losses, name)
		}
	}
	var b strings.Builder
	b.WriteString("**Where to use shardpool.** ")
	if len(peerWins) > 0 {
		fmt.Fprintf(&b, "Against the best peer it wins, beyond noise, in %d of the %d headline rows that have a peer: %s. ",
			len(peerWins), withPeer, strings.Join(peerWins, "; "))
	}
	if len(baseWins) > 0 {
		fmt.Fprintf(&b, "Where no peer takes part (no other contender has a reaper), it beats the baseline, its own rebuild of go-redis v8's design, in %d of %d: %s. ",
			len(baseWins), len(rows)-withPeer, strings.Join(baseWins, "; "))
	}
	b.WriteString("What shardpool saves is the pool's own cost (Get, Put, waiting, dialing): it matters where " +
		"the pool shows up in CPU profiles or latency, with many goroutines per core, short uses of a connection, or more callers than connections. ")
	b.WriteString("Where each use of a connection is a network round trip, the pool is a small part of the cost: " +
		"the end-to-end rows show how much of the difference survives it. ")
	if len(ties) > 0 {
		fmt.Fprintf(&b, "**Where it does not help:** it ties with the best peer (no difference beyond noise) in %s. ",
			strings.Join(ties, "; "))
	}
	if len(losses) > 0 {
		fmt.Fprintf(&b, "**Where it loses:** %s; the section \"Where shardpool loses\" below has the figures.", strings.Join(losses, "; "))
	}
	return strings.TrimSpace(b.String())
}
