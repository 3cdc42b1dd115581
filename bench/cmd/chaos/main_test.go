package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want errClass
	}{
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, classRefused},
		{shardpool.ErrPoolTimeout, classPoolTimeout},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, classTimeout},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), classTimeout},
		{io.EOF, classPeer},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, classPeer},
		{fmt.Errorf("%w: %q", bench.ErrReply, "-ERR"), classWrong},
		{errWrongValue, classWrong},
		{errors.New("something else"), classOther},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, classNames[got], classNames[tc.want])
		}
	}
}

// TestOnConnectBoundsIO: the dialer's OnConnect gives each connection's
// RESP client the I/O deadline as its bound, so that a request to a
// frozen server gives up after it (the client's own default is seconds);
// the pool holds the plain TCP connection, whose socket its health check
// sees.
func TestOnConnectBoundsIO(t *testing.T) {
	tcpDial, err := bench.LoopbackDialer(silentServer(t))
	if err != nil {
		t.Fatal(err)
	}
	d := &dialer{dial: tcpDial, ioTimeout: 20 * time.Millisecond, poolSize: 1, t0: time.Now()}
	pool := shardpool.NewConnPool(&shardpool.Options{Dialer: d.Dial, OnConnect: d.OnConnect, PoolSize: 1})
	defer pool.Close()
	cn, err := pool.Get(context.Background())
	if err != nil {
		t.Fatal(err) // no handshake: the silent server's accept is enough
	}
	if _, ok := cn.NetConn().(*net.TCPConn); !ok {
		t.Errorf("the pool holds a %T, want the plain *net.TCPConn", cn.NetConn())
	}
	start := time.Now()
	err = request(respClient(cn), 0, nil, nil, nil)
	pool.Remove(cn, err)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("PING to a silent server: %v, want a deadline error", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("PING gave up after %v, want about 20ms", took)
	}
	if d.dials.Load() != 1 || d.fails.Load() != 0 || d.firstOKAt.Load() == 0 {
		t.Errorf("dials %d, fails %d, first OK at %d: a dial whose OnConnect succeeded is a success", d.dials.Load(), d.fails.Load(), d.firstOKAt.Load())
	}
}

// TestUnreadBytesRemove: a request that succeeded but left a reply nobody
// asked for in the client's reader does not go back to the pool.
func TestUnreadBytesRemove(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		if _, err := c.Read(buf); err == nil {
			_, _ = c.Write([]byte("+PONG\r\n+PONG\r\n")) // two replies to one PING
		}
		_, _ = c.Read(buf) // until the pool closes it
	}()
	tcpDial, err := bench.LoopbackDialer(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	d := &dialer{dial: tcpDial, ioTimeout: time.Second, poolSize: 1, t0: time.Now()}
	pool := shardpool.NewConnPool(&shardpool.Options{Dialer: d.Dial, OnConnect: d.OnConnect, PoolSize: 1})
	defer pool.Close()
	if res := (poolClient{pool}).do(0, nil, nil, nil); res.err != nil {
		t.Fatalf("PING: %v", res.err)
	}
	if pool.Len() != 0 {
		t.Fatalf("the pool holds %d connections: one with unread bytes went back", pool.Len())
	}
}

func TestRESPHelpers(t *testing.T) {
	if got, want := string(respCommand("CLIENT", "KILL")), "*2\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n"; got != want {
		t.Errorf("respCommand = %q, want %q", got, want)
	}
	if n, err := parseInteger(":16\r\n"); err != nil || n != 16 {
		t.Errorf("parseInteger(:16) = %d, %v", n, err)
	}
	for _, bad := range []string{"-ERR no\r\n", ":\r\n", ":3\n", "+OK\r\n"} {
		if _, err := parseInteger(bad); err == nil {
			t.Errorf("parseInteger(%q) accepted it", bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-addr", "127.0.0.1:6379", "-pid", "42", "-short", "--", "redis-server", "--port", "6379"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rounds != 1 || cfg.deadline != 150*time.Second || len(cfg.serverArgs) != 3 {
		t.Errorf("short config: rounds %d, deadline %v, server args %q", cfg.rounds, cfg.deadline, cfg.serverArgs)
	}
	for _, args := range [][]string{
		{"-addr", "10.0.0.1:6379", "-pid", "42", "--", "redis-server"}, // not loopback
		{"-addr", "127.0.0.1:6379", "-pid", "42"},                      // no restart command
		{"-addr", "127.0.0.1:6379", "--", "redis-server"},              // no pid
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted it", args)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	writeTable(&b, [][]string{{"fault", "detect"}, {"SIGKILL", "→ 1 ms"}})
	want := "| fault   | detect |\n| ------- | ------ |\n| SIGKILL | → 1 ms |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestLoadAgainstInProcessServer runs the load through the pool against the
// bench suite's in-process RESP server, then closes the server: the load
// must see only errors of the expected kinds, and the dialer must see the
// pool's breaker open.
func TestLoadAgainstInProcessServer(t *testing.T) {
	srv, err := bench.StartRESPServer()
	if err != nil {
		t.Fatal(err)
	}
	tcpDial, err := bench.LoopbackDialer(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	const size = 4
	d := &dialer{dial: tcpDial, ioTimeout: 200 * time.Millisecond, poolSize: size, t0: t0}
	tl := newTimeline(t0)
	pool := shardpool.NewConnPool(&shardpool.Options{Dialer: d.Dial, OnConnect: d.OnConnect, PoolSize: size, PoolTimeout: 500 * time.Millisecond,
		DialTimeout: 250 * time.Millisecond, Hooks: tl.hooks()})
	defer pool.Close()
	tl.shardpool().watch(poolStats(pool))
	go tl.run()
	l := newLoad(poolClient{pool}, d, tl.shardpool(), ownerShardpool, "", t0, 8)

	l.start()
	time.Sleep(200 * time.Millisecond)
	s, err := l.halt(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.ok == 0 || s.errs != 0 {
		t.Fatalf("healthy server: %d ok, %d errors (%s)", s.ok, s.errs, firstSample(s))
	}

	d.arm()
	l.start()
	time.Sleep(50 * time.Millisecond)
	tl.mark("server closed")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	s, err = l.halt(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.errs == 0 || s.kinds[stageGet][classRefused] == 0 {
		t.Fatalf("closed server: %d errors, %d refused dials", s.errs, s.kinds[stageGet][classRefused])
	}
	if n := s.kinds[stageGet][classOther] + s.kinds[stageIO][classOther] + s.kinds[stageIO][classWrong]; n != 0 {
		t.Fatalf("%d unexpected errors: %s", n, firstSample(s))
	}
	if d.trippedAt.Load() == 0 {
		t.Fatal("the dialer never saw PoolSize consecutive failures")
	}
	if len(s.panics) != 0 {
		t.Fatal(s.panics)
	}

	// The timeline saw the load, then the errors and the failed dials.
	tl.close()
	var reqs, errs, failedDials float64
	for _, p := range tl.points {
		reqs += p.sides[sideShardpool].reqPerS
		errs += p.sides[sideShardpool].errPerS
		failedDials += p.dialErrPerS
	}
	if len(tl.points) < 4 || reqs == 0 || errs == 0 || failedDials == 0 {
		t.Fatalf("timeline: %d points, requests %v, errors %v, failed dials %v", len(tl.points), reqs, errs, failedDials)
	}
	dir := t.TempDir()
	if err := tl.writeCSV(dir + "/t.csv"); err != nil {
		t.Fatal(err)
	}
	if err := tl.writeChart(dir + "/t.png"); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(dir + "/t.png")
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("chart: %v, %d bytes", err, len(png))
	}
}
