// Command goredis-suitecmp compares two runs of go-redis's test suite, one
// of stock go-redis and one of the overlay on shardpool, spec by spec, as
// scripts/goredis-suite.sh records them.
//
// Usage:
//
//	goredis-suitecmp -stock DIR -overlay DIR
//
// Each directory holds, for each package run under a label L, the JUnit
// report of its Ginkgo specs (L.junit.xml, from -ginkgo.reportFile) and the
// `go test -json` stream of the run (L.json), which gives the package's
// plain tests (Test*, Example*) and tells a crashed run from a finished
// one. Specs are named "L: <spec text>", with " #n" added to the nth
// repeat of a name; both runs must use the same -ginkgo.seed, so that
// repeats come in the same order.
//
// It prints, for each run, how many specs and tests passed, failed and
// were skipped (unfocused specs count as skipped), then every one whose
// outcome differs between the runs, with the overlay's failure message. A
// spec missing from a run (its suite crashed or timed out) is "missing".
// It exits 1 if any spec or test that passed on stock did not pass on the
// overlay, and 2 if it cannot read the results.
package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Outcomes of a spec or test.
const (
	passed  = "passed"
	failed  = "failed"
	skipped = "skipped"
	missing = "missing"
)

// result is one spec's or test's outcome in one run, and why it failed.
type result struct {
	outcome string
	reason  string
}

// run is the results of one copy: by name, and the names in the order met.
type run struct {
	results map[string]result
	order   []string
	notes   []string // what the run's files say beyond the results
}

func (r *run) add(name string, res result) {
	if r.results == nil {
		r.results = make(map[string]result)
	}
	key := name
	for n := 2; ; n++ {
		if _, dup := r.results[key]; !dup {
			break
		}
		key = fmt.Sprintf("%s #%d", name, n)
	}
	r.results[key] = res
	r.order = append(r.order, key)
}

func (r *run) outcome(name string) result {
	if res, ok := r.results[name]; ok {
		return res
	}
	return result{outcome: missing}
}

// tally counts the outcomes.
func (r *run) tally() map[string]int {
	t := make(map[string]int)
	for _, res := range r.results {
		t[res.outcome]++
	}
	return t
}

// junitSuite is the part of Ginkgo v1's JUnit report read here.
type junitSuite struct {
	Cases []struct {
		Name    string `xml:"name,attr"`
		Failure *struct {
			Message string `xml:",chardata"`
		} `xml:"failure"`
		Skipped *struct{} `xml:"skipped"`
	} `xml:"testcase"`
}

// readJUnit adds the specs of a JUnit report to r, each named label: text.
func readJUnit(r *run, label, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s junitSuite
	if err := xml.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range s.Cases {
		res := result{outcome: passed}
		switch {
		case c.Failure != nil:
			res = result{outcome: failed, reason: specReason(c.Failure.Message)}
		case c.Skipped != nil:
			res.outcome = skipped
		}
		r.add(label+": "+c.Name, res)
	}
	return nil
}

// specReason condenses a Ginkgo failure message (the spec's location, the
// message, where it failed) to one line.
func specReason(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	if len(lines) >= 3 {
		where := filepath.Base(strings.TrimSpace(lines[len(lines)-1]))
		return oneLine(strings.Join(lines[1:len(lines)-1], " ")) + " (" + where + ")"
	}
	return oneLine(msg)
}

// oneLine squeezes whitespace and cuts s to a readable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 240 {
		s = s[:237] + "..."
	}
	return s
}

// testEvent is a line of `go test -json`.
type testEvent struct {
	Action string
	Test   string
	Output string
}

// fileLine finds a test's failure line in its output ("    x_test.go:12: ...").
var fileLine = regexp.MustCompile(`^\s+\S+\.go:\d+: `)

