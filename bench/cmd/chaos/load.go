package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"
	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
)

// errPause is how long a worker rests after an error, so that a pool failing
// fast does not turn the load into a busy loop that starves the server.
const errPause = 2 * time.Millisecond

// maxOpsPerWorker bounds each worker's loop by count as well as by time.
const maxOpsPerWorker = 50_000_000

// errWrongValue is a GET reply that another worker's SET wrote: a connection
// shared by two callers, or a reply read on the wrong request.
var errWrongValue = errors.New("chaos: GET returned another worker's value")

// errClass is what kind of failure a request met.
type errClass int

const (
	classRefused     errClass = iota // connection refused: the server is down
	classPoolTimeout                 // shardpool.ErrPoolTimeout
	classTimeout                     // a dial or I/O deadline
	classPeer                        // EOF, reset, broken pipe: the server closed its side
	classWrong                       // a wrong reply: always a violation
	classOther
	numClasses
)

var classNames = [numClasses]string{"refused", "pool timeout", "timeout", "EOF/reset", "wrong reply", "other"}

// stage is where a request failed: in Get, or in its I/O.
type stage int

const (
	stageGet stage = iota
	stageIO
	numStages
)

var stageNames = [numStages]string{"Get", "I/O"}

// classify sorts err into an errClass.
func classify(err error) errClass {
	var ne net.Error
	switch {
	case errors.Is(err, bench.ErrReply), errors.Is(err, errWrongValue):
		return classWrong
	case errors.Is(err, syscall.ECONNREFUSED):
		return classRefused
	case errors.Is(err, shardpool.ErrPoolTimeout), errors.Is(err, redis.ErrPoolTimeout):
		return classPoolTimeout
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return classTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return classPeer
	case errors.As(err, &ne) && ne.Timeout():
		return classTimeout
	}
	return classOther
}

// workerStats is what one worker saw during one segment of load. Only the
// worker writes it while the load runs; the driver reads it after halt.
// Times are offsets from the driver's start; 0 means never.
type workerStats struct {
	ok, errs int64
	kinds    [numStages][numClasses]int64
	sample   [numStages][numClasses]string // one message of each kind

	firstErr, lastErr time.Duration
	okAfterErr        time.Duration // first success after lastErr
	firstOK, lastOK   time.Duration

	maxGet, maxReq time.Duration
	maxIO          time.Duration // the longest request less its Get
	// slowGet and slowReq describe the slowest Get and request.
	slowGet, slowReq slowest
	// maxFastFail is the longest Get that started after the breaker
	// tripped and failed.
	maxFastFail time.Duration
	// firstSlow and lastSlow are when the first and the last request that
	// took at least the load's slowMark, and started before the toxics were
	// removed (clearedAt), ended. slowAfter counts the slow requests that
	// started later, which no toxic touched, and maxSlowAfter is the
	// slowest of them.
	firstSlow, lastSlow time.Duration
	slowAfter           int
	maxSlowAfter        time.Duration
	lastSlowAfter       time.Duration // when the last of them ended

	getHist, reqHist *hdrhistogram.Histogram
}

func (ws *workerStats) reset() {
	gh, rh := ws.getHist, ws.reqHist
	*ws = workerStats{getHist: gh, reqHist: rh}
	ws.getHist.Reset()
	ws.reqHist.Reset()
}

func (ws *workerStats) fail(now time.Duration, st stage, err error) {
	c := classify(err)
	ws.errs++
	ws.kinds[st][c]++
	if ws.sample[st][c] == "" {
		ws.sample[st][c] = err.Error()
	}
	if ws.firstErr == 0 {
		ws.firstErr = now
	}
	ws.lastErr, ws.okAfterErr = now, 0
}

func (ws *workerStats) succeed(now time.Duration) {
	ws.ok++
	if ws.lastErr != 0 && ws.okAfterErr == 0 {
		ws.okAfterErr = now
	}
	if ws.firstOK == 0 {
		ws.firstOK = now
	}
	ws.lastOK = now
}

// slowest describes the slowest call of a kind: when it started (an offset
// from the driver's start) and how it ended.
type slowest struct {
	took, startedAt time.Duration
	err             error
}

