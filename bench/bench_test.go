package bench

import (
	"context"
	"errors"
	"testing"
)

// TestContenders checks the adapters: Get dials, Put makes a connection
// reusable, Remove frees a place, and a bounded pool refuses a Get beyond
// its size (with a cancelled context, so nothing waits).
func TestContenders(t *testing.T) {
	for _, c := range Contenders() {
		t.Run(c.Name, func(t *testing.T) {
			p := c.New(Config{Size: 2, Dial: FakeDial})
			defer p.Close()
			ctx := context.Background()
			a, err := p.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if a.Conn == nil || b.Conn == nil || a.Conn == b.Conn {
				t.Fatalf("Get returned %v and %v", a.Conn, b.Conn)
			}
			if c.Bounded {
				cancelled, cancel := context.WithCancel(ctx)
				cancel()
				if h, err := p.Get(cancelled); err == nil {
					t.Fatalf("third Get of a pool of 2 returned %v", h.Conn)
				}
			}
			p.Put(a)
			p.Remove(b)
			if c.Name != NamePuddle && !b.Conn.(*FakeConn).Closed() { // puddle closes in the background
				t.Error("Remove did not close the connection")
			}
			if err := Fill(ctx, p, 2); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRESPRoundTrip(t *testing.T) {
	srv, err := StartRESPServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dial, err := RESPDialer(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := nc.(*RESPConn)
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get([]byte("k")); err != nil || v != nil {
		t.Fatalf("GET of a missing key: %q, %v", v, err)
	}
	if err := c.Set([]byte("k"), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get([]byte("k")); err != nil || string(v) != "hello" {
		t.Fatalf("GET: %q, %v", v, err)
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6379": true,
		"[::1]:6379":     true,
		"10.0.0.1:6379":  false,
		"example.com:80": false,
	} {
		err := CheckLoopback(addr)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrNotLoopback)) {
			t.Errorf("CheckLoopback(%q) = %v", addr, err)
		}
	}
}
