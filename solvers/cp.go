package solvers

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// CP is a canonical polyadic (CANDECOMP/PARAFAC) decomposition
// X ≈ Σ_r λ_r · a⁽⁰⁾_r ∘ a⁽¹⁾_r ∘ … with unit-norm factor columns. For a conv
// kernel T×S×kH×kW the 4-way form becomes 1×1 → kH×1 depthwise → 1×kW depthwise
// → 1×1; factorizing the (T, S, kH·kW) reshaping gives the 3-way form with one
// k×k depthwise conv.
//
// CP is ill-posed (a best rank-R approximation may not exist), so ALS here is
// safeguarded: every factor update solves the least-squares problem with a small
// proximal ridge μ‖B − B_prev‖², which keeps the system positive definite and
// makes the fit error non-increasing from one factor update to the next.
type CP struct {
	weights []float64
	factors []*mat.Dense
	errs    []float64
}

// CPOptions control CP-ALS.
type CPOptions struct {
	Rank int
	// MaxIter caps the sweeps over all modes; 0 means 100.
	MaxIter int
	// Tol stops once a sweep lowers the relative error by less than Tol;
	// 0 means 1e-8, negative runs all MaxIter sweeps.
	Tol float64
	// Ridge is the proximal weight μ relative to the mean diagonal of the normal
	// matrix; 0 means 1e-8, negative means none (plain ALS).
	Ridge float64
	// Seed fills factor columns the SVD initialisation cannot (rank > mode size).
	Seed uint64
	// Init, when set, replaces the SVD initialisation: one I_n×Rank factor per
	// mode (copied; columns are normalised into λ). For warm starts, data-aware
	// initialisations and like-for-like comparisons with other implementations.
	Init []*mat.Dense
}