// readTestJSON adds the plain tests of a `go test -json` stream to r, each
// named label: TestName, except suiteTest (whose specs the JUnit report
// gives). It reports whether the package's run ended (pass or fail)
// rather than stopping short (a crash, a timeout), and notes a package that
// failed outside any test (a build failure, say).
func readTestJSON(r *run, label, path, suiteTest string) (ended bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	firstFailure := make(map[string]string)
	var pkgOutput []string
	before := len(r.order)
	sawSuite := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev testEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // go test's own lines, such as a build failure's
		}
		switch {
		case ev.Test == "" && (ev.Action == "pass" || ev.Action == "fail"):
			ended = true
			if ev.Action == "fail" && len(r.order) == before && !sawSuite {
				r.notes = append(r.notes, fmt.Sprintf("%s: the package failed: %s", label, oneLine(strings.Join(pkgOutput, " "))))
			}
		case ev.Test == "" && ev.Action == "output":
			pkgOutput = append(pkgOutput, ev.Output)
		case ev.Test == suiteTest || strings.HasPrefix(ev.Test, suiteTest+"/"):
			sawSuite = true
		case ev.Action == "output":
			if _, seen := firstFailure[ev.Test]; !seen && fileLine.MatchString(ev.Output) {
				firstFailure[ev.Test] = oneLine(ev.Output)
			}
		case ev.Action == "pass":
			r.add(label+": "+ev.Test, result{outcome: passed})
		case ev.Action == "skip":
			r.add(label+": "+ev.Test, result{outcome: skipped})
		case ev.Action == "fail":
			r.add(label+": "+ev.Test, result{outcome: failed, reason: firstFailure[ev.Test]})
		}
	}
	return ended, sc.Err()
}

