package shardpool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The reaper's interval: IdleCheckFrequency if positive, none if negative
// or without expiry, and by default a quarter of the shorter limit within
// [1 s, 1 min].
func TestReapEvery(t *testing.T) {
	const s, m = time.Second, time.Minute
	for _, tc := range []struct {
		freq, idle, age, want time.Duration
	}{
		{0, 0, 0, 0},                     // no expiry: no reaper
		{10 * s, 0, 0, 0},                // a frequency alone: nothing to reap
		{0, 5 * m, 0, m},                 // 75 s, capped at a minute
		{0, 20 * s, 0, 5 * s},            // a quarter
		{0, 50 * time.Millisecond, 0, s}, // at least a second
		{0, 0, 2 * m, 30 * s},            // MaxConnAge alone
		{0, 10 * m, 2 * m, 30 * s},       // the shorter of the two
		{0, 2 * m, 10 * m, 30 * s},
		{-1, 5 * m, 0, 0},        // negative: off
		{7 * s, 5 * m, 0, 7 * s}, // set: as set
	} {
		assert.Equal(t, tc.want, reapEvery(tc.freq, tc.idle, tc.age), "freq %v idle %v age %v", tc.freq, tc.idle, tc.age)
	}
}
