package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
)

// compareCmd compares the time per op of every benchmark in two runs and
// reports whether any regressed beyond noise.
func compareCmd(args []string, w io.Writer) (bool, error) {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	threshold := fs.Float64("threshold", 0.05, "smallest relative slow-down that counts, when significant")
	_ = fs.Parse(args)
	if fs.NArg() != 2 {
		return false, fmt.Errorf("compare wants two files, OLD and NEW")
	}
	old, err := Load(fs.Args()[:1])
	if err != nil {
		return false, err
	}
	cur, err := Load(fs.Args()[1:])
	if err != nil {
		return false, err
	}
	var names []string
	for name := range cur.Scenarios {
		names = append(names, name)
	}
	sort.Strings(names)
	regressed, compared := false, 0
	for _, name := range names {
		sc, osc := cur.Scenarios[name], old.Scenarios[name]
		if osc == nil {
			continue
		}
		for _, cfg := range sc.Configs {
			for _, pool := range sc.Pools {
				x, okX := cellFor(sc, cfg, pool, nsPerOp)
				o, okO := summarize(osc.Samples(cfg, pool, nsPerOp.Unit), nsPerOp.Unit)
				if !okX || !okO {
					continue
				}
				compared++
				v := versus(x, o, false)
				status := "ok"
				if v.Significant && !v.Better && v.Ratio-1 > *threshold {
					status = "REGRESSION"
					regressed = true
				}
				fmt.Fprintf(w, "%-10s %s/pool=%s %s: %s -> %s, %s\n", status, name, pool, sc.Label(cfg),
					humanValue(o.Summary.Center, "ns/op"), humanValue(x.Summary.Center, "ns/op"), v)
			}
		}
	}
	if compared == 0 {
		return false, fmt.Errorf("no benchmark in common")
	}
	if regressed {
		fmt.Fprintf(w, "regressions beyond noise (U test at α=0.05 and more than %.0f%% slower)\n", *threshold*100)
	} else {
		fmt.Fprintf(w, "no regression beyond noise in %d comparisons\n", compared)
	}
	return regressed, nil
}