// readRun reads every package's results in dir.
func readRun(dir string) (*run, error) {
	r := &run{}
	streams, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(streams) == 0 {
		return nil, fmt.Errorf("%s: no results (*.json)", dir)
	}
	sort.Strings(streams)
	for _, stream := range streams {
		label := strings.TrimSuffix(filepath.Base(stream), ".json")
		ended, err := readTestJSON(r, label, stream, "TestGinkgoSuite")
		if err != nil {
			return nil, err
		}
		if !ended {
			r.notes = append(r.notes, label+": the run did not finish (crash or timeout)")
		}
		err = readJUnit(r, label, filepath.Join(dir, label+".junit.xml"))
		if errors.Is(err, fs.ErrNotExist) {
			r.notes = append(r.notes, label+": no JUnit report: its Ginkgo suite did not finish")
		} else if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// compare writes the tallies and the differences between stock and overlay
// to w, and returns the specs and tests that passed on stock and not on
// the overlay, and those only the overlay has that failed there.
func compare(w io.Writer, stock, overlay *run) []string {
	fmt.Fprintf(w, "%-8s %7s %7s %7s\n", "", passed, failed, skipped)
	for _, c := range []struct {
		name string
		r    *run
	}{{"stock", stock}, {"overlay", overlay}} {
		t := c.r.tally()
		fmt.Fprintf(w, "%-8s %7d %7d %7d\n", c.name, t[passed], t[failed], t[skipped])
		for _, n := range c.r.notes {
			fmt.Fprintf(w, "  %s: %s\n", c.name, n)
		}
	}
	names := append([]string(nil), stock.order...)
	for _, n := range overlay.order {
		if _, ok := stock.results[n]; !ok {
			names = append(names, n)
		}
	}
	var diffs, regressions []string
	for _, n := range names {
		s, o := stock.outcome(n), overlay.outcome(n)
		if s.outcome == o.outcome {
			continue
		}
		// A spec that passed on stock must pass on the overlay, and the
		// overlay's own tests (missing on stock) must pass.
		if s.outcome == passed || (s.outcome == missing && o.outcome == failed) {
			regressions = append(regressions, n)
		}
		line := fmt.Sprintf("  %-7s -> %-7s  %s", s.outcome, o.outcome, n)
		switch {
		case o.reason != "":
			line += "\n      overlay: " + o.reason
		case s.reason != "":
			line += "\n      stock: " + s.reason
		}
		diffs = append(diffs, line)
	}
	fmt.Fprintf(w, "\noutcomes that differ (stock -> overlay): %d\n", len(diffs))
	for _, d := range diffs {
		fmt.Fprintln(w, d)
	}
	fmt.Fprintf(w, "\n%d that passed on stock (or are the overlay's own) did not pass on the overlay\n", len(regressions))
	return regressions
}

// rootLabel is the label of the root package's runs, whose Ginkgo specs
// can be run again by focus.
const rootLabel = "root"

// specText returns the Ginkgo spec text of a result name of the root
// package ("root: text", "root: text #2"), or "" for another package's.
func specText(name string) string {
	text, ok := strings.CutPrefix(name, rootLabel+": ")
	if !ok || strings.HasPrefix(text, "Test") || strings.HasPrefix(text, "Example") {
		return ""
	}
	if i := strings.LastIndex(text, " #"); i > 0 {
		text = text[:i]
	}
	return text
}

// focus returns a -ginkgo.focus that runs exactly the root specs among
// names (Ginkgo v1 matches it against the suite's description, then
// "[Top Level] " and the spec's text), and whether there are any: specs of
// other packages and plain tests cannot be run again this way.
func focus(names []string) (string, bool) {
	var alts []string
	seen := make(map[string]bool)
	for _, n := range names {
		if t := specText(n); t != "" && !seen[t] {
			seen[t] = true
			alts = append(alts, regexp.QuoteMeta(t))
		}
	}
	if len(alts) == 0 {
		return "", false
	}
	return ` \[Top Level\] (` + strings.Join(alts, "|") + `)$`, true
}

// confirm reruns' verdict on each regression: it stands only where the
// reruns reproduce it exactly, passing in every stock rerun and failing in
// every overlay rerun. A spec that also fails on stock, or also passes on
// the overlay, when run again is a flake of the machine or the server, not
// a difference the pool makes: a pool that breaks a spec breaks it every
// time. A regression that cannot be run again (not a root spec) stands.
// It writes the counts and returns the regressions that stand.
func confirm(w io.Writer, regressions []string, stockRuns, overlayRuns []*run) []string {
	var stand []string
	fmt.Fprintf(w, "\nrun again, %d times on each copy:\n", len(stockRuns))
	for _, n := range regressions {
		if specText(n) == "" {
			fmt.Fprintf(w, "  stands (not a Ginkgo spec, not run again)  %s\n", n)
			stand = append(stand, n)
			continue
		}
		sp, op := passes(stockRuns, n), passes(overlayRuns, n)
		verdict := "flaky"
		if sp == len(stockRuns) && op == 0 {
			verdict = "stands"
			stand = append(stand, n)
		}
		fmt.Fprintf(w, "  %-6s  stock passed %d/%d, overlay %d/%d  %s\n", verdict, sp, len(stockRuns), op, len(overlayRuns), n)
	}
	fmt.Fprintf(w, "\n%d that passed on stock (or are the overlay's own) did not pass on the overlay, run again included\n", len(stand))
	return stand
}

// passes counts the runs in which spec name (its first occurrence) passed.
func passes(runs []*run, name string) int {
	text := specText(name)
	n := 0
	for _, r := range runs {
		if r.outcome(rootLabel+": "+text).outcome == passed {
			n++
		}
	}
	return n
}

// readRuns reads the comma-separated result directories in list.
func readRuns(list string) ([]*run, error) {
	var runs []*run
	for _, dir := range strings.Split(list, ",") {
		if dir == "" {
			continue
		}
		r, err := readRun(dir)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func main() {
	stockDir := flag.String("stock", "", "`DIR` with the stock run's results")
	overlayDir := flag.String("overlay", "", "`DIR` with the overlay's results")
	printFocus := flag.Bool("focus", false, "print a -ginkgo.focus for the root specs that passed on stock and not on the overlay, and exit 0 (1 if there are none)")
	rerunStock := flag.String("rerun-stock", "", "comma-separated `DIRS` of stock runs of those specs again, to tell flakes from differences")
	rerunOverlay := flag.String("rerun-overlay", "", "comma-separated `DIRS` of overlay runs of those specs again")
	flag.Parse()
	if *stockDir == "" || *overlayDir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: goredis-suitecmp -stock DIR -overlay DIR [-focus | -rerun-stock DIRS -rerun-overlay DIRS]")
		os.Exit(2)
	}
	if err := run1(*stockDir, *overlayDir, *printFocus, *rerunStock, *rerunOverlay); err != nil {
		if err == errDiffer {
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "goredis-suitecmp:", err)
		os.Exit(2)
	}
}

// errDiffer is run1's verdict that the overlay fails what stock passes.
var errDiffer = errors.New("outcomes differ")

func run1(stockDir, overlayDir string, printFocus bool, rerunStock, rerunOverlay string) error {
	stock, err := readRun(stockDir)
	if err != nil {
		return err
	}
	overlay, err := readRun(overlayDir)
	if err != nil {
		return err
	}
	if printFocus {
		f, ok := focus(compare(io.Discard, stock, overlay))
		if !ok {
			return errDiffer
		}
		fmt.Println(f)
		return nil
	}
	regressions := compare(os.Stdout, stock, overlay)
	if rerunStock != "" || rerunOverlay != "" {
		stockRuns, err := readRuns(rerunStock)
		if err != nil {
			return err
		}
		overlayRuns, err := readRuns(rerunOverlay)
		if err != nil {
			return err
		}
		if len(stockRuns) == 0 || len(stockRuns) != len(overlayRuns) {
			return fmt.Errorf("-rerun-stock and -rerun-overlay must name as many runs, at least one")
		}
		regressions = confirm(os.Stdout, regressions, stockRuns, overlayRuns)
	}
	if len(regressions) > 0 {
		return errDiffer
	}
	return nil
}
