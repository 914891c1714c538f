package solvers

import (
	"math"
	"testing"
)

func TestHTFullRankReconstructs(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		for _, c := range []struct {
			shape []int
			tree  *DimTree
		}{
			{[]int{4, 5, 3, 3}, ConvDimTree(0, 0)},
			{[]int{3, 4, 2, 5, 2}, nil},
			{[]int{6, 7}, nil},
		} {
			x := randomTensor(101, c.shape...)
			var h HT
			if err := h.Factorize(x, HTOptions{Tree: c.tree}); err != nil {
				t.Fatal(err)
			}
			if e, _ := RelativeError(x, h.Reconstruct()); e > 1e-10 {
				t.Errorf("%v: exact HT error %g", c.shape, e)
			}
		}
	})
}

func TestHTTruncationWithinBound(t *testing.T) {
	x := lowRankCP(102, 3, 6, 5, 4, 7)
	noise := randomTensor(103, 6, 5, 4, 7)
	for i := range x.Data {
		x.Data[i] += 0.02 * noise.Data[i]
	}
	for _, eps := range []float64{0.2, 0.05} {
		var h HT
		if err := h.Factorize(x, HTOptions{Epsilon: eps}); err != nil {
			t.Fatal(err)
		}
		if e := h.RelError(); e > eps {
			t.Errorf("ε=%g: HT error %g above the bound", eps, e)
		}
		if h.Params() >= len(x.Data) {
			t.Errorf("ε=%g: %d HT params for %d entries", eps, h.Params(), len(x.Data))
		}
	}
}

// The conv form equals the HT itself, and with exact spatial side and channel
// ranks it is as good as the HOSVD Tucker-2 at the same ranks.
func TestHTTucker2FormMatchesReconstruction(t *testing.T) {
	w := randomTensor(104, 10, 8, 3, 3)
	var h HT
	if err := h.Factorize(w, HTOptions{Tree: ConvDimTree(5, 4)}); err != nil {
		t.Fatal(err)
	}
	core, uOut, uIn, err := h.Tucker2Form()
	if err != nil {
		t.Fatal(err)
	}
	if r, c := uOut.Dims(); r != 10 || c != 5 {
		t.Errorf("U_out %d×%d", r, c)
	}
	if r, c := uIn.Dims(); r != 8 || c != 4 {
		t.Errorf("U_in %d×%d", r, c)
	}
	tk := Tucker2{core: core, uOut: uOut, uIn: uIn}
	if e, _ := RelativeError(h.Reconstruct(), tk.Reconstruct()); e > 1e-12 {
		t.Errorf("Tucker-2 form differs from the HT by %g", e)
	}
	var hosvd Tucker2
	if err := hosvd.Factorize(w, Tucker2Options{RankOut: 5, RankIn: 4, HOSVDOnly: true}); err != nil {
		t.Fatal(err)
	}
	eHT := h.RelError()
	eTk, _ := RelativeError(w, hosvd.Reconstruct())
	if math.Abs(eHT-eTk) > 1e-10 {
		t.Errorf("HT conv error %g, HOSVD Tucker-2 %g", eHT, eTk)
	}
	var fc HT
	if err := fc.Factorize(randomTensor(105, 4, 5, 6), HTOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := fc.Tucker2Form(); err == nil {
		t.Error("Tucker2Form of a non-conv tree accepted")
	}
}

// FC layout: tensorize W over paired out/in modes, balanced tree, exact at full
// rank and within ε after truncation.
func TestHTOnTensorizedFC(t *testing.T) {
	// A sum of two Kronecker products A₁⊗A₂⊗A₃ plus noise: rank 2 once tensorized.
	x := lowRankCP(107, 2, 10, 9, 8)
	noise := randomTensor(108, 10, 9, 8)
	for i := range x.Data {
		x.Data[i] += 0.01 * noise.Data[i]
	}
	w, err := MatrixFromTensorized(x, []int{2, 3, 4}, []int{5, 3, 2})
	if err != nil {
		t.Fatal(err)
	}
	var h HT
	if err := h.Factorize(x, HTOptions{Tree: BalancedDimTree(3)}); err != nil {
		t.Fatal(err)
	}
	back, err := MatrixFromTensorized(h.Reconstruct(), []int{2, 3, 4}, []int{5, 3, 2})
	if err != nil {
		t.Fatal(err)
	}
	if e := relDiff(w, back); e > 1e-10 {
		t.Errorf("exact HT of a tensorized FC weight: error %g", e)
	}
	var trunc HT
	if err := trunc.Factorize(x, HTOptions{Epsilon: 0.05}); err != nil {
		t.Fatal(err)
	}
	if trunc.RelError() > 0.05 || trunc.Params() >= 24*30/4 {
		t.Errorf("ε=0.05: error %g with %d params", trunc.RelError(), trunc.Params())
	}
}

func TestHTDegenerateInputs(t *testing.T) {
	var h HT
	if err := h.Factorize(mustZeros(3, 4, 5), HTOptions{}); err == nil {
		t.Error("zero tensor accepted")
	}
	x := randomTensor(106, 3, 4, 5)
	x.Data[2] = math.NaN()
	if err := h.Factorize(x, HTOptions{}); err == nil {
		t.Error("NaN accepted")
	}
	bad := &DimTree{Children: []*DimTree{{Mode: 0}, {Mode: 0}}}
	if err := h.Factorize(randomTensor(1, 3, 4), HTOptions{Tree: bad}); err == nil {
		t.Error("tree with a repeated mode accepted")
	}
	if err := h.Factorize(randomTensor(1, 3, 4, 5), HTOptions{Tree: ConvDimTree(2, 2)}); err == nil {
		t.Error("conv tree on a 3-way tensor accepted")
	}
}
