package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// Report writes report.md for ds.
type Report struct {
	DS      *Dataset
	Machine [][2]string // key, value
	Notes   []string    // lines such as "real redis-server: skipped, ..."
	Raw     []string    // raw output files, relative to the report
	Charts  map[string][]string
}

// cellFor summarizes pool at cfg for m.
func cellFor(sc *Scenario, cfg Config, pool string, m Metric) (Stat, bool) {
	return summarize(sc.Samples(cfg, pool, m.Unit), m.Unit)
}

// bestPeer returns the peer with the best median at cfg. Only pools of
// RolePeer count: never shardpool or the baseline, nor a lower bound
// (channel-untimed, sync.Pool), which skips work the others do.
func bestPeer(sc *Scenario, cfg Config, m Metric) (string, Stat, bool) {
	var (
		name  string
		best  Stat
		found bool
	)
	for _, pool := range sortPools(sc.Pools) {
		if poolInfo(pool).Role != RolePeer {
			continue
		}
		st, ok := cellFor(sc, cfg, pool, m)
		if !ok {
			continue
		}
		if !found || (m.HigherBetter && st.Summary.Center > best.Summary.Center) ||
			(!m.HigherBetter && st.Summary.Center < best.Summary.Center) {
			name, best, found = pool, st, true
		}
	}
	return name, best, found
}

// tally counts shardpool's significant wins and losses against ref (a pool
// name, or "" for the best peer at each configuration), and lists the
// losses.
type tally struct {
	n, wins, losses int
	lost            []string
}

func tallyOf(sc *Scenario, m Metric, ref string) tally {
	var t tally
	for _, cfg := range sc.Configs {
		x, ok := cellFor(sc, cfg, poolShard, m)
		if !ok {
			continue
		}
		refName, r, ok := ref, Stat{}, false
		if ref == "" {
			refName, r, ok = bestPeer(sc, cfg, m)
		} else {
			r, ok = cellFor(sc, cfg, ref, m)
		}
		if !ok {
			continue
		}
		t.n++
		v := versus(x, r, m.HigherBetter)
		switch {
		case v.Significant && v.Better:
			t.wins++
		case v.Significant:
			t.losses++
			t.lost = append(t.lost, fmt.Sprintf("%s: %s %s× worse than %s (%s vs %s, %s)",
				sc.Label(cfg), m.Title, factorString(v.Factor()), poolInfo(refName).Label, humanValue(x.Summary.Center, m.Unit),
				humanValue(r.Summary.Center, m.Unit), v.Cmp))
		}
	}
	return t
}

// sentence is the verdict of a scenario on its first metric: how shardpool
// does at each headline configuration (against the baseline, the best peer
// and, named as such, any lower bound that ran), then its wins and losses
// over all.
func sentence(sc *Scenario, sp Spec) string {
	m := sp.Metrics[0]
	var b strings.Builder
	for _, cfg := range sc.Select(sp.Headline) {
		x, okX := cellFor(sc, cfg, poolShard, m)
		base, okB := cellFor(sc, cfg, poolBaseline, m)
		if !okX || !okB {
			continue
		}
		fmt.Fprintf(&b, "At %s, shardpool's %s is %s: %s", sc.Label(cfg), m.Title,
			humanValue(x.Summary.Center, m.Unit), phrase(versus(x, base, m.HigherBetter), m, "the baseline"))
		if name, peer, ok := bestPeer(sc, cfg, m); ok {
			fmt.Fprintf(&b, ", and %s", phrase(versus(x, peer, m.HigherBetter), m, "the best peer, "+name))
		}
		var bounds []string
		for _, pool := range sortPools(sc.Pools) {
			pi := poolInfo(pool)
			if pi.Role != RoleLowerBound {
				continue
			}
			if lb, ok := cellFor(sc, cfg, pool, m); ok {
				bounds = append(bounds, phrase(versus(x, lb, m.HigherBetter), m, pi.Ref))
			}
		}
		if len(bounds) > 0 {
			fmt.Fprintf(&b, "; apart from the peers, it is %s", strings.Join(bounds, ", and "))
		}
		b.WriteString(". ")
	}
	tb := tallyOf(sc, m, poolBaseline)
	tp := tallyOf(sc, m, "")
	fmt.Fprintf(&b, "Over all %d configurations, shardpool wins against the baseline in %d and loses in %d", tb.n, tb.wins, tb.losses)
	if tp.n > 0 {
		fmt.Fprintf(&b, "; against the best peer it wins in %d of %d and loses in %d", tp.wins, tp.n, tp.losses)
	}
	b.WriteString(" (the rest show no significant difference).")
	return b.String()
}

