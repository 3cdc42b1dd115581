// The network-fault rounds' rig: the toxiproxy API server and its two
// proxies, shardpool's pool and go-redis's client behind them with their
// loads; adding and removing the toxics, halting both loads at once, and
// closing it all at the end of a round.
package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
)

// toxiOpBound bounds adding or removing the toxics and restarting a proxy:
// toxiproxy does these in memory, but waits for each connection's
// goroutines to take them in.
const toxiOpBound = 10 * time.Second

// netRig is what the network-fault rounds run on: the proxies, shardpool's
// pool and go-redis's client behind them, and their loads. It is built on
// the first network fault of a round and closed at the round's end.
type netRig struct {
	api     *toxiproxy.ApiServer
	proxies [numSides]*toxiproxy.Proxy

	d      *dialer
	pool   *shardpool.ConnPool
	spLoad *load

	rdb    *redis.Client // nil once it hung: go-redis is then left out
	grLoad *load
	client *redis.Client // the go-redis client, hung or not, for close
}

// newNetRig starts the two proxies to addr and the pools behind them; the
// go-redis client only if withGoredis.
func newNetRig(cfg *config, t0 time.Time, tl *timeline, withGoredis bool) (*netRig, error) {
	// The proxies log through zerolog.Nop, but toxics such as bandwidth
	// log through zerolog's global logger, at trace level on every
	// removal: silence it (nothing else here uses zerolog).
	zerolog.SetGlobalLevel(zerolog.Disabled)
	rig := &netRig{api: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
	var err error
	// The proxies' goroutines, and the ones they start for each
	// connection, carry the toxiproxy label.
	pprof.Do(context.Background(), pprof.Labels("side", ownerToxiproxy), func(context.Context) {
		for i, name := range []string{"chaos-shardpool", "chaos-goredis"} {
			p := toxiproxy.NewProxy(rig.api, name, "127.0.0.1:0", cfg.addr)
			if err = p.Start(); err != nil {
				return
			}
			rig.proxies[i] = p
		}
	})
	if err != nil {
		rig.close()
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	spAddr, grAddr := rig.proxies[sideShardpool].Listen, rig.proxies[sideGoredis].Listen
	for _, a := range []string{spAddr, grAddr} {
		if err := bench.CheckLoopback(a); err != nil {
			rig.close()
			return nil, err
		}
	}

	tcpDial, err := bench.LoopbackDialer(spAddr)
	if err != nil {
		rig.close()
		return nil, err
	}
	rig.d = &dialer{dial: tcpDial, ioTimeout: cfg.ioTimeout, handshake: true, poolSize: int64(cfg.poolSize), t0: t0}
	rig.pool = shardpool.NewConnPool(&shardpool.Options{
		Dialer:          rig.d.Dial,
		OnConnect:       rig.d.OnConnect,
		PoolSize:        cfg.poolSize,
		PoolTimeout:     cfg.poolTimeout,
		DialTimeout:     cfg.dialTimeout,
		HealthCheckIdle: cfg.healthIdle,
		Hooks:           tl.hooks(),
	})
	rig.spLoad = newLoad(poolClient{rig.pool}, rig.d, tl.shardpool(), ownerShardpool, "nf", t0, cfg.workers)
	if withGoredis {
		rig.rdb = newGoredis(cfg, grAddr)
		rig.client = rig.rdb
		rig.grLoad = newLoad(goredisClient{rig.rdb}, nil, tl.goredis(), ownerGoredis, "gr", t0, cfg.workers)
	}
	return rig, nil
}

// loads returns the loads that run: shardpool's, and go-redis's unless it
// is left out.
func (rig *netRig) loads() []*load {
	if rig.rdb == nil {
		return []*load{rig.spLoad}
	}
	return []*load{rig.spLoad, rig.grLoad}
}

// active returns the proxies of the loads that run.
func (rig *netRig) active() []*toxiproxy.Proxy {
	if rig.rdb == nil {
		return rig.proxies[:1]
	}
	return rig.proxies[:]
}

// toxiproxy applies op to each proxy at once, one goroutine per proxy
// under the toxiproxy label (the goroutines toxiproxy starts for each
// connection then carry it), and waits for all, up to toxiOpBound.
func (rig *netRig) toxiproxy(what string, proxies []*toxiproxy.Proxy, op func(*toxiproxy.Proxy) error) error {
	errs := make(chan error, len(proxies))
	var wg sync.WaitGroup
	for _, p := range proxies {
		wg.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("side", ownerToxiproxy), func(context.Context) {
			defer wg.Done()
			if err := op(p); err != nil {
				errs <- fmt.Errorf("%s on %s: %w", what, p.Name, err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(toxiOpBound):
		return fmt.Errorf("%w: toxiproxy: %s did not finish within %v", errHang, what, toxiOpBound)
	}
	close(errs)
	return errors.Join(func() []error {
		var es []error
		for e := range errs {
			es = append(es, e)
		}
		return es
	}()...)
}

// addToxics adds f's toxics to p and, with f.cut, closes every connection
// through p.
func addToxics(f netFault) func(*toxiproxy.Proxy) error {
	return func(p *toxiproxy.Proxy) error {
		for _, t := range f.toxics {
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(t)); err != nil {
				return err
			}
		}
		if f.cut {
			// A timeout toxic with a timeout closes each connection
			// when it runs out, those already open included; behind
			// the black hole (earlier in the chain) nothing else
			// passes. Removing it closes any connection it still
			// holds. No connection is dialed meanwhile: the loads
			// are halted.
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(cutToxic)); err != nil {
				return err
			}
			time.Sleep(cutWait)
			return p.Toxics.RemoveToxic(context.Background(), "cut")
		}
		return nil
	}
}

// cutToxic closes every connection through a proxy 1 ms after it is
// added; cutWait is how long it is left there.
const (
	cutToxic = `{"name":"cut","type":"timeout","stream":"downstream","attributes":{"timeout":1}}`
	cutWait  = 50 * time.Millisecond
)

// removeToxics removes every toxic from p.
func removeToxics(p *toxiproxy.Proxy) error {
	p.Toxics.ResetToxics(context.Background())
	return nil
}

// close closes the pools and the proxies, each bounded, and returns what
// did not close in time: shardpool's pool and the proxies (ours), and the
// go-redis client (reported, not checked, as go-redis's rows are).
func (rig *netRig) close() (ours, goredis []string) {
	bounded := func(f func()) bool {
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	if rig.pool != nil && !bounded(func() { _ = rig.pool.Close() }) {
		ours = append(ours, "the network rounds' pool Close did not return within 5s")
	}
	if rig.client != nil && !bounded(func() { _ = rig.client.Close() }) {
		goredis = append(goredis, "go-redis Close did not return within 5s")
	}
	for _, p := range rig.proxies {
		if p != nil && !bounded(p.Stop) {
			ours = append(ours, "toxiproxy Stop did not return within 5s")
		}
	}
	return ours, goredis
}

// halted is what halting one load gave.
type halted struct {
	s   segment
	err error
}

// haltLoads halts loads at once, each within bound, and returns what each
// gave, in order.
func haltLoads(loads []*load, bound time.Duration) []halted {
	results := make([]halted, len(loads))
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := l.halt(bound)
			results[i] = halted{s, err}
		}()
	}
	wg.Wait()
	return results
}

// settleHalts files the errors of halting a network round's loads
// (results, in the order of rig.loads()): shardpool's is a violation of
// its row and ends the run; go-redis's (a hang) is a note on its row, and
// go-redis is left out of the rest of the run, later rounds included.
func (dr *driver) settleHalts(rig *netRig, rows []*row, results []halted) error {
	if len(results) > 1 && results[1].err != nil {
		rows[1].notes = append(rows[1].notes, "HANG: "+results[1].err.Error()+"; go-redis is left out of the rest of the run")
		rows[1].hung = true
		rig.rdb = nil // its workers may still write their stats: never start that load again
		dr.goredisHung = true
	}
	if err := results[0].err; err != nil {
		rows[0].violate(err.Error())
		return err
	}
	return nil
}

// closeNet closes the network faults' pools and proxies, if any. What of
// ours did not close in time is a violation of the last shardpool row;
// what of go-redis's did not, a note on its last row.
func (dr *driver) closeNet() {
	if dr.net == nil {
		return
	}
	ours, goredis := dr.net.close()
	dr.net = nil
	for i := len(dr.rows) - 1; i >= 0 && (len(ours) > 0 || len(goredis) > 0); i-- {
		r := dr.rows[i]
		switch {
		case r.client == ownerGoredis && len(goredis) > 0:
			r.notes = append(r.notes, goredis...)
			goredis = nil
		case r.client != ownerGoredis && len(ours) > 0:
			for _, p := range ours {
				r.violate(p)
			}
			ours = nil
		}
	}
}
