package solvers

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// matrixWithSpectrum returns U·diag(sigma)·Vᵀ for random orthonormal U (m×k) and
// V (n×k), k = len(sigma), so every singular value is known in advance.
func matrixWithSpectrum(seed uint64, m, n int, sigma []float64) *mat.Dense {
	k := len(sigma)
	ut := randomMatrix(seed, k, m).RawMatrix().Data
	vt := randomMatrix(seed+1, k, n).RawMatrix().Data
	orthonormalizeRows(k, m, ut)
	orthonormalizeRows(k, n, vt)
	for i := 0; i < k; i++ {
		for j := 0; j < m; j++ {
			ut[i*m+j] *= sigma[i]
		}
	}
	a := mat.NewDense(m, n, nil)
	kernels().gemm(blas.Trans, blas.NoTrans, m, n, k, 1, ut, m, vt, n, 0, a.RawMatrix().Data, n)
	return a
}

func relDiff(a, b mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, 2) / mat.Norm(a, 2)
}

func TestSVDFullRankReconstructs(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		for _, dims := range [][2]int{{40, 70}, {70, 40}, {33, 33}} {
			a := randomMatrix(11, dims[0], dims[1])
			var s SVD
			if err := s.Factorize(a, 1000); err != nil {
				t.Fatal(err)
			}
			if s.Rank() != min(dims[0], dims[1]) {
				t.Errorf("rank above min(m,n) not clamped: %d", s.Rank())
			}
			if e := relDiff(a, s.Reconstruct()); e > 1e-10 {
				t.Errorf("%v full-rank reconstruction error %g", dims, e)
			}
			var utu mat.Dense
			utu.Mul(s.U().T(), s.U())
			if e := relDiff(eye(s.Rank()), &utu); e > 1e-12 {
				t.Errorf("%v: U not orthonormal (%g)", dims, e)
			}
		}
	})
}

func eye(n int) *mat.Dense {
	d := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		d.Set(i, i, 1)
	}
	return d
}

func TestSVDMatchesEckartYoung(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		sigma := make([]float64, 60)
		for i := range sigma {
			sigma[i] = math.Pow(0.9, float64(i))
		}
		for _, dims := range [][2]int{{60, 150}, {150, 60}} {
			a := matrixWithSpectrum(21, dims[0], dims[1], sigma)
			for _, r := range []int{1, 10, 37} {
				var s SVD
				if err := s.Factorize(a, r); err != nil {
					t.Fatal(err)
				}
				var tail float64
				for _, v := range sigma[r:] {
					tail += v * v
				}
				optimum := math.Sqrt(tail)
				var diff mat.Dense
				diff.Sub(a, s.Reconstruct())
				got := mat.Norm(&diff, 2)
				if math.Abs(got-optimum) > 1e-10*optimum {
					t.Errorf("%v rank %d: error %.15g, Eckart–Young optimum %.15g", dims, r, got, optimum)
				}
				if rel := s.RelError(); math.Abs(rel-optimum/mat.Norm(a, 2)) > 1e-10*rel {
					t.Errorf("%v rank %d: RelError %g, want %g", dims, r, rel, optimum/mat.Norm(a, 2))
				}
				for i, v := range s.Values() {
					if math.Abs(v-sigma[i]) > 1e-12 {
						t.Errorf("σ_%d = %.15g, want %.15g", i, v, sigma[i])
					}
				}
			}
		}
	})
}

func TestSVDSplitBalancesFactors(t *testing.T) {
	a := randomMatrix(5, 30, 20)
	var s SVD
	if err := s.Factorize(a, 7); err != nil {
		t.Fatal(err)
	}
	q, p := s.Split()
	if r, c := q.Dims(); r != 30 || c != 7 {
		t.Fatalf("Q is %d×%d", r, c)
	}
	if r, c := p.Dims(); r != 7 || c != 20 {
		t.Fatalf("P is %d×%d", r, c)
	}
	sv := s.Values()
	for k := 0; k < 7; k++ {
		qn := mat.Norm(q.ColView(k), 2)
		pn := mat.Norm(p.RowView(k), 2)
		if math.Abs(qn-math.Sqrt(sv[k])) > 1e-12 || math.Abs(pn-math.Sqrt(sv[k])) > 1e-12 {
			t.Errorf("component %d: ‖q‖=%g ‖p‖=%g, want both √σ=%g", k, qn, pn, math.Sqrt(sv[k]))
		}
	}
	var qp mat.Dense
	qp.Mul(q, p)
	if e := relDiff(s.Reconstruct(), &qp); e > 1e-14 {
		t.Errorf("Q·P differs from the reconstruction by %g", e)
	}
}

