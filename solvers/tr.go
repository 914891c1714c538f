package solvers

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// TR is a tensor ring X(i_0,…,i_{d−1}) = Tr(G_0[i_0]·…·G_{d−1}[i_{d−1}]) with
// cores G_k of shape (r_k, n_k, r_{k+1}) and r_d = r_0 (Zhao et al. 2016).
// Factorize is TR-SVD; FactorizeALS refines it by alternating least squares.
type TR struct {
	cores  []*Tensor
	relErr float64
	errs   []float64
}

// TROptions bound the ranks and control TR-ALS.
type TROptions struct {
	// Ranks caps r_0 … r_{d−1} (nil: no caps); MaxRank caps every rank (0: none).
	Ranks   []int
	MaxRank int
	// Epsilon bounds the TR-SVD error by Epsilon·‖X‖ (0: exact up to the caps).
	Epsilon float64
	// MaxIter caps the ALS sweeps (0: 50); Tol stops on a smaller relative error
	// decrease per sweep (0: 1e-8, negative: never); Ridge is the proximal weight
	// relative to the mean diagonal of the normal matrix (0: 1e-8, negative: none).
	MaxIter int
	Tol     float64
	Ridge   float64
}

func (o TROptions) cap(k int) int {
	limit := o.MaxRank
	if o.Ranks != nil && o.Ranks[k] > 0 && (limit == 0 || o.Ranks[k] < limit) {
		limit = o.Ranks[k]
	}
	return limit
}

// Factorize computes TR-SVD: the first unfolding is truncated to rank r_0·r_1
// (tolerance √2·δ, δ = Epsilon·‖X‖/√d), split with r_0 ≈ √(r_0·r_1), and the
// rest is TT-SVD with r_0 carried along the last mode so the ring closes.
func (tr *TR) Factorize(x *Tensor, opts TROptions) error {
	if x == nil || len(x.Shape) < 2 {
		return errors.New("solvers: TR needs a tensor with at least 2 modes")
	}
	if err := checkInput(fmt.Sprintf("TR of a %v tensor", x.Shape), x.Data); err != nil {
		return err
	}
	d := len(x.Shape)
	if opts.Ranks != nil && len(opts.Ranks) != d {
		return fmt.Errorf("solvers: TR of a %d-way tensor needs %d ranks, got %v", d, d, opts.Ranks)
	}
	if opts.Epsilon < 0 || opts.MaxRank < 0 || math.IsNaN(opts.Epsilon) {
		return fmt.Errorf("solvers: TR epsilon %g / max rank %d must not be negative", opts.Epsilon, opts.MaxRank)
	}
	norm := x.Norm()
	deltaSq := math.Pow(opts.Epsilon*norm, 2) / float64(d)

	n0 := x.Shape[0]
	rest := len(x.Data) / n0
	var s SVD
	if err := s.Factorize(mat.NewDense(n0, rest, x.Data), min(n0, rest)); err != nil {
		return err
	}
	sv := s.AllValues()
	capProduct := 0
	if c0, c1 := opts.cap(0), opts.cap(1%d); c0 > 0 && c1 > 0 {
		capProduct = c0 * c1
	}
	chosen := truncationRank(sv, 2*deltaSq, capProduct)
	var r0, r1 int
	if c0, c1 := opts.cap(0), opts.cap(1%d); c0 > 0 && c1 > 0 {
		r0 = min(c0, chosen)
		r1 = max(1, min(c1, chosen/r0))
	} else {
		// Most balanced split with r_0·r_1 ≥ chosen that the unfolding allows;
		// (1, chosen) always fits and degenerates to a train.
		for r0 = int(math.Ceil(math.Sqrt(float64(chosen)))); r0 > 1; r0-- {
			if r1 = (chosen + r0 - 1) / r0; r0*r1 <= len(sv) {
				break
			}
		}
		if r0 == 1 {
			r1 = chosen
		}
	}
	_ = s.Truncate(r0 * r1)
	tailSq := sumSquares(sv[r0*r1:])
	u := s.U() // n0 × r0·r1
	g0, _ := NewTensor([]int{n0, r0, r1}, u.RawMatrix().Data)
	first, _ := g0.Permute(1, 0, 2)
	c := s.VT()
	cd := c.RawMatrix().Data
	for i := 0; i < r0*r1; i++ {
		row := cd[i*rest : (i+1)*rest]
		for j := range row {
			row[j] *= sv[i]
		}
	}
	ct, _ := NewTensor([]int{r0, r1, rest}, cd)
	carried, _ := ct.Permute(1, 2, 0) // r1 × rest × r0
	shape := append([]int(nil), x.Shape[1:]...)
	shape[len(shape)-1] *= r0
	tail, tailRest, err := ttSweep(carried.Data, shape, r1, func(k int, sv []float64) int {
		return truncationRank(sv, deltaSq, opts.cap(k+2))
	})
	if err != nil {
		return err
	}
	last := tail[len(tail)-1]
	last.Shape = []int{last.Shape[0], x.Shape[d-1], r0}
	*tr = TR{cores: append([]*Tensor{first}, tail...), relErr: math.Sqrt(tailSq+tailRest) / norm}
	return nil
}

