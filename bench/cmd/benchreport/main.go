// Command benchreport turns the output of the bench module's benchmarks into
// a report, and gates regressions.
//
//	benchreport report -out DIR [-machine FILE] [-note TEXT]... [-hdr LOG]... RAW...
//	benchreport compare [-threshold 0.05] OLD NEW
//	benchreport cpuprobe [-label before|after] [-runs 5] [-iters 50000000]
//	benchreport freeport
//
// report writes DIR/report.md (tables with benchstat's statistics, one
// verdict per scenario, the places where shardpool loses) and PNG charts
// drawn with gonum/plot. RAW are `go test -bench` outputs; their paths are
// linked from the report relative to DIR. -machine names a file of
// "key: value" lines describing the machine; its "CPU probe before" and
// "CPU probe after" lines, if any, are compared in the report's header.
// -hdr names the exhaustion scenario's histogram logs (bench.SaveHistogram),
// from which the report draws a percentile plot per goroutine count.
//
// compare reads two `go test -bench` outputs of the same benchmarks and
// exits with status 1 if any time per op got worse beyond noise: the
// Mann-Whitney U test rejects "same distribution" (α=0.05) and the median
// grew by more than -threshold.
//
// cpuprobe times a fixed, allocation-free busy loop -runs times (about
// 60 ms each) and prints the median time per iteration, its range and
// spread; with -label it prints the machine.txt line "CPU probe LABEL: ...".
// scripts/bench.sh probes before and after the benchmarks, so that a slow
// period of a shared machine shows in the report.
//
// freeport prints a TCP port that is free on 127.0.0.1, for the real
// redis-server.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shardpool/shardpool/bench/internal/freeport"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "report":
		err = reportCmd(os.Args[2:])
	case "compare":
		var regressed bool
		regressed, err = compareCmd(os.Args[2:], os.Stdout)
		if err == nil && regressed {
			os.Exit(1)
		}
	case "cpuprobe":
		err = cpuProbeCmd(os.Args[2:], os.Stdout)
	case "freeport":
		err = freePort()
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchreport report -out DIR [-machine FILE] [-note TEXT]... [-hdr LOG]... RAW...\n       benchreport compare [-threshold F] OLD NEW\n       benchreport cpuprobe [-label L] [-runs N] [-iters N]\n       benchreport freeport")
	os.Exit(2)
}

// notes collects repeated -note flags.
type notes []string

func (n *notes) String() string     { return strings.Join(*n, "; ") }
func (n *notes) Set(v string) error { *n = append(*n, v); return nil }

func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	out := fs.String("out", "bench-report", "report directory")
	machine := fs.String("machine", "", "file of `key: value` lines describing the machine")
	var ns, hdrLogs notes
	fs.Var(&ns, "note", "a line for the top of the report (repeatable)")
	fs.Var(&hdrLogs, "hdr", "an HdrHistogram interval log of the exhaustion scenario (repeatable)")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		return fmt.Errorf("no benchmark output files")
	}
	ds, err := Load(fs.Args())
	if err != nil {
		return err
	}
	r := &Report{DS: ds, Notes: ns}
	if *machine != "" {
		if r.Machine, err = readMachine(*machine); err != nil {
			return err
		}
	}
	for _, raw := range fs.Args() {
		rel, err := filepath.Rel(*out, raw)
		if err != nil {
			rel = raw
		}
		r.Raw = append(r.Raw, filepath.ToSlash(rel))
	}
	var hdr hdrSet
	if len(hdrLogs) > 0 {
		if hdr, err = loadHDR(hdrLogs); err != nil {
			return err
		}
	}
	if r.Charts, err = Charts(ds, hdr, *out); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*out, "report.md"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	r.Write(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readMachine reads "key: value" lines.
func readMachine(path string) ([][2]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kvs [][2]string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			kvs = append(kvs, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return kvs, nil
}

// freePort prints a port the kernel reports free on 127.0.0.1.
func freePort() error {
	port, err := freeport.Loopback()
	if err != nil {
		return err
	}
	fmt.Println(port)
	return nil
}
