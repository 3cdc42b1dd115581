package shardpoolprom_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/shardpool/shardpool"
	shardpoolprom "github.com/shardpool/shardpool/contrib/prometheus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeDialer dials in-memory connections and counts them.
type pipeDialer struct {
	dials atomic.Int32
	fail  atomic.Bool
}

func (d *pipeDialer) dial(context.Context) (net.Conn, error) {
	if d.fail.Load() {
		return nil, errors.New("dial refused")
	}
	d.dials.Add(1)
	a, b := net.Pipe()
	go func() { // the far end: closes when the near end does
		_, _ = b.Read(make([]byte, 1))
		_ = b.Close()
	}()
	return a, nil
}

// newPool makes a pool whose hooks feed c under the name "cache".
func newPool(t *testing.T, c *shardpoolprom.Collector, opt shardpool.Options) (*shardpool.ConnPool, *pipeDialer) {
	t.Helper()
	return newPoolNamed(t, c, "cache", opt)
}

// drive brings p to known counts: 3 dials (one of them a failure's
// retry), 2 hits, 1 timeout, 1 refusal, 1 connection closed on Remove and
// 1 for the idle cap; it leaves 1 idle and 1 in use.
func drive(t *testing.T, p *shardpool.ConnPool, d *pipeDialer) {
	t.Helper()
	ctx := context.Background()
	a, err := p.Get(ctx) // miss
	require.NoError(t, err)
	b, err := p.Get(ctx) // miss
	require.NoError(t, err)
	_, err = p.Get(ctx) // PoolSize 2: waits, times out
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)

	// MaxWaiters 1: one waits, the next is refused.
	got := make(chan *shardpool.Conn)
	go func() { cn, _ := p.Get(ctx); got <- cn }()
	require.Eventually(t, func() bool { return p.Stats().PendingRequests == 1 }, 5*time.Second, time.Millisecond)
	_, err = p.Get(ctx)
	require.ErrorIs(t, err, shardpool.ErrPoolExhausted)
	p.Put(a) // hands a to the waiter: a wait served
	a = <-got

	p.Remove(b, nil) // closed: removed
	d.fail.Store(true)
	_, err = p.Get(ctx) // dial fails
	require.Error(t, err)
	d.fail.Store(false)
	b, err = p.Get(ctx) // miss
	require.NoError(t, err)
	p.Put(b)             // idle
	c, err := p.Get(ctx) // hit
	require.NoError(t, err)
	p.Put(c)
	// A second idle connection is over MaxIdleConns 1: closed.
	p.Put(a)
	b, err = p.Get(ctx) // hit
	require.NoError(t, err)
	_ = b // in use
}

func TestCollectorReadsStats(t *testing.T) {
	c := shardpoolprom.NewCollector(shardpoolprom.Opts{Namespace: "app"})
	p, d := newPool(t, c, shardpool.Options{PoolSize: 2, MaxIdleConns: 1, MaxWaiters: 1, PoolTimeout: 30 * time.Millisecond})
	drive(t, p, d)
	p2, _ := newPoolNamed(t, c, "other", shardpool.Options{PoolSize: 7})
	_ = p2

	const want = `
# HELP app_pool_conn_idle_current Idle connections.
# TYPE app_pool_conn_idle_current gauge
app_pool_conn_idle_current{pool="cache"} 0
app_pool_conn_idle_current{pool="other"} 0
# HELP app_pool_conn_in_use_current Connections checked out (held less idle).
# TYPE app_pool_conn_in_use_current gauge
app_pool_conn_in_use_current{pool="cache"} 1
app_pool_conn_in_use_current{pool="other"} 0
# HELP app_pool_conn_max The pool's current PoolSize.
# TYPE app_pool_conn_max gauge
app_pool_conn_max{pool="cache"} 2
app_pool_conn_max{pool="other"} 7
# HELP app_pool_conn_total_current Connections the pool holds.
# TYPE app_pool_conn_total_current gauge
app_pool_conn_total_current{pool="cache"} 1
app_pool_conn_total_current{pool="other"} 0
# HELP app_pool_exhausted_total Gets refused because MaxWaiters Gets were waiting.
# TYPE app_pool_exhausted_total counter
app_pool_exhausted_total{pool="cache"} 1
app_pool_exhausted_total{pool="other"} 0
# HELP app_pool_hit_total Gets served an idle connection.
# TYPE app_pool_hit_total counter
app_pool_hit_total{pool="cache"} 3
app_pool_hit_total{pool="other"} 0
# HELP app_pool_miss_total Gets that dialed a new connection.
# TYPE app_pool_miss_total counter
app_pool_miss_total{pool="cache"} 4
app_pool_miss_total{pool="other"} 0
# HELP app_pool_pending_requests Gets waiting for a connection now.
# TYPE app_pool_pending_requests gauge
app_pool_pending_requests{pool="cache"} 0
app_pool_pending_requests{pool="other"} 0
# HELP app_pool_timeout_total Gets that gave up after PoolTimeout.
# TYPE app_pool_timeout_total counter
app_pool_timeout_total{pool="cache"} 1
app_pool_timeout_total{pool="other"} 0
# HELP app_pool_wait_total Gets that waited for a connection.
# TYPE app_pool_wait_total counter
app_pool_wait_total{pool="cache"} 2
app_pool_wait_total{pool="other"} 0
# HELP app_pool_conn_closed_total Connections the pool closed, by reason.
# TYPE app_pool_conn_closed_total counter
app_pool_conn_closed_total{pool="cache",reason="filtered"} 0
app_pool_conn_closed_total{pool="cache",reason="idle_cap"} 1
app_pool_conn_closed_total{pool="cache",reason="idle_timeout"} 0
app_pool_conn_closed_total{pool="cache",reason="max_age"} 0
app_pool_conn_closed_total{pool="cache",reason="pool_closed"} 0
app_pool_conn_closed_total{pool="cache",reason="removed"} 1
app_pool_conn_closed_total{pool="cache",reason="shrunk"} 0
app_pool_conn_closed_total{pool="cache",reason="unhealthy"} 0
app_pool_conn_closed_total{pool="other",reason="filtered"} 0
app_pool_conn_closed_total{pool="other",reason="idle_cap"} 0
app_pool_conn_closed_total{pool="other",reason="idle_timeout"} 0
app_pool_conn_closed_total{pool="other",reason="max_age"} 0
app_pool_conn_closed_total{pool="other",reason="pool_closed"} 0
app_pool_conn_closed_total{pool="other",reason="removed"} 0
app_pool_conn_closed_total{pool="other",reason="shrunk"} 0
app_pool_conn_closed_total{pool="other",reason="unhealthy"} 0
`
	names := []string{"app_pool_conn_idle_current", "app_pool_conn_in_use_current", "app_pool_conn_max",
		"app_pool_conn_total_current", "app_pool_exhausted_total", "app_pool_hit_total", "app_pool_miss_total",
		"app_pool_pending_requests", "app_pool_timeout_total", "app_pool_wait_total", "app_pool_conn_closed_total"}
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), names...))
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, problems)
	assert.EqualValues(t, 3, d.dials.Load(), "a failed dial counts as a miss too")
}

