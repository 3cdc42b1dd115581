package shardpool_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shardpool/shardpool"
)

// echoServer starts a loopback TCP server that echoes lines back, and
// returns its address and a function that stops it.
func echoServer() (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn // guarded by mu
	stopped := false     // guarded by mu
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// A connection accepted while stop runs is closed here, or
			// recorded before stop closes the recorded ones: never left
			// open with an echo goroutine on it.
			mu.Lock()
			if stopped {
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns = append(conns, c)
			wg.Add(1)
			mu.Unlock()
			go func() { defer wg.Done(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String(), func() {
		_ = ln.Close()
		mu.Lock()
		stopped = true
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// lineConn is what a client keeps per connection, in Conn.Value: its
// buffered reader and writer, made once by OnConnect, so that a request
// allocates no buffer and bytes read ahead are never dropped.
type lineConn struct {
	r *bufio.Reader
	w *bufio.Writer
}

// errUnread is why a connection whose reader still holds bytes is removed:
// a reply nobody read would answer the next caller's request.
var errUnread = errors.New("unread bytes left on the connection")

// handshake is an OnConnect: it greets the server once per new connection,
// checks the answer, and keeps the connection's reader and writer in Value.
func handshake(_ context.Context, cn *shardpool.Conn) error {
	lc := &lineConn{r: bufio.NewReader(cn.NetConn()), w: bufio.NewWriter(cn.NetConn())}
	reply, err := lc.roundTrip("HELLO client")
	if err != nil {
		return err
	}
	if reply != "HELLO client\n" {
		return fmt.Errorf("unexpected greeting %q", reply)
	}
	cn.Value = lc
	cn.Inited = true
	return nil
}

// roundTrip writes one line and reads one back.
func (lc *lineConn) roundTrip(msg string) (string, error) {
	if _, err := lc.w.WriteString(msg + "\n"); err != nil {
		return "", err
	}
	if err := lc.w.Flush(); err != nil {
		return "", err
	}
	return lc.r.ReadString('\n')
}

// release gives cn back after a request that ended with err: Put if it can
// serve the next caller, Remove if its I/O failed or its reader holds
// bytes nobody read (the pool cannot see a client's buffers).
func release(pool *shardpool.ConnPool, cn *shardpool.Conn, err error) {
	if err == nil && cn.Value.(*lineConn).r.Buffered() > 0 {
		err = errUnread
	}
	if err != nil {
		pool.Remove(cn, err)
		return
	}
	pool.Put(cn)
}

// A client on the pool: OnConnect greets each new connection and keeps
// its bufio.Reader and Writer in Value; a request takes a connection, uses
// them, and gives it back with Put, or with Remove when its I/O failed or
// bytes were left unread.
func ExampleConnPool() {
	addr, stop := echoServer()
	defer stop()

	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		OnConnect:   handshake,
		PoolSize:    4,
		PoolTimeout: time.Second,
		IdleTimeout: 5 * time.Minute,
	})
	defer pool.Close()

	request := func(ctx context.Context, msg string) (string, error) {
		cn, err := pool.Get(ctx)
		if err != nil {
			return "", err
		}
		reply, err := cn.Value.(*lineConn).roundTrip(msg)
		release(pool, cn, err)
		return reply, err
	}

	for _, msg := range []string{"hello", "again", "two\nlines"} {
		reply, err := request(context.Background(), msg)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%q\n", reply)
	}
	// The third request left "lines\n" in the reader: that connection was
	// removed, not reused.
	st := pool.Stats()
	fmt.Printf("dialed %d, reused %d, held %d\n", st.Misses, st.Hits, pool.Len())
	// Output:
	// "hello\n"
	// "again\n"
	// "two\n"
	// dialed 1, reused 2, held 0
}

// OnConnect's failure is a dial's failure: the Get gets an error that
// wraps both ErrOnConnect and the handshake's own, the connection is
// closed, and PoolSize such failures in a row open the dial breaker.
func ExampleOptions_onConnect() {
	addr, stop := echoServer()
	defer stop()
	errAuth := errors.New("WRONGPASS invalid password")

	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		OnConnect: func(ctx context.Context, cn *shardpool.Conn) error {
			return errAuth // as a server that refuses our password would
		},
	})
	defer pool.Close()

	_, err := pool.Get(context.Background())
	fmt.Println(errors.Is(err, shardpool.ErrOnConnect), errors.Is(err, errAuth))
	fmt.Println("held:", pool.Len())
	// Output:
	// true true
	// held: 0
}

// When PoolSize connections are checked out, Get waits up to PoolTimeout
// and then fails with ErrPoolTimeout; a context ends the wait sooner.
func ExampleConnPool_Get_timeout() {
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(context.Context) (net.Conn, error) {
			c, s := net.Pipe()
			_ = s.Close()
			return c, nil
		},
		PoolSize:    1,
		PoolTimeout: 10 * time.Millisecond,
	})
	defer pool.Close()

	cn, _ := pool.Get(context.Background())
	_, err := pool.Get(context.Background())
	fmt.Println(errors.Is(err, shardpool.ErrPoolTimeout))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = pool.Get(ctx)
	fmt.Println(errors.Is(err, context.Canceled))

	pool.Put(cn)
	fmt.Println(pool.Stats().Timeouts)
	// Output:
	// true
	// true
	// 1
}

