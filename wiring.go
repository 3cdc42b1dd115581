package shardpool

import (
	"context"
	"time"

	"github.com/shardpool/shardpool/internal/connstate"
	"github.com/shardpool/shardpool/internal/testhook"
)

// Wiring: the init-time hooks that let other packages of this module reach
// private state, gathered here so that every such reach is in one place.
//
// Why they exist: package baseline implements the same Pooler over the same
// Conn, so it needs the per-connection Tag that Conn keeps unexported (a
// user must not change which pool owns a connection or its state), and the
// Options defaults. The tests need to drive the pool's coarse clock by
// hand, and to wait for background dials that Close leaves running.
// Exporting any of these would make them part of the API; an internal
// package whose function variables are set here keeps them inside the
// module. Nothing on a hot path goes through these hooks: the baseline
// fetches a connection's Tag once per call.
func init() {
	connstate.Of = func(conn any) *connstate.Tag { return &conn.(*Conn).tag }
	connstate.SetCreatedAt = func(conn any, t time.Time) {
		cn := conn.(*Conn)
		cn.createdAt = t
		cn.usedAt.Store(t.UnixNano())
	}
	connstate.Normalize = func(opt any) { opt.(*Options).normalize() }
	connstate.Connect = func(ctx context.Context, opt, conn any) error {
		f := opt.(*Options).OnConnect
		if f == nil {
			return nil
		}
		return runOnConnect(ctx, f, conn.(*Conn))
	}

	testhook.WaitDials = func(pool any) {
		switch p := pool.(type) {
		case *ConnPool:
			p.dials.Wait()
		default:
			testhook.BaselineWaitDials(pool)
		}
	}
	testhook.ManualClock = func(pool any) func(time.Duration) {
		c := pool.(*ConnPool).clock
		c.manual.Store(true)
		return c.advance
	}
}
