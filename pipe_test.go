package shardpool

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// pipes hands out in-memory connections (net.Pipe) and keeps their far
// ends, for the tests inside the package. While down is set it fails.
type pipes struct {
	down     atomic.Bool
	attempts atomic.Int32

	mu    sync.Mutex
	peers []net.Conn // guarded by mu
}

func (d *pipes) dial(context.Context) (net.Conn, error) {
	d.attempts.Add(1)
	if d.down.Load() {
		return nil, errors.New("server down")
	}
	a, b := net.Pipe()
	d.mu.Lock()
	d.peers = append(d.peers, b)
	d.mu.Unlock()
	return a, nil
}

// closeAll closes the far ends.
func (d *pipes) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.peers {
		_ = c.Close()
	}
}

// pipeDialer returns a pipes' Dialer whose far ends are closed when the
// test ends.
func pipeDialer(t *testing.T) func(context.Context) (net.Conn, error) {
	d := &pipes{}
	t.Cleanup(d.closeAll)
	return d.dial
}

// newPipePool makes a pool with opt and pipes. When the test ends it
// closes the pool, waits for its background dials and closes the far ends.
func newPipePool(t *testing.T, opt Options) (*ConnPool, *pipes) {
	t.Helper()
	d := &pipes{}
	opt.Dialer = d.dial
	p := NewConnPool(&opt)
	t.Cleanup(func() {
		require.NoError(t, p.Close())
		p.dials.Wait()
		d.closeAll()
	})
	return p, d
}