// Filter closes the connections a predicate selects, for instance those to
// a server that has gone away, idle or checked out.
func ExampleConnPool_Filter() {
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(context.Context) (net.Conn, error) {
			c, s := net.Pipe()
			_ = s.Close()
			return c, nil
		},
		PoolSize: 4,
	})
	defer pool.Close()

	var cns []*shardpool.Conn
	for i := 0; i < 3; i++ {
		cn, _ := pool.Get(context.Background())
		cn.Inited = i == 0 // say only the first finished its handshake
		cns = append(cns, cn)
	}
	for _, cn := range cns {
		pool.Put(cn)
	}
	err := pool.Filter(func(cn *shardpool.Conn) bool { return !cn.Inited })
	fmt.Println(err, pool.Len(), pool.IdleLen())
	// Output: <nil> 1 1
}

// Put and Remove refuse connections they cannot take; OnMisuse hears about
// it, and the pool stays as it was.
func ExampleOptions_onMisuse() {
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(context.Context) (net.Conn, error) {
			c, s := net.Pipe()
			_ = s.Close()
			return c, nil
		},
		OnMisuse: func(_ *shardpool.Conn, err error) { fmt.Println("misuse:", err) },
	})
	defer pool.Close()

	cn, _ := pool.Get(context.Background())
	pool.Put(cn)
	pool.Put(cn) // a second Put
	pool.Put(nil)
	fmt.Println(pool.Len(), pool.IdleLen())
	// Output:
	// misuse: shardpool: connection is not checked out
	// misuse: shardpool: connection is nil or belongs to another pool
	// 1 1
}

// Dialing and health options for a service that must ride out server
// restarts: every dial bounded, no more than a few dials at once after a
// restart, connections idle for a while checked before use, and ages
// spread so that connections dialed together are not all replaced
// together. Here the server drops the pool's idle connection; the next Get
// notices, dials a fresh one, and the caller never sees the dead socket.
func ExampleOptions_dialingAndHealth() {
	addr, stop := echoServer()
	defer func() { stop() }() // the server running at the end

	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		PoolSize:           64,
		DialTimeout:        time.Second,            // each dial; 0 means 5 s
		MaxConcurrentDials: 4,                      // Gets beyond wait for a slot or a connection
		HealthCheckIdle:    100 * time.Millisecond, // check connections idle this long; 0 means 1 s
		MaxConnAge:         30 * time.Minute,
		MaxConnAgeJitter:   5 * time.Minute, // each connection's limit in 25..35 min
	})
	defer pool.Close()

	cn, err := pool.Get(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	pool.Put(cn)

	stop() // the server goes away, and with it the idle connection's peer
	addr, stop = echoServer()
	time.Sleep(200 * time.Millisecond) // idle past HealthCheckIdle

	cn, err = pool.Get(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Put(cn)
	fmt.Println("unhealthy connections dropped:", pool.Stats().Unhealthy)
	// Output: unhealthy connections dropped: 1
}

// Resizing a live pool: shrinking closes idle surplus at once and
// checked-out surplus as it comes back; growing makes room for more.
func ExampleConnPool_SetPoolSize() {
	addr, stop := echoServer()
	defer stop()
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		PoolSize: 4,
	})
	defer pool.Close()

	var held []*shardpool.Conn
	for i := 0; i < 4; i++ {
		cn, err := pool.Get(context.Background())
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		held = append(held, cn)
	}
	if err := pool.SetPoolSize(2); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("size %d, held %d\n", pool.Stats().PoolSize, pool.Len())
	for _, cn := range held {
		pool.Put(cn) // the first two back are surplus: closed
	}
	st := pool.Stats()
	fmt.Printf("held %d, idle %d, closed as surplus %d\n", pool.Len(), pool.IdleLen(), st.ShrunkConns)

	_ = pool.SetPoolSize(8)
	fmt.Println("size", pool.Stats().PoolSize)
	// Output:
	// size 2, held 4
	// held 2, idle 2, closed as surplus 2
	// size 8
}

