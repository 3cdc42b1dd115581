package shardpool

import "errors"

// Health checks: Get checks an idle connection before handing it out when
// it has been idle for at least HealthCheckIdle, so that a connection the
// server closed while it sat in the pool costs a redial instead of an error
// at the caller. Connections used more recently are not checked: on a busy
// pool (the hot path) the cost is one comparison against the coarse clock.
//
// Locking: none. A check runs on a connection the caller has already
// checked out of its shard, outside every lock, since it may make a
// syscall.

// The built-in check (connCheck) lives in health_unix.go, with one probe of
// the socket per platform: health_linux.go polls, health_peek.go peeks.
// health_socket.go finds the socket under wrappers.

// errUnexpectedRead is what the built-in check reports for a connection
// with bytes to read that nobody asked for (a late reply, or a server's
// goodbye).
var errUnexpectedRead = errors.New("shardpool: unexpected bytes on an idle connection")

// checkDue reports whether cn, taken from idle at now, must be checked.
func (p *ConnPool) checkDue(cn *Conn, now int64) bool {
	return p.checkIdle > 0 && now-cn.idleAt >= p.checkIdle
}

// healthy runs the health check on cn, which the caller holds checked out.
// A check that panics fails.
func (p *ConnPool) healthy(cn *Conn) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return p.opt.HealthCheck(cn) == nil
}
