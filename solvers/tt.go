package solvers

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// TT is a tensor train (matrix product state) X(i_1,…,i_d) = G_1[i_1]·…·G_d[i_d]
// with cores G_k of shape (r_{k−1}, n_k, r_k), r_0 = r_d = 1, computed by TT-SVD
// (Oseledets 2011). The cores are left-orthonormal except the last, so the
// squared error is exactly the sum of the discarded squared singular values.
type TT struct {
	cores  []*Tensor
	relErr float64
}

// TTOptions bound the ranks: each bond is the smallest rank whose discarded
// tail is within δ = Epsilon·‖X‖/√(d−1) (so ‖X−TT‖ ≤ Epsilon·‖X‖), capped by
// MaxRank (0: none) and by MaxRanks[k] for bond k (between cores k and k+1)
// when given. Epsilon 0 with no caps reproduces X exactly.
type TTOptions struct {
	MaxRank  int
	MaxRanks []int
	Epsilon  float64
}

// Factorize computes the TT-SVD of x.
func (tt *TT) Factorize(x *Tensor, opts TTOptions) error {
	if x == nil || len(x.Shape) < 2 {
		return errors.New("solvers: TT needs a tensor with at least 2 modes")
	}
	if err := checkInput(fmt.Sprintf("TT of a %v tensor", x.Shape), x.Data); err != nil {
		return err
	}
	d := len(x.Shape)
	if opts.MaxRanks != nil && len(opts.MaxRanks) != d-1 {
		return fmt.Errorf("solvers: TT of a %d-way tensor needs %d bond ranks, got %v", d, d-1, opts.MaxRanks)
	}
	if opts.Epsilon < 0 || opts.MaxRank < 0 || math.IsNaN(opts.Epsilon) {
		return fmt.Errorf("solvers: TT epsilon %g / max rank %d must not be negative", opts.Epsilon, opts.MaxRank)
	}
	norm := x.Norm()
	deltaSq := math.Pow(opts.Epsilon*norm, 2) / float64(d-1)
	cores, tailSq, err := ttSweep(x.Data, x.Shape, 1, func(k int, sv []float64) int {
		limit := opts.MaxRank
		if opts.MaxRanks != nil && opts.MaxRanks[k] > 0 && (limit == 0 || opts.MaxRanks[k] < limit) {
			limit = opts.MaxRanks[k]
		}
		return truncationRank(sv, deltaSq, limit)
	})
	if err != nil {
		return err
	}
	*tt = TT{cores: cores, relErr: math.Sqrt(tailSq) / norm}
	return nil
}

// ttSweep runs the sequential SVDs of TT-SVD on data viewed as
// (rFirst·n_0, n_1, …, n_{d−1}); rank(k, σ) picks bond k's rank from the
// singular values. It returns the cores (the first with leading rank rFirst)
// and the sum of discarded squared singular values.
func ttSweep(data []float64, shape []int, rFirst int, rank func(k int, sv []float64) int) ([]*Tensor, float64, error) {
	d := len(shape)
	c := append([]float64(nil), data...)
	rPrev := rFirst
	var tailSq float64
	cores := make([]*Tensor, 0, d)
	for k := 0; k < d-1; k++ {
		rows := rPrev * shape[k]
		cols := len(c) / rows
		var s SVD
		if err := s.Factorize(mat.NewDense(rows, cols, c), min(rows, cols)); err != nil {
			return nil, 0, fmt.Errorf("solvers: TT step %d: %w", k, err)
		}
		sv := s.AllValues()
		r := rank(k, sv)
		_ = s.Truncate(r)
		tailSq += sumSquares(sv[r:])
		u := s.U()
		cores = append(cores, &Tensor{Shape: []int{rPrev, shape[k], r}, Data: u.RawMatrix().Data})
		vt := s.VT()
		next := vt.RawMatrix().Data
		for i := 0; i < r; i++ {
			row := next[i*cols : (i+1)*cols]
			for j := range row {
				row[j] *= sv[i]
			}
		}
		c, rPrev = next, r
	}
	last := len(c) / (rPrev * shape[d-1])
	cores = append(cores, &Tensor{Shape: []int{rPrev, shape[d-1], last}, Data: c})
	return cores, tailSq, nil
}

// Cores returns the cores (not copies).
func (tt *TT) Cores() []*Tensor { return tt.cores }

// Ranks returns r_0 … r_d.
func (tt *TT) Ranks() []int { return chainRanks(tt.cores) }

// Params is the number of core entries.
func (tt *TT) Params() int { return chainParams(tt.cores) }