// Shutdown in a server's signal handler: once the server stops taking
// requests, the pool waits for the requests in flight to give their
// connections back, closing each as it comes, up to a deadline.
func ExampleConnPool_Shutdown() {
	addr, stop := echoServer()
	defer stop()
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// A request in flight holds a connection for a while.
	cn, err := pool.Get(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	go func() {
		time.Sleep(20 * time.Millisecond) // the request's work
		pool.Put(cn)
	}()

	sigs <- os.Interrupt // for the example, deliver the signal ourselves
	<-sigs
	// (Stop the server taking requests first, e.g. http.Server.Shutdown.)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = pool.Shutdown(ctx)
	fmt.Println("shutdown:", err, "held:", pool.Len())
	_, err = pool.Get(context.Background())
	fmt.Println("get after:", err)
	// Output:
	// shutdown: <nil> held: 0
	// get after: shardpool: pool is closed
}

// Leak detection: a connection checked out longer than LeakThreshold is
// reported once, with the stack of the Get that took it.
func ExampleOptions_leakDetection() {
	addr, stop := echoServer()
	defer stop()
	leaks := make(chan shardpool.Leak, 1)
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		LeakThreshold: 50 * time.Millisecond,
		OnLeak:        func(l shardpool.Leak) { leaks <- l },
	})
	defer pool.Close()

	leakyHandler(pool) // forgets to Put

	l := <-leaks
	caller, _, _ := strings.Cut(l.Stack, "\n")
	fmt.Println("held at least 50ms:", l.Held >= 50*time.Millisecond)
	fmt.Println("taken by:", caller)
	fmt.Println("leaks:", pool.Stats().Leaks)
	// Output:
	// held at least 50ms: true
	// taken by: github.com/shardpool/shardpool_test.leakyHandler
	// leaks: 1
}

// leakyHandler gets a connection and never gives it back.
func leakyHandler(pool *shardpool.ConnPool) {
	cn, err := pool.Get(context.Background())
	if err != nil {
		return
	}
	_, _ = fmt.Fprintln(cn.NetConn(), "ping")
}

// Two observers on one pool, say a metrics exporter and a tracer: JoinHooks
// gives each every event.
func ExampleJoinHooks() {
	var dials, closes atomic.Int32
	metrics := shardpool.Hooks{OnDial: func(shardpool.DialInfo) { dials.Add(1) }}
	tracer := shardpool.Hooks{OnConnClosed: func(c shardpool.ClosedInfo) {
		closes.Add(1)
		fmt.Println("closed:", c.Reason)
	}}
	pool := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(context.Context) (net.Conn, error) {
			c, s := net.Pipe()
			_ = s.Close()
			return c, nil
		},
		PoolSize: 2,
		Hooks:    shardpool.JoinHooks(metrics, tracer),
	})
	cn, err := pool.Get(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	pool.Remove(cn, nil)
	_ = pool.Close()
	fmt.Println("dials:", dials.Load(), "closes:", closes.Load())
	// Output:
	// closed: removed
	// dials: 1 closes: 1
}