// phrase says how shardpool compares with a reference: "3.10× faster than
// the baseline (p=0.002 n=6)".
func phrase(v Versus, m Metric, ref string) string {
	if !v.Significant {
		return fmt.Sprintf("no significant difference from %s (%s)", ref, v.Cmp)
	}
	word := "higher"
	switch {
	case m.Unit == "ns/op" && v.Better:
		word = "faster"
	case m.Unit == "ns/op":
		word = "slower"
	case m.HigherBetter != v.Better:
		word = "lower"
	}
	return fmt.Sprintf("%s× %s than %s (%s)", factorString(v.Factor()), word, ref, v.Cmp)
}

// factorString formats a factor >= 1: two decimals while they mean
// something, whole numbers past 100.
func factorString(f float64) string {
	if f >= 100 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.2f", f)
}

// Write writes the report in Markdown.
func (r *Report) Write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# shardpool benchmark report\n\n")
	r.writeSummary(w)
	p("## Machine and run\n\n")
	p("| | |\n|---|---|\n")
	ratio, spread, probed := probeChange(r.Machine)
	for _, kv := range r.Machine {
		p("| %s | %s |\n", kv[0], kv[1])
		if kv[0] == probeKey+" after" && probed {
			p("| %s change | %s |\n", probeKey, probeChangeString(ratio))
		}
	}
	p("\n")
	r.writeProbe(w, ratio, spread, probed)
	for _, n := range r.Notes {
		p("> %s\n\n", n)
	}
	p("How to read: each figure is the median of repeated runs with its 95%% confidence interval (±); " +
		"a ratio is shardpool's (or a peer's) median over the baseline's, in the metric's own unit " +
		"(below 1 is faster for times and latencies, above 1 is more for ops/s); `p` is the Mann-Whitney U test's " +
		"p-value and `~` means no significant difference at α=0.05. All of it is computed with " +
		"golang.org/x/perf/benchmath, the library behind benchstat. The *best peer* is the best of puddle, " +
		"`channel` (the channel pool with a wait timer), go-redis v8's and v9's own pools and (end to end on redis) the go-redis v9 client at each configuration; " +
		"`channel-untimed` (the same pool without a wait timer) and sync.Pool are lower bounds, never counted as the best peer; " +
		"the verdicts quote them apart.\n\n")
	r.writeContenders(w)

	p("## Headline\n\n")
	p("| scenario | metric | configuration | shardpool | vs baseline | vs best peer |\n|---|---|---|---|---|---|\n")
	for _, sp := range specs {
		sc := r.DS.Scenarios[sp.Bench]
		if sc == nil || sp.Own {
			continue
		}
		for _, cfg := range sc.Select(sp.Headline) {
			for _, m := range sp.Metrics {
				if m != sp.Metrics[0] && m != p99 {
					continue
				}
				x, ok := cellFor(sc, cfg, poolShard, m)
				if !ok {
					continue
				}
				vb, vp := "n/a", "n/a"
				if base, ok := cellFor(sc, cfg, poolBaseline, m); ok {
					vb = versus(x, base, m.HigherBetter).String()
				}
				if name, peer, ok := bestPeer(sc, cfg, m); ok {
					vp = versus(x, peer, m.HigherBetter).String() + " " + name
				}
				p("| %s | %s | %s | %s | %s | %s |\n", sp.Title, m.Unit, sc.Label(cfg), x, vb, vp)
			}
		}
	}
	p("\n## Where shardpool loses\n\n")
	anyLoss := false
	for _, sp := range specs {
		sc := r.DS.Scenarios[sp.Bench]
		if sc == nil {
			continue
		}
		var lost []string
		for _, m := range sp.Metrics {
			if !sc.HasUnit(m.Unit) {
				continue
			}
			lost = append(lost, tallyOf(sc, m, poolBaseline).lost...)
			lost = append(lost, tallyOf(sc, m, "").lost...)
			// go-redis's own pools by name too, even where another
			// peer is better still: they are what readers run today.
			for _, ref := range []string{poolGoRedisV8, poolGoRedisV9} {
				if !contains(sc.Pools, ref) {
					continue
				}
				for _, l := range tallyOf(sc, m, ref).lost {
					if !contains(lost, l) { // already there as the best peer
						lost = append(lost, l)
					}
				}
			}
		}
		if len(lost) == 0 {
			continue
		}
		anyLoss = true
		p("**%s** (%d):\n\n", sp.Title, len(lost))
		const maxShown = 15
		for i, l := range lost {
			if i == maxShown {
				p("- … and %d more (see the tables below)\n", len(lost)-maxShown)
				break
			}
			p("- %s\n", l)
		}
		p("\n")
	}
	if !anyLoss {
		p("Nowhere significant in this run.\n\n")
	}

	for i, sp := range specs {
		sc := r.DS.Scenarios[sp.Bench]
		p("## %d. %s\n\n", i+1, sp.Title)
		p("`Benchmark%s`. %s\n\n", sp.Bench, sp.Question)
		if sc == nil {
			p("Not run.\n\n")
			continue
		}
		if sp.Own {
			lead := sp.OwnLead
			if lead == "" {
				lead = "What the hooks see"
			}
			p("**%s.** %s\n\n", lead, ownSentence(sc, sp))
		} else {
			p("**Verdict.** %s\n\n", sentence(sc, sp))
		}
		if sp.Notes != "" {
			p("%s\n\n", sp.Notes)
		}
		for _, c := range r.Charts[sp.Bench] {
			p("![%s](%s)\n\n", strings.TrimSuffix(filepath.Base(c), filepath.Ext(c)), c)
		}
		for _, m := range sp.Metrics {
			if !sc.HasUnit(m.Unit) {
				continue
			}
			r.table(w, sc, m)
		}
		for _, m := range sp.Info {
			if sc.HasUnit(m.Unit) {
				infoTable(w, sc, m)
			}
		}
	}

	p("## Raw data\n\n")
	for _, f := range r.Raw {
		p("- [%s](%s)\n", f, f)
	}
	p("\nReproduce with `scripts/bench.sh` (full) or `scripts/bench.sh --quick` from the repository root; compare the raw files of two runs with `go tool benchstat` from the bench module.\n")
}