func newPoolNamed(t *testing.T, c *shardpoolprom.Collector, name string, opt shardpool.Options) (*shardpool.ConnPool, *pipeDialer) {
	t.Helper()
	d := &pipeDialer{}
	opt.Dialer = d.dial
	opt.Hooks = c.Hooks(name)
	p := shardpool.NewConnPool(&opt)
	require.NoError(t, c.Add(name, p))
	t.Cleanup(func() { _ = p.Close() })
	return p, d
}

// histogram returns the histogram of name with the given label values.
func histogram(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		require.Equal(t, dto.MetricType_HISTOGRAM, mf.GetType())
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			return m.GetHistogram()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return nil
}

func TestCollectorHistogramsFromHooks(t *testing.T) {
	c := shardpoolprom.NewCollector(shardpoolprom.Opts{})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	p, d := newPool(t, c, shardpool.Options{PoolSize: 2, MaxIdleConns: 1, MaxWaiters: 1, PoolTimeout: 30 * time.Millisecond})
	drive(t, p, d)

	timeout := histogram(t, reg, "pool_wait_duration_seconds", map[string]string{"pool": "cache", "outcome": "timeout"})
	assert.EqualValues(t, 1, timeout.GetSampleCount())
	// Seconds: the wait lasted PoolTimeout, 30 ms, give or take a
	// scheduler's tick.
	assert.InDelta(t, 0.030, timeout.GetSampleSum(), 0.025, "wait time in seconds")
	served := histogram(t, reg, "pool_wait_duration_seconds", map[string]string{"pool": "cache", "outcome": "served"})
	assert.EqualValues(t, 1, served.GetSampleCount())
	refused := histogram(t, reg, "pool_wait_duration_seconds", map[string]string{"pool": "cache", "outcome": "exhausted"})
	assert.EqualValues(t, 1, refused.GetSampleCount())
	assert.Zero(t, refused.GetSampleSum())

	ok := histogram(t, reg, "pool_dial_duration_seconds", map[string]string{"pool": "cache", "result": "ok"})
	assert.EqualValues(t, 3, ok.GetSampleCount())
	assert.Less(t, ok.GetSampleSum(), 1.0, "in-memory dials take microseconds: seconds, not nanoseconds")
	assert.Positive(t, ok.GetSampleSum())
	failed := histogram(t, reg, "pool_dial_duration_seconds", map[string]string{"pool": "cache", "result": "error"})
	assert.EqualValues(t, 1, failed.GetSampleCount())

	var waitSeconds float64
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "pool_wait_seconds_total" {
			waitSeconds = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	assert.InDelta(t, timeout.GetSampleSum()+served.GetSampleSum(), waitSeconds, 0.005,
		"the counter from Stats and the histogram from hooks see the same waits")
}

func TestCollectorAddRemove(t *testing.T) {
	c := shardpoolprom.NewCollector(shardpoolprom.Opts{})
	p, _ := newPool(t, c, shardpool.Options{PoolSize: 2})
	assert.ErrorIs(t, c.Add("cache", p), shardpoolprom.ErrDuplicatePool)
	assert.Equal(t, 12+8+5+2, testutil.CollectAndCount(c), "12 from Stats; from the hooks 8 close reasons, 5 wait outcomes, 2 dial results")
	c.Remove("cache")
	assert.Zero(t, testutil.CollectAndCount(c))
}
