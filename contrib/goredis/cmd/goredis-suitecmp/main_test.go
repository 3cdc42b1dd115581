package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// junit renders a Ginkgo v1 JUnit report of cases given as name=outcome.
func junit(cases ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<testsuite name=\"go-redis\">\n")
	for _, c := range cases {
		name, outcome, _ := strings.Cut(c, "=")
		switch outcome {
		case failed:
			b.WriteString(`<testcase name="` + name + `"><failure type="Failure">/x/a_test.go:10&#xA;Expected&#xA;    1&#xA;to equal 2&#xA;/x/a_test.go:12</failure></testcase>` + "\n")
		case skipped:
			b.WriteString(`<testcase name="` + name + `"><skipped></skipped></testcase>` + "\n")
		default:
			b.WriteString(`<testcase name="` + name + `"></testcase>` + "\n")
		}
	}
	b.WriteString("</testsuite>\n")
	return b.String()
}

// stream renders a `go test -json` stream: the Ginkgo suite's test, tests
// given as name=outcome, and the package's end unless cut.
func stream(cut bool, tests ...string) string {
	var b strings.Builder
	b.WriteString(`{"Action":"run","Test":"TestGinkgoSuite"}` + "\n")
	b.WriteString(`{"Action":"fail","Test":"TestGinkgoSuite"}` + "\n")
	for _, t := range tests {
		name, outcome, _ := strings.Cut(t, "=")
		if outcome == failed {
			b.WriteString(`{"Action":"output","Test":"` + name + `","Output":"    x_test.go:7: boom\n"}` + "\n")
		}
		action := map[string]string{passed: "pass", failed: "fail", skipped: "skip"}[outcome]
		b.WriteString(`{"Action":"` + action + `","Test":"` + name + `"}` + "\n")
	}
	if !cut {
		b.WriteString(`{"Action":"fail"}` + "\n")
	}
	return b.String()
}

func writeRun(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	return dir
}

func TestCompare(t *testing.T) {
	stockDir := writeRun(t, map[string]string{
		"pool.json":      stream(false, "TestA=passed", "TestB=skipped"),
		"pool.junit.xml": junit("ConnPool works=passed", "dup=passed", "dup=passed", "gone=failed"),
		"root.json":      stream(false),
		"root.junit.xml": junit("Client pings=passed", "Cluster on Redis 7=failed"),
	})
	overlayDir := writeRun(t, map[string]string{
		"pool.json":      stream(false, "TestA=failed", "TestB=skipped", "TestNew=passed", "TestOwn=failed"),
		"pool.junit.xml": junit("ConnPool works=passed", "dup=passed", "dup=failed", "gone=passed"),
		"root.json":      stream(true), // crashed: no JUnit report
	})
	stock, err := readRun(stockDir)
	require.NoError(t, err)
	overlay, err := readRun(overlayDir)
	require.NoError(t, err)

	var out strings.Builder
	regressions := compare(&out, stock, overlay)
	text := out.String()
	assert.Equal(t, []string{"pool: TestA", "pool: dup #2", "root: Client pings", "pool: TestOwn"}, regressions, text)
	for _, want := range []string{
		"stock          5       2       1",
		"overlay        4       3       1",
		"overlay: root: the run did not finish (crash or timeout)",
		"overlay: root: no JUnit report: its Ginkgo suite did not finish",
		"passed  -> failed   pool: TestA\n      overlay: x_test.go:7: boom",
		"passed  -> failed   pool: dup #2\n      overlay: Expected 1 to equal 2 (a_test.go:12)",
		"failed  -> passed   pool: gone",
		"passed  -> missing  root: Client pings",
		"failed  -> missing  root: Cluster on Redis 7",
		"missing -> passed   pool: TestNew",
		"missing -> failed   pool: TestOwn",
		"4 that passed on stock (or are the overlay's own) did not pass on the overlay",
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "TestGinkgoSuite")
	assert.NotContains(t, text, "ConnPool works")
}

func TestReadRunWithoutResults(t *testing.T) {
	_, err := readRun(t.TempDir())
	assert.ErrorContains(t, err, "no results")
}

// A regression stands only if running it again reproduces it exactly: a
// spec that also fails on stock, or also passes on the overlay, when run
// again is a flake. Only the root package's specs can be run again.
func TestConfirmTellsFlakesFromDifferences(t *testing.T) {
	rerun := func(cases ...string) *run {
		r, err := readRun(writeRun(t, map[string]string{"root.json": stream(false), "root.junit.xml": junit(cases...)}))
		require.NoError(t, err)
		return r
	}
	regressions := []string{"root: always breaks", "root: flaky on stock", "root: flaky on overlay", "pool: TestA"}
	stockRuns := []*run{
		rerun("always breaks=passed", "flaky on stock=failed", "flaky on overlay=passed"),
		rerun("always breaks=passed", "flaky on stock=passed", "flaky on overlay=passed"),
	}
	overlayRuns := []*run{
		rerun("always breaks=failed", "flaky on stock=failed", "flaky on overlay=failed"),
		rerun("always breaks=failed", "flaky on stock=failed", "flaky on overlay=passed"),
	}
	var out strings.Builder
	stand := confirm(&out, regressions, stockRuns, overlayRuns)
	assert.Equal(t, []string{"root: always breaks", "pool: TestA"}, stand, out.String())
	assert.Contains(t, out.String(), "flaky   stock passed 1/2, overlay 0/2  root: flaky on stock")
	assert.Contains(t, out.String(), "flaky   stock passed 2/2, overlay 1/2  root: flaky on overlay")

	f, ok := focus(regressions)
	require.True(t, ok)
	assert.Equal(t, ` \[Top Level\] (always breaks|flaky on stock|flaky on overlay)$`, f)
	// What Ginkgo v1 matches it against: the suite's description, then
	// the spec's full text.
	assert.Regexp(t, f, "go-redis [Top Level] flaky on stock")
	assert.NotRegexp(t, f, "go-redis [Top Level] flaky on stock too")
	_, ok = focus([]string{"pool: TestA", "root: TestGinkgoSuite"})
	assert.False(t, ok, "plain tests cannot be focused")
}
