package shardpool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shardpool/shardpool"
	"github.com/shardpool/shardpool/internal/testhook"
)

// FuzzFeatures drives shardpool alone, with the features the baseline does
// not have switched on by the input (MaxConcurrentDials, health checks that
// fail for connections the input makes sick, OnConnect that the input
// makes fail, MaxConnAgeJitter,
// MinIdleConns, MaxIdleConns, SetPoolSize), and checks the invariants those features must keep, since
// FuzzDifferential can only compare them switched off: the structures
// agree after every step (CheckInvariants), no place or dial slot leaks
// once the pool is quiet (CheckQuiet), and after Close every dialed
// connection is closed exactly once. Open connections never outnumber the
// largest PoolSize the pool has had (and the breaker's probe).
// errRefused is the handshake's error while the input has the server
// refuse handshakes.
var errRefused = errors.New("handshake refused")

func FuzzFeatures(f *testing.F) {
	f.Add([]byte{0x00, 0, 0, 0, 1, 4, 0, 2, 0})
	f.Add([]byte{0x7f, 0, 0, 0, 0, 3, 0, 4, 0x40, 0, 0, 5, 0, 0})
	f.Add([]byte{0x35, 6, 0, 0, 0, 0, 6, 0, 0, 2, 1, 7, 1, 4, 0xc0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 400 {
			return
		}
		c0, data := data[0], data[1:]
		size := 1 + int(c0&3)
		d := &fakeDialer{}
		var mu sync.Mutex
		sick := map[int64]bool{} // guarded by mu
		var refuse atomic.Bool   // the server refuses handshakes
		p := shardpool.NewConnPool(&shardpool.Options{
			PoolSize:           size,
			MaxConcurrentDials: 1 + int(c0>>2&3),
			MinIdleConns:       int(c0 >> 4 & 1),
			MaxConnAge:         [2]time.Duration{0, time.Hour}[c0>>5&1],
			MaxConnAgeJitter:   30 * time.Minute,
			HealthCheckIdle:    [2]time.Duration{time.Minute, -1}[c0>>6&1],
			HealthCheck: func(cn *shardpool.Conn) error {
				mu.Lock()
				defer mu.Unlock()
				if sick[cn.NetConn().(*fakeConn).id] {
					return errors.New("sick")
				}
				return nil
			},
			MaxIdleConns: int(c0 >> 7 & 1 * 2), // 0 (off) or 2
			PoolTimeout:  100 * time.Microsecond,
			Dialer:       d.Dial,
			OnConnect: func(_ context.Context, cn *shardpool.Conn) error {
				if refuse.Load() {
					return errRefused
				}
				cn.Value = cn.NetConn().(*fakeConn).id
				return nil
			},
		})
		p.SetResized()
		// largest is the largest PoolSize so far. probe is 1 once the
		// dialer has failed: the breaker's probe may then dial one
		// connection outside the pool, which it closes at once.
		largest, probe := size, 0
		advance := testhook.ManualClock(p)
		var held []*shardpool.Conn
		inv := func(what string) {
			t.Helper()
			require.NoError(t, p.CheckInvariants(), "after %s", what)
			require.LessOrEqual(t, d.open(), int64(largest+probe), "after %s: open connections", what)
		}
		for len(data) >= 2 {
			op, arg := data[0]%9, data[1]
			data = data[2:]
			switch op {
			case 0, 1: // Get, the most common step
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				cn, err := p.Get(ctx)
				cancel()
				if err == nil {
					require.Equal(t, cn.NetConn().(*fakeConn).id, cn.Value, "a connection without its handshake")
					held = append(held, cn)
				}
				inv("Get")
			case 2, 3: // Put or Remove a held connection
				if len(held) == 0 {
					continue
				}
				i := int(arg) % len(held)
				cn := held[i]
				held = append(held[:i], held[i+1:]...)
				if op == 2 {
					p.Put(cn)
				} else {
					p.Remove(cn, nil)
				}
				inv("Put/Remove")
			case 4: // the server drops a connection: its health check fails
				mu.Lock()
				sick[1+int64(arg)%(d.dials.Load()+1)] = true
				mu.Unlock()
			case 5: // time passes
				advance([4]time.Duration{time.Second, 2 * time.Minute, 50 * time.Minute, 2 * time.Hour}[arg&3])
				_, err := p.ReapStaleConns()
				require.NoError(t, err)
				inv("ReapStaleConns")
			case 6: // the dialer, or the handshake, fails or recovers
				d.fail.Store(arg&1 == 1)
				refuse.Store(arg&2 != 0)
				if arg&3 != 0 {
					probe = 1
				}
			case 7: // Filter closes some, held or idle
				_ = p.Filter(func(cn *shardpool.Conn) bool { return cn.NetConn().(*fakeConn).id%4 == int64(arg%4) })
				inv("Filter")
			case 8: // resize
				n := 1 + int(arg%5)
				require.NoError(t, p.SetPoolSize(n))
				largest = max(largest, n)
				require.EqualValues(t, n, p.Stats().PoolSize)
				inv("SetPoolSize")
			}
		}
		for _, cn := range held {
			p.Put(cn)
		}
		d.fail.Store(false)
		refuse.Store(false)
		var err error
		require.Eventually(t, func() bool { err = p.CheckQuiet(); return err == nil }, 5*time.Second, time.Millisecond, "%v", &err)
		require.NoError(t, p.Close())
		testhook.WaitDials(p)
		closedExactlyOnce(t, d)
	})
}