func (s *slowest) note(took, startedAt time.Duration, err error) {
	if took > s.took {
		*s = slowest{took: took, startedAt: startedAt, err: err}
	}
}

// describe says how long the call took, when it started relative to ref,
// and how it ended.
func (s slowest) describe(ref time.Duration, refName string) string {
	end := "succeeded"
	if s.err != nil {
		end = fmt.Sprintf("failed (%s: %v)", classNames[classify(s.err)], s.err)
	}
	return fmt.Sprintf("%v, started %v after %s, %s", s.took.Round(100*time.Microsecond), (s.startedAt - ref).Round(100*time.Microsecond), refName, end)
}

// segment is the merged workerStats of one segment of load.
type segment struct {
	ok, errs      int64
	kinds         [numStages][numClasses]int64
	sample        [numStages][numClasses]string
	firstErr      time.Duration
	lastErr       time.Duration
	firstOK       time.Duration
	lastOK        time.Duration
	recoveredAt   time.Duration // when the last worker that saw an error succeeded again
	unrecovered   int           // workers whose last request failed
	maxGet        time.Duration
	maxReq        time.Duration
	maxIO         time.Duration
	maxFastFail   time.Duration
	firstSlow     time.Duration // the first request slower than slowMark ended
	lastSlow      time.Duration // the last one that started before clearedAt ended
	slowAfter     int           // slow requests that started after clearedAt
	maxSlowAfter  time.Duration
	lastSlowAfter time.Duration
	slowGet       slowest
	slowReq       slowest
	p99Get        time.Duration
	p99Req        time.Duration
	panics        []string
}

// load runs workers that send PING, SET and GET through a client, in
// segments: start begins one, halt ends it and returns what it saw.
type load struct {
	client    client
	dialer    *dialer         // the pool's dialer, for its breaker's trip; nil for go-redis
	side      *side           // the timeline's counters for this client
	keyPrefix string          // keeps two loads on one server off each other's keys
	labels    context.Context // the workers' pprof label (goroutines.go)
	t0        time.Time
	stats     []workerStats
	mergedG   *hdrhistogram.Histogram
	mergedR   *hdrhistogram.Histogram

	// slowMark, when positive, makes workers note requests that take at
	// least this long (workerStats.firstSlow, lastSlow); the driver sets
	// it at a fault's start, while the workers run, hence an atomic.
	slowMark atomic.Int64
	// clearedAt, when positive, is when the fault's toxics were gone (an
	// offset from t0): a slow request that started after it was not slowed
	// by them, and does not count toward recovery (workerStats.slowAfter).
	clearedAt atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup

	panicMu sync.Mutex
	panics  []string
}

func newLoad(c client, d *dialer, sd *side, owner, keyPrefix string, t0 time.Time, workers int) *load {
	l := &load{
		client:    c,
		labels:    labelled(owner),
		dialer:    d,
		side:      sd,
		keyPrefix: keyPrefix,
		t0:        t0,
		stats:     make([]workerStats, workers),
		mergedG:   bench.NewLatencyHistogram(),
		mergedR:   bench.NewLatencyHistogram(),
	}
	for i := range l.stats {
		l.stats[i].getHist = bench.NewLatencyHistogram()
		l.stats[i].reqHist = bench.NewLatencyHistogram()
	}
	return l
}

func (l *load) now() time.Duration { return time.Since(l.t0) }

// start begins a segment of load.
func (l *load) start() {
	l.stop = make(chan struct{})
	for i := range l.stats {
		l.stats[i].reset()
		l.wg.Add(1)
		go l.worker(i, &l.stats[i], l.stop)
	}
}

// errHang is returned by halt when workers are still inside a request past
// every bound a request has.
var errHang = errors.New("requests hang")

