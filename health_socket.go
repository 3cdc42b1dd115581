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

// socketOf returns the socket under nc: the deepest layer that offers its
// file descriptor (syscall.Conn, as *net.TCPConn and *net.UnixConn do),
// looking through every layer that exposes what it wraps with
// NetConn() net.Conn (as *tls.Conn does, and wrappers written to be seen
// through), up to maxUnwrap deep. The deepest, because a wrapper that offers
// both (go-redis v9's health check wants syscall.Conn) says less about the
// stream than the conn it wraps: a TLS layer may sit between them. sock is
// nil if no layer offers a socket, and framed then says nothing.
//
// framed reports that a *tls.Conn was passed on the way: the bytes on the
// socket are records the TLS layer reads lazily, and unread ones are
// expected (TLS 1.3 session tickets arrive after the handshake), so the
// check must not count them as a failure.
func socketOf(nc net.Conn) (sock syscall.Conn, framed bool) {
	for i := 0; i <= maxUnwrap && nc != nil; i++ {
		if sc, ok := nc.(syscall.Conn); ok {
			sock = sc
		}
		if _, ok := nc.(*tls.Conn); ok {
			framed = true
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = w.NetConn()
	}
	return sock, framed
}
