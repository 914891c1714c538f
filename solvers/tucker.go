package solvers

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// Tucker2 is a Tucker decomposition of modes 0 (out) and 1 (in) only:
// W ≈ G ×₀ U_out ×₁ U_in with orthonormal U_out (T×R_out), U_in (S×R_in) and core
// G (R_out×R_in×…). For a conv kernel T×S×kH×kW the spatial modes stay whole;
// the rewrite is 1×1 (U_inᵀ) → kH×kW (G) → 1×1 (U_out). For a matrix it is
// U_out·G·U_inᵀ.
type Tucker2 struct {
	core      *Tensor
	uOut, uIn *mat.Dense
	errs      []float64
}

// Tucker2Options set the ranks and the HOOI iteration.
type Tucker2Options struct {
	// RankOut and RankIn are clamped to the mode sizes and to what the other
	// side allows (R_out ≤ R_in·Π spatial and vice versa); below 1 is an error.
	RankOut, RankIn int
	// HOSVDOnly stops after the HOSVD initialisation.
	HOSVDOnly bool
	// MaxIter caps the HOOI sweeps; 0 means 20.
	MaxIter int
	// Tol stops HOOI once the relative error decreases by less than Tol in a
	// sweep; 0 means 1e-8, negative runs all MaxIter sweeps.
	Tol float64
}

// Factorize computes the HOSVD (leading left singular vectors of the mode-0 and
// mode-1 unfoldings) and refines it by HOOI: U_out ← lead-svd(unfold₀(W ×₁ U_inᵀ)),
// U_in ← lead-svd(unfold₁(W ×₀ U_outᵀ)), until the error stalls.
func (tk *Tucker2) Factorize(w *Tensor, opts Tucker2Options) error {
	if w == nil || len(w.Shape) < 2 {
		return errors.New("solvers: Tucker-2 needs a tensor with at least 2 modes")
	}
	if err := checkInput(fmt.Sprintf("Tucker-2 of a %v tensor", w.Shape), w.Data); err != nil {
		return err
	}
	if opts.RankOut < 1 || opts.RankIn < 1 {
		return fmt.Errorf("solvers: Tucker-2 ranks (%d, %d) must be positive", opts.RankOut, opts.RankIn)
	}
	maxIter := opts.MaxIter
	if maxIter == 0 {
		maxIter = 20
	}
	tol := opts.Tol
	if tol == 0 {
		tol = 1e-8
	}
	t, s := w.Shape[0], w.Shape[1]
	rest := len(w.Data) / (t * s)
	rOut := min(opts.RankOut, t, s*rest)
	rIn := min(opts.RankIn, s, t*rest)
	rOut = min(rOut, rIn*rest)
	rIn = min(rIn, rOut*rest)

	// Both partial products become single GEMMs on copies of W with the
	// contracted mode last: (T, rest, S) for ×₁ and (S, rest, T) for ×₀. Column
	// order of an unfolding does not change its left singular vectors.
	perm := func(first, last int) *Tensor {
		p := []int{first}
		for i := 2; i < len(w.Shape); i++ {
			p = append(p, i)
		}
		p = append(p, last)
		x, _ := w.Permute(p...)
		return x
	}
	pIn, pOut := perm(0, 1), perm(1, 0)
	lin := kernels()

	unf0 := append([]float64(nil), w.Data...)
	uOut, _ := leadingLeft(t, s*rest, unf0, rOut)
	u1, err := w.Unfold(1)
	if err != nil {
		return err
	}
	uIn, _ := leadingLeft(s, t*rest, u1.RawMatrix().Data, rIn)

	normSq := sumSquares(w.Data)
	y := make([]float64, t*rest*rIn) // W ×₁ U_inᵀ as T × (rest·R_in)
	z := make([]float64, s*rest*rOut)
	g := make([]float64, rOut*rest*rIn)
	applyIn := func() {
		lin.gemm(blas.NoTrans, blas.NoTrans, t*rest, rIn, s, 1, pIn.Data, s, uIn.RawMatrix().Data, rIn, 0, y, rIn)
	}
	coreAndError := func() float64 {
		lin.gemm(blas.Trans, blas.NoTrans, rOut, rest*rIn, t, 1, uOut.RawMatrix().Data, rOut, y, rest*rIn, 0, g, rest*rIn)
		return math.Sqrt(math.Max(0, normSq-sumSquares(g)) / normSq)
	}
	applyIn()
	tk.errs = []float64{coreAndError()}
	for it := 0; it < maxIter && !opts.HOSVDOnly; it++ {
		uOut, _ = leadingLeft(t, rest*rIn, append([]float64(nil), y...), rOut)
		lin.gemm(blas.NoTrans, blas.NoTrans, s*rest, rOut, t, 1, pOut.Data, t, uOut.RawMatrix().Data, rOut, 0, z, rOut)
		uIn, _ = leadingLeft(s, rest*rOut, z, rIn)
		applyIn()
		e := coreAndError()
		prev := tk.errs[len(tk.errs)-1]
		tk.errs = append(tk.errs, e)
		if tol >= 0 && prev-e < tol {
			break
		}
	}
	// g is R_out × rest × R_in; the core wants R_out × R_in × rest.
	gt, err := NewTensor([]int{rOut, rest, rIn}, g)
	if err != nil {
		return err
	}
	core, err := gt.Permute(0, 2, 1)
	if err != nil {
		return err
	}
	core.Shape = append([]int{rOut, rIn}, w.Shape[2:]...)
	tk.core, tk.uOut, tk.uIn = core, uOut, uIn
	return nil
}

