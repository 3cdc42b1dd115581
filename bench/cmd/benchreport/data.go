package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchproc"
)

// configKeys are the sub-benchmark keys (besides pool) that tell the
// configurations of a scenario apart, in the order labels show them.
var configKeys = []string{"server", "size", "goroutines", "caller", "expiry", "stale", "sweeps", "gomaxprocs"}

// Config is one configuration of a scenario: the values of configKeys.
type Config struct {
	id     string            // every key, for lookups
	Values map[string]string // key -> value; missing keys are ""
}

// Scenario holds the samples of one benchmark function.
type Scenario struct {
	Name    string   // benchmark name without "Benchmark"
	Configs []Config // in the order first seen
	Pools   []string // in the order first seen
	byID    map[string]int
	samples map[sampleKey][]float64
	varying []string // the configKeys whose values differ between Configs
}

type sampleKey struct{ config, pool, unit string }

// Dataset is every scenario read from a set of benchmark output files.
type Dataset struct {
	Scenarios map[string]*Scenario
}

// Load reads Go benchmark output files with benchfmt and groups them with
// benchproc projections: by benchmark name, by pool, and by configuration.
func Load(paths []string) (*Dataset, error) {
	filter, err := benchproc.NewFilter("*")
	if err != nil {
		return nil, err
	}
	var parser benchproc.ProjectionParser
	nameProj, err := parser.Parse(".name", filter)
	if err != nil {
		return nil, err
	}
	poolProj, err := parser.Parse("/pool", filter)
	if err != nil {
		return nil, err
	}
	cfgProj, err := parser.Parse("/"+strings.Join(configKeys, ",/"), filter)
	if err != nil {
		return nil, err
	}
	cfgFields := cfgProj.Fields()

	ds := &Dataset{Scenarios: map[string]*Scenario{}}
	files := benchfmt.Files{Paths: paths}
	for files.Scan() {
		res, ok := files.Result().(*benchfmt.Result)
		if !ok {
			continue // syntax errors and unit metadata
		}
		name := nameProj.Project(res).Get(nameProj.Fields()[0])
		sc := ds.Scenarios[name]
		if sc == nil {
			sc = &Scenario{Name: name, byID: map[string]int{}, samples: map[sampleKey][]float64{}}
			ds.Scenarios[name] = sc
		}
		pool := poolProj.Project(res).Get(poolProj.Fields()[0])
		if !contains(sc.Pools, pool) {
			sc.Pools = append(sc.Pools, pool)
		}
		key := cfgProj.Project(res)
		cfg := Config{Values: map[string]string{}}
		var id []string
		for i, f := range cfgFields {
			v := key.Get(f)
			if configKeys[i] == "gomaxprocs" && v == "" {
				v = "1" // go test leaves the -1 off names
			}
			cfg.Values[configKeys[i]] = v
			id = append(id, configKeys[i]+"="+v)
		}
		cfg.id = strings.Join(id, " ")
		if _, ok := sc.byID[cfg.id]; !ok {
			sc.byID[cfg.id] = len(sc.Configs)
			sc.Configs = append(sc.Configs, cfg)
		}
		for _, v := range res.Values {
			unit, value := v.Unit, v.Value
			if v.OrigUnit != "" { // benchfmt tidies ns/op into sec/op; keep what was written
				unit, value = v.OrigUnit, v.OrigValue
			}
			k := sampleKey{cfg.id, pool, unit}
			sc.samples[k] = append(sc.samples[k], value)
		}
	}
	if err := files.Err(); err != nil {
		return nil, err
	}
	for _, sc := range ds.Scenarios {
		sc.sortConfigs()
		for _, k := range configKeys {
			seen := map[string]bool{}
			for _, c := range sc.Configs {
				seen[c.Values[k]] = true
			}
			if len(seen) > 1 {
				sc.varying = append(sc.varying, k)
			}
		}
	}
	return ds, nil
}

// sortConfigs orders configurations by their keys, numerically where the
// values are numbers (64x counts as 64), keeping first-seen order for ties.
func (sc *Scenario) sortConfigs() {
	sort.SliceStable(sc.Configs, func(i, j int) bool {
		for _, k := range configKeys {
			a, b := sc.Configs[i].Values[k], sc.Configs[j].Values[k]
			if a == b {
				continue
			}
			na, errA := strconv.ParseFloat(strings.TrimSuffix(a, "x"), 64)
			nb, errB := strconv.ParseFloat(strings.TrimSuffix(b, "x"), 64)
			if errA == nil && errB == nil {
				return na < nb
			}
			return false // keep first-seen order for words
		}
		return false
	})
	for i, c := range sc.Configs {
		sc.byID[c.id] = i
	}
}

// Label names cfg by the keys that vary within the scenario.
func (sc *Scenario) Label(cfg Config) string {
	var parts []string
	for _, k := range sc.varying {
		name := k
		if k == "gomaxprocs" {
			name = "cpu"
		}
		parts = append(parts, name+"="+cfg.Values[k])
	}
	if len(parts) == 0 {
		return "(one configuration)"
	}
	return strings.Join(parts, " ")
}

// Samples returns the measurements of pool at cfg in unit.
func (sc *Scenario) Samples(cfg Config, pool, unit string) []float64 {
	return sc.samples[sampleKey{cfg.id, pool, unit}]
}

// HasUnit reports whether any pool reported unit.
func (sc *Scenario) HasUnit(unit string) bool {
	for k := range sc.samples {
		if k.unit == unit {
			return true
		}
	}
	return false
}

// Select returns the configurations whose values match want (all of them
// for an empty want). A wanted value of "max" matches the numerically
// largest value present; "a|b" matches a if some configuration has it,
// else b (so that a headline can prefer a load that older runs lack).
func (sc *Scenario) Select(want map[string]string) []Config {
	resolved := map[string]string{}
	for k, w := range want {
		best, bestN := "", -1.0
		for _, c := range sc.Configs {
			v := c.Values[k]
			if n, err := strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64); err == nil && n > bestN {
				best, bestN = v, n
			}
		}
		resolved[k] = w
		switch {
		case w == "max":
			resolved[k] = best
		case strings.Contains(w, "|"):
			resolved[k] = firstPresent(sc, k, strings.Split(w, "|"))
		}
	}
	var out []Config
	for _, c := range sc.Configs {
		ok := true
		for k, v := range resolved {
			if c.Values[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// firstPresent returns the first of values that some configuration of sc
// has for key k, or the last of them when none has any.
func firstPresent(sc *Scenario, k string, values []string) string {
	for _, v := range values {
		for _, c := range sc.Configs {
			if c.Values[k] == v {
				return v
			}
		}
	}
	return values[len(values)-1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// humanValue formats a measurement in unit for a table.
func humanValue(v float64, unit string) string {
	switch {
	case strings.HasSuffix(unit, "ns") || unit == "ns/op":
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.3g s", v/1e9)
		case v >= 1e6:
			return fmt.Sprintf("%.3g ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.3g µs", v/1e3)
		default:
			return fmt.Sprintf("%.3g ns", v)
		}
	case strings.HasSuffix(unit, "%"):
		return fmt.Sprintf("%.3g%%", v)
	case unit == "ops/s":
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.3gM/s", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.3gk/s", v/1e3)
		default:
			return fmt.Sprintf("%.3g/s", v)
		}
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
