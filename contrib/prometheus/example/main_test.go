package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example serves the pool's metrics while it is under load.
func TestServesPoolMetricsUnderLoad(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := run(ctx, ln, 16); done <- err }()

	url := "http://" + ln.Addr().String() + "/metrics"
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `example_pool_wait_duration_seconds_count{outcome="served",pool="echo"}`) &&
			!strings.Contains(body, `example_pool_hit_total{pool="echo"} 0`)
	}, 10*time.Second, 50*time.Millisecond, "no pool metrics under load:\n%s", body)
	assert.Contains(t, body, `example_pool_conn_max{pool="echo"} 8`)
	cancel()
	require.NoError(t, <-done)
}