// Factorize runs CP-ALS initialised from the leading left singular vectors of
// each unfolding (TensorLy's init='svd'). Each update solves
// A_n ← (X_(n)·KR + μB_prev)(⊛_{m≠n} A_mᵀA_m + μI)⁻¹ and moves column norms into λ.
func (c *CP) Factorize(x *Tensor, opts CPOptions) error {
	if x == nil || len(x.Shape) < 2 {
		return errors.New("solvers: CP needs a tensor with at least 2 modes")
	}
	if err := checkInput(fmt.Sprintf("CP of a %v tensor", x.Shape), x.Data); err != nil {
		return err
	}
	r := opts.Rank
	if r < 1 {
		return fmt.Errorf("solvers: CP rank %d must be positive", r)
	}
	maxIter := opts.MaxIter
	if maxIter == 0 {
		maxIter = 100
	}
	tol := opts.Tol
	if tol == 0 {
		tol = 1e-8
	}
	ridge := opts.Ridge
	if ridge == 0 {
		ridge = 1e-8
	}
	ridge = math.Max(ridge, 0)
	d := len(x.Shape)
	rng := rand.New(rand.NewPCG(opts.Seed, 0xc0ffee))
	if opts.Init != nil && len(opts.Init) != d {
		return fmt.Errorf("solvers: CP of a %d-way tensor given %d initial factors", d, len(opts.Init))
	}
	factors := make([]*mat.Dense, d)
	for n := range factors {
		if opts.Init != nil {
			if opts.Init[n] == nil {
				return fmt.Errorf("solvers: CP initial factor %d is nil", n)
			}
			rows, cols := opts.Init[n].Dims()
			if rows != x.Shape[n] || cols != r {
				return fmt.Errorf("solvers: CP initial factor %d is %d×%d, want %d×%d", n, rows, cols, x.Shape[n], r)
			}
			f := mat.DenseCopyOf(opts.Init[n])
			if err := checkInput(fmt.Sprintf("CP initial factor %d", n), f.RawMatrix().Data); err != nil {
				return err
			}
			normalizeColumns(f, make([]float64, r))
			factors[n] = f
			continue
		}
		unf, err := x.Unfold(n)
		if err != nil {
			return err
		}
		rows, cols := unf.Dims()
		k := min(r, rows, cols)
		u, _ := leadingLeft(rows, cols, unf.RawMatrix().Data, k)
		f := mat.NewDense(rows, r, nil)
		f.Slice(0, rows, 0, k).(*mat.Dense).Copy(u)
		for j := k; j < r; j++ {
			for i := 0; i < rows; i++ {
				f.Set(i, j, rng.NormFloat64())
			}
		}
		normalizeColumns(f, make([]float64, r))
		factors[n] = f
	}
	weights := make([]float64, r)
	for i := range weights {
		weights[i] = 1
	}
	grams := make([]*mat.Dense, d)
	for n, f := range factors {
		grams[n] = gram(f)
	}
	normSq := sumSquares(x.Data)
	lin := kernels()
	c.errs = nil
	rest := len(x.Data) / x.Shape[0]
	partial := make([]float64, r*rest) // Σ over modes < n of X weighted by their factors

	for sweep := 0; sweep < maxIter; sweep++ {
		for n := 0; n < d; n++ {
			in := x.Shape[n]
			mttkrp := mat.NewDense(in, r, nil)
			after := khatriRao(factors[n+1:], r) // (Π_{m>n} I_m) × r
			if n == 0 {
				lin.gemm(blas.NoTrans, blas.NoTrans, in, r, rest, 1, x.Data, rest, after, r, 0, mttkrp.RawMatrix().Data, r)
			} else {
				// partial is r × I_n × b with b = Π_{m>n} I_m.
				b := len(after) / r
				md := mttkrp.RawMatrix().Data
				for q := 0; q < r; q++ {
					row := partial[q*in*b : (q+1)*in*b]
					for i := 0; i < in; i++ {
						var acc float64
						for j, v := range row[i*b : (i+1)*b] {
							acc += v * after[j*r+q]
						}
						md[i*r+q] = acc
					}
				}
			}
			g := hadamardExcept(grams, n, r)
			prev := mat.DenseCopyOf(factors[n])
			for i := 0; i < in; i++ {
				row := prev.RawRowView(i)
				for q := range row {
					row[q] *= weights[q]
				}
			}
			upd, err := proximalSolve(mttkrp, g, prev, ridge)
			if err != nil {
				return fmt.Errorf("solvers: CP mode %d: %w", n, err)
			}
			e := lsFitError(normSq, upd, mttkrp, g)
			factors[n] = upd
			normalizeColumns(upd, weights)
			grams[n] = gram(upd)
			if e < 1e-4 {
				// The fast formula cancels below this; measure directly instead.
				cur := CP{weights: weights, factors: factors}
				e, _ = RelativeError(x, cur.Reconstruct())
			}
			c.errs = append(c.errs, e)
			if n == 0 {
				// partial ← A_0ᵀ·X_(0): r × (Π_{m>0} I_m).
				lin.gemm(blas.Trans, blas.NoTrans, r, rest, in, 1, upd.RawMatrix().Data, r, x.Data, rest, 0, partial, rest)
			} else if n < d-1 {
				b := len(after) / r
				next := partial[:r*b]
				ad := upd.RawMatrix().Data
				for q := 0; q < r; q++ {
					src := partial[q*in*b : (q+1)*in*b]
					acc := make([]float64, b)
					for i := 0; i < in; i++ {
						a := ad[i*r+q]
						for j, v := range src[i*b : (i+1)*b] {
							acc[j] += a * v
						}
					}
					copy(next[q*b:(q+1)*b], acc)
				}
			}
		}
		if tol >= 0 && sweep > 0 {
			prev, cur := c.errs[len(c.errs)-1-d], c.errs[len(c.errs)-1]
			if prev-cur < tol {
				break
			}
		}
	}
	c.weights, c.factors = weights, factors
	return nil
}

// lsFitError is ‖X − X̂‖/‖X‖ for a linear least-squares block update, from ‖X‖² − 2⟨X, X̂⟩ + ‖X̂‖², where ⟨X, X̂⟩ = Σ B∘M and
// ‖X̂‖² = Σ (BᵀB)∘G for the freshly solved factor B (λ absorbed).
func lsFitError(normSq float64, b, mttkrp, g *mat.Dense) float64 {
	var inner mat.Dense
	inner.MulElem(b, mttkrp)
	bb := gram(b)
	var fit mat.Dense
	fit.MulElem(bb, g)
	e2 := normSq - 2*mat.Sum(&inner) + mat.Sum(&fit)
	return math.Sqrt(math.Max(e2, 0) / normSq)
}

// proximalSolve returns B = (M + μ·P)(G + μI)⁻¹ with μ = ridge·mean(diag G).
func proximalSolve(m, g, prev *mat.Dense, ridge float64) (*mat.Dense, error) {
	r, _ := g.Dims()
	mu := ridge * mat.Trace(g) / float64(r)
	for attempt := 0; attempt < 8; attempt++ {
		a := mat.DenseCopyOf(g)
		for i := 0; i < r; i++ {
			a.Set(i, i, a.At(i, i)+mu)
		}
		lin := kernels()
		if !lin.potrf(r, a.RawMatrix().Data, r) {
			// Singular normal matrix with no ridge: add the smallest one that works.
			mu = math.Max(mu*100, 1e-12*math.Max(mat.Trace(g)/float64(r), 1e-300))
			continue
		}
		var rhs mat.Dense
		rhs.Scale(mu, prev)
		rhs.Add(&rhs, m)
		rows, _ := m.Dims()
		bt := transposeDense(&rhs) // r × rows
		lin.potrs(r, rows, a.RawMatrix().Data, r, bt.RawMatrix().Data, rows)
		return transposeDense(bt), nil
	}
	return nil, errors.New("normal equations are not positive definite even with a ridge")
}

