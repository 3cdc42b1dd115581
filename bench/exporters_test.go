package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/shardpool/shardpool"
	shardpoolotel "github.com/shardpool/shardpool/contrib/otel"
	shardpoolprom "github.com/shardpool/shardpool/contrib/prometheus"
)

// BenchmarkExportersAttached asks: what do the Prometheus and OpenTelemetry
// exporters cost the pool they watch? exporters=prometheus has a registered
// contrib/prometheus Collector, exporters=otel contrib/otel Metrics on an
// SDK meter provider, exporters=both the two, each with its hooks installed
// (nobody scrapes or collects during the run); exporters=none is the same
// pool without them. The hot
// path calls no hook; the exhaustion scenario (16× PoolSize goroutines)
// calls OnWait on every wait, and records each into both exporters'
// histograms.
func BenchmarkExportersAttached(b *testing.B) {
	for _, name := range []string{"none", "prometheus", "otel", "both"} {
		withProm := name == "prometheus" || name == "both"
		withOtel := name == "otel" || name == "both"
		newPool := func(b *testing.B, size int) (*shardpool.ConnPool, func()) {
			opt := Config{Size: size, Dial: FakeDial}.options()
			var collector *shardpoolprom.Collector
			if withProm {
				collector = shardpoolprom.NewCollector(shardpoolprom.Opts{})
				prometheus.NewRegistry().MustRegister(collector)
				opt.Hooks = collector.Hooks("bench")
			}
			var metrics *shardpoolotel.Metrics
			provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			if withOtel {
				var err error
				metrics, err = shardpoolotel.New(shardpoolotel.Config{MeterProvider: provider, PoolName: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				opt.Hooks = shardpool.JoinHooks(opt.Hooks, metrics.Hooks())
			}
			p := shardpool.NewConnPool(opt)
			if collector != nil {
				if err := collector.Add("bench", p); err != nil {
					b.Fatal(err)
				}
			}
			unregister := func() error { return nil }
			if metrics != nil {
				reg, err := metrics.Observe(p)
				if err != nil {
					b.Fatal(err)
				}
				unregister = reg.Unregister
			}
			return p, func() {
				_ = unregister()
				_ = provider.Shutdown(context.Background())
				_ = p.Close()
			}
		}

		b.Run(fmt.Sprintf("scenario=hotpath/size=32/exporters=%s", name), func(b *testing.B) {
			p, done := newPool(b, 32)
			defer done()
			hotPath(b, newPoolerAdapter(p))
		})

		b.Run(fmt.Sprintf("scenario=exhaustion/size=%d/goroutines=16x/exporters=%s", exhaustionSize, name), func(b *testing.B) {
			p, done := newPool(b, exhaustionSize)
			defer done()
			ReportLatency(b, exhaust(b, newPoolerAdapter(p), 16), "")
		})
	}
}
