package reference

import (
	"math"
	"testing"
)

func TestRelL2(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name      string
		got, want []float32
		rel       float64
	}{
		{"equal", []float32{1, -2, 3}, []float32{1, -2, 3}, 0},
		{"3-4-5", []float32{3, 4}, []float32{0, 0}, 5},
		{"half", []float32{0, 0}, []float32{3, 4}, 1},
		{"scaled", []float32{2, 0}, []float32{1, 0}, 1},
		{"both zero", []float32{0}, []float32{0}, 0},
		{"length", []float32{1}, []float32{1, 2}, math.Inf(1)},
		{"nan", []float32{nan}, []float32{1}, math.Inf(1)},
		{"empty", nil, nil, 0},
	}
	for _, c := range cases {
		if got := RelL2(c.got, c.want); got != c.rel && math.Abs(got-c.rel) > 1e-12 {
			t.Errorf("%s: RelL2 = %v, want %v", c.name, got, c.rel)
		}
	}
}
