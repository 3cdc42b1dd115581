package bench

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shardpool/shardpool"
)

// scriptedServer starts a loopback TCP server that answers each read of a
// connection with reply (nil: never answers, as a frozen server or a black
// hole does), and returns its address; the test's cleanup stops it.
func scriptedServer(t *testing.T, reply []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn // guarded by mu
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 512)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if reply != nil {
						if _, err := c.Write(reply); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	dial, err := LoopbackDialer(addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

func TestLoopbackDialerRefusesOtherHosts(t *testing.T) {
	if _, err := LoopbackDialer("10.0.0.1:6379"); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("LoopbackDialer(10.0.0.1:6379) = %v, want ErrNotLoopback", err)
	}
	if _, err := RESPDialer("10.0.0.1:6379"); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("RESPDialer(10.0.0.1:6379) = %v, want ErrNotLoopback", err)
	}
}

// A command's I/O is bounded by Timeout: a server that never answers
// costs Timeout, not the 5 s default.
func TestRESPClientTimeout(t *testing.T) {
	c := NewRESPClient(dialTCP(t, scriptedServer(t, nil)))
	c.Timeout = 20 * time.Millisecond
	start := time.Now()
	err := c.Ping()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("PING to a silent server: %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("PING gave up after %v, want about 20ms", took)
	}
}

// PingContext is bounded by ctx's deadline (not Timeout), and ended at
// once by ctx's cancellation.
func TestRESPClientPingContext(t *testing.T) {
	addr := scriptedServer(t, nil)
	c := NewRESPClient(dialTCP(t, addr))
	c.Timeout = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.PingContext(ctx); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("PingContext past its deadline: %v, want a deadline error", err)
	}
	if took := time.Since(start); took < 40*time.Millisecond || took > 2*time.Second {
		t.Fatalf("PingContext gave up after %v, want about 50ms", took)
	}

	c = NewRESPClient(dialTCP(t, addr))
	c.Timeout = time.Hour
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start = time.Now()
	if err := c.PingContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled PingContext: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("cancelled PingContext took %v", took)
	}

	ok := NewRESPClient(dialTCP(t, scriptedServer(t, []byte("+PONG\r\n"))))
	if err := ok.PingContext(context.Background()); err != nil {
		t.Fatalf("PingContext without deadline: %v", err)
	}
}

// A reply nobody asked for stays in the client's buffer, where only
// Buffered shows it.
func TestRESPClientBuffered(t *testing.T) {
	c := NewRESPClient(dialTCP(t, scriptedServer(t, []byte("+PONG\r\n+PONG\r\n"))))
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	if n := c.Buffered(); n != len("+PONG\r\n") {
		t.Fatalf("Buffered = %d after a doubled reply, want %d", n, len("+PONG\r\n"))
	}
}

// RESPOnConnect and RESPHandshake keep a RESPClient in Value; the pool holds
// the plain TCP connection.
func TestRESPOnConnectInPool(t *testing.T) {
	srv, err := StartRESPServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dial, err := LoopbackDialer(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for name, onConnect := range map[string]func(context.Context, *shardpool.Conn) error{
		"RESPOnConnect": RESPOnConnect,
		"RESPHandshake": RESPHandshake,
	} {
		t.Run(name, func(t *testing.T) {
			pool := shardpool.NewConnPool(&shardpool.Options{Dialer: dial, OnConnect: onConnect, PoolSize: 1})
			defer pool.Close()
			for i := range 2 {
				cn, err := pool.Get(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := cn.NetConn().(*net.TCPConn); !ok {
					t.Fatalf("the pool holds a %T, want the plain *net.TCPConn", cn.NetConn())
				}
				c, ok := cn.Value.(*RESPClient)
				if !ok {
					t.Fatalf("Value is a %T, want a *RESPClient", cn.Value)
				}
				if cn.Inited != (name == "RESPHandshake") {
					t.Errorf("Inited = %v", cn.Inited)
				}
				if err := c.Set([]byte("k"), []byte("v")); err != nil {
					t.Fatal(err)
				}
				if v, err := c.Get([]byte("k")); err != nil || string(v) != "v" {
					t.Fatalf("GET: %q, %v", v, err)
				}
				if c.Buffered() != 0 {
					t.Fatalf("Buffered = %d after a command", c.Buffered())
				}
				pool.Put(cn)
				if st := pool.Stats(); i == 1 && (st.Hits != 1 || st.Misses != 1) {
					t.Fatalf("hits %d, misses %d: the connection and its client were not reused", st.Hits, st.Misses)
				}
			}
		})
	}
}

// RESPHandshake fails the dial of a server that accepts and never answers,
// at the pool's DialTimeout.
func TestRESPHandshakeFailsDial(t *testing.T) {
	dial, err := LoopbackDialer(scriptedServer(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	pool := shardpool.NewConnPool(&shardpool.Options{Dialer: dial, OnConnect: RESPHandshake, PoolSize: 1, DialTimeout: 60 * time.Millisecond})
	defer pool.Close()
	start := time.Now()
	_, err = pool.Get(context.Background())
	if !errors.Is(err, shardpool.ErrOnConnect) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Get through a silent handshake: %v, want ErrOnConnect and a deadline error", err)
	}
	if took := time.Since(start); took < 40*time.Millisecond || took > 2*time.Second {
		t.Fatalf("the dial gave up after %v, want about 60ms (DialTimeout)", took)
	}
	if pool.Len() != 0 {
		t.Fatalf("pool holds %d connections after a failed handshake", pool.Len())
	}
}

// A RESPConn shows health checks the socket under it: NetConn for
// shardpool's, SyscallConn for go-redis v9's. shardpool's check then finds
// a pooled RESPConn whose server went away.
func TestRESPConnHealthCheck(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rc := NewRESPConn(a); rc.NetConn() != a {
		t.Fatal("NetConn does not return the wrapped connection")
	} else if _, err := rc.SyscallConn(); !errors.Is(err, errNoSocket) {
		t.Fatalf("SyscallConn over a pipe: %v, want errNoSocket", err)
	}

	srv, err := StartRESPServer()
	if err != nil {
		t.Fatal(err)
	}
	dial, err := RESPDialer(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	pool := shardpool.NewConnPool(&shardpool.Options{Dialer: dial, PoolSize: 1, HealthCheckIdle: time.Millisecond})
	defer pool.Close()
	cn, err := pool.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cn.NetConn().(*RESPConn).SyscallConn(); err != nil {
		t.Fatalf("SyscallConn over TCP: %v", err)
	}
	if err := cn.NetConn().(*RESPConn).Ping(); err != nil {
		t.Fatal(err)
	}
	pool.Put(cn)
	_ = srv.Close() // closes the server's side of the idle connection
	deadline := time.Now().Add(5 * time.Second)
	for pool.Stats().Unhealthy == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if cn, err := pool.Get(context.Background()); err == nil {
			pool.Put(cn) // the FIN had not arrived yet
		}
	}
	if st := pool.Stats(); st.Unhealthy != 1 {
		t.Fatalf("Unhealthy = %d: the health check did not find the closed RESPConn", st.Unhealthy)
	}
}
