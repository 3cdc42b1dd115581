package bench

import (
	"context"
	"errors"
	"regexp"
	"runtime/debug"
	"testing"
	"time"
)

// TestContenders checks every adapter with CheckAdapter.
func TestContenders(t *testing.T) {
	for _, c := range Contenders() {
		t.Run(c.Name, func(t *testing.T) { CheckAdapter(t, c) })
	}
}

// TestContenderNames checks that every contender's name survives the
// report's parsing of benchmark names: one sub-benchmark key value (no '/',
// '=' or space), and no trailing -N, which benchfmt would read as
// GOMAXPROCS.
func TestContenderNames(t *testing.T) {
	ok := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$`)
	seen := map[string]bool{}
	for _, c := range Contenders() {
		if !ok.MatchString(c.Name) {
			t.Errorf("contender name %q does not match %s", c.Name, ok)
		}
		if seen[c.Name] {
			t.Errorf("contender name %q is used twice", c.Name)
		}
		seen[c.Name] = true
	}
}

// TestChannelPoolTimeout checks the timed channel pool: a Get that finds
// neither an idle connection nor a free place waits for a Put, and fails
// with errChannelPoolTimeout after its timeout, never earlier, also when
// its timer was used by earlier waits (a stale tick in a reused timer would
// end a wait early).
func TestChannelPoolTimeout(t *testing.T) {
	const timeout = 30 * time.Millisecond
	p := newChannelPool(Config{Size: 1, Dial: FakeDial}, timeout)
	defer p.Close()
	ctx := context.Background()
	h, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		// A wait a Put ends, its timer stopped before it fires.
		go func() {
			time.Sleep(time.Millisecond)
			p.Put(h)
		}()
		if h, err = p.Get(ctx); err != nil {
			t.Fatalf("wait %d served by a Put: %v", i, err)
		}
		// A wait nothing ends.
		t0 := time.Now()
		if _, err := p.Get(ctx); !errors.Is(err, errChannelPoolTimeout) {
			t.Fatalf("wait %d with the only connection held: err = %v, want errChannelPoolTimeout", i, err)
		}
		if d := time.Since(t0); d < timeout {
			t.Fatalf("wait %d timed out after %v, before its timeout of %v", i, d, timeout)
		}
	}
	p.Put(h)
}

// TestChannelPoolWaitAllocs checks that a timed wait allocates nothing: its
// timer comes from waitTimers and goes back there.
func TestChannelPoolWaitAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("under the race detector sync.Pool drops items on purpose")
	}
	p := newChannelPool(Config{Size: 1, Dial: FakeDial}, time.Millisecond)
	defer p.Close()
	ctx := context.Background()
	h, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Put(h)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := p.Get(ctx); !errors.Is(err, errChannelPoolTimeout) {
			t.Fatalf("err = %v, want errChannelPoolTimeout", err)
		}
	})
	if allocs != 0 {
		t.Errorf("a timed wait allocates %v times", allocs)
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
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
