package solvers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// DeButOptions configures DeBut.Fit. The zero value gives the defaults.
type DeButOptions struct {
	// Iterations caps the number of ALS iterations; each updates every factor
	// once, so two iterations are one sweep. Default 10.
	Iterations int
	// Tol stops early when the relative error changes by at most Tol·err
	// between iterations. Default 1e-6; a negative value disables early stop.
	Tol float64
	// Seed drives the U[0,1) initialization of the official code.
	Seed uint64
	// Init, when set, replaces the random initialization (output side first).
	Init []DeButWeights
}

// DeBut fits a canonical DeBut chain to a matrix by alternating least squares
// (Lin et al., NeurIPS 2021, ALS3 with the first-factor placement fixed).
//
// For a canonical chain every (output, input) pair is joined by exactly one
// path, so Ŵ[i,j] = A[i,·]·W_k[e(i,j)]·C[·,j] touches a single parameter e of
// factor k. The per-block Gram matrix of the normal equations,
// G = (A_iᵀA_i) ∘ (C_iC_iᵀ) on the support, is therefore exactly diagonal and
// the min-norm least-squares update is one division per parameter. That makes
// an update O(m·n), where the official code builds (m·n/nb)×(r·s·t) design
// matrices and pseudo-inverts them.
type DeBut struct {
	chain        DeButChain
	rows, cols   int
	factors      [][]float64
	initialError float64
	errors       []float64
	updateErrors []float64
}

// gramCutoff drops diagonal Gram entries below this fraction of the block's
// largest: those parameters are unobservable and min-norm sets them to 0.
const gramCutoff = 1e-14

// Fit runs ALS for the canonical chain on f (m×n). Iteration i sweeps
// left→right when i is even and right→left when odd, as in the official code.
func (d *DeBut) Fit(f mat.Matrix, chain DeButChain, opts *DeButOptions) error {
	*d = DeBut{}
	if opts == nil {
		opts = &DeButOptions{}
	}
	if err := chain.CanonicalError(); err != nil {
		return fmt.Errorf("debut fit: %w (the ALS solver needs a canonical chain)", err)
	}
	m, n := f.Dims()
	if m != chain.Rows() || n != chain.Cols() {
		return fmt.Errorf("debut fit: matrix is %d×%d but chain %v is %d×%d", m, n, chain, chain.Rows(), chain.Cols())
	}
	target := denseRowMajor(f)
	norm2 := 0.0
	for idx, v := range target {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("debut fit: matrix entry (%d,%d) is %g", idx/n, idx%n, v)
		}
		norm2 += v * v
	}
	if norm2 == 0 {
		return fmt.Errorf("debut fit: the %d×%d matrix is all zeros, relative error is undefined", m, n)
	}
	iterations := opts.Iterations
	if iterations == 0 {
		iterations = 10
	}
	if iterations < 0 {
		return fmt.Errorf("debut fit: %d iterations", iterations)
	}
	tol := opts.Tol
	if tol == 0 {
		tol = 1e-6
	}

	d.chain = append(DeButChain(nil), chain...)
	d.rows, d.cols = m, n
	d.factors = make([][]float64, len(chain))
	if opts.Init != nil {
		initChain, err := checkDeButWeights(opts.Init)
		if err != nil {
			return fmt.Errorf("debut fit init: %w", err)
		}
		if initChain.String() != chain.String() {
			return fmt.Errorf("debut fit: init chain %v differs from %v", initChain, chain)
		}
		for k, w := range opts.Init {
			for i, v := range w.W {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("debut fit init: factor %d weight %d is %g", k, i, v)
				}
			}
			d.factors[k] = append([]float64(nil), w.W...)
		}
	} else {
		rng := rand.New(rand.NewPCG(opts.Seed, 0x6465427574))
		for k, fac := range chain {
			d.factors[k] = make([]float64, fac.Params())
			for i := range d.factors[k] {
				d.factors[k][i] = rng.Float64()
			}
		}
	}

	als := newDebutALS(d, target, math.Sqrt(norm2))
	d.initialError = als.error()
	for it := 0; it < iterations; it++ {
		if it%2 == 0 {
			als.sweepLeftToRight()
		} else {
			als.sweepRightToLeft()
		}
		als.rebalance()
		d.errors = append(d.errors, d.updateErrors[len(d.updateErrors)-1])
		if tol > 0 && it > 0 {
			prev, cur := d.errors[it-1], d.errors[it]
			if math.Abs(prev-cur) <= tol*prev {
				break
			}
		}
	}
	// The product does not depend on how its scale is split among the
	// factors, but training the chain afterwards does: a gradient step
	// (Adam's above all) moves a factor by about the same amount whatever
	// its size, so a factor far larger than its neighbours hardly changes
	// while a small one swings. ALS leaves them far apart (LeNet fc1: rms
	// 72 against 0.05); equal norms recovered 0.6 points more accuracy in
	// two epochs of distillation (bench/finetune/recover.sh lenet debut).
	als.equalizeNorms()
	return nil
}