// table writes one scenario's table for metric m: a row per configuration,
// a column per pool, and ratios against the baseline.
func (r *Report) table(w io.Writer, sc *Scenario, m Metric) {
	pools := sortPools(sc.Pools)
	ratios := "; ratio to the baseline"
	if !slices.Contains(pools, poolBaseline) {
		ratios = ""
	}
	fmt.Fprintf(w, "**%s** (%s%s)\n\n| configuration |", m.Title, m.Unit, ratios)
	for _, pool := range pools {
		fmt.Fprintf(w, " %s |", poolInfo(pool).Label)
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(pools)))
	for _, cfg := range sc.Configs {
		base, baseOK := cellFor(sc, cfg, poolBaseline, m)
		fmt.Fprintf(w, "| %s |", sc.Label(cfg))
		for _, pool := range pools {
			st, ok := cellFor(sc, cfg, pool, m)
			switch {
			case !ok:
				fmt.Fprint(w, " |")
			case pool == poolBaseline || !baseOK:
				fmt.Fprintf(w, " %s |", st)
			default:
				fmt.Fprintf(w, " %s · %s |", st, versus(st, base, m.HigherBetter))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// infoTable writes a table of metric m's medians, a row per configuration
// and a column per pool that reported it, without ratios: m describes the
// load each pool met, it does not rank them.
func infoTable(w io.Writer, sc *Scenario, m Metric) {
	var pools []string
	for _, pool := range sortPools(sc.Pools) {
		for _, cfg := range sc.Configs {
			if _, ok := cellFor(sc, cfg, pool, m); ok {
				pools = append(pools, pool)
				break
			}
		}
	}
	fmt.Fprintf(w, "**%s** (%s; median of the runs, pools that count it)\n\n| configuration |", m.Title, m.Unit)
	for _, pool := range pools {
		fmt.Fprintf(w, " %s |", poolInfo(pool).Label)
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(pools)))
	for _, cfg := range sc.Configs {
		fmt.Fprintf(w, "| %s |", sc.Label(cfg))
		for _, pool := range pools {
			if st, ok := cellFor(sc, cfg, pool, m); ok {
				fmt.Fprintf(w, " %s |", humanValue(st.Summary.Center, m.Unit))
			} else {
				fmt.Fprint(w, " |")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// writeProbe tells the reader how to read the CPU-speed probe rows of the
// header, if there are any, and warns when they show that the machine's
// speed changed during the run.
func (r *Report) writeProbe(w io.Writer, ratio, spread float64, probed bool) {
	has := false
	for _, kv := range r.Machine {
		has = has || strings.HasPrefix(kv[0], probeKey+" ")
	}
	if !has {
		return
	}
	fmt.Fprintf(w, "The %s rows time the same fixed busy loop (register arithmetic only, in %s: lower is faster) "+
		"just before and just after the benchmarks: they should agree within a few percent, and a big difference "+
		"between before and after (or a big spread within one) means the machine's speed changed during the run, "+
		"so differences of that size between results are the machine's, not the pools'.\n\n", probeKey, probeUnit)
	switch {
	case !probed:
	case math.Abs(ratio-1) >= probeWarn:
		unsteady := ""
		if spread >= probeWarn {
			unsteady = fmt.Sprintf(", and the runs of one probe spread over %.0f%% of their median", 100*spread)
		}
		fmt.Fprintf(w, "> **The machine's speed changed during this run**: the CPU probe's %s%s. "+
			"Treat differences of that order between results as noise, and rerun on a quieter machine before trusting them.\n\n",
			probeChangeString(ratio), unsteady)
	case spread >= probeWarn:
		fmt.Fprintf(w, "> **The machine was unsteady while probed**: the times of one CPU probe's runs spread over %.0f%% of their median, "+
			"so something else was running. Treat differences of that order between results as noise.\n\n", 100*spread)
	}
}

// writeContenders lists the pools that appear in the report, with what
// each is and the part it plays.
func (r *Report) writeContenders(w io.Writer) {
	var present []string
	for _, sc := range r.DS.Scenarios {
		for _, pool := range sc.Pools {
			if !contains(present, pool) {
				present = append(present, pool)
			}
		}
	}
	if len(present) == 0 {
		return
	}
	fmt.Fprintf(w, "## Contenders\n\n")
	for _, pool := range sortPools(present) {
		pi := poolInfo(pool)
		about := pi.About
		if about == "" {
			about = "a peer."
		}
		fmt.Fprintf(w, "- `%s` (%s): %s\n", pool, roleWords[pi.Role], about)
	}
	fmt.Fprintln(w)
}

// roleWords names each Role in the list of contenders.
var roleWords = map[Role]string{
	RoleSubject:    "the pool under test",
	RoleBaseline:   "the baseline, every ratio's reference",
	RolePeer:       "peer",
	RoleLowerBound: "lower bound, not a peer",
}

// ownSentence quotes a shardpool-only scenario's figures at each of its
// configurations: every metric, in the spec's order.
func ownSentence(sc *Scenario, sp Spec) string {
	var parts []string
	for _, cfg := range sc.Configs {
		var vals []string
		for _, m := range sp.Metrics {
			if x, ok := cellFor(sc, cfg, poolShard, m); ok {
				vals = append(vals, fmt.Sprintf("%s %s", m.Title, humanValue(x.Summary.Center, m.Unit)))
			}
		}
		if len(vals) > 0 {
			parts = append(parts, fmt.Sprintf("at %s: %s", sc.Label(cfg), strings.Join(vals, ", ")))
		}
	}
	if len(parts) == 0 {
		return "No data."
	}
	s := strings.Join(parts, "; ") + "."
	return strings.ToUpper(s[:1]) + s[1:]
}
