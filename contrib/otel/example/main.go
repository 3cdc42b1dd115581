// Command example attaches the OpenTelemetry metrics to a shardpool pool,
// runs a few Gets and Puts against a loopback echo server, and prints what
// an SDK reader collects: the db.client.connection.* instruments, with the
// pool's name on each.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"sort"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/shardpool/shardpool"
	shardpoolotel "github.com/shardpool/shardpool/contrib/otel"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and holds connections until the listener closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	reader := metric.NewManualReader()
	provider := metric.NewMeterProvider(metric.WithReader(reader))
	defer func() { _ = provider.Shutdown(context.Background()) }()
	m, err := shardpoolotel.New(shardpoolotel.Config{MeterProvider: provider, PoolName: "example"})
	if err != nil {
		log.Fatal(err)
	}
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", ln.Addr().String())
		},
		PoolSize: 2,
		Hooks:    m.Hooks(),
	})
	defer pool.Close()
	reg, err := m.Observe(pool)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()

	ctx := context.Background()
	for i := 0; i < 3; i++ {
		a, err := pool.Get(ctx)
		if err != nil {
			log.Fatal(err)
		}
		b, err := pool.Get(ctx)
		if err != nil {
			log.Fatal(err)
		}
		pool.Put(a)
		pool.Put(b)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			names = append(names, md.Name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(n)
	}
}
