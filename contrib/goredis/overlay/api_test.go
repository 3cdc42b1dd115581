package overlay

import (
	"context"
	"net"
	"testing"

	"github.com/shardpool/shardpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The adapter (pool_adapter.go) is compiled only inside an overlay. This
// test compiles and runs, in this module's own build, the part of
// shardpool's API the adapter relies on, so that a change to it fails here
// and not only in an overlay: OnConnect builds one value per connection
// and parks it in Value, where Get finds it again, and OnClose sees it.
func TestShardpoolAPIOfTheAdapter(t *testing.T) {
	type session struct{ cn *shardpool.Conn }
	var closed []any
	p := shardpool.NewConnPool(&shardpool.Options{
		Dialer: func(context.Context) (net.Conn, error) {
			mine, other := net.Pipe()
			go func() { _, _ = other.Read(make([]byte, 1)); _ = other.Close() }()
			return mine, nil
		},
		OnConnect: func(_ context.Context, cn *shardpool.Conn) error {
			cn.Value = &session{cn: cn}
			return nil
		},
		OnClose:            func(cn *shardpool.Conn) error { closed = append(closed, cn.Value); return nil },
		DialTimeout:        -1,
		PoolFIFO:           false,
		PoolSize:           2,
		MinIdleConns:       0,
		MaxConnAge:         0,
		PoolTimeout:        1,
		IdleTimeout:        0,
		IdleCheckFrequency: 0,
	})
	ctx := context.Background()

	cn, err := p.Get(ctx)
	require.NoError(t, err)
	s := cn.Value.(*session)
	assert.Same(t, cn, s.cn)
	p.Put(cn)
	again, err := p.Get(ctx)
	require.NoError(t, err)
	assert.Same(t, s, again.Value, "Value is kept across Put and Get")
	assert.NotNil(t, again.NetConn())

	extra, err := p.NewConn(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Len())
	assert.Equal(t, 0, p.IdleLen())
	p.Remove(extra, nil)
	assert.NoError(t, p.CloseConn(again))
	assert.Equal(t, []any{extra.Value, s}, closed)

	n, err := p.ReapStaleConns()
	assert.Equal(t, 0, n)
	assert.NoError(t, err)
	assert.NoError(t, p.Filter(func(*shardpool.Conn) bool { return false }))
	st := p.Stats()
	assert.Equal(t, [6]uint32{1, 1, 0, 0, 0, 0},
		[6]uint32{st.Hits, st.Misses, st.Timeouts, st.TotalConns, st.IdleConns, st.StaleConns})

	require.NoError(t, p.Close())
	_, err = p.Get(ctx)
	assert.ErrorIs(t, err, shardpool.ErrClosed)
	assert.ErrorIs(t, p.Close(), shardpool.ErrClosed)
	assert.NotErrorIs(t, shardpool.ErrPoolTimeout, shardpool.ErrClosed)
}
