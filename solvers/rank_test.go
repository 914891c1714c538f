package solvers

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestEnergyRank(t *testing.T) {
	sv := []float64{3, 2, 1, 0.5}
	total := 9 + 4 + 1 + 0.25
	for _, c := range []struct {
		tau  float64
		want int
	}{{9 / total, 1}, {(9 + 4) / total, 2}, {0.5, 1}, {0.92, 3}, {1, 4}} {
		got, err := EnergyRank(sv, c.tau)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("EnergyRank(τ=%g) = %d, want %d", c.tau, got, c.want)
		}
	}
	for _, tau := range []float64{0, -1, 1.5, math.NaN()} {
		if _, err := EnergyRank(sv, tau); err == nil {
			t.Errorf("τ=%g accepted", tau)
		}
	}
	if _, err := EnergyRank([]float64{0, 0}, 0.9); err == nil {
		t.Error("zero spectrum accepted")
	}
}

func TestEVBMFFindsPlantedRank(t *testing.T) {
	const l, m, planted = 60, 100, 5
	signal := make([]float64, planted)
	for i := range signal {
		signal[i] = 20 - 2*float64(i)
	}
	y := matrixWithSpectrum(51, l, m, signal)
	noise := randomMatrix(52, l, m)
	const sigma = 0.1
	noise.Scale(sigma, noise)
	y.Add(y, noise)
	for _, a := range []mat.Matrix{y, y.T()} {
		rank, sigma2, err := EVBMFRank(a, 1)
		if err != nil {
			t.Fatal(err)
		}
		if rank != planted {
			t.Errorf("EVBMF rank %d, planted %d", rank, planted)
		}
		if math.Abs(math.Sqrt(sigma2)-sigma) > 0.2*sigma {
			t.Errorf("EVBMF noise σ %g, true %g", math.Sqrt(sigma2), sigma)
		}
	}
	if rank, _, err := EVBMFRank(y, 8); err != nil || rank != 8 {
		t.Errorf("r_min 8: rank %d, %v", rank, err)
	}
	if _, _, err := EVBMFRank(mat.NewDense(3, 4, nil), 1); err == nil {
		t.Error("EVBMF of a zero matrix accepted")
	}
}

func TestRoundRank(t *testing.T) {
	for _, c := range []struct {
		r, mult, maxR int
		up            bool
		want          int
	}{{13, 8, 64, true, 16}, {13, 8, 64, false, 8}, {3, 8, 64, false, 8}, {70, 8, 64, true, 64}, {5, 8, 6, true, 6}, {16, 8, 64, true, 16}} {
		if got := RoundRank(c.r, c.mult, c.maxR, c.up); got != c.want {
			t.Errorf("RoundRank(%d,%d,%d,%v) = %d, want %d", c.r, c.mult, c.maxR, c.up, got, c.want)
		}
	}
}

// Every closed form keeps the factor parameters within ρ·original, and one more
// rank breaks the budget (unless the method is already exact at that rank).
func TestRankForRatioMeetsBudgetTightly(t *testing.T) {
	conv := [][]int{{512, 512, 3, 3}, {64, 3, 7, 7}, {128, 64, 1, 1}, {96, 48, 5, 3}}
	cases := map[Method][][]int{
		SVDMatrix:       {{4096, 25088}, {10, 9216}, {128, 128}},
		WeightSVDOutput: conv, WeightSVDInput: conv, SpatialSVD: conv, CP4: conv, CP3: conv, Tucker2Conv: conv,
		TTUniform: {{16, 32, 32, 16}, {512, 512, 9}, {8, 8, 8, 8, 8}},
		TRUniform: {{16, 32, 32, 16}, {512, 512, 9}},
	}
	for m, shapes := range cases {
		for _, shape := range shapes {
			original := 1
			for _, d := range shape {
				original *= d
			}
			for _, ratio := range []float64{0.05, 0.1, 0.25, 0.5} {
				ranks, err := RankForRatio(m, shape, ratio)
				if err != nil {
					continue // too small a ratio for this shape is allowed to fail
				}
				p, err := FactorParams(m, shape, ranks)
				if err != nil {
					t.Fatal(err)
				}
				if float64(p) > ratio*float64(original) {
					t.Errorf("%v %v ρ=%g: ranks %v give %d params > %g", m, shape, ratio, ranks, p, ratio*float64(original))
				}
				next := []int{ranks[0] + 1}
				if m == Tucker2Conv {
					rIn := int(math.Round(float64(ranks[0]+1) * float64(shape[1]) / float64(shape[0])))
					next = []int{ranks[0] + 1, min(max(rIn, 1), shape[1])}
				}
				if lim := maxUsefulRank(m, shape); lim > 0 && ranks[0] >= lim {
					continue
				}
				pn, _ := FactorParams(m, shape, next)
				if float64(pn) <= ratio*float64(original) {
					t.Errorf("%v %v ρ=%g: rank %v not maximal, %v gives %d ≤ budget", m, shape, ratio, ranks, next, pn)
				}
			}
		}
	}
}

