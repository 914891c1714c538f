package solvers

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// SVD is a rank-r truncated singular value decomposition A ≈ U·diag(σ)·Vᵀ of an
// m×n matrix, the Eckart–Young optimum in Frobenius and spectral norm.
//
// Factorize computes it exactly: an LQ (or QR) of A, the SVD of the small
// triangular factor, and only r right singular vectors lifted back, which is
// cheaper than a full thin SVD when r ≪ min(m,n). FactorizeRandomized uses the
// Halko–Martinsson–Tropp range finder for big FC layers.
type SVD struct {
	u      *mat.Dense // m×r
	vt     *mat.Dense // r×n
	s      []float64  // leading singular values, descending; all min(m,n) after Factorize
	rank   int
	normSq float64 // ‖A‖_F²
}

// RandomizedOptions tune FactorizeRandomized.
type RandomizedOptions struct {
	Oversample int    // extra sample columns p; 0 means 10
	PowerIters int    // subspace iterations q, each re-orthonormalised; negative means 0, 0 means 2
	Seed       uint64 // seed of the Gaussian test matrix
}

// Factorize computes the exact rank-r truncated SVD of a. A rank above
// min(m,n) is clamped to min(m,n); rank < 1, non-finite entries and an all-zero
// matrix are errors.
func (s *SVD) Factorize(a mat.Matrix, rank int) error {
	m, n, data, err := svdInput(a, rank)
	if err != nil {
		return err
	}
	rank = min(rank, m, n)
	if m > n {
		u, vt, sv := thinSVD(n, m, transposed(m, n, data), rank, true)
		*s = SVD{u: transposeDense(vt), vt: transposeDense(u), s: sv, rank: rank}
	} else {
		u, vt, sv := thinSVD(m, n, append([]float64(nil), data...), rank, true)
		*s = SVD{u: u, vt: vt, s: sv, rank: rank}
	}
	s.normSq = sumSquares(s.s)
	return nil
}

// FactorizeRandomized computes an approximate rank-r SVD: Y = (AAᵀ)^q·A·Ω with
// Ω Gaussian of r+p columns, re-orthonormalising after every product, then the
// exact SVD of the small B = QᵀA lifted by Q. Cost O(m·n·(r+p)·(2q+2)).
func (s *SVD) FactorizeRandomized(a mat.Matrix, rank int, opts RandomizedOptions) error {
	m, n, data, err := svdInput(a, rank)
	if err != nil {
		return err
	}
	rank = min(rank, m, n)
	p := opts.Oversample
	if p <= 0 {
		p = 10
	}
	q := opts.PowerIters
	switch {
	case q == 0:
		q = 2
	case q < 0:
		q = 0
	}
	k := min(rank+p, m, n)
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed5eed))
	lin := kernels()

	omegaT := make([]float64, k*n)
	for i := range omegaT {
		omegaT[i] = rng.NormFloat64()
	}
	// Skinny matrices are kept transposed (k × big, row-major), which is the
	// column-major layout LAPACK orthonormalises in place.
	qt := make([]float64, k*m)
	lin.gemm(blas.NoTrans, blas.Trans, k, m, n, 1, omegaT, n, data, n, 0, qt, m)
	orthonormalizeRows(k, m, qt)
	zt := omegaT // reuse: k×n
	for it := 0; it < q; it++ {
		lin.gemm(blas.NoTrans, blas.NoTrans, k, n, m, 1, qt, m, data, n, 0, zt, n)
		orthonormalizeRows(k, n, zt)
		lin.gemm(blas.NoTrans, blas.Trans, k, m, n, 1, zt, n, data, n, 0, qt, m)
		orthonormalizeRows(k, m, qt)
	}
	b := zt
	lin.gemm(blas.NoTrans, blas.NoTrans, k, n, m, 1, qt, m, data, n, 0, b, n)
	ub, vt, sv := thinSVD(k, n, b, rank, true)
	u := mat.NewDense(m, rank, nil)
	lin.gemm(blas.Trans, blas.NoTrans, m, rank, k, 1, qt, m, ub.RawMatrix().Data, ub.RawMatrix().Stride, 0, u.RawMatrix().Data, rank)
	*s = SVD{u: u, vt: vt, s: sv[:rank], rank: rank, normSq: sumSquares(data)}
	return nil
}

