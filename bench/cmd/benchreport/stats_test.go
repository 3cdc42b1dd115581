package main

import "testing"

func TestRatioString(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want string
	}{
		{1.0 / 29401, "<0.001"},
		{0.0004, "<0.001"},
		{0.0012, "0.001"},
		{0.034, "0.034"},
		{0.5, "0.50"},
		{1.44, "1.44"},
		{12.4, "12"},
	} {
		if got := ratioString(tc.r); got != tc.want {
			t.Errorf("ratioString(%v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}
