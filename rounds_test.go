package shardpool

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request made while a round runs is left for the runner, which runs
// another round for it; tryEnter and leave do the same for a runner that
// entered without a request.
func TestRoundsRunAgainForRequestsDuringARound(t *testing.T) {
	var r rounds
	runs := 0
	var run func()
	run = func() {
		runs++
		if runs == 1 {
			assert.False(t, r.request(run), "a request during a round is left for the runner")
		}
	}
	require.True(t, r.request(run))
	assert.Equal(t, 2, runs)
	assert.True(t, r.idle())

	require.True(t, r.tryEnter())
	assert.False(t, r.tryEnter())
	assert.False(t, r.idle())
	assert.False(t, r.request(run))
	r.leave(run)
	assert.Equal(t, 3, runs, "leave runs the round requested meanwhile")
	assert.True(t, r.idle())
}