// Hand-computed values from the closed forms of lowrank.md §3.11.
func TestRankForRatioClosedForms(t *testing.T) {
	check := func(m Method, shape []int, ratio float64, want []int) {
		t.Helper()
		got, err := RankForRatio(m, shape, ratio)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || got[0] != want[0] || (len(want) == 2 && got[1] != want[1]) {
			t.Errorf("%v %v ρ=%g: %v, want %v", m, shape, ratio, got, want)
		}
	}
	check(SVDMatrix, []int{4096, 25088}, 0.1, []int{352})           // ⌊0.1·4096·25088/29184⌋ = 352
	check(WeightSVDOutput, []int{512, 512, 3, 3}, 0.25, []int{115}) // 0.25·2359296/5120 = 115.2
	check(CP4, []int{512, 512, 3, 3}, 0.1, []int{229})              // 235929.6/1030 = 229.05
	check(CP3, []int{512, 512, 3, 3}, 0.1, []int{228})              // 235929.6/1033 = 228.4
	// 9x² + 1024x − 589824 = 0 → x = 205.4; 205: 588145 params, 206: 592868 > 589824.
	check(Tucker2Conv, []int{512, 512, 3, 3}, 0.25, []int{205, 205})
}

func TestRankForRatioErrors(t *testing.T) {
	if _, err := RankForRatio(SVDMatrix, []int{10, 10, 3}, 0.5); err == nil {
		t.Error("3-way shape for SVD accepted")
	}
	if _, err := RankForRatio(CP4, []int{512, 512, 3, 3}, 0); err == nil {
		t.Error("ratio 0 accepted")
	}
	if _, err := RankForRatio(SVDMatrix, []int{10, 10}, 1e-6); err == nil {
		t.Error("a ratio below rank 1 accepted")
	}
	if _, err := RankForRatio(Method(99), []int{10, 10}, 0.5); err == nil {
		t.Error("unknown method accepted")
	}
}

func TestEVBMFTucker2RanksFindsPlantedRanks(t *testing.T) {
	core := randomTensor(55, 4, 3, 3, 3)
	for i := range core.Data {
		core.Data[i] *= 10
	}
	w, _ := core.ModeProduct(0, randomMatrix(56, 40, 4), false)
	w, _ = w.ModeProduct(1, randomMatrix(57, 32, 3), false)
	noise := randomTensor(58, 40, 32, 3, 3)
	for i := range w.Data {
		w.Data[i] += 0.05 * noise.Data[i]
	}
	rOut, rIn, err := EVBMFTucker2Ranks(w, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rOut != 4 || rIn != 3 {
		t.Errorf("EVBMF Tucker-2 ranks (%d, %d), planted (4, 3)", rOut, rIn)
	}
	rOut, rIn, err = EVBMFTucker2Ranks(w, 1, 8)
	if err != nil || rOut != 8 || rIn != 8 {
		t.Errorf("rounded to 8: (%d, %d), %v", rOut, rIn, err)
	}
	if _, _, err := EVBMFTucker2Ranks(mustZeros(4, 3, 2, 2), 1, 1); err == nil {
		t.Error("zero kernel accepted")
	}
}
