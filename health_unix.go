//go:build unix

package shardpool

import (
	"errors"
	"io"
	"sync"
	"syscall"
)

// connCheck is the built-in health check: one non-blocking read on the
// socket. The pool's sockets are in non-blocking mode (the Go runtime puts
// them there), so on a healthy idle connection the read finds nothing and
// returns EAGAIN at once. A read of 0 bytes is the server's FIN; an error
// is a reset or worse; a byte read is data nobody asked for, and the
// connection's stream can no longer be trusted.
func connCheck(cn *Conn) error {
	sc, ok := cn.NetConn().(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	r := readers.Get().(*peekRead)
	defer readers.Put(r)
	if err := raw.Read(r.fn); err != nil {
		return err
	}
	return r.err
}

// peekRead is one check's read: fn, bound to r.read once when r is made,
// so that passing it to RawConn.Read allocates nothing.
type peekRead struct {
	fn  func(fd uintptr) bool
	buf [1]byte
	err error
}

var readers = sync.Pool{New: func() any {
	r := new(peekRead)
	r.fn = r.read
	return r
}}

func (r *peekRead) read(fd uintptr) bool {
	n, err := syscall.Read(int(fd), r.buf[:])
	switch {
	case n > 0:
		r.err = errUnexpectedRead
	case n == 0 && err == nil:
		r.err = io.EOF
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
		r.err = nil
	default:
		r.err = err
	}
	return true // never wait for the socket to become readable
}
