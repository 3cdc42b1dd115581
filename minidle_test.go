package shardpool_test

// MinIdleConns: the top-up keeps exactly that many idle connections once
// the pool is quiet. The contract's side (refill after Get and Remove,
// never beyond PoolSize) is in contract_test.go; MaxIdleConns capping it is
// in idlecap_test.go; minidle_internal_test.go has a race inside a top-up.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/shardpool/shardpool"
)

// MinIdleConns is exact once the pool is quiet: not short of it, and not a
// connection beyond it, however many Gets and Removes ran at once before.
func TestMinIdleConnsExactAfterChurn(t *testing.T) {
	forEachKind(t, func(t *testing.T, mk func(*shardpool.Options) pool) {
		for round := 0; round < 5; round++ {
			t.Run(fmt.Sprint("round=", round), func(t *testing.T) {
				const minIdle, size = 32, 100
				e := newEnv(t, mk, shardpool.Options{PoolSize: size, MinIdleConns: minIdle})
				// A new pool dials MinIdleConns, and no more.
				settles(t, "IdleLen of a new pool", e.p.IdleLen, minIdle, 50*time.Millisecond, 5*time.Second)
				assert.EqualValues(t, minIdle, e.d.dials.Load(), "dials of a new pool")

				var wg sync.WaitGroup
				for g := 0; g < 64; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 50; i++ {
							cn, err := e.p.Get(context.Background())
							if err != nil {
								t.Error(err)
								return
							}
							e.p.Remove(cn, nil)
						}
					}()
				}
				wg.Wait()
				settles(t, "Len after churn", e.p.Len, minIdle, 50*time.Millisecond, 5*time.Second)
				assert.Equal(t, minIdle, e.p.IdleLen())
				assert.EqualValues(t, minIdle, e.d.open(), "open connections at the dialer")
				checkInv(t, e.p)
			})
		}
	})
}