// RelError is ‖X − TT‖/‖X‖ from the discarded singular values (exact).
func (tt *TT) RelError() float64 { return tt.relErr }

// Reconstruct contracts the train into a dense tensor.
func (tt *TT) Reconstruct() *Tensor {
	full := contractChain(tt.cores) // (1, N, 1)
	shape := make([]int, len(tt.cores))
	for k, c := range tt.cores {
		shape[k] = c.Shape[1]
	}
	return &Tensor{Shape: shape, Data: full}
}

func chainRanks(cores []*Tensor) []int {
	r := []int{cores[0].Shape[0]}
	for _, c := range cores {
		r = append(r, c.Shape[2])
	}
	return r
}

func chainParams(cores []*Tensor) int {
	p := 0
	for _, c := range cores {
		p += len(c.Data)
	}
	return p
}

// contractChain multiplies cores (r_0, n_0, r_1)…(r_{d−1}, n_{d−1}, r_d) into
// the r_0 × (Π n_k) × r_d array, row-major.
func contractChain(cores []*Tensor) []float64 {
	lin := kernels()
	acc := cores[0].Data
	r0 := cores[0].Shape[0]
	mid := cores[0].Shape[1]
	rCur := cores[0].Shape[2]
	for _, c := range cores[1:] {
		n, rNext := c.Shape[1], c.Shape[2]
		next := make([]float64, r0*mid*n*rNext)
		lin.gemm(blas.NoTrans, blas.NoTrans, r0*mid, n*rNext, rCur, 1, acc, rCur, c.Data, n*rNext, 0, next, n*rNext)
		acc, mid, rCur = next, mid*n, rNext
	}
	return acc
}

// TTMatrix is a TT-matrix (Novikov et al. 2015) of an FC weight W (out×in) with
// out = Π m_k, in = Π n_k: cores G_k of shape (r_{k−1}, m_k, n_k, r_k).
type TTMatrix struct {
	tt                TT
	outModes, inModes []int
}

// Factorize tensorizes w with the given mode sizes (see BalancedFactors) and
// runs TT-SVD on the merged (m_k·n_k) modes.
func (tm *TTMatrix) Factorize(w mat.Matrix, outModes, inModes []int, opts TTOptions) error {
	if w == nil {
		return errors.New("solvers: TT-matrix of a nil matrix")
	}
	x, err := TensorizeMatrix(w, outModes, inModes)
	if err != nil {
		return err
	}
	if len(outModes) < 2 {
		return errors.New("solvers: a TT-matrix needs at least 2 mode pairs")
	}
	var tt TT
	if err := tt.Factorize(x, opts); err != nil {
		return err
	}
	*tm = TTMatrix{tt: tt, outModes: append([]int(nil), outModes...), inModes: append([]int(nil), inModes...)}
	return nil
}

// FactorizeBalanced splits out and in into d balanced factors each
// (BalancedFactors; unbalanced splits give no speed-up, t3f #222) and factorizes.
func (tm *TTMatrix) FactorizeBalanced(w mat.Matrix, d int, opts TTOptions) error {
	if w == nil {
		return errors.New("solvers: TT-matrix of a nil matrix")
	}
	out, in := w.Dims()
	outModes, err := BalancedFactors(out, d)
	if err != nil {
		return err
	}
	inModes, err := BalancedFactors(in, d)
	if err != nil {
		return err
	}
	return tm.Factorize(w, outModes, inModes, opts)
}

// Modes returns the output and input mode sizes.
func (tm *TTMatrix) Modes() (outModes, inModes []int) {
	return append([]int(nil), tm.outModes...), append([]int(nil), tm.inModes...)
}

// Cores returns the cores reshaped to (r_{k−1}, m_k, n_k, r_k), sharing data.
func (tm *TTMatrix) Cores() []*Tensor {
	out := make([]*Tensor, len(tm.tt.cores))
	for k, c := range tm.tt.cores {
		out[k] = &Tensor{Shape: []int{c.Shape[0], tm.outModes[k], tm.inModes[k], c.Shape[2]}, Data: c.Data}
	}
	return out
}

// Ranks returns r_0 … r_d.
func (tm *TTMatrix) Ranks() []int { return tm.tt.Ranks() }

// Params is the number of core entries.
func (tm *TTMatrix) Params() int { return tm.tt.Params() }

// RelError is the exact relative error.
func (tm *TTMatrix) RelError() float64 { return tm.tt.relErr }

// Reconstruct returns the dense out×in matrix.
func (tm *TTMatrix) Reconstruct() *mat.Dense {
	m, _ := MatrixFromTensorized(tm.tt.Reconstruct(), tm.outModes, tm.inModes)
	return m
}
