package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The scenarios every contender runs, go-redis's own pools included: the
// bench module's benchmarks call them with Contenders(), and the drivers
// that scripts/bench.sh places inside copies of go-redis v8 and v9 (see
// testdata/goredis) call them with a contender wrapping that module's
// internal pool. Sub-benchmark names, sizes and loops are therefore the
// same for every pool by construction.

// sink keeps the results of Spin alive.
var sink atomic.Uint64

// HotPathGetPut asks: what does a Get+Put cost when an idle connection is
// available, as cores are added? Run it with -cpu. One sub-benchmark per
// contender and PoolSize (8, 32, 128), each pool filled first.
func HotPathGetPut(b *testing.B, cs []Contender) {
	ctx := context.Background()
	for _, c := range cs {
		for _, size := range []int{8, 32, 128} {
			b.Run(fmt.Sprintf("pool=%s/size=%d", c.Name, size), func(b *testing.B) {
				p := c.New(Config{Size: size, Dial: FakeDial})
				defer p.Close()
				if err := Fill(ctx, p, size); err != nil {
					b.Fatal(err)
				}
				hotPath(b, p)
			})
		}
	}
}

// hotPath measures Get+Put of p from RunParallel's goroutines.
func hotPath(b *testing.B, p Pool) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h, err := p.Get(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			p.Put(h)
		}
	})
}

// Exhaustion: a pool of exhaustionSize connections, each held for
// exhaustionWork steps of Spin (a few hundred nanoseconds).
const (
	exhaustionSize = 8
	exhaustionWork = 256
)

// ExhaustionWait asks: when many more goroutines than connections want one,
// what throughput does the pool sustain, and how long does a caller spend
// in the pool per use, Get and Put together (p50, p99, p99.9, and max,
// which shows starvation)? Unbounded contenders (sync.Pool) are left out:
// they never make anyone wait. Each run's histogram also goes to the log
// that $BENCH_HDR_LOG names, if set (see SaveHistogram), and a pool that
// counts its waits (Queuer) reports the share of Gets that queued
// (queued-%), which says how saturated the load kept it.
//
// The callers differ in what a use of a connection is:
//   - caller=spins: pure CPU work (Spin). A goroutine that the pool does
//     not block never leaves its P until the scheduler preempts it (every
//     10 ms), possibly mid-Get or mid-Put; with 2 cores at most 2 callers
//     run at once, so the pool is rarely short of connections at 4×.
//   - caller=yields (16× only): the same, with a runtime.Gosched after each
//     Put.
//   - caller=io: each use holds its connection across a round trip to a
//     loopback TCP peer (one byte out, its echo back), parked in the
//     netpoller and off the CPU for the round trip, as a client that talks
//     to a server does. That is what saturates a real pool: callers that
//     hold connections while they wait. A timer would model the wait
//     without the peer's CPU work, but a 20–50 µs time.Sleep takes about
//     1 ms on these VMs when the Ps are idle (the netpoller's timeout is in
//     milliseconds), so it would measure the timer, not a network wait.
//     The peer's echo goroutines share the cores with the callers, as a
//     local server would.
func ExhaustionWait(b *testing.B, cs []Contender) {
	ctx := context.Background()
	type load struct {
		mult   int
		caller string
	}
	loads := []load{{4, callerSpins}, {16, callerSpins}, {64, callerSpins}, {16, callerYields},
		{4, callerIO}, {16, callerIO}, {64, callerIO}}
	// One loopback peer per goroutine count, shared by every contender
	// and trial: its connections are made once, outside the timed runs.
	peers := map[int]*loopbackPeer{}
	defer func() {
		for _, lp := range peers {
			lp.close()
		}
	}()
	for _, c := range cs {
		if !c.Bounded {
			continue
		}
		for _, l := range loads {
			name := fmt.Sprintf("pool=%s/size=%d/goroutines=%dx/caller=%s", c.Name, exhaustionSize, l.mult, l.caller)
			b.Run(name, func(b *testing.B) {
				p := c.New(Config{Size: exhaustionSize, Dial: FakeDial})
				defer p.Close()
				if err := Fill(ctx, p, exhaustionSize); err != nil {
					b.Fatal(err)
				}
				q, counts := p.(Queuer)
				var q0 uint64
				if counts {
					q0 = q.Queued()
				}
				var peer *loopbackPeer
				if l.caller == callerIO {
					if peers[l.mult] == nil {
						peers[l.mult] = newLoopbackPeer(b, l.mult*exhaustionSize)
					}
					peer = peers[l.mult]
				}
				h := exhaustLoad(b, p, l.mult, l.caller, peer)
				ReportLatency(b, h, "")
				SaveHistogram(b, h)
				if counts {
					b.ReportMetric(100*float64(q.Queued()-q0)/float64(b.N), "queued-%")
				}
			})
		}
	}
}

// The callers of the exhaustion load (see ExhaustionWait).
const (
	callerSpins  = "spins"
	callerYields = "yields"
	callerIO     = "io"
)