// Core returns G (R_out×R_in×…), not a copy.
func (tk *Tucker2) Core() *Tensor { return tk.core }

// UOut returns the T×R_out output factor, not a copy.
func (tk *Tucker2) UOut() *mat.Dense { return tk.uOut }

// UIn returns the S×R_in input factor, not a copy.
func (tk *Tucker2) UIn() *mat.Dense { return tk.uIn }

// Ranks returns (R_out, R_in) after clamping.
func (tk *Tucker2) Ranks() (rOut, rIn int) { return tk.core.Shape[0], tk.core.Shape[1] }

// Errors returns the relative error ‖W−Ŵ‖/‖W‖ after the HOSVD and after each
// HOOI sweep (from ‖W‖² − ‖G‖², exact for orthonormal factors up to rounding
// of order 1e-8 relative).
func (tk *Tucker2) Errors() []float64 { return append([]float64(nil), tk.errs...) }

// Reconstruct returns G ×₀ U_out ×₁ U_in.
func (tk *Tucker2) Reconstruct() *Tensor {
	a, _ := tk.core.ModeProduct(0, tk.uOut, false)
	b, _ := a.ModeProduct(1, tk.uIn, false)
	return b
}

// Tucker1 factors a single mode: W ≈ G ×_mode U with U (I_mode×R) the leading
// left singular vectors of the mode unfolding (Kim et al. use it for the first
// conv, whose input side is too thin to factor).
type Tucker1 struct {
	mode int
	core *Tensor
	u    *mat.Dense
	err  float64
}

// Factorize computes the rank-r Tucker-1 of w on mode; r is clamped to the
// unfolding's smaller side.
func (tk *Tucker1) Factorize(w *Tensor, mode, rank int) error {
	if w == nil {
		return errors.New("solvers: Tucker-1 of a nil tensor")
	}
	if err := checkInput(fmt.Sprintf("Tucker-1 of a %v tensor", w.Shape), w.Data); err != nil {
		return err
	}
	if rank < 1 {
		return fmt.Errorf("solvers: Tucker-1 rank %d must be positive", rank)
	}
	unf, err := w.Unfold(mode)
	if err != nil {
		return err
	}
	rows, cols := unf.Dims()
	rank = min(rank, rows, cols)
	u, sv := leadingLeft(rows, cols, unf.RawMatrix().Data, rank)
	core, err := w.ModeProduct(mode, u, true)
	if err != nil {
		return err
	}
	*tk = Tucker1{mode: mode, core: core, u: u, err: math.Sqrt(sumSquares(sv[rank:]) / sumSquares(sv))}
	return nil
}

// Core returns G, with mode shrunk to R (not a copy).
func (tk *Tucker1) Core() *Tensor { return tk.core }

// U returns the I_mode×R factor (not a copy).
func (tk *Tucker1) U() *mat.Dense { return tk.u }

// RelError is the relative error, exact from the discarded singular values.
func (tk *Tucker1) RelError() float64 { return tk.err }

// Reconstruct returns G ×_mode U.
func (tk *Tucker1) Reconstruct() *Tensor {
	r, _ := tk.core.ModeProduct(tk.mode, tk.u, false)
	return r
}
