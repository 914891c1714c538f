package solvers

import (
	"gonum.org/v1/gonum/mat"
	"math"
	"testing"
)

func TestTucker2FullRankReconstructs(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		w := randomTensor(61, 6, 5, 3, 3)
		var tk Tucker2
		if err := tk.Factorize(w, Tucker2Options{RankOut: 6, RankIn: 99}); err != nil {
			t.Fatal(err)
		}
		if ro, ri := tk.Ranks(); ro != 6 || ri != 5 {
			t.Errorf("ranks (%d,%d), want clamped (6,5)", ro, ri)
		}
		if e, _ := RelativeError(w, tk.Reconstruct()); e > 1e-10 {
			t.Errorf("full-rank Tucker-2 error %g", e)
		}
	})
}

func TestTucker2HOOIImprovesOnHOSVD(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		// A low-multilinear-rank kernel plus noise, so the ranks cut real structure.
		base := randomTensor(62, 8, 6, 3, 3)
		w := randomTensor(63, 24, 20, 3, 3)
		a := randomMatrix(64, 24, 8)
		b := randomMatrix(65, 20, 6)
		low, _ := base.ModeProduct(0, a, false)
		low, _ = low.ModeProduct(1, b, false)
		for i := range w.Data {
			w.Data[i] = low.Data[i] + 0.3*w.Data[i]
		}
		var hosvd, hooi Tucker2
		if err := hosvd.Factorize(w, Tucker2Options{RankOut: 7, RankIn: 5, HOSVDOnly: true}); err != nil {
			t.Fatal(err)
		}
		if err := hooi.Factorize(w, Tucker2Options{RankOut: 7, RankIn: 5, Tol: -1, MaxIter: 10}); err != nil {
			t.Fatal(err)
		}
		eHOSVD, _ := RelativeError(w, hosvd.Reconstruct())
		eHOOI, _ := RelativeError(w, hooi.Reconstruct())
		if eHOOI > eHOSVD*(1+1e-12) {
			t.Errorf("HOOI error %.15g > HOSVD error %.15g", eHOOI, eHOSVD)
		}
		errs := hooi.Errors()
		if len(errs) != 11 {
			t.Errorf("%d errors for HOSVD + 10 sweeps", len(errs))
		}
		if math.Abs(errs[0]-eHOSVD) > 1e-9 || math.Abs(errs[len(errs)-1]-eHOOI) > 1e-9 {
			t.Errorf("reported errors %g…%g, measured %g…%g", errs[0], errs[len(errs)-1], eHOSVD, eHOOI)
		}
		for i := 1; i < len(errs); i++ {
			if errs[i] > errs[i-1]*(1+1e-10) {
				t.Errorf("HOOI sweep %d raised the error: %g → %g", i, errs[i-1], errs[i])
			}
		}
		t.Logf("HOSVD %.6g, HOOI %.6g", eHOSVD, eHOOI)
	})
}

// For a matrix, Tucker-2 is the truncated SVD, so its error is Eckart–Young's.
func TestTucker2OnMatrixIsTruncatedSVD(t *testing.T) {
	sigma := []float64{5, 4, 3, 2, 1, 0.5, 0.25}
	a := matrixWithSpectrum(66, 30, 20, sigma)
	var tk Tucker2
	if err := tk.Factorize(TensorFromMatrix(a), Tucker2Options{RankOut: 3, RankIn: 3}); err != nil {
		t.Fatal(err)
	}
	want := math.Sqrt((4 + 1 + 0.25 + 0.0625) / (25 + 16 + 9 + 4 + 1 + 0.25 + 0.0625))
	got, _ := RelativeError(TensorFromMatrix(a), tk.Reconstruct())
	if math.Abs(got-want) > 1e-10*want {
		t.Errorf("rank-3 Tucker-2 of a matrix: error %.15g, Eckart–Young %.15g", got, want)
	}
}

func TestTucker2HOSVDAgainstNumpy(t *testing.T) {
	w := randomTensor(67, 12, 10, 3, 3)
	var tk Tucker2
	if err := tk.Factorize(w, Tucker2Options{RankOut: 5, RankIn: 4, HOSVDOnly: true}); err != nil {
		t.Fatal(err)
	}
	got, _ := RelativeError(w, tk.Reconstruct())
	want := numpy(t, `
W = a0
U0 = np.linalg.svd(W.reshape(12, -1))[0][:, :5]
U1 = np.linalg.svd(np.moveaxis(W, 1, 0).reshape(10, -1))[0][:, :4]
G = np.einsum('tshw,ta,sb->abhw', W, U0, U1)
R = np.einsum('abhw,ta,sb->tshw', G, U0, U1)
out([np.linalg.norm(W - R) / np.linalg.norm(W)])
`, w)
	if math.Abs(got-want[0]) > 1e-12 {
		t.Errorf("HOSVD error %.15g, numpy %.15g", got, want[0])
	}
}

