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

	// Both partial products are GEMMs on W as it is stored, no copies:
	// W ×₀ U_outᵀ is Wᵀ·U_out with W seen as T × (S·rest), laid out
	// (S, rest, R_out); W ×₁ U_inᵀ is one W_tᵀ·U_in per output slice t, laid
	// out (T, rest, R_in). Column order of an unfolding does not change its
	// left singular vectors.
	lin := kernels()
	uOut, uIn, err := hosvdBases(w, rOut, rIn)
	if err != nil {
		return err
	}

	normSq := sumSquares(w.Data)
	y := make([]float64, t*rest*rIn) // W ×₁ U_inᵀ as T × (rest·R_in)
	var z []float64                  // W ×₀ U_outᵀ as S × (rest·R_out), for HOOI
	g := make([]float64, rOut*rest*rIn)
	applyIn := func() {
		for i := 0; i < t; i++ {
			lin.gemm(blas.Trans, blas.NoTrans, rest, rIn, s, 1, w.Data[i*s*rest:], rest, uIn.RawMatrix().Data, rIn, 0, y[i*rest*rIn:], rIn)
		}
	}
	coreAndError := func() float64 {
		lin.gemm(blas.Trans, blas.NoTrans, rOut, rest*rIn, t, 1, uOut.RawMatrix().Data, rOut, y, rest*rIn, 0, g, rest*rIn)
		return math.Sqrt(math.Max(0, normSq-sumSquares(g)) / normSq)
	}
	applyIn()
	tk.errs = []float64{coreAndError()}
	for it := 0; it < maxIter && !opts.HOSVDOnly; it++ {
		uOut, _ = leadingLeft(t, rest*rIn, append([]float64(nil), y...), rOut)
		if z == nil {
			z = make([]float64, s*rest*rOut)
		}
		lin.gemm(blas.Trans, blas.NoTrans, s*rest, rOut, t, 1, w.Data, s*rest, uOut.RawMatrix().Data, rOut, 0, z, rOut)
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
	basis, err := modeBasis(w, mode)
	if err != nil {
		return err
	}
	rows := w.Shape[mode]
	rank = min(rank, rows, len(w.Data)/rows)
	u := mat.NewDense(rows, rank, nil)
	for i := 0; i < rows; i++ {
		copy(u.RawRowView(i), basis[i*rows:i*rows+rank])
	}
	core, err := w.ModeProduct(mode, u, true)
	if err != nil {
		return err
	}
	// The error from the energy the core keeps (the bases are orthonormal).
	normSq := sumSquares(w.Data)
	relErr := math.Sqrt(math.Max(0, normSq-sumSquares(core.Data)) / normSq)
	if rank == min(rows, len(w.Data)/rows) {
		relErr = 0 // exact, whatever rounding says
	}
	*tk = Tucker1{mode: mode, core: core, u: u, err: relErr}
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

// HOSVDCoreEnergies returns E with E[a][b] = ‖G[a, b, …]‖², G = W ×₀ U_outᵀ ×₁
// U_inᵀ the full-rank HOSVD core of w (T, S, …): U_out and U_in hold the left
// singular vectors of the mode-0 and mode-1 unfoldings, largest first, so E
// is T×S. Truncating the HOSVD at (R_out, R_in) keeps exactly the leading
// R_out×R_in block of G (the bases are orthonormal), so the truncation error
// of every rank pair follows from E: ‖W‖² − Σ_{a<R_out, b<R_in} E[a][b].
//
// It reads w in place and needs O(T² + S²) memory besides a small block, not
// copies of w (see gramEigenvectors).
func HOSVDCoreEnergies(w *Tensor) (*mat.Dense, error) {
	if w == nil || len(w.Shape) < 2 {
		return nil, errors.New("solvers: HOSVD core energies need a tensor with at least 2 modes")
	}
	if err := checkInput(fmt.Sprintf("HOSVD of a %v tensor", w.Shape), w.Data); err != nil {
		return nil, err
	}
	t, s := w.Shape[0], w.Shape[1]
	rest := len(w.Data) / (t * s)
	lin := kernels()
	uOut, uIn, err := gramEigenvectors(w)
	if err != nil {
		return nil, err
	}
	// Block by block over a: Z = U_out[:, a…]ᵀ·W, then G_a = U_inᵀ·Z_a.
	const chunk = 32
	energy := mat.NewDense(t, s, nil)
	z := make([]float64, chunk*s*rest)
	ga := make([]float64, s*rest)
	for a0 := 0; a0 < t; a0 += chunk {
		c := min(chunk, t-a0)
		lin.gemm(blas.Trans, blas.NoTrans, c, s*rest, t, 1, uOut[a0:], t, w.Data, s*rest, 0, z, s*rest)
		for a := 0; a < c; a++ {
			lin.gemm(blas.Trans, blas.NoTrans, s, rest, s, 1, uIn, s, z[a*s*rest:], rest, 0, ga, rest)
			row := energy.RawRowView(a0 + a)
			for b := 0; b < s; b++ {
				row[b] = sumSquares(ga[b*rest : (b+1)*rest])
			}
		}
	}
	return energy, nil
}

// hosvdBases returns the leading rOut and rIn left singular vectors of w's
// mode-0 and mode-1 unfoldings (see gramEigenvectors).
func hosvdBases(w *Tensor, rOut, rIn int) (uOut, uIn *mat.Dense, err error) {
	t, s := w.Shape[0], w.Shape[1]
	full0, full1, err := gramEigenvectors(w)
	if err != nil {
		return nil, nil, err
	}
	lead := func(n, r int, full []float64) *mat.Dense {
		u := mat.NewDense(n, r, nil)
		for i := 0; i < n; i++ {
			copy(u.RawRowView(i), full[i*n:i*n+r])
		}
		return u
	}
	return lead(t, rOut, full0), lead(s, rIn, full1), nil
}

// gramEigenvectors returns the left singular vectors of w's mode-0 and
// mode-1 unfoldings (see modeBasis) as row-major T×T and S×S matrices.
func gramEigenvectors(w *Tensor) (uOut, uIn []float64, err error) {
	if uOut, err = modeBasis(w, 0); err != nil {
		return nil, nil, err
	}
	uIn, err = modeBasis(w, 1)
	return uOut, uIn, err
}

// modeBasis returns all left singular vectors of w's mode-n unfolding,
// largest singular value first, as the columns of a row-major I_n×I_n
// matrix. They are the eigenvectors of the
// unfolding's Gram matrix Σ_a W_a·W_aᵀ over the I_n × (modes after n) slabs
// W_a of w as it is stored: no unfolded copy of w is made (for a big kernel
// that is the largest allocation of a Tucker decomposition). Directions
// whose singular values are below √ε of the largest are only defined to
// that precision and hold a share of ‖W‖² of order ε.
func modeBasis(w *Tensor, mode int) ([]float64, error) {
	if err := w.checkMode(mode); err != nil {
		return nil, err
	}
	left, n, right := w.around(mode)
	lin := kernels()
	g := make([]float64, n*n)
	if right == 1 { // the slabs are columns: Σ_a w_a·w_aᵀ = XᵀX, X = left × n
		lin.gemm(blas.Trans, blas.NoTrans, n, n, left, 1, w.Data, n, w.Data, n, 0, g, n)
	} else {
		for a := 0; a < left; a++ {
			slab := w.Data[a*n*right:]
			lin.gemm(blas.NoTrans, blas.Trans, n, n, right, 1, slab, right, slab, right, 1, g, n)
		}
	}
	sq, u, vt := make([]float64, n), make([]float64, n*n), make([]float64, n*n)
	if !lin.gesvdSquare(n, g, n, sq, u, n, vt, n) {
		return nil, errors.New("solvers: SVD of a Gram matrix did not converge")
	}
	return u, nil
}
