package bench

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/shardpool/shardpool"
)

// idleSpell is how long BenchmarkIdleWakeups watches an idle pool.
const idleSpell = 10 * time.Second

// BenchmarkIdleWakeups asks: how often does an idle pool wake the process?
// A pool with the options a service would set (IdleTimeout and its reaper
// every minute, health checks after the default second idle) serves a
// burst of Gets and Puts, and then nobody uses it for 2 s and then for
// idleSpell. The benchmark counts the process's context switches in each
// (getrusage: voluntary and involuntary, all threads, dead ones included):
// every wake-up of a thread that slept costs one. pool=none is the process
// alone, idle as long: the runtime's own wake-ups, which the pool's come on
// top of. shardpool's coarse clock ticks every
// 15.6 ms while Gets come and goes dormant after a second without one, so
// its promise is that, once quiet, an idle pool wakes at most about once a
// second beyond the process's own; the first two seconds show the ticking
// before it goes dormant. Run it with -benchtime 1x: one spell is the
// measurement.
func BenchmarkIdleWakeups(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("counts context switches with getrusage, as Linux reports them")
	}
	burst := func(b *testing.B, p Pool) {
		ctx := context.Background()
		for range 1000 {
			h, err := p.Get(ctx)
			if err != nil {
				b.Fatal(err)
			}
			p.Put(h)
		}
	}
	cases := []struct {
		name string
		run  func(b *testing.B)
	}{
		{"none", func(b *testing.B) { sleepCounting(b) }},
		{NameShardpool, func(b *testing.B) {
			p := newPoolerAdapter(shardpool.NewConnPool(&shardpool.Options{
				Dialer: FakeDial, PoolSize: 8, PoolTimeout: PoolTimeout,
				IdleTimeout: 5 * time.Minute, IdleCheckFrequency: time.Minute,
			}))
			defer p.Close()
			burst(b, p)
			sleepCounting(b)
		}},
	}
	for _, c := range cases {
		b.Run("pool="+c.name, c.run)
	}
}

// sleepCounting sleeps for two seconds, the time shardpool's clock takes
// to go dormant after the last Get (it checks for Gets once a second, and
// stops at the first check that finds none), and then for idleSpell, and
// reports the process's context switches in each: wakeups-first-2s and
// wakeups/10s.
func sleepCounting(b *testing.B) {
	b.Helper()
	t0 := contextSwitches(b)
	time.Sleep(2 * time.Second)
	t1 := contextSwitches(b)
	time.Sleep(idleSpell)
	t2 := contextSwitches(b)
	b.ReportMetric(float64(t1-t0), "wakeups-first-2s")
	b.ReportMetric(float64(t2-t1)*float64(10*time.Second)/float64(idleSpell), "wakeups/10s")
	b.ReportMetric(0, "ns/op")
}

func contextSwitches(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Nvcsw + ru.Nivcsw
}