// FactorizeALS runs TR-SVD with opts and then TR-ALS sweeps (Zhao et al.
// Alg. 2): each core in turn is the proximal least-squares fit of the mode-n
// unfolding against the subchain of all other cores. Errors() reports the
// relative error after every core update; it never increases.
func (tr *TR) FactorizeALS(x *Tensor, opts TROptions) error {
	if err := tr.Factorize(x, opts); err != nil {
		return err
	}
	maxIter := opts.MaxIter
	if maxIter == 0 {
		maxIter = 50
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
	unfolded := make([][]float64, d)
	for n := 0; n < d; n++ {
		perm := make([]int, d)
		for k := range perm {
			perm[k] = (n + k) % d
		}
		p, err := x.Permute(perm...)
		if err != nil {
			return err
		}
		unfolded[n] = p.Data
	}
	normSq := sumSquares(x.Data)
	lin := kernels()
	tr.errs = []float64{tr.relErr}
	for sweep := 0; sweep < maxIter; sweep++ {
		for n := 0; n < d; n++ {
			others := make([]*Tensor, 0, d-1)
			for k := 1; k < d; k++ {
				others = append(others, tr.cores[(n+k)%d])
			}
			core := tr.cores[n]
			rn, in, rn1 := core.Shape[0], core.Shape[1], core.Shape[2]
			chain := contractChain(others) // r_{n+1} × J × r_n
			j := len(chain) / (rn1 * rn)
			ct, _ := NewTensor([]int{rn1, j, rn}, chain)
			dt, _ := ct.Permute(1, 2, 0) // J × (r_n·r_{n+1})
			design := mat.NewDense(j, rn*rn1, dt.Data)
			m := mat.NewDense(in, rn*rn1, nil)
			lin.gemm(blas.NoTrans, blas.NoTrans, in, rn*rn1, j, 1, unfolded[n], j, dt.Data, rn*rn1, 0, m.RawMatrix().Data, rn*rn1)
			g := mat.NewDense(rn*rn1, rn*rn1, nil)
			g.Mul(design.T(), design)
			pt, _ := core.Permute(1, 0, 2)
			prev := mat.NewDense(in, rn*rn1, pt.Data)
			b, err := proximalSolve(m, g, prev, ridge)
			if err != nil {
				return fmt.Errorf("solvers: TR-ALS core %d: %w", n, err)
			}
			e := lsFitError(normSq, b, m, g)
			bt, _ := NewTensor([]int{in, rn, rn1}, b.RawMatrix().Data)
			tr.cores[n], _ = bt.Permute(1, 0, 2)
			if e < 1e-4 {
				e, _ = RelativeError(x, tr.Reconstruct())
			}
			tr.errs = append(tr.errs, e)
		}
		if tol >= 0 {
			cur, prev := tr.errs[len(tr.errs)-1], tr.errs[len(tr.errs)-1-d]
			if prev-cur < tol {
				break
			}
		}
	}
	tr.relErr = tr.errs[len(tr.errs)-1]
	return nil
}

// Cores returns the cores (not copies).
func (tr *TR) Cores() []*Tensor { return tr.cores }

// Ranks returns r_0 … r_{d−1}.
func (tr *TR) Ranks() []int {
	r := chainRanks(tr.cores)
	return r[:len(r)-1]
}

// Params is the number of core entries.
func (tr *TR) Params() int { return chainParams(tr.cores) }

// RelError is ‖X − TR‖/‖X‖: exact from the discarded singular values after
// Factorize, the last ALS error after FactorizeALS.
func (tr *TR) RelError() float64 { return tr.relErr }

// Errors returns the TR-SVD error followed by the error after each ALS core
// update (just the TR-SVD error after Factorize).
func (tr *TR) Errors() []float64 {
	if tr.errs == nil {
		return []float64{tr.relErr}
	}
	return append([]float64(nil), tr.errs...)
}

// Reconstruct contracts the ring into a dense tensor (trace over r_0).
func (tr *TR) Reconstruct() *Tensor {
	chain := contractChain(tr.cores) // r_0 × N × r_0
	r0 := tr.cores[0].Shape[0]
	n := len(chain) / (r0 * r0)
	shape := make([]int, len(tr.cores))
	for k, c := range tr.cores {
		shape[k] = c.Shape[1]
	}
	out := mustZeros(shape...)
	for a := 0; a < r0; a++ {
		for j := 0; j < n; j++ {
			out.Data[j] += chain[(a*n+j)*r0+a]
		}
	}
	return out
}
