package shardpool

import (
	"crypto/tls"
	"net"
	"syscall"
)

// The socket under a net.Conn, for the built-in health check.
//
// Locking: none; see health.go.

// maxUnwrap bounds how many wrappers the check looks through, so that a
// NetConn method that returns its own receiver cannot loop forever.
const maxUnwrap = 16

// socketOf returns the socket under nc: nc itself if it offers its file
// descriptor (syscall.Conn, as *net.TCPConn and *net.UnixConn do), else
// what it wraps, found through NetConn() net.Conn (as *tls.Conn and
// wrappers written to be seen through expose it), to any depth up to
// maxUnwrap. It returns nil if there is none to find.
//
// framed reports that a *tls.Conn was passed on the way: the bytes on the
// socket are records the TLS layer reads lazily, and unread ones are
// expected (TLS 1.3 session tickets arrive after the handshake), so the
// check must not count them as a failure.
func socketOf(nc net.Conn) (sock syscall.Conn, framed bool) {
	for i := 0; i <= maxUnwrap && nc != nil; i++ {
		if sc, ok := nc.(syscall.Conn); ok {
			return sc, framed
		}
		if _, ok := nc.(*tls.Conn); ok {
			framed = true
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil, false
		}
		nc = w.NetConn()
	}
	return nil, false
}