func TestRandomizedSVDNearOptimal(t *testing.T) {
	const m, n, r = 1024, 4096, 64
	// Rank 384 keeps the construction cheap; σ_383/σ_0 = e^{−9.6} ≈ 7e-5.
	sigma := make([]float64, 384)
	for i := range sigma {
		sigma[i] = math.Exp(-float64(i) / 40)
	}
	a := matrixWithSpectrum(31, m, n, sigma)
	var tail float64
	for _, v := range sigma[r:] {
		tail += v * v
	}
	optimum := math.Sqrt(tail)
	var s SVD
	if err := s.FactorizeRandomized(a, r, RandomizedOptions{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	var diff mat.Dense
	diff.Sub(a, s.Reconstruct())
	got := mat.Norm(&diff, 2)
	if got > 1.01*optimum {
		t.Errorf("randomized rank-%d error %g exceeds 1.01 × optimum %g", r, got, optimum)
	}
	t.Logf("randomized error / optimum = %.6f", got/optimum)
	var again SVD
	if err := again.FactorizeRandomized(a, r, RandomizedOptions{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(again.U(), s.U()) {
		t.Error("same seed gave different factors")
	}
}

func TestSVDAgainstNumpy(t *testing.T) {
	a := randomMatrix(41, 30, 50)
	var s SVD
	if err := s.Factorize(a, 30); err != nil {
		t.Fatal(err)
	}
	want := numpy(t, "out(np.linalg.svd(a0, compute_uv=False))", TensorFromMatrix(a))
	if d := maxAbsDiff(s.AllValues(), want); d > 1e-12 {
		t.Errorf("singular values differ from numpy by %g", d)
	}
}

func TestSVDDegenerateInputs(t *testing.T) {
	var s SVD
	good := randomMatrix(1, 4, 5)
	if err := s.Factorize(good, 0); err == nil {
		t.Error("rank 0 accepted")
	}
	if err := s.Factorize(mat.NewDense(4, 5, nil), 2); err == nil {
		t.Error("zero matrix accepted")
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		a := mat.DenseCopyOf(good)
		a.Set(2, 3, bad)
		if err := s.Factorize(a, 2); err == nil {
			t.Errorf("entry %v accepted by Factorize", bad)
		}
		if err := s.FactorizeRandomized(a, 2, RandomizedOptions{}); err == nil {
			t.Errorf("entry %v accepted by FactorizeRandomized", bad)
		}
	}
	if err := s.Factorize(nil, 2); err == nil {
		t.Error("nil matrix accepted")
	}
	if err := s.Factorize(good, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(4); err == nil {
		t.Error("truncating to a higher rank accepted")
	}
}

// Sizes follow bench/solvers (the randomized case is scaled down to keep
// `go test -bench` within memory on small machines; run.sh has the full size).
func BenchmarkSVDTruncated512x4608Rank64(b *testing.B) {
	a := randomMatrix(1, 512, 4608)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var s SVD
		if err := s.Factorize(a, 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSVDRandomized1024x6272Rank64(b *testing.B) {
	a := randomMatrix(2, 1024, 6272)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var s SVD
		if err := s.FactorizeRandomized(a, 64, RandomizedOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// The per-triplet output energies add up to the output error of every
// truncation, measured directly as ‖X·(A − A_r)ᵀ‖².
func TestSVDOutputEnergies(t *testing.T) {
	a := randomMatrix(81, 9, 14)
	x := randomMatrix(82, 30, 14)
	for i := 0; i < 30; i++ { // anisotropic inputs
		for j := 0; j < 14; j++ {
			x.Set(i, j, x.At(i, j)*float64(j+1))
		}
	}
	var s SVD
	if err := s.Factorize(a, 9); err != nil {
		t.Fatal(err)
	}
	energies, err := s.OutputEnergies(x)
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r <= 9; r++ {
		tail := 0.0
		for _, e := range energies[r:] {
			tail += e
		}
		var tr SVD
		approx := mat.NewDense(9, 14, nil)
		if r > 0 {
			if err := tr.Factorize(a, r); err != nil {
				t.Fatal(err)
			}
			approx = tr.Reconstruct()
		}
		var diff, out mat.Dense
		diff.Sub(a, approx)
		out.Mul(x, diff.T())
		want := mat.Norm(&out, 2)
		if math.Abs(tail-want*want) > 1e-9*math.Max(1, want*want) {
			t.Errorf("rank %d: tail energy %.12g, ‖X(A−A_r)ᵀ‖² %.12g", r, tail, want*want)
		}
	}
	eye := mat.NewDense(14, 14, nil)
	for i := 0; i < 14; i++ {
		eye.Set(i, i, 1)
	}
	plain, _ := s.OutputEnergies(eye)
	for i, v := range s.AllValues() {
		if math.Abs(plain[i]-v*v) > 1e-9*v*v {
			t.Errorf("X = I: energy %d is %.12g, σ² %.12g", i, plain[i], v*v)
		}
	}
	if _, err := s.OutputEnergies(mat.NewDense(3, 5, nil)); err == nil {
		t.Error("inputs of the wrong width accepted")
	}
}