// Chain returns the fitted chain.
func (d *DeBut) Chain() DeButChain { return append(DeButChain(nil), d.chain...) }

// Factors returns copies of the fitted factors, output side first.
func (d *DeBut) Factors() []DeButWeights {
	out := make([]DeButWeights, len(d.factors))
	for k, w := range d.factors {
		out[k] = DeButWeights{Factor: d.chain[k], W: append([]float64(nil), w...)}
	}
	return out
}

// InitialError is ‖F − Ŵ‖/‖F‖ before the first update.
func (d *DeBut) InitialError() float64 { return d.initialError }

// Errors returns the relative error after each iteration.
func (d *DeBut) Errors() []float64 { return append([]float64(nil), d.errors...) }

// UpdateErrors returns the relative error after every single factor update.
func (d *DeBut) UpdateErrors() []float64 { return append([]float64(nil), d.updateErrors...) }

// Dense returns the fitted product B_0·…·B_{N-1}; it fails before a
// successful Fit.
func (d *DeBut) Dense() (*mat.Dense, error) {
	if len(d.factors) == 0 {
		return nil, fmt.Errorf("debut: no fitted chain")
	}
	return DensifyDeButChain(d.Factors())
}

// debutALS keeps the structured prefix and suffix products of a canonical
// chain. For factor k, the prefix A_k = B_0…B_{k-1} has one nonzero per row
// and block, stored as prefix[k][i·nb_k+blk]; the suffix C_k = B_{k+1}…B_{N-1}
// has one nonzero per column and diagonal position, stored transposed as
// suffix[k][d·n+j], so the inner loops run along rows of F.
type debutALS struct {
	d      *DeBut
	f      []float64
	norm   float64
	prefix [][]float64
	suffix [][]float64
}

func newDebutALS(d *DeBut, f []float64, norm float64) *debutALS {
	n := len(d.chain)
	als := &debutALS{d: d, f: f, norm: norm, prefix: make([][]float64, n), suffix: make([][]float64, n)}
	als.prefix[0] = debutOnes(d.rows)
	als.suffix[n-1] = debutOnes(d.cols)
	for k := n - 1; k > 0; k-- {
		als.suffix[k-1] = als.nextSuffix(k)
	}
	return als
}

