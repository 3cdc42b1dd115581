// Package bench compares shardpool's ConnPool with the pool it replaces (the
// go-redis v8 design in package baseline) and with the pools people pick
// instead: jackc/puddle/v2, a hand-rolled buffered-channel pool, and
// sync.Pool as a lower bound.
//
// Every contender is driven through the Pool adapter, so each scenario is
// written once. The scenarios are Go benchmarks in this package's test
// files, each named after the question it answers; scripts/bench.sh at the
// repository root runs them and cmd/benchreport turns their output into a
// report with benchstat's statistics and gonum/plot charts.
package bench