// halt ends the segment: it waits up to bound for the workers' requests in
// flight, and returns the merged stats, or errHang.
func (l *load) halt(bound time.Duration) (segment, error) {
	close(l.stop)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return segment{}, fmt.Errorf("%w: workers still inside a request %v after the load was told to stop", errHang, bound)
	}

	var s segment
	l.mergedG.Reset()
	l.mergedR.Reset()
	for i := range l.stats {
		ws := &l.stats[i]
		s.ok += ws.ok
		s.errs += ws.errs
		for st := range numStages {
			for c := range numClasses {
				s.kinds[st][c] += ws.kinds[st][c]
				if s.sample[st][c] == "" {
					s.sample[st][c] = ws.sample[st][c]
				}
			}
		}
		s.firstErr = minSet(s.firstErr, ws.firstErr)
		s.firstOK = minSet(s.firstOK, ws.firstOK)
		s.lastErr = max(s.lastErr, ws.lastErr)
		s.lastOK = max(s.lastOK, ws.lastOK)
		if ws.lastErr != 0 {
			if ws.okAfterErr == 0 {
				s.unrecovered++
			}
			s.recoveredAt = max(s.recoveredAt, ws.okAfterErr)
		}
		s.maxGet = max(s.maxGet, ws.maxGet)
		s.maxReq = max(s.maxReq, ws.maxReq)
		s.maxIO = max(s.maxIO, ws.maxIO)
		s.maxFastFail = max(s.maxFastFail, ws.maxFastFail)
		s.firstSlow = minSet(s.firstSlow, ws.firstSlow)
		s.lastSlow = max(s.lastSlow, ws.lastSlow)
		s.slowAfter += ws.slowAfter
		s.maxSlowAfter = max(s.maxSlowAfter, ws.maxSlowAfter)
		s.lastSlowAfter = max(s.lastSlowAfter, ws.lastSlowAfter)
		s.slowGet.note(ws.slowGet.took, ws.slowGet.startedAt, ws.slowGet.err)
		s.slowReq.note(ws.slowReq.took, ws.slowReq.startedAt, ws.slowReq.err)
		l.mergedG.Merge(ws.getHist)
		l.mergedR.Merge(ws.reqHist)
	}
	s.p99Get = time.Duration(l.mergedG.ValueAtQuantile(99))
	s.p99Req = time.Duration(l.mergedR.ValueAtQuantile(99))
	l.panicMu.Lock()
	s.panics, l.panics = l.panics, nil
	l.panicMu.Unlock()
	return s, nil
}

