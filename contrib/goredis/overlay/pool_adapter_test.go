//go:build ignore

package pool

// Tests of the shardpool adapter (shardpool.go). The overlay command in
// shardpool's contrib/goredis writes this file; edit it there.

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis/v8/internal/proto"
)

// testServer accepts loopback TCP connections and hands their server ends
// to the test, or with discard set reads them to the end itself.
type testServer struct {
	ln      net.Listener
	conns   chan net.Conn
	discard bool
}

func newTestServer(t *testing.T, discard bool) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &testServer{ln: ln, conns: make(chan net.Conn, 1024), discard: discard}
	go s.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case c := <-s.conns:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return s
}

func (s *testServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if s.discard {
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
		s.conns <- c
	}
}

func (s *testServer) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.ln.Addr().String())
}

// accept returns the server end of the next connection the pool dialed.
func (s *testServer) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the pool dialed no connection")
		return nil
	}
}

// expectEOF fails unless the client closed the connection whose server end
// is peer.
func expectEOF(t *testing.T, peer net.Conn) {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := peer.Read(make([]byte, 64)); err != io.EOF {
		t.Fatalf("server end read %d bytes, %v; want io.EOF (the client closed it)", n, err)
	}
}

func newTestPool(t *testing.T, opt *Options) *ConnPool {
	t.Helper()
	p := NewConnPool(opt)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func expectStats(t *testing.T, p *ConnPool, want Stats) {
	t.Helper()
	if got := *p.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}

func mustGet(t *testing.T, p *ConnPool) *Conn {
	t.Helper()
	cn, err := p.Get(context.Background())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return cn
}

// Put of a connection whose reader holds bytes nobody read closes it and
// frees its place, as v8's Put does: with PoolSize 1, the next Get dials.
func TestShardpoolPutUnreadData(t *testing.T) {
	ctx := context.Background()
	srv := newTestServer(t, false)
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 1, PoolTimeout: time.Second})

	cn := mustGet(t, p)
	peer := srv.accept(t)
	if _, err := peer.Write([]byte("+OK\r\n+LATE\r\n")); err != nil {
		t.Fatal(err)
	}
	err := cn.WithReader(ctx, time.Second, func(rd *proto.Reader) error {
		line, err := rd.ReadLine()
		if err == nil && string(line) != "+OK" {
			err = errors.New("read " + string(line) + ", want +OK")
		}
		if err == nil {
			_, err = rd.Peek(len("+LATE\r\n")) // the second reply waits in the buffer
		}
		return err
	})
	if err != nil {
		t.Fatalf("reading the first reply: %v", err)
	}

	p.Put(ctx, cn)
	if p.Len() != 0 || p.IdleLen() != 0 {
		t.Fatalf("after Put with unread data: Len %d, IdleLen %d; want 0, 0 (closed)", p.Len(), p.IdleLen())
	}
	expectEOF(t, peer)
	cn2, err := p.Get(ctx)
	if err != nil {
		t.Fatalf("Get after the bad Put: %v (its place was not freed)", err)
	}
	if cn2 == cn {
		t.Fatal("Get returned the connection with unread data")
	}
	expectStats(t, p, Stats{Misses: 2, TotalConns: 1})
}

// Each shardpool connection carries one go-redis Conn, built once: Get
// returns the same *Conn for the same connection, linked both ways.
func TestShardpoolBackPointer(t *testing.T) {
	ctx := context.Background()
	srv := newTestServer(t, false)
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 2, PoolTimeout: time.Second})

	cn := mustGet(t, p)
	sp := cn.sp.cn
	if sp == nil {
		t.Fatal("a pooled Conn has no shardpool connection")
	}
	if sp.Value != any(cn) {
		t.Fatalf("its shardpool connection carries %v, want the Conn itself", sp.Value)
	}
	if sp.NetConn() != cn.netConn {
		t.Fatal("the Conn and its shardpool connection use different net.Conns")
	}
	p.Put(ctx, cn)
	if again := mustGet(t, p); again != cn {
		t.Fatal("Get of the idle connection returned another *Conn")
	}
	expectStats(t, p, Stats{Hits: 1, Misses: 1, TotalConns: 1})
}

// go-redis's tests replace a pooled Conn's net.Conn (SetNetConn): closing
// the Conn then closes both that one and the one shardpool dialed.
func TestShardpoolSetNetConnClosesBoth(t *testing.T) {
	ctx := context.Background()
	srv := newTestServer(t, false)
	var closed []*Conn
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 2, PoolTimeout: time.Second,
		OnClose: func(cn *Conn) error { closed = append(closed, cn); return errors.New("ignored, as in v8") }})

	cn := mustGet(t, p)
	peer := srv.accept(t)
	replacement, other := net.Pipe()
	defer other.Close()
	cn.SetNetConn(replacement)
	p.Remove(ctx, cn, errors.New("bad"))

	expectEOF(t, peer)
	if n, err := other.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the replacement's other end read %d, %v; want io.EOF", n, err)
	}
	if len(closed) != 1 || closed[0] != cn {
		t.Fatalf("OnClose saw %v, want the Conn once", closed)
	}
	if p.Len() != 0 {
		t.Fatalf("Len %d after Remove, want 0", p.Len())
	}
}

