package shardpool

import (
	"time"

	"github.com/shardpool/shardpool/internal/connstate"
)

// The reaper closes idle connections that have gone stale (IdleTimeout or
// MaxConnAge) so that they do not wait for a Get to meet them. It sweeps one
// shard at a time, holding only that shard's lock, so Gets and Puts on the
// other shards go on while it runs.

// reaper sweeps every frequency until the pool closes.
func (p *ConnPool) reaper(frequency time.Duration) {
	t := time.NewTicker(frequency)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// A tick and Close can be ready together; select picks at
			// random, so look again.
			if p.closed.Load() {
				return
			}
			_, _ = p.ReapStaleConns()
		case <-p.closedCh:
			return
		}
	}
}

// ReapStaleConns sweeps every shard once, closes the idle connections that
// are stale, counts them in Stats().StaleConns, and returns how many it
// closed. It returns ErrClosed after Close.
func (p *ConnPool) ReapStaleConns() (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if !p.expires {
		return 0, nil
	}
	p.clock.refresh()
	n := 0
	var stale []*Conn
	for i := range p.shards {
		stale = p.sweep(&p.shards[i], stale[:0])
		for _, cn := range stale {
			p.discard(cn)
			p.release()
		}
		n += len(stale)
	}
	if n > 0 {
		p.checkMinIdleConns()
	}
	return n, nil
}

// sweep claims the stale connections of s and appends them to stale.
//
// Within a shard the list is ordered by idleAt (connections are parked at
// one end with the clock read under the lock, and the clock never goes
// back), so with IdleTimeout alone the sweep walks from the oldest end and
// stops at the first fresh connection. MaxConnAge can make any connection
// stale, so then it walks the whole list.
func (p *ConnPool) sweep(s *shard, stale []*Conn) []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest, newer := s.tail, func(cn *Conn) *Conn { return cn.prev }
	if p.opt.PoolFIFO {
		oldest, newer = s.head, func(cn *Conn) *Conn { return cn.next }
	}
	for cn := oldest; cn != nil; {
		next := newer(cn)
		if p.isStale(cn) {
			s.unlink(cn)
			cn.tag.State.Store(connstate.Closed)
			stale = append(stale, cn)
		} else if p.opt.MaxConnAge == 0 {
			break
		}
		cn = next
	}
	return stale
}
