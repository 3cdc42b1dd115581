package shardpool

import "sync/atomic"

// rounds runs a job on behalf of many callers, one goroutine at a time,
// without making any caller wait for another: the serve rounds of the
// wait path (wait.go) and the MinIdleConns top-ups (dial.go).
//
// Locking: none; n is the only state, an atomic count of the rounds asked
// for and not yet run.
//
// The protocol. A caller that wants a round after its call (request)
// increments n. If it took n from 0 it is the runner and runs rounds
// itself; otherwise a runner is active and the caller returns at once,
// leaving its increment. The runner loads n, runs a round, and subtracts
// what it loaded; if the result is not 0, a request came during the
// round, and it runs another. A request that comes before the runner's
// load is served by the round that follows the load; one that comes after
// makes the subtraction non-zero. So every request is followed by a round
// that starts after it, and no request waits for a round to end.
type rounds struct{ n atomic.Int32 }

// request makes sure a round of run starts after this call: it runs rounds
// itself, and reports true, or leaves its request for the active runner,
// and reports false. Every caller of one rounds passes the same run.
func (r *rounds) request(run func()) bool {
	if r.n.Add(1) != 1 {
		return false
	}
	r.drain(run)
	return true
}

// tryEnter makes the caller the runner, without asking for a round, if no
// runner is active. A caller that gets true must call leave.
func (r *rounds) tryEnter() bool { return r.n.CompareAndSwap(0, 1) }

// leave ends a turn begun by tryEnter, running the rounds requested
// meanwhile.
func (r *rounds) leave(run func()) {
	if r.n.Add(-1) != 0 {
		r.drain(run)
	}
}

// idle reports whether no runner is active.
func (r *rounds) idle() bool { return r.n.Load() == 0 }

// drain runs rounds until no request is left. The caller is the runner.
func (r *rounds) drain(run func()) {
	for {
		seen := r.n.Load()
		run()
		if r.n.Add(-seen) == 0 {
			return
		}
	}
}
