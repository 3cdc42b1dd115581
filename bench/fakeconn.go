package bench

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// FakeConn is an in-memory net.Conn that does nothing: reads return
// nothing, writes are discarded. The in-memory scenarios pool it so that no
// network is involved.
type FakeConn struct {
	closed atomic.Bool
}

// FakeDial is a Dialer that returns a new FakeConn; it costs one small
// allocation.
func FakeDial(context.Context) (net.Conn, error) { return new(FakeConn), nil }

var fakeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}

// Read reads nothing.
func (c *FakeConn) Read([]byte) (int, error) { return 0, nil }

// Write discards b.
func (c *FakeConn) Write(b []byte) (int, error) { return len(b), nil }

// Close marks the connection closed.
func (c *FakeConn) Close() error { c.closed.Store(true); return nil }

// Closed reports whether Close was called.
func (c *FakeConn) Closed() bool { return c.closed.Load() }

// LocalAddr returns a loopback address.
func (c *FakeConn) LocalAddr() net.Addr { return fakeAddr }

// RemoteAddr returns a loopback address.
func (c *FakeConn) RemoteAddr() net.Addr { return fakeAddr }

// SetDeadline does nothing.
func (c *FakeConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline does nothing.
func (c *FakeConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline does nothing.
func (c *FakeConn) SetWriteDeadline(time.Time) error { return nil }