// exhaustLoad runs the exhaustion load on p, which holds exhaustionSize
// connections, from mult × exhaustionSize goroutines of the given caller
// kind, and returns the time each use spent in the pool. peer, with a
// connection per goroutine, is the network of caller=io (nil otherwise).
func exhaustLoad(b *testing.B, p Pool, mult int, caller string, peer *loopbackPeer) *hdrhistogram.Histogram {
	ctx := context.Background()
	goroutines := mult * exhaustionSize
	return Load(b, goroutines, func(g int, hist *hdrhistogram.Histogram) error {
		t0 := time.Now()
		h, err := p.Get(ctx)
		inGet := time.Since(t0)
		if err != nil {
			Record(hist, inGet)
			return err
		}
		if peer != nil {
			if err := peer.roundTrip(g); err != nil {
				return err
			}
		} else {
			sink.Add(Spin(exhaustionWork))
		}
		t1 := time.Now()
		p.Put(h)
		// Get and Put both: a pool may make its caller wait in either
		// (shardpool's Put yields to the Get it hands its connection
		// to).
		Record(hist, inGet+time.Since(t1))
		if caller == callerYields {
			runtime.Gosched()
		}
		return nil
	})
}

// loopbackPeer is the network of the caller=io load: one loopback TCP
// connection per caller to an in-process echo, made before the timed run.
type loopbackPeer struct {
	ln      net.Listener
	clients []net.Conn
	bufs    [][1]byte // one per caller, so that reads share nothing
	echoes  sync.WaitGroup
}

func newLoopbackPeer(b *testing.B, n int) *loopbackPeer {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	lp := &loopbackPeer{ln: ln, bufs: make([][1]byte, n)}
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			lp.close()
			b.Fatal(err)
		}
		lp.clients = append(lp.clients, c)
		srv, err := ln.Accept()
		if err != nil {
			lp.close()
			b.Fatal(err)
		}
		lp.echoes.Add(1)
		go func() {
			defer lp.echoes.Done()
			_, _ = io.Copy(srv, srv) // until the client closes
			_ = srv.Close()
		}()
	}
	return lp
}

// roundTrip sends caller g's byte and waits for its echo.
func (lp *loopbackPeer) roundTrip(g int) error {
	c := lp.clients[g]
	if _, err := c.Write(pingByte); err != nil {
		return err
	}
	_, err := io.ReadFull(c, lp.bufs[g][:])
	return err
}

var pingByte = []byte{'.'}

// close closes the callers' connections and waits for the echoes to end.
func (lp *loopbackPeer) close() {
	for _, c := range lp.clients {
		_ = c.Close()
	}
	_ = lp.ln.Close()
	lp.echoes.Wait()
}

// ChurnGetRemove asks: what does it cost to throw a connection away (Get,
// then Remove, so that the next Get dials) as the pool grows? Half of the
// pool's places are held by connections checked out for the whole run, as
// in a busy pool, so a Remove that scans the pool's connections pays for
// them.
func ChurnGetRemove(b *testing.B, cs []Contender) {
	ctx := context.Background()
	for _, c := range cs {
		if c.HotPathOnly {
			continue
		}
		for _, size := range []int{8, 64, 512, 4096} {
			b.Run(fmt.Sprintf("pool=%s/size=%d", c.Name, size), func(b *testing.B) {
				p := c.New(Config{Size: size, Dial: FakeDial})
				defer p.Close()
				held := make([]Handle, 0, size/2)
				for range size / 2 {
					h, err := p.Get(ctx)
					if err != nil {
						b.Fatal(err)
					}
					held = append(held, h)
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						h, err := p.Get(ctx)
						if err != nil {
							b.Error(err)
							return
						}
						p.Remove(h)
					}
				})
				b.StopTimer()
				for _, h := range held {
					p.Put(h)
				}
			})
		}
	}
}

// HDRLogEnv names the environment variable that, when set, names a file to
// which SaveHistogram appends each run's latency histogram, in HdrHistogram's
// interval log format (base64 histograms, one per line, tagged with the
// benchmark's name). The report draws percentile plots from it.
const HDRLogEnv = "BENCH_HDR_LOG"

// hdrLog serializes SaveHistogram's appends within one process.
var hdrLog sync.Mutex

// SaveHistogram appends h, tagged with b's full name (which has no spaces or
// commas), to the file $BENCH_HDR_LOG names; without it, it does nothing.
// Every run is logged, go test's calibration runs too (the report merges
// only the runs with at least a tenth of the count of the largest run of
// the same benchmark: at -benchtime 500ms, those that lasted about 50 ms or
// more, beyond the scheduler's 10 ms time slice). Failing to write
// fails the benchmark: a report without its plots should not pass unseen.
func SaveHistogram(b *testing.B, h *hdrhistogram.Histogram) {
	path := os.Getenv(HDRLogEnv)
	if path == "" || h.TotalCount() == 0 {
		return
	}
	hdrLog.Lock()
	defer hdrLog.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	c := hdrhistogram.Import(h.Export()) // a copy: the tag is not ours to set on h
	c.SetTag(b.Name())
	err = hdrhistogram.NewHistogramLogWriter(f).OutputIntervalHistogram(c)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
}
