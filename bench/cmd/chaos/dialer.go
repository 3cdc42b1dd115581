// The dialer of shardpool's pools in the driver: plain TCP dials, the
// OnConnect handshake, the counts of dials and their outcomes behind the
// breaker checks, and the hung dial of the hungprobe fault.
package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/bench"
)

// dialer is the connection side of shardpool's pools in the driver: its
// Dial (the pool's Options.Dialer) dials plain TCP, and its OnConnect (the
// pool's Options.OnConnect) puts a RESPClient on each new connection, in
// its Value, with the I/O deadline as the bound of every command, after a
// first PING within the dial's deadline with handshake. It counts the
// dials and their outcomes, Dialer and OnConnect together, to show the
// pool's dial-error breaker at work. A pool must take both Dial and
// OnConnect: a dial that succeeds is counted by OnConnect.
type dialer struct {
	dial      func(context.Context) (net.Conn, error)
	ioTimeout time.Duration
	// handshake makes OnConnect send a PING on each new connection within
	// the dial's deadline, as a driver's HELLO or AUTH does: a server, or
	// a proxy, that accepts but never answers then fails the dial.
	handshake   bool
	poolSize    int64
	t0          time.Time
	dials       atomic.Int64
	fails       atomic.Int64
	consecutive atomic.Int64
	// trippedAt is when the poolSize-th consecutive dial failed (the pool
	// stops dialing from then on), as an offset from t0; 0 if it has not
	// since arm. dialsAtTrip is the dial count then.
	trippedAt   atomic.Int64
	dialsAtTrip atomic.Int64
	// firstOKAt is when a dial first succeeded since arm.
	firstOKAt atomic.Int64

	// hangNext makes the next dial hang, ignoring its context, until
	// releaseHung; hungAt is when it started hanging (offset from t0).
	hangNext atomic.Bool
	hungAt   atomic.Int64
	hangGate atomic.Pointer[chan struct{}]
}

// hangNextDial makes the next dial hang until releaseHung, whatever its
// context says: a Dialer stuck in a connect to a black hole that does not
// honour its context.
func (d *dialer) hangNextDial() {
	gate := make(chan struct{})
	d.hangGate.Store(&gate)
	d.hungAt.Store(0)
	d.hangNext.Store(true)
}

// releaseHung lets a hung dial go on (it then dials for real).
func (d *dialer) releaseHung() {
	d.hangNext.Store(false)
	if gate := d.hangGate.Swap(nil); gate != nil {
		close(*gate)
	}
}

// arm forgets the trip and first success, for a new fault.
func (d *dialer) arm() {
	d.trippedAt.Store(0)
	d.firstOKAt.Store(0)
}

// Dial is the pool's Options.Dialer: a TCP dial. It counts the dial, and
// its failure; its success is counted by OnConnect, which the pool runs
// next.
func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	d.dials.Add(1)
	// The pool bounds the dial (Options.DialTimeout), through ctx.
	if d.hangNext.CompareAndSwap(true, false) {
		if gate := d.hangGate.Load(); gate != nil {
			d.hungAt.Store(int64(time.Since(d.t0)))
			<-*gate
		}
	}
	nc, err := d.dial(ctx)
	if err != nil {
		d.connected(err)
		return nil, err
	}
	return nc, nil
}

// OnConnect is the pool's Options.OnConnect: it keeps a RESPClient of cn
// in cn.Value, whose commands are bounded by the I/O deadline, after a
// first PING with handshake. The PING's deadline is the dial's (ctx's: the
// pool's DialTimeout), and a cancelled ctx ends it at once. An error fails
// the dial: the pool closes the connection and counts it toward its
// breaker.
func (d *dialer) OnConnect(ctx context.Context, cn *shardpool.Conn) error {
	rc := bench.NewRESPClient(cn.NetConn())
	rc.Timeout = d.ioTimeout
	var err error
	if d.handshake {
		if err = rc.PingContext(ctx); err != nil {
			err = fmt.Errorf("handshake: %w", err)
		}
	}
	d.connected(err)
	if err != nil {
		return err
	}
	cn.Value = rc
	return nil
}

// connected counts the outcome of one dial (the Dialer's and OnConnect's).
func (d *dialer) connected(err error) {
	now := int64(time.Since(d.t0))
	if err != nil {
		d.fails.Add(1)
		if d.consecutive.Add(1) == d.poolSize && d.trippedAt.CompareAndSwap(0, now) {
			d.dialsAtTrip.Store(d.dials.Load())
		}
		return
	}
	d.consecutive.Store(0)
	d.firstOKAt.CompareAndSwap(0, now)
}
