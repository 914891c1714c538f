package reference

import "math"

// RelL2 is ‖got − want‖₂ / ‖want‖₂, accumulated in float64. When want is all
// zeros it is ‖got‖₂ (so equal zero vectors give 0); mismatched lengths and
// non-finite values give +Inf, so a comparison against a tolerance fails.
func RelL2(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, norm float64
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) || math.IsNaN(w) || math.IsInf(w, 0) {
			return math.Inf(1)
		}
		diff += (g - w) * (g - w)
		norm += w * w
	}
	if norm == 0 {
		return math.Sqrt(diff)
	}
	return math.Sqrt(diff / norm)
}
