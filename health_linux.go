package shardpool

import "golang.org/x/sys/unix"

// probe polls fd without waiting. POLLRDHUP tells the peer's FIN apart
// from readable bytes, even when bytes wait in front of it, which a read
// could not see without consuming them: a TLS connection the server closed
// with a session ticket still unread is found. POLLERR and POLLHUP mean a
// reset or worse; SO_ERROR says which.
func (pr *socketProbe) probe(fd uintptr) {
	pr.pending, pr.hangup, pr.err = false, false, nil
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
	n, err := unix.Poll(fds[:], 0)
	for err == unix.EINTR { // the runtime's preemption signal, even at timeout 0
		n, err = unix.Poll(fds[:], 0)
	}
	switch {
	case err != nil:
		pr.err = err
		return
	case n == 0:
		return
	}
	ev := fds[0].Revents
	if ev&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
		if pr.err = sockErr(fd); pr.err == nil {
			pr.hangup = true
		}
		return
	}
	pr.hangup = ev&unix.POLLRDHUP != 0
	pr.pending = ev&unix.POLLIN != 0 && !pr.hangup
}
