package shardpool_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// fakeConn is a net.Conn that only counts: how often it was closed.
type fakeConn struct {
	id     int64
	closes atomic.Int32
	d      *fakeDialer
}

func (c *fakeConn) Read([]byte) (int, error)         { return 0, errors.New("fake") }
func (c *fakeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *fakeConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (c *fakeConn) Close() error {
	if c.closes.Add(1) == 1 && c.d != nil {
		c.d.closed.Add(1)
	}
	return nil
}

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }

// fakeDialer hands out fakeConns and counts dials and closes. fail makes
// dials return errDial; block makes them wait until ctx is done.
type fakeDialer struct {
	dials  atomic.Int64
	closed atomic.Int64
	fail   atomic.Bool
	block  atomic.Bool

	mu    sync.Mutex
	conns []*fakeConn
}

var errDial = errors.New("fake dial error")

func (d *fakeDialer) Dial(ctx context.Context) (net.Conn, error) {
	if d.block.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if d.fail.Load() {
		return nil, errDial
	}
	c := &fakeConn{id: d.dials.Add(1), d: d}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

// open is how many dialed connections are not closed yet.
func (d *fakeDialer) open() int64 { return d.dials.Load() - d.closed.Load() }

// doubleClosed lists the connections closed more than once.
func (d *fakeDialer) doubleClosed() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []int64
	for _, c := range d.conns {
		if c.closes.Load() > 1 {
			ids = append(ids, c.id)
		}
	}
	return ids
}