// gram is fᵀf through the BLAS kernels: for big ranks it is a large part of
// every CP-ALS update.
func gram(f *mat.Dense) *mat.Dense {
	r, c := f.Dims()
	g := mat.NewDense(c, c, nil)
	raw := f.RawMatrix()
	kernels().gemm(blas.Trans, blas.NoTrans, c, c, r, 1, raw.Data, raw.Stride, raw.Data, raw.Stride, 0, g.RawMatrix().Data, c)
	return g
}

func hadamardExcept(grams []*mat.Dense, skip, r int) *mat.Dense {
	g := mat.NewDense(r, r, nil)
	for i := 0; i < r; i++ {
		for j := 0; j < r; j++ {
			g.Set(i, j, 1)
		}
	}
	for n, gm := range grams {
		if n != skip {
			g.MulElem(g, gm)
		}
	}
	return g
}

// khatriRao returns the column-wise Kronecker product of the factors as a
// row-major (Π I_m) × r slice, rows in C order of the mode indices; no factors
// gives one row of ones.
func khatriRao(fs []*mat.Dense, r int) []float64 {
	out := make([]float64, r)
	for i := range out {
		out[i] = 1
	}
	rows := 1
	for k := len(fs) - 1; k >= 0; k-- {
		fr, _ := fs[k].Dims()
		next := make([]float64, fr*rows*r)
		fd := fs[k].RawMatrix().Data
		for i := 0; i < fr; i++ {
			a := fd[i*r : (i+1)*r]
			for b := 0; b < rows; b++ {
				dst := next[(i*rows+b)*r : (i*rows+b+1)*r]
				src := out[b*r : (b+1)*r]
				for q := range dst {
					dst[q] = a[q] * src[q]
				}
			}
		}
		out, rows = next, fr*rows
	}
	return out
}

// normalizeColumns scales f's columns to unit norm, storing the norms in w; a
// zero column keeps weight 0.
func normalizeColumns(f *mat.Dense, w []float64) {
	rows, cols := f.Dims()
	for q := 0; q < cols; q++ {
		var ss float64
		for i := 0; i < rows; i++ {
			ss += f.At(i, q) * f.At(i, q)
		}
		nrm := math.Sqrt(ss)
		w[q] = nrm
		if nrm == 0 {
			continue
		}
		for i := 0; i < rows; i++ {
			f.Set(i, q, f.At(i, q)/nrm)
		}
	}
}

// Rank is the number of components.
func (c *CP) Rank() int { return len(c.weights) }

// Weights returns λ (a copy).
func (c *CP) Weights() []float64 { return append([]float64(nil), c.weights...) }

// Factor returns mode n's I_n×R factor with unit columns (not a copy).
func (c *CP) Factor(n int) *mat.Dense { return c.factors[n] }

// Errors returns the relative error after every single factor update, in order
// (mode 0, 1, …, N−1 of sweep 1, then sweep 2, …).
func (c *CP) Errors() []float64 { return append([]float64(nil), c.errs...) }

// SweepErrors returns the relative error at the end of every sweep.
func (c *CP) SweepErrors() []float64 {
	d := len(c.factors)
	var out []float64
	for i := d - 1; i < len(c.errs); i += d {
		out = append(out, c.errs[i])
	}
	return out
}

// Reconstruct returns Σ_r λ_r a⁽⁰⁾_r ∘ a⁽¹⁾_r ∘ ….
func (c *CP) Reconstruct() *Tensor {
	r := len(c.weights)
	shape := make([]int, len(c.factors))
	for n, f := range c.factors {
		shape[n], _ = f.Dims()
	}
	first := mat.DenseCopyOf(c.factors[0])
	for i := 0; i < shape[0]; i++ {
		row := first.RawRowView(i)
		for q := range row {
			row[q] *= c.weights[q]
		}
	}
	kr := khatriRao(c.factors[1:], r)
	rest := len(kr) / r
	out := mustZeros(shape...)
	kernels().gemm(blas.NoTrans, blas.Trans, shape[0], rest, r, 1, first.RawMatrix().Data, r, kr, r, 0, out.Data, rest)
	return out
}