func svdInput(a mat.Matrix, rank int) (m, n int, data []float64, err error) {
	if a == nil {
		return 0, 0, nil, errors.New("solvers: SVD of a nil matrix")
	}
	m, n, data = compact(a)
	if rank < 1 {
		return 0, 0, nil, fmt.Errorf("solvers: SVD rank %d, need at least 1", rank)
	}
	if err := checkInput(fmt.Sprintf("SVD of a %d×%d matrix", m, n), data); err != nil {
		return 0, 0, nil, err
	}
	return m, n, data, nil
}

// thinSVD factorizes the m×n (m ≤ n) row-major matrix a (destroyed) as
// A = L·Q (LQ), L = Ũ·Σ·Ṽᵀ, returning U = Ũ[:, :r], Vᵀ = Ṽᵀ[:r, :]·Q and all m
// singular values; vt is nil unless wantVT.
func thinSVD(m, n int, a []float64, r int, wantVT bool) (u, vt *mat.Dense, s []float64) {
	lin := kernels()
	tau := make([]float64, m)
	lin.gelqf(m, n, a, n, tau)
	l := make([]float64, m*m)
	for i := 0; i < m; i++ {
		copy(l[i*m:i*m+i+1], a[i*n:i*n+i+1])
	}
	s = make([]float64, m)
	ul := make([]float64, m*m)
	vtl := make([]float64, m*m)
	if !lin.gesvdSquare(m, l, m, s, ul, m, vtl, m) {
		// Dgesvd/Dgesdd non-convergence is vanishingly rare; fall back to gonum.
		s, ul, vtl = gonumSquareSVD(m, a, n)
	}
	u = mat.NewDense(m, r, nil)
	for i := 0; i < m; i++ {
		copy(u.RawMatrix().Data[i*r:(i+1)*r], ul[i*m:i*m+r])
	}
	if !wantVT {
		return u, nil, s
	}
	vtData := make([]float64, r*n)
	for i := 0; i < r; i++ {
		copy(vtData[i*n:i*n+m], vtl[i*m:(i+1)*m])
	}
	lin.ormlq(blas.Right, blas.NoTrans, r, n, m, a, n, tau, vtData, n)
	return u, mat.NewDense(r, n, vtData), s
}

func gonumSquareSVD(m int, a []float64, lda int) (s, u, vt []float64) {
	l := mat.NewDense(m, m, nil)
	for i := 0; i < m; i++ {
		for j := 0; j <= i; j++ {
			l.Set(i, j, a[i*lda+j])
		}
	}
	var svd mat.SVD
	svd.Factorize(l, mat.SVDFull)
	var uu, vv mat.Dense
	svd.UTo(&uu)
	svd.VTo(&vv)
	var vvt mat.Dense
	vvt.CloneFrom(vv.T())
	return svd.Values(nil), uu.RawMatrix().Data, vvt.RawMatrix().Data
}

// orthonormalizeRows replaces the k×n (k ≤ n) matrix a by an orthonormal basis
// of its row space (the Q of its LQ factorization).
func orthonormalizeRows(k, n int, a []float64) {
	lin := kernels()
	tau := make([]float64, k)
	lin.gelqf(k, n, a, n, tau)
	lin.orglq(k, n, k, a, n, tau)
}

func transposed(m, n int, a []float64) []float64 {
	t := make([]float64, m*n)
	const blk = 32
	for i0 := 0; i0 < m; i0 += blk {
		for j0 := 0; j0 < n; j0 += blk {
			for i := i0; i < min(i0+blk, m); i++ {
				for j := j0; j < min(j0+blk, n); j++ {
					t[j*m+i] = a[i*n+j]
				}
			}
		}
	}
	return t
}

func transposeDense(a *mat.Dense) *mat.Dense {
	r, c, data := compact(a)
	return mat.NewDense(c, r, transposed(r, c, data))
}

// leadingLeft returns the r leading left singular vectors (m×r) of the
// row-major m×n matrix a, which is destroyed, and all its singular values.
func leadingLeft(m, n int, a []float64, r int) (*mat.Dense, []float64) {
	if m <= n {
		u, _, s := thinSVD(m, n, a, r, false)
		return u, s
	}
	_, vt, s := thinSVD(n, m, transposed(m, n, a), r, true)
	return transposeDense(vt), s
}

func sumSquares(x []float64) float64 {
	n := frobenius(x)
	return n * n
}

// Rank is the number of kept singular triplets.
func (s *SVD) Rank() int { return s.rank }

