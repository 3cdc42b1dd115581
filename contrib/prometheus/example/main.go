// Command example serves /metrics for a shardpool pool under load: a
// loopback TCP echo server, a pool of 8 connections to it, and 32
// goroutines that Get, write a line, read it back and Put, so that the
// pool waits, dials and reuses. Scrape it with
//
//	curl -s http://127.0.0.1:2112/metrics | grep pool_
//
// It runs until interrupted, or for -duration.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shardpool/shardpool"
	shardpoolprom "github.com/shardpool/shardpool/contrib/prometheus"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2112", "where to serve /metrics (loopback)")
	duration := flag.Duration("duration", 0, "how long to run; 0 until interrupted")
	workers := flag.Int("workers", 32, "goroutines using the pool")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving http://%s/metrics", ln.Addr())
	st, err := run(ctx, ln, *workers)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("hits %d, misses %d, timeouts %d, waits %d\n", st.Hits, st.Misses, st.Timeouts, st.WaitCount)
}

// run serves /metrics on ln for a pool under load by workers goroutines
// until ctx ends, then shuts the pool down and returns its last Stats.
func run(ctx context.Context, ln net.Listener, workers int) (*shardpool.Stats, error) {
	echo, err := startEcho()
	if err != nil {
		return nil, err
	}
	defer echo.Close()

	collector := shardpoolprom.NewCollector(shardpoolprom.Opts{Namespace: "example"})
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", echo.Addr().String())
		},
		OnConnect:    attachBuffers,
		PoolSize:     8,
		MaxIdleConns: 6,
		PoolTimeout:  100 * time.Millisecond,
		Hooks:        collector.Hooks("echo"),
	})
	if err := collector.Add("echo", pool); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector)

	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for ctx.Err() == nil {
				if err := ping(ctx, pool, rng); err != nil && ctx.Err() == nil {
					time.Sleep(10 * time.Millisecond) // a timeout: back off a little
				}
			}
		}(int64(i))
	}
	<-ctx.Done()
	wg.Wait()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return nil, err
	}
	if err := pool.Shutdown(shutdownCtx); err != nil {
		return nil, fmt.Errorf("pool shutdown: %w", err)
	}
	return pool.Stats(), nil
}

// lineConn is the state kept with each connection, in Conn.Value: its
// reader and writer, made once, so that a request allocates no buffer and
// bytes read ahead stay with the connection they came on.
type lineConn struct {
	r *bufio.Reader
	w *bufio.Writer
}

// attachBuffers is the pool's OnConnect: it runs once per new connection.
func attachBuffers(_ context.Context, cn *shardpool.Conn) error {
	cn.Value = &lineConn{r: bufio.NewReader(cn.NetConn()), w: bufio.NewWriter(cn.NetConn())}
	return nil
}

// errUnread is why a connection whose reader holds bytes nobody read is
// removed rather than Put: they would answer the next caller's request.
var errUnread = errors.New("unread bytes left on the connection")

// ping takes a connection, writes a line, reads it back, holds the
// connection a moment as a request would, and gives it back.
func ping(ctx context.Context, pool *shardpool.ConnPool, rng *rand.Rand) error {
	cn, err := pool.Get(ctx)
	if err != nil {
		return err
	}
	lc := cn.Value.(*lineConn)
	_, err = lc.w.WriteString("ping\n")
	if err == nil {
		err = lc.w.Flush()
	}
	if err == nil {
		_, err = lc.r.ReadString('\n')
	}
	if err == nil && lc.r.Buffered() > 0 {
		err = errUnread
	}
	if err != nil {
		pool.Remove(cn, err)
		return err
	}
	time.Sleep(time.Duration(rng.Intn(2000)) * time.Microsecond)
	pool.Put(cn)
	return nil
}

// startEcho starts a loopback TCP server that echoes what it reads.
func startEcho() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln, nil
}