func TestTucker1MatchesSVDTail(t *testing.T) {
	w := randomTensor(68, 9, 7, 3, 3)
	for _, mode := range []int{0, 1} {
		var tk Tucker1
		if err := tk.Factorize(w, mode, 4); err != nil {
			t.Fatal(err)
		}
		unf, _ := w.Unfold(mode)
		var s SVD
		if err := s.Factorize(unf, 4); err != nil {
			t.Fatal(err)
		}
		got, _ := RelativeError(w, tk.Reconstruct())
		if math.Abs(got-s.RelError()) > 1e-10*got || math.Abs(tk.RelError()-got) > 1e-10*got {
			t.Errorf("mode %d: Tucker-1 error %g (reported %g), SVD tail %g", mode, got, tk.RelError(), s.RelError())
		}
	}
}

func TestTuckerDegenerateInputs(t *testing.T) {
	var tk Tucker2
	w := randomTensor(69, 4, 3, 2, 2)
	if err := tk.Factorize(w, Tucker2Options{RankOut: 0, RankIn: 2}); err == nil {
		t.Error("rank 0 accepted")
	}
	zero := mustZeros(4, 3, 2, 2)
	if err := tk.Factorize(zero, Tucker2Options{RankOut: 2, RankIn: 2}); err == nil {
		t.Error("zero kernel accepted")
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		x := w.Clone()
		x.Data[5] = bad
		if err := tk.Factorize(x, Tucker2Options{RankOut: 2, RankIn: 2}); err == nil {
			t.Errorf("entry %v accepted", bad)
		}
		var t1 Tucker1
		if err := t1.Factorize(x, 0, 2); err == nil {
			t.Errorf("Tucker-1 accepted entry %v", bad)
		}
	}
	if err := tk.Factorize(randomTensor(1, 5), Tucker2Options{RankOut: 2, RankIn: 2}); err == nil {
		t.Error("1-way tensor accepted")
	}
	var t1 Tucker1
	if err := t1.Factorize(w, 4, 2); err == nil {
		t.Error("Tucker-1 on a missing mode accepted")
	}
}

func BenchmarkTucker2HOOI512x512x3x3Rank128(b *testing.B) {
	w := randomTensor(3, 512, 512, 3, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var tk Tucker2
		if err := tk.Factorize(w, Tucker2Options{RankOut: 128, RankIn: 128, MaxIter: 10, Tol: -1}); err != nil {
			b.Fatal(err)
		}
	}
}

// The Gram-based core energies price every truncation exactly as a
// truncated HOSVD computed by SVDs does.
func TestHOSVDCoreEnergiesMatchTruncatedHOSVD(t *testing.T) {
	for _, shape := range [][]int{{12, 10, 3, 3}, {7, 20, 1, 1}, {30, 4, 5}, {6, 6}} {
		w := randomTensor(71, shape...)
		e, err := HOSVDCoreEnergies(w)
		if err != nil {
			t.Fatal(err)
		}
		if r, c := e.Dims(); r != shape[0] || c != shape[1] {
			t.Fatalf("%v: energies %d×%d", shape, r, c)
		}
		normSq := w.Norm() * w.Norm()
		if total := mat.Sum(e); math.Abs(total-normSq) > 1e-9*normSq {
			t.Errorf("%v: energies sum to %.12g, ‖W‖² = %.12g", shape, total, normSq)
		}
		for _, ranks := range [][2]int{{1, 1}, {2, 3}, {shape[0] / 2, shape[1] - 1}, {shape[0], 1}} {
			var tk Tucker2
			if err := tk.Factorize(w, Tucker2Options{RankOut: ranks[0], RankIn: ranks[1], HOSVDOnly: true}); err != nil {
				t.Fatal(err)
			}
			rOut, rIn := tk.Ranks()
			kept := 0.0
			for a := 0; a < rOut; a++ {
				for b := 0; b < rIn; b++ {
					kept += e.At(a, b)
				}
			}
			got := math.Sqrt(math.Max(0, normSq-kept) / normSq)
			want := tk.Errors()[0]
			if math.Abs(got-want) > 1e-9 {
				t.Errorf("%v ranks %v: energies give error %.12g, HOSVD %.12g", shape, ranks, got, want)
			}
		}
	}
}