// Values returns the kept singular values, descending.
func (s *SVD) Values() []float64 { return append([]float64(nil), s.s[:s.rank]...) }

// AllValues returns every singular value when Factorize computed them (all
// min(m,n)); after FactorizeRandomized only the kept ones are known.
func (s *SVD) AllValues() []float64 { return append([]float64(nil), s.s...) }

// U returns the m×r left singular vectors (a copy).
func (s *SVD) U() *mat.Dense { return mat.DenseCopyOf(s.u.Slice(0, s.u.RawMatrix().Rows, 0, s.rank)) }

// VT returns the r×n right singular vectors as rows (a copy).
func (s *SVD) VT() *mat.Dense {
	return mat.DenseCopyOf(s.vt.Slice(0, s.rank, 0, s.vt.RawMatrix().Cols))
}

// Truncate lowers the kept rank to r (≤ Rank()), e.g. after choosing r from
// AllValues with EnergyRank.
func (s *SVD) Truncate(r int) error {
	if r < 1 || r > s.rank {
		return fmt.Errorf("solvers: cannot truncate a rank-%d SVD to %d", s.rank, r)
	}
	s.rank = r
	return nil
}

// Split returns the balanced factors Q = U·Σ^½ (m×r) and P = Σ^½·Vᵀ (r×n), so
// A ≈ Q·P; the two Gemms of a factorized FC layer use P first, then Q.
func (s *SVD) Split() (q, p *mat.Dense) {
	q = s.U()
	p = s.VT()
	for k := 0; k < s.rank; k++ {
		root := math.Sqrt(s.s[k])
		for i := 0; i < q.RawMatrix().Rows; i++ {
			q.Set(i, k, q.At(i, k)*root)
		}
		row := p.RawRowView(k)
		for j := range row {
			row[j] *= root
		}
	}
	return q, p
}

// Reconstruct returns U·diag(σ)·Vᵀ.
func (s *SVD) Reconstruct() *mat.Dense {
	q, p := s.Split()
	m, _ := q.Dims()
	_, n := p.Dims()
	out := mat.NewDense(m, n, nil)
	kernels().gemm(blas.NoTrans, blas.NoTrans, m, n, s.rank, 1, q.RawMatrix().Data, s.rank, p.RawMatrix().Data, n, 0, out.RawMatrix().Data, n)
	return out
}

// RelError is ‖A − Â‖_F/‖A‖_F, computed from the singular values: exact for
// Factorize (the discarded tail), and √(‖A‖² − Σσ_i²) for the randomized form,
// which loses relative accuracy below about 1e-7.
func (s *SVD) RelError() float64 {
	kept := sumSquares(s.s[:s.rank])
	if s.normSq == 0 {
		return 0
	}
	if len(s.s) > s.rank {
		return math.Sqrt(sumSquares(s.s[s.rank:]) / s.normSq)
	}
	return math.Sqrt(math.Max(0, s.normSq-kept) / s.normSq)
}

// OutputEnergies returns, for every kept singular triplet i of A (m×n), the
// energy ‖X·(σ_i v_i)‖² it carries through the rows of x (k×n; inputs as
// rows, so the layer's outputs are X·Aᵀ). The u_i are orthonormal, so the
// energies add up: Σ_i is ‖X·Aᵀ‖², and truncating at rank r leaves the output
// error ‖X·(A − A_r)ᵀ‖² = Σ_{i≥r}. With x = I this is σ_i² (Eckart–Young);
// with calibration inputs it is the output error a data-aware budget needs.
func (s *SVD) OutputEnergies(x mat.Matrix) ([]float64, error) {
	k, n := x.Dims()
	if _, cols := s.vt.Dims(); n != cols {
		return nil, fmt.Errorf("solvers: %d×%d inputs for a matrix with %d columns", k, n, cols)
	}
	xd := denseOf(x)
	raw := xd.RawMatrix()
	vt := s.vt.RawMatrix()
	xv := make([]float64, k*s.rank)
	kernels().gemm(blas.NoTrans, blas.Trans, k, s.rank, n, 1, raw.Data, raw.Stride, vt.Data, vt.Stride, 0, xv, s.rank)
	out := make([]float64, s.rank)
	for row := 0; row < k; row++ {
		for i, v := range xv[row*s.rank : (row+1)*s.rank] {
			out[i] += v * v
		}
	}
	for i := range out {
		out[i] *= s.s[i] * s.s[i]
	}
	return out, nil
}