// minSet returns the smaller of a and b, where 0 means unset.
func minSet(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// client is what the workers send their requests through: shardpool's
// ConnPool (poolClient) or go-redis's client (goredisClient). A client is
// used by all workers at once.
type client interface {
	// do sends the i-th request of the worker whose key and value prefix
	// are given (val is the worker's scratch). get is how long getting a
	// connection took, when the client can tell (hasGet); st is where err
	// happened.
	do(i int, key, prefix []byte, val *[]byte) (res result)
}

// result is the outcome of one request.
type result struct {
	get    time.Duration
	hasGet bool
	st     stage
	err    error
}

// poolClient sends requests through a shardpool ConnPool: Get, one command
// with the RESPClient that the dialer's OnConnect kept in the connection's
// Value (its I/O bounded by the I/O deadline), then Put, or Remove on any
// error or when the client's reader holds bytes nobody read.
type poolClient struct{ pool *shardpool.ConnPool }

func (c poolClient) do(i int, key, prefix []byte, val *[]byte) result {
	start := time.Now()
	cn, err := c.pool.Get(context.Background())
	get := time.Since(start)
	if err != nil {
		return result{get: get, hasGet: true, st: stageGet, err: err}
	}
	rc := respClient(cn)
	if err := request(rc, i, key, prefix, val); err != nil {
		c.pool.Remove(cn, err)
		return result{get: get, hasGet: true, st: stageIO, err: err}
	}
	release(c.pool, cn, rc)
	return result{get: get, hasGet: true}
}

// respClient returns the RESPClient the dialer's OnConnect kept in cn.
func respClient(cn *shardpool.Conn) *bench.RESPClient {
	rc, ok := cn.Value.(*bench.RESPClient)
	if !ok {
		panic(fmt.Sprintf("pool returned a connection whose Value is a %T, not a *bench.RESPClient: is the dialer's OnConnect set?", cn.Value))
	}
	return rc
}

// release gives back cn, whose command through rc succeeded: Put, or
// Remove if rc's reader still holds bytes (a reply nobody asked for would
// answer the next caller's request, and the pool's health check cannot see
// the client's buffer). The caller saw no error: its request was served.
func release(pool *shardpool.ConnPool, cn *shardpool.Conn, rc *bench.RESPClient) {
	if rc.Buffered() > 0 {
		pool.Remove(cn, bench.ErrUnread)
		return
	}
	pool.Put(cn)
}

// worker sends requests through l.client until stop is closed.
func (l *load) worker(id int, ws *workerStats, stop <-chan struct{}) {
	defer l.wg.Done()
	pprof.SetGoroutineLabels(l.labels)
	defer func() {
		if v := recover(); v != nil {
			l.panicMu.Lock()
			l.panics = append(l.panics, fmt.Sprintf("worker %d: %v\n%s", id, v, debug.Stack()))
			l.panicMu.Unlock()
		}
	}()
	key := fmt.Appendf(nil, "chaos:%sw%d", l.keyPrefix, id)
	prefix := fmt.Appendf(nil, "%sw%d:", l.keyPrefix, id)
	val := make([]byte, 0, 32)
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	rest := func() bool {
		pause.Reset(errPause)
		select {
		case <-stop:
			return false
		case <-pause.C:
			return true
		}
	}

	for i := range maxOpsPerWorker {
		select {
		case <-stop:
			return
		default:
		}
		start := time.Now()
		startOff := start.Sub(l.t0)
		res := l.client.do(i, key, prefix, &val)
		reqDur := time.Since(start)
		if res.hasGet {
			ws.maxGet = max(ws.maxGet, res.get)
			ws.slowGet.note(res.get, startOff, res.err)
			bench.Record(ws.getHist, res.get)
		}
		if res.err != nil && res.st == stageGet {
			if l.dialer != nil {
				if trip := l.dialer.trippedAt.Load(); trip != 0 && startOff > time.Duration(trip) {
					ws.maxFastFail = max(ws.maxFastFail, res.get)
				}
			}
			if !res.hasGet {
				// A client that does not show its Get apart
				// (go-redis): its failed Gets (a pool timeout, a
				// dial error) go into its request figures, or
				// their waits would show nowhere in its row.
				ws.maxReq = max(ws.maxReq, reqDur)
				bench.Record(ws.reqHist, reqDur)
			}
			ws.fail(l.now(), stageGet, res.err)
			l.side.request(res, reqDur)
			if !rest() {
				return
			}
			continue
		}
		ws.maxReq = max(ws.maxReq, reqDur)
		if res.hasGet {
			ws.maxIO = max(ws.maxIO, reqDur-res.get)
		}
		ws.slowReq.note(reqDur, startOff, res.err)
		bench.Record(ws.reqHist, reqDur)
		if mark := time.Duration(l.slowMark.Load()); mark > 0 && reqDur >= mark {
			if c := time.Duration(l.clearedAt.Load()); c > 0 && startOff >= c {
				ws.slowAfter++
				ws.maxSlowAfter = max(ws.maxSlowAfter, reqDur)
				ws.lastSlowAfter = l.now()
			} else {
				now := l.now()
				ws.firstSlow = minSet(ws.firstSlow, now)
				ws.lastSlow = now
			}
		}
		l.side.request(res, reqDur)
		if res.err != nil {
			ws.fail(l.now(), stageIO, res.err)
			if !rest() {
				return
			}
			continue
		}
		ws.succeed(l.now())
	}
}

// request sends the i-th command of a worker: PING, SET key, or GET key.
// A GET must return nothing (the server lost its data when it was killed)
// or a value this worker set.
func request(rc *bench.RESPClient, i int, key, prefix []byte, val *[]byte) error {
	switch i % 3 {
	case 0:
		return rc.Ping()
	case 1:
		*val = fmt.Appendf(append((*val)[:0], prefix...), "%d", i)
		return rc.Set(key, *val)
	default:
		v, err := rc.Get(key)
		if err == nil && v != nil && !bytes.HasPrefix(v, prefix) {
			err = fmt.Errorf("%w: GET %s = %q", errWrongValue, key, v)
		}
		return err
	}
}