// A Conn made by NewConn outside any pool (go-redis's PubSub.SetNetConn in
// its tests) has no shardpool connection: Put, Remove and CloseConn close it
// directly, calling OnClose as v8 does.
func TestShardpoolUnpooledConn(t *testing.T) {
	ctx := context.Background()
	srv := newTestServer(t, false)
	var closed int
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 1, PoolTimeout: time.Second,
		OnClose: func(*Conn) error { closed++; return nil }})

	for name, release := range map[string]func(*Conn){
		"Put":       func(cn *Conn) { p.Put(ctx, cn) },
		"Remove":    func(cn *Conn) { p.Remove(ctx, cn, nil) },
		"CloseConn": func(cn *Conn) { _ = p.CloseConn(cn) },
	} {
		closed = 0
		mine, other := net.Pipe()
		release(NewConn(mine))
		if n, err := other.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: the other end read %d, %v; want io.EOF (closed)", name, n, err)
		}
		if closed != 1 {
			t.Errorf("%s: OnClose called %d times, want 1", name, closed)
		}
		_ = other.Close()
	}
	if p.Len() != 0 {
		t.Fatalf("Len %d, want 0: the pool never held these", p.Len())
	}
}

// Stats maps shardpool's counters to v8's; StaleConns adds the connections
// ReapStaleConns closed on v8's test (a UsedAt set back by hand).
func TestShardpoolStats(t *testing.T) {
	ctx := context.Background()
	srv := newTestServer(t, false)
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 1, PoolTimeout: 20 * time.Millisecond,
		IdleTimeout: time.Minute, MaxConnAge: time.Hour})

	cn := mustGet(t, p)
	if _, err := p.Get(ctx); err != ErrPoolTimeout {
		t.Fatalf("Get of a full pool: %v, want ErrPoolTimeout itself", err)
	}
	cn.SetUsedAt(time.Now().Add(-2 * time.Minute))
	p.Put(ctx, cn)
	expectStats(t, p, Stats{Misses: 1, Timeouts: 1, TotalConns: 1, IdleConns: 1})
	if n, err := p.ReapStaleConns(); n != 1 || err != nil {
		t.Fatalf("ReapStaleConns() = %d, %v; want 1, nil", n, err)
	}
	expectStats(t, p, Stats{Misses: 1, Timeouts: 1, StaleConns: 1})

	p.Put(ctx, mustGet(t, p))
	p.Put(ctx, mustGet(t, p))
	expectStats(t, p, Stats{Hits: 1, Misses: 2, Timeouts: 1, TotalConns: 1, IdleConns: 1, StaleConns: 1})
}

// ReapStaleConns applies v8's test to idle connections only: one a caller
// holds stays open however old its UsedAt and creation time.
func TestShardpoolReapSkipsCheckedOut(t *testing.T) {
	srv := newTestServer(t, true)
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 2, PoolTimeout: time.Second,
		IdleTimeout: time.Minute, MaxConnAge: time.Hour})

	cn := mustGet(t, p)
	cn.SetUsedAt(time.Now().Add(-time.Hour))
	cn.createdAt = time.Now().Add(-2 * time.Hour)
	if n, err := p.ReapStaleConns(); n != 0 || err != nil {
		t.Fatalf("ReapStaleConns() = %d, %v; want 0, nil", n, err)
	}
	if _, err := cn.Write([]byte("PING\r\n")); err != nil {
		t.Fatalf("the checked-out connection was closed: %v", err)
	}
}

// Gets and Puts racing ReapStaleConns never get a connection it closes.
func TestShardpoolReapRace(t *testing.T) {
	srv := newTestServer(t, true)
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 4, PoolTimeout: 5 * time.Second,
		IdleTimeout: time.Minute})

	ctx := context.Background()
	done := make(chan struct{})
	var reaper sync.WaitGroup
	reaper.Add(1)
	go func() {
		defer reaper.Done()
		for {
			select {
			case <-done:
				return
			default:
				_, _ = p.ReapStaleConns()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				cn, err := p.Get(ctx)
				if err != nil {
					errs <- err
					return
				}
				if _, err := cn.Write([]byte("x")); err != nil {
					errs <- err
					return
				}
				cn.SetUsedAt(time.Now().Add(-time.Hour)) // stale by v8's test once Put
				p.Put(ctx, cn)
			}
		}()
	}
	wg.Wait()
	close(done)
	reaper.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a Get handed out a reaped connection: %v", err)
	}
}

// PoolTimeout <= 0 times a Get out at once when the pool is full, as in v8.
func TestShardpoolZeroPoolTimeout(t *testing.T) {
	srv := newTestServer(t, false)
	p := newTestPool(t, &Options{Dialer: srv.dial, PoolSize: 1})

	mustGet(t, p)
	start := time.Now()
	if _, err := p.Get(context.Background()); err != ErrPoolTimeout {
		t.Fatalf("Get of a full pool: %v, want ErrPoolTimeout", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("Get waited %v, want no wait", waited)
	}
}

// After Close, calls return v8's ErrClosed itself; Filter and
// ReapStaleConns return nil, as v8's do.
func TestShardpoolClosed(t *testing.T) {
	ctx := context.Background()
	srv := newTestServer(t, false)
	p := NewConnPool(&Options{Dialer: srv.dial, PoolSize: 1, PoolTimeout: time.Second})
	cn := mustGet(t, p)
	p.Put(ctx, cn)

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != ErrClosed {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if _, err := p.Get(ctx); err != ErrClosed {
		t.Errorf("Get: %v, want ErrClosed", err)
	}
	if _, err := p.NewConn(ctx); err != ErrClosed {
		t.Errorf("NewConn: %v, want ErrClosed", err)
	}
	if err := p.Filter(func(*Conn) bool { return true }); err != nil {
		t.Errorf("Filter: %v, want nil", err)
	}
	if n, err := p.ReapStaleConns(); n != 0 || err != nil {
		t.Errorf("ReapStaleConns() = %d, %v; want 0, nil", n, err)
	}
	if p.Len() != 0 {
		t.Errorf("Len %d after Close, want 0", p.Len())
	}
}
