package solvers

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// lowRankCP builds Σ_r w_r ∘ factors with random factors of the given shape.
func lowRankCP(seed uint64, rank int, shape ...int) *Tensor {
	c := CP{weights: make([]float64, rank)}
	for n, d := range shape {
		c.factors = append(c.factors, randomMatrix(seed+uint64(n), d, rank))
	}
	for i := range c.weights {
		c.weights[i] = 1 + float64(i)
	}
	return c.Reconstruct()
}

func TestCPRecoversLowRankTensor(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		for _, shape := range [][]int{{12, 10, 4, 5}, {16, 12, 9}} {
			x := lowRankCP(71, 3, shape...)
			var c CP
			if err := c.Factorize(x, CPOptions{Rank: 3, MaxIter: 1000, Tol: 1e-15}); err != nil {
				t.Fatal(err)
			}
			e, _ := RelativeError(x, c.Reconstruct())
			if e > 1e-8 {
				t.Errorf("%v: rank-3 CP of a rank-3 tensor has error %g after %d sweeps", shape, e, len(c.SweepErrors()))
			}
		}
	})
}

func TestCPErrorsNeverIncrease(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		for _, shape := range [][]int{{10, 8, 3, 3}, {10, 8, 9}} {
			x := randomTensor(72, shape...)
			var c CP
			if err := c.Factorize(x, CPOptions{Rank: 6, MaxIter: 60, Tol: -1}); err != nil {
				t.Fatal(err)
			}
			errs := c.Errors()
			if len(errs) != 60*len(shape) {
				t.Fatalf("%d per-update errors for 60 sweeps", len(errs))
			}
			for i := 1; i < len(errs); i++ {
				if errs[i] > errs[i-1]*(1+1e-12) {
					t.Errorf("%v: update %d raised the error %.17g → %.17g", shape, i, errs[i-1], errs[i])
				}
			}
			measured, _ := RelativeError(x, c.Reconstruct())
			if math.Abs(measured-errs[len(errs)-1]) > 1e-10 {
				t.Errorf("%v: reported error %.15g, measured %.15g", shape, errs[len(errs)-1], measured)
			}
		}
	})
}

func TestCPAgainstNumpyALS(t *testing.T) {
	x := randomTensor(73, 8, 7, 3, 3)
	var c CP
	if err := c.Factorize(x, CPOptions{Rank: 3, MaxIter: 8, Tol: -1}); err != nil {
		t.Fatal(err)
	}
	want := numpy(t, `
X = a0; R = 3; mu_rel = 1e-8
def unfold(X, n): return np.moveaxis(X, n, 0).reshape(X.shape[n], -1)
def kr(mats):
    out = np.ones((1, R))
    for m in mats: out = (out[:, None, :] * m[None, :, :]).reshape(-1, R)
    return out
A = [np.linalg.svd(unfold(X, n))[0][:, :R] for n in range(4)]
lam = np.ones(R); errs = []
for sweep in range(8):
    for n in range(4):
        others = [A[m] for m in range(4) if m != n]
        M = unfold(X, n) @ kr(others)
        G = np.ones((R, R))
        for m in others: G *= m.T @ m
        mu = mu_rel * np.trace(G) / R
        B = np.linalg.solve(G + mu*np.eye(R), (M + mu*A[n]*lam).T).T
        lam = np.linalg.norm(B, axis=0); A[n] = B / lam
        Xh = np.einsum('r,ir,jr,kr,lr->ijkl', lam, *A)
        errs.append(np.linalg.norm(X - Xh) / np.linalg.norm(X))
out(errs)
`, x)
	got := c.Errors()
	if len(got) != len(want) {
		t.Fatalf("%d errors, numpy %d", len(got), len(want))
	}
	if d := maxAbsDiff(got, want); d > 1e-9 {
		t.Errorf("per-update errors differ from numpy ALS by %g\nours  %v\nnumpy %v", d, got, want)
	}
}

func TestCPDegenerateInputs(t *testing.T) {
	var c CP
	x := randomTensor(74, 4, 3, 2)
	if err := c.Factorize(x, CPOptions{Rank: 0}); err == nil {
		t.Error("rank 0 accepted")
	}
	if err := c.Factorize(mustZeros(4, 3, 2), CPOptions{Rank: 2}); err == nil {
		t.Error("zero tensor accepted")
	}
	for _, bad := range []float64{math.NaN(), math.Inf(-1)} {
		y := x.Clone()
		y.Data[3] = bad
		if err := c.Factorize(y, CPOptions{Rank: 2}); err == nil {
			t.Errorf("entry %v accepted", bad)
		}
	}
	// Rank above every mode size is legal for CP; the extra columns start random.
	if err := c.Factorize(x, CPOptions{Rank: 7, MaxIter: 5, Seed: 1}); err != nil {
		t.Errorf("rank 7 of a 4×3×2 tensor: %v", err)
	}
	for _, e := range c.Errors() {
		if math.IsNaN(e) {
			t.Fatal("NaN error")
		}
	}
	if err := c.Factorize(x, CPOptions{Rank: 2, Init: []*mat.Dense{randomMatrix(1, 4, 2)}}); err == nil {
		t.Error("too few initial factors accepted")
	}
	if err := c.Factorize(x, CPOptions{Rank: 2, Init: []*mat.Dense{randomMatrix(1, 4, 2), randomMatrix(2, 3, 3), randomMatrix(3, 2, 2)}}); err == nil {
		t.Error("initial factor of the wrong shape accepted")
	}
	var again CP
	_ = again.Factorize(x, CPOptions{Rank: 7, MaxIter: 5, Seed: 1})
	if fmt.Sprint(again.Errors()) != fmt.Sprint(c.Errors()) || !mat.Equal(again.Factor(0), c.Factor(0)) {
		t.Error("same seed, different result")
	}
}

func BenchmarkCPALS256x256x3x3Rank64Sweeps20(b *testing.B) {
	x := randomTensor(4, 256, 256, 3, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var c CP
		if err := c.Factorize(x, CPOptions{Rank: 64, MaxIter: 20, Tol: -1}); err != nil {
			b.Fatal(err)
		}
	}
}
