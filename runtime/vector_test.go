package runtime

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The vector loops against plain loops, for every length around the
// 16-lane blocks (masked tails) and with NaNs, which must propagate.
func TestVectorLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	nan := float32(math.NaN())
	same := func(a, b float32) bool { return a == b || (a != a && b != b) }
	for n := 0; n <= 50; n++ {
		a, b := randFloats(rng, 2*n+1), randFloats(rng, 2*n+1)
		if n > 3 {
			a[1], b[2], a[2*n-1] = nan, nan, nan
		}
		for _, relu := range []bool{false, true} {
			got := make([]float32, n+1)
			biasRelu(got[:n], a, 0.25, relu)
			for i := 0; i < n; i++ {
				want := a[i] + 0.25
				if relu && want < 0 {
					want = 0
				}
				if !same(got[i], want) {
					t.Fatalf("biasRelu n=%d relu=%v [%d] = %v, want %v", n, relu, i, got[i], want)
				}
			}
			if got[n] != 0 {
				t.Fatalf("biasRelu n=%d wrote past the end", n)
			}
		}
		got := make([]float32, n+1)
		maxInto(got[:n], a, b)
		for i := 0; i < n; i++ {
			want := max(a[i], b[i])
			if !same(got[i], want) {
				t.Fatalf("maxInto n=%d [%d] = %v, want %v", n, i, got[i], want)
			}
		}
		if got[n] != 0 {
			t.Fatalf("maxInto n=%d wrote past the end", n)
		}
		clear(got)
		pairMax(got[:n], a)
		for i := 0; i < n; i++ {
			want := max(a[2*i], a[2*i+1])
			if !same(got[i], want) {
				t.Fatalf("pairMax n=%d [%d] = %v, want %v", n, i, got[i], want)
			}
		}
		if got[n] != 0 {
			t.Fatalf("pairMax n=%d wrote past the end", n)
		}
	}
}
