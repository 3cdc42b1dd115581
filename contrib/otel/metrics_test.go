package shardpoolotel_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/shardpool/shardpool"
	shardpoolotel "github.com/shardpool/shardpool/contrib/otel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type pipeDialer struct{ fail atomic.Bool }

func (d *pipeDialer) dial(context.Context) (net.Conn, error) {
	if d.fail.Load() {
		return nil, errors.New("dial refused")
	}
	a, b := net.Pipe()
	go func() { _, _ = b.Read(make([]byte, 1)); _ = b.Close() }()
	return a, nil
}

// setup makes a pool named name whose metrics go to reader.
func setup(t *testing.T, provider *sdkmetric.MeterProvider, name string, opt shardpool.Options) (*shardpool.ConnPool, *pipeDialer) {
	t.Helper()
	m, err := shardpoolotel.New(shardpoolotel.Config{MeterProvider: provider, PoolName: name})
	require.NoError(t, err)
	d := &pipeDialer{}
	opt.Dialer = d.dial
	opt.Hooks = m.Hooks()
	p := shardpool.NewConnPool(&opt)
	reg, err := m.Observe(p)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = reg.Unregister()
		_ = p.Close()
	})
	return p, d
}

// collect returns the metrics reader has, by name.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, shardpoolotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// points returns a sum's data points as "pool/state" → value.
func points(t *testing.T, m metricdata.Metrics) map[string]int64 {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T", m.Name, m.Data)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		pool, _ := dp.Attributes.Value(shardpoolotel.PoolNameKey)
		key := pool.AsString()
		if state, ok := dp.Attributes.Value(shardpoolotel.StateKey); ok {
			key += "/" + state.AsString()
		}
		out[key] = dp.Value
	}
	return out
}

func TestObservableInstruments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, provider.Shutdown(context.Background())) }()
	p, _ := setup(t, provider, "cache", shardpool.Options{PoolSize: 4, MinIdleConns: 1, MaxIdleConns: 2, PoolTimeout: 20 * time.Millisecond})
	setup(t, provider, "other", shardpool.Options{PoolSize: 9})

	require.Eventually(t, func() bool { return p.IdleLen() == 1 }, 5*time.Second, time.Millisecond)
	ctx := context.Background()
	var held []*shardpool.Conn
	for i := 0; i < 4; i++ {
		cn, err := p.Get(ctx)
		require.NoError(t, err)
		held = append(held, cn)
	}
	_, err := p.Get(ctx) // times out
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	p.Put(held[0]) // 1 idle, 3 used

	ms := collect(t, reader)
	want := map[string]struct {
		unit   string
		points map[string]int64
	}{
		"db.client.connection.count":            {"{connection}", map[string]int64{"cache/idle": 1, "cache/used": 3, "other/idle": 0, "other/used": 0}},
		"db.client.connection.max":              {"{connection}", map[string]int64{"cache": 4, "other": 9}},
		"db.client.connection.idle.max":         {"{connection}", map[string]int64{"cache": 2, "other": 9}},
		"db.client.connection.idle.min":         {"{connection}", map[string]int64{"cache": 1, "other": 0}},
		"db.client.connection.pending_requests": {"{request}", map[string]int64{"cache": 0, "other": 0}},
		"db.client.connection.timeouts":         {"{timeout}", map[string]int64{"cache": 1, "other": 0}},
	}
	for name, w := range want {
		m, ok := ms[name]
		if !assert.True(t, ok, "no %s", name) {
			continue
		}
		assert.Equal(t, w.unit, m.Unit, name)
		assert.Equal(t, w.points, points(t, m), name)
		sum := m.Data.(metricdata.Sum[int64])
		assert.Equal(t, name == "db.client.connection.timeouts", sum.IsMonotonic, "%s: a counter only for timeouts", name)
	}
	putAll(p, held[1:])
}

func putAll(p *shardpool.ConnPool, cns []*shardpool.Conn) {
	for _, cn := range cns {
		p.Put(cn)
	}
}

func TestHistogramsFromHooks(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, provider.Shutdown(context.Background())) }()
	p, d := setup(t, provider, "cache", shardpool.Options{PoolSize: 1, MaxWaiters: 1, PoolTimeout: 30 * time.Millisecond})
	ctx := context.Background()
	a, err := p.Get(ctx) // a dial: create_time
	require.NoError(t, err)
	_, err = p.Get(ctx) // a wait that times out: wait_time
	require.ErrorIs(t, err, shardpool.ErrPoolTimeout)
	got := make(chan *shardpool.Conn)
	go func() { cn, _ := p.Get(ctx); got <- cn }()
	require.Eventually(t, func() bool { return p.Stats().PendingRequests == 1 }, 5*time.Second, time.Millisecond)
	_, err = p.Get(ctx) // refused: not a wait
	require.ErrorIs(t, err, shardpool.ErrPoolExhausted)
	p.Put(a) // served: a wait
	a = <-got
	p.Remove(a, nil)
	d.fail.Store(true)
	_, err = p.Get(ctx) // a failed dial: nothing created
	require.Error(t, err)

	ms := collect(t, reader)
	wait, ok := ms["db.client.connection.wait_time"]
	require.True(t, ok)
	assert.Equal(t, "s", wait.Unit)
	h := wait.Data.(metricdata.Histogram[float64])
	require.Len(t, h.DataPoints, 1)
	dp := h.DataPoints[0]
	assert.Equal(t, attribute.NewSet(shardpoolotel.PoolNameKey.String("cache")), dp.Attributes)
	assert.EqualValues(t, 2, dp.Count, "the timed-out wait and the served one")
	assert.InDelta(t, 0.030, dp.Sum, 0.025, "seconds: PoolTimeout was 30 ms, the served wait microseconds")

	create, ok := ms["db.client.connection.create_time"]
	require.True(t, ok)
	assert.Equal(t, "s", create.Unit)
	ch := create.Data.(metricdata.Histogram[float64])
	require.Len(t, ch.DataPoints, 1)
	assert.EqualValues(t, 1, ch.DataPoints[0].Count, "one dial created a connection")
	assert.Less(t, ch.DataPoints[0].Sum, 1.0, "an in-memory dial takes microseconds: seconds, not nanoseconds")
	assert.Positive(t, ch.DataPoints[0].Sum)
}

func TestConfig(t *testing.T) {
	_, err := shardpoolotel.New(shardpoolotel.Config{})
	assert.ErrorIs(t, err, shardpoolotel.ErrNoPoolName)
	m, err := shardpoolotel.New(shardpoolotel.Config{PoolName: "global"}) // the global (no-op) provider
	require.NoError(t, err)
	p := shardpool.NewConnPool(nil)
	defer p.Close()
	reg, err := m.Observe(p)
	require.NoError(t, err)
	require.NoError(t, reg.Unregister())
}