func debutOnes(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// nextPrefix returns A_{k+1} = A_k·B_k from prefix[k] and factor k.
func (als *debutALS) nextPrefix(k int) []float64 {
	fac := als.d.chain[k]
	nb, r, s, t := fac.Blocks(), fac.R, fac.S, fac.T
	w := als.d.factors[k]
	m := als.d.rows
	prev := als.prefix[k]
	out := make([]float64, m*nb*s)
	for i := 0; i < m; i++ {
		dd, a := i%t, (i/t)%r
		row := out[i*nb*s:][:nb*s]
		for blk := 0; blk < nb; blk++ {
			alpha := prev[i*nb+blk]
			base := (blk*r + a) * s * t
			for c := 0; c < s; c++ {
				row[blk*s+c] = alpha * w[base+c*t+dd]
			}
		}
	}
	return out
}

// nextSuffix returns C_{k-1} = B_k·C_k from suffix[k] and factor k.
func (als *debutALS) nextSuffix(k int) []float64 {
	fac := als.d.chain[k]
	r, s, t := fac.R, fac.S, fac.T
	w := als.d.factors[k]
	n := als.d.cols
	width := n / fac.Blocks()
	chunk := width / s
	prev := als.suffix[k]
	out := make([]float64, r*t*n)
	for a := 0; a < r; a++ {
		for dd := 0; dd < t; dd++ {
			dst := out[(a*t+dd)*n:][:n]
			src := prev[dd*n:][:n]
			for j0 := 0; j0 < n; j0 += chunk {
				blk, c := j0/width, (j0/chunk)%s
				coef := w[((blk*r+a)*s+c)*t+dd]
				for j := j0; j < j0+chunk; j++ {
					dst[j] = coef * src[j]
				}
			}
		}
	}
	return out
}

// update solves the least-squares problem for factor k exactly, with the other
// factors fixed, and records the resulting relative error.
func (als *debutALS) update(k int) {
	fac := als.d.chain[k]
	nb, r, s, t := fac.Blocks(), fac.R, fac.S, fac.T
	m, n := als.d.rows, als.d.cols
	width := n / nb
	chunk := width / s
	prefix, suffix := als.prefix[k], als.suffix[k]

	num := make([]float64, fac.Params())
	rowGram := make([]float64, nb*r*t)
	for i := 0; i < m; i++ {
		dd, a := i%t, (i/t)%r
		frow := als.f[i*n:][:n]
		crow := suffix[dd*n:][:n]
		for blk := 0; blk < nb; blk++ {
			alpha := prefix[i*nb+blk]
			rowGram[(blk*r+a)*t+dd] += alpha * alpha
			if alpha == 0 {
				continue
			}
			for c := 0; c < s; c++ {
				j0 := (blk*s + c) * chunk
				num[((blk*r+a)*s+c)*t+dd] += alpha * floats.Dot(frow[j0:j0+chunk], crow[j0:j0+chunk])
			}
		}
	}
	colGram := make([]float64, nb*s*t)
	for dd := 0; dd < t; dd++ {
		crow := suffix[dd*n:][:n]
		for blk := 0; blk < nb; blk++ {
			for c := 0; c < s; c++ {
				j0 := (blk*s + c) * chunk
				colGram[(blk*s+c)*t+dd] = floats.Dot(crow[j0:j0+chunk], crow[j0:j0+chunk])
			}
		}
	}

	w := als.d.factors[k]
	for blk := 0; blk < nb; blk++ {
		block := w[blk*r*s*t:][:r*s*t]
		gram := func(a, c, dd int) float64 {
			return rowGram[(blk*r+a)*t+dd] * colGram[(blk*s+c)*t+dd]
		}
		largest := 0.0
		for a := 0; a < r; a++ {
			for c := 0; c < s; c++ {
				for dd := 0; dd < t; dd++ {
					largest = math.Max(largest, gram(a, c, dd))
				}
			}
		}
		for a := 0; a < r; a++ {
			for c := 0; c < s; c++ {
				for dd := 0; dd < t; dd++ {
					idx := (a*s+c)*t + dd
					g := gram(a, c, dd)
					if g <= gramCutoff*largest || g == 0 {
						block[idx] = 0
						continue
					}
					block[idx] = num[blk*r*s*t+idx] / g
				}
			}
		}
	}
	als.d.updateErrors = append(als.d.updateErrors, als.errorAfterUpdate(k, num, rowGram, colGram))
}

// errorAfterUpdate uses the decoupled objective: with one parameter per
// entry, ‖F − Ŵ‖² = ‖F‖² − 2·Σ w·num + Σ w²·g. This cancels badly once the
// error is small, so below 10% relative error it evaluates the residual
// explicitly instead.
func (als *debutALS) errorAfterUpdate(k int, num, rowGram, colGram []float64) float64 {
	fac := als.d.chain[k]
	nb, r, s, t := fac.Blocks(), fac.R, fac.S, fac.T
	w := als.d.factors[k]
	resid := als.norm * als.norm
	for blk := 0; blk < nb; blk++ {
		for a := 0; a < r; a++ {
			for c := 0; c < s; c++ {
				for dd := 0; dd < t; dd++ {
					idx := ((blk*r+a)*s+c)*t + dd
					g := rowGram[(blk*r+a)*t+dd] * colGram[(blk*s+c)*t+dd]
					resid += w[idx] * (w[idx]*g - 2*num[idx])
				}
			}
		}
	}
	if resid <= 1e-2*als.norm*als.norm {
		return als.errorAt(k)
	}
	return math.Sqrt(resid) / als.norm
}

// error is the relative error of the current factors, evaluated through factor 0.
func (als *debutALS) error() float64 { return als.errorAt(0) }

// errorAt evaluates ‖F − A_k·B_k·C_k‖/‖F‖ explicitly; valid whenever
// prefix[k] and suffix[k] match the current factors.
func (als *debutALS) errorAt(k int) float64 {
	fac := als.d.chain[k]
	nb, r, s, t := fac.Blocks(), fac.R, fac.S, fac.T
	m, n := als.d.rows, als.d.cols
	chunk := n / nb / s
	prefix, suffix := als.prefix[k], als.suffix[k]
	w := als.d.factors[k]
	sum := 0.0
	for i := 0; i < m; i++ {
		dd, a := i%t, (i/t)%r
		frow := als.f[i*n:][:n]
		crow := suffix[dd*n:][:n]
		for blk := 0; blk < nb; blk++ {
			alpha := prefix[i*nb+blk]
			for c := 0; c < s; c++ {
				coef := alpha * w[((blk*r+a)*s+c)*t+dd]
				j0 := (blk*s + c) * chunk
				fs, cs := frow[j0:j0+chunk], crow[j0:j0+chunk]
				for j := range fs {
					diff := fs[j] - coef*cs[j]
					sum += diff * diff
				}
			}
		}
	}
	return math.Sqrt(sum) / als.norm
}

// sweepLeftToRight updates k = 0..N-1 with suffixes from the old factors and
// the prefix grown from the new ones.
func (als *debutALS) sweepLeftToRight() {
	n := len(als.d.chain)
	for k := 0; k < n; k++ {
		als.update(k)
		if k+1 < n {
			als.prefix[k+1] = als.nextPrefix(k)
		}
	}
}

// sweepRightToLeft updates k = N-1..0 with prefixes from the old factors and
// the suffix grown from the new ones.
func (als *debutALS) sweepRightToLeft() {
	n := len(als.d.chain)
	for k := n - 1; k >= 0; k-- {
		als.update(k)
		if k > 0 {
			als.suffix[k-1] = als.nextSuffix(k)
		}
	}
}

// rebalanceSpread is the largest ratio of factor norms tolerated before the
// factors are rescaled.
const rebalanceSpread = 1e6

// rebalance removes the scalar gauge freedom (B_k·λ, B_{k+1}/λ) once factor
// norms drift apart by more than rebalanceSpread, giving every factor the same
// Frobenius norm; the product changes only by rounding. Alternating sweeps
// keep the prefixes and suffixes each needs current, so they are rebuilt only
// after a rescale.
func (als *debutALS) rebalance() { als.balance(rebalanceSpread) }

// equalizeNorms gives every factor the same Frobenius norm.
func (als *debutALS) equalizeNorms() { als.balance(1) }

// balance rescales the factors to their geometric-mean norm when the
// largest is more than spread times the smallest.
func (als *debutALS) balance(spread float64) {
	factors := als.d.factors
	logs := make([]float64, len(factors))
	mean := 0.0
	for k, w := range factors {
		nrm := math.Sqrt(floats.Dot(w, w))
		if nrm == 0 {
			return // the product is zero; nothing to balance
		}
		logs[k] = math.Log(nrm)
		mean += logs[k]
	}
	if slices.Max(logs)-slices.Min(logs) <= math.Log(spread) {
		return
	}
	mean /= float64(len(factors))
	for k, w := range factors {
		floats.Scale(math.Exp(mean-logs[k]), w)
	}
	als.refresh()
}

// refresh rebuilds every prefix and suffix product from the current factors.
func (als *debutALS) refresh() {
	factors := als.d.factors
	for k := 0; k+1 < len(factors); k++ {
		als.prefix[k+1] = als.nextPrefix(k)
	}
	for k := len(factors) - 1; k > 0; k-- {
		als.suffix[k-1] = als.nextSuffix(k)
	}
}
