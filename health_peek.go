//go:build unix && !linux

package shardpool

import (
	"errors"
	"syscall"
)

// probe peeks at one byte without waiting and without consuming it. Where
// there is no POLLRDHUP, a FIN behind unread bytes is not seen until they
// are read: under TLS, a connection closed with a session ticket unread
// passes the check.
func (pr *socketProbe) probe(fd uintptr) {
	pr.pending, pr.hangup, pr.err = false, false, nil
	n, _, err := syscall.Recvfrom(int(fd), pr.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	for errors.Is(err, syscall.EINTR) {
		n, _, err = syscall.Recvfrom(int(fd), pr.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}
	switch {
	case n > 0:
		pr.pending = true
	case n == 0 && err == nil:
		pr.hangup = true
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
	default:
		pr.err = err
	}
}
