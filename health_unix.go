//go:build unix

package shardpool

import (
	"io"
	"sync"
	"syscall"
)

// connCheck is the built-in health check: it asks the kernel, without
// blocking and without taking a byte off the stream, about the socket
// under cn (socketOf). A peer that closed or reset the connection fails
// it, and so do bytes nobody asked for (a late reply, a server's goodbye:
// the stream can no longer be trusted), except under TLS, whose layer
// reads records lazily. A net.Conn with no socket to find passes.
func connCheck(cn *Conn) error {
	sock, framed := socketOf(cn.NetConn())
	if sock == nil {
		return nil
	}
	raw, err := sock.SyscallConn()
	if err != nil {
		return err
	}
	pr := probes.Get().(*socketProbe)
	defer probes.Put(pr)
	if err := raw.Control(pr.fn); err != nil {
		return err
	}
	switch {
	case pr.err != nil:
		return pr.err
	case pr.hangup:
		return io.EOF
	case pr.pending && !framed:
		return errUnexpectedRead
	}
	return nil
}

// socketProbe is one check's question to the kernel: fn, bound to r.probe
// once when r is made, so that passing it to RawConn.Control allocates
// nothing. probe (health_linux.go, health_peek.go) fills in the answer.
type socketProbe struct {
	fn func(fd uintptr)
	//lint:ignore U1000 the peek's buffer (health_peek.go), unused on Linux
	buf     [1]byte
	pending bool  // bytes wait to be read
	hangup  bool  // the peer closed its side (FIN)
	err     error // a reset, or the probe's own failure
}

var probes = sync.Pool{New: func() any {
	pr := new(socketProbe)
	pr.fn = pr.probe
	return pr
}}

// sockErr turns a socket's pending error (SO_ERROR) into an error, or nil.
func sockErr(fd uintptr) error {
	n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return err
	}
	if n != 0 {
		return syscall.Errno(n)
	}
	return nil
}
