package solvers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Hinge (Li, Gu, Mayer, Van Gool, Timofte, CVPR 2020) inserts a matrix A after
// a convolution, Z = X·(W·A), and drives groups of A to zero. Matrices here use
// the paper's orientation: W is d×n with one filter per column (d = c·kh·kw),
// i.e. the transpose of the ONNX weight reshaped to [n, d]; A is n×n' and the
// 1×1 convolution that realizes it has weight Â[j, i] = A[i, j].

// HingeSVD2 is the svd2 initialization: with the thin SVD W = U·S·Vᵀ and
// k = min(d, n), the conv gets the k orthonormal filters U (d×k) and
// A = S·Vᵀ (k×n), so wNew·a = W. Row norms of A are the singular values, and
// column norms of A are the original filter norms.
func HingeSVD2(w mat.Matrix) (wNew, a *mat.Dense, err error) {
	d, n := w.Dims()
	if d == 0 || n == 0 {
		return nil, nil, fmt.Errorf("hinge svd2: empty %d×%d weight", d, n)
	}
	if err := checkFinite(w, "hinge svd2 weight"); err != nil {
		return nil, nil, err
	}
	var svd mat.SVD
	if !svd.Factorize(w, mat.SVDThin) {
		return nil, nil, fmt.Errorf("hinge svd2: SVD of the %d×%d weight did not converge", d, n)
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	values := svd.Values(nil)
	k := len(values)
	a = mat.NewDense(k, n, nil)
	for i := 0; i < k; i++ {
		for j := 0; j < n; j++ {
			a.Set(i, j, values[i]*v.At(j, i))
		}
	}
	return &u, a, nil
}

func checkFinite(m mat.Matrix, what string) error {
	r, c := m.Dims()
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			if v := m.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s: entry (%d,%d) is %g", what, i, j, v)
			}
		}
	}
	return nil
}

// HingeGroups says which groups of A are penalized.
type HingeGroups int

const (
	// HingeColumns groups columns A[:, j]: a zero column removes an output
	// channel (filter pruning).
	HingeColumns HingeGroups = iota
	// HingeRows groups rows A[i, :]: a zero row removes a filter of W and
	// keeps the layer's output width (decomposition).
	HingeRows
)

// HingeGroupNorms returns the ℓ2 norm of every group of a.
func HingeGroupNorms(a mat.Matrix, groups HingeGroups) []float64 {
	r, c := a.Dims()
	count := c
	if groups == HingeRows {
		count = r
	}
	out := make([]float64, count)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			g := j
			if groups == HingeRows {
				g = i
			}
			v := a.At(i, j)
			out[g] += v * v
		}
	}
	for g := range out {
		out[g] = math.Sqrt(out[g])
	}
	return out
}

// HingeRegularizer selects the group-sparsity penalty of the proximal step.
type HingeRegularizer int

const (
	// HingeL21 is the ℓ2,1 norm Σ_g ‖a_g‖ (group soft-threshold).
	HingeL21 HingeRegularizer = iota
	// HingeL21Half is the ℓ2,1/2 quasi-norm Σ_g ‖a_g‖^{1/2} (half-thresholding).
	HingeL21Half
)

// hingeProxEps keeps the official code's +ε in the soft-threshold denominator.
const hingeProxEps = 1e-8

// HingeProxScale is the factor the proximal map of τ·R applies to a group of
// norm n. ℓ2,1: max(0, 1 − τ/(n + ε)), and 0 whenever n ≤ τ. ℓ2,1/2: 0 for
// n ≤ θ = (54^{1/3}/4)·τ^{2/3}, otherwise (2/3)·(1 + cos((2/3)(π − φ))) with
// φ = arccos((τ/8)·(n/3)^{−3/2}); this jumps from 0 to 2/3 at θ.
func HingeProxScale(norm, tau float64, reg HingeRegularizer) float64 {
	if tau <= 0 {
		return 1
	}
	switch reg {
	case HingeL21Half:
		theta := math.Cbrt(54) / 4 * math.Pow(tau, 2.0/3)
		if norm <= theta {
			return 0
		}
		arg := tau / 8 * math.Pow(norm/3, -1.5)
		phi := math.Acos(math.Min(1, arg))
		return 2.0 / 3 * (1 + math.Cos(2.0/3*(math.Pi-phi)))
	default:
		if norm <= tau {
			return 0
		}
		return math.Max(0, 1-tau/(norm+hingeProxEps))
	}
}

// HingeProx applies the proximal map of τ·R to every group of a, in place.
func HingeProx(a *mat.Dense, groups HingeGroups, tau float64, reg HingeRegularizer) error {
	if math.IsNaN(tau) || math.IsInf(tau, 0) || tau < 0 {
		return fmt.Errorf("hinge prox: threshold %g must be finite and ≥ 0", tau)
	}
	if reg != HingeL21 && reg != HingeL21Half {
		return fmt.Errorf("hinge prox: unknown regularizer %d", reg)
	}
	if err := checkFinite(a, "hinge prox matrix"); err != nil {
		return err
	}
	r, c := a.Dims()
	for g, nrm := range HingeGroupNorms(a, groups) {
		scale := HingeProxScale(nrm, tau, reg)
		if scale == 1 {
			continue
		}
		if groups == HingeRows {
			for j := 0; j < c; j++ {
				a.Set(g, j, scale*a.At(g, j))
			}
		} else {
			for i := 0; i < r; i++ {
				a.Set(i, g, scale*a.At(i, g))
			}
		}
	}
	return nil
}

// HingeSelectGroups is the official get_nonzero_index rule: with
// k_min = floor(minKeep·G) and t the k_min-th largest norm, it keeps
// {g : n_g ≥ min(t, T)} (strictly greater when T = 0), so at least k_min groups
// survive. When fewer than k_min norms are nonzero, it keeps all nonzero
// groups and fills up to k_min with zero-norm groups drawn with seed. Unlike
// the official code (which fails for G < 5), at least one group is kept.
// The result is sorted.
func HingeSelectGroups(norms []float64, threshold, minKeep float64, seed uint64) ([]int, error) {
	if len(norms) == 0 {
		return nil, fmt.Errorf("hinge select: no groups")
	}
	if math.IsNaN(threshold) || threshold < 0 {
		return nil, fmt.Errorf("hinge select: threshold %g must be ≥ 0", threshold)
	}
	if !(minKeep >= 0 && minKeep <= 1) {
		return nil, fmt.Errorf("hinge select: minimum kept fraction %g outside [0, 1]", minKeep)
	}
	for g, n := range norms {
		if math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
			return nil, fmt.Errorf("hinge select: group %d has norm %g", g, n)
		}
	}
	kmin := max(1, int(math.Floor(minKeep*float64(len(norms)))))
	sorted := slices.Clone(norms)
	slices.SortFunc(sorted, func(x, y float64) int { return -compareFloat(x, y) })
	t := sorted[kmin-1]
	var kept []int
	if t == 0 {
		var zeros []int
		for g, n := range norms {
			if n > 0 {
				kept = append(kept, g)
			} else {
				zeros = append(zeros, g)
			}
		}
		rng := rand.New(rand.NewPCG(seed, 0x68696e6765))
		rng.Shuffle(len(zeros), func(i, j int) { zeros[i], zeros[j] = zeros[j], zeros[i] })
		kept = append(kept, zeros[:kmin-len(kept)]...)
		slices.Sort(kept)
		return kept, nil
	}
	cut := math.Min(t, threshold)
	for g, n := range norms {
		if (threshold == 0 && n > cut) || (threshold > 0 && n >= cut) {
			kept = append(kept, g)
		}
	}
	return kept, nil
}

// HingeSelectTop keeps exactly count groups of largest norm (ties to the lower
// index): the paired rule that gives the second matrix of a block as many
// groups as the first kept.
func HingeSelectTop(norms []float64, count int) ([]int, error) {
	if count < 0 || count > len(norms) {
		return nil, fmt.Errorf("hinge select: keep %d of %d groups", count, len(norms))
	}
	order := make([]int, len(norms))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return -compareFloat(norms[i], norms[j]) })
	kept := slices.Clone(order[:count])
	slices.Sort(kept)
	return kept, nil
}

func compareFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// HingeSlice keeps filters rows of W and the matching rows of A, and columns
// cols of A with their 1×1 bias entries (A.3 decomposition, and with both
// index sets the VGG case). nil means keep all. It returns W[:, rows] (d×|R|),
// A[rows, cols] (|R|×|K|) and biasA[cols] (nil when biasA is nil).
func HingeSlice(w, a mat.Matrix, biasA []float64, rows, cols []int) (wR, aRK *mat.Dense, bK []float64, err error) {
	d, n := w.Dims()
	ar, ac := a.Dims()
	if ar != n {
		return nil, nil, nil, fmt.Errorf("hinge slice: W is %d×%d but A has %d rows", d, n, ar)
	}
	if biasA != nil && len(biasA) != ac {
		return nil, nil, nil, fmt.Errorf("hinge slice: bias has %d entries, A has %d columns", len(biasA), ac)
	}
	if rows == nil {
		rows = hingeAll(n)
	}
	if cols == nil {
		cols = hingeAll(ac)
	}
	if err := hingeCheckIndices(rows, n, "filter"); err != nil {
		return nil, nil, nil, err
	}
	if err := hingeCheckIndices(cols, ac, "output channel"); err != nil {
		return nil, nil, nil, err
	}
	wR = mat.NewDense(d, len(rows), nil)
	for k, i := range rows {
		for r := 0; r < d; r++ {
			wR.Set(r, k, w.At(r, i))
		}
	}
	aRK = mat.NewDense(len(rows), len(cols), nil)
	for k, i := range rows {
		for q, j := range cols {
			aRK.Set(k, q, a.At(i, j))
		}
	}
	if biasA != nil {
		bK = make([]float64, len(cols))
		for q, j := range cols {
			bK[q] = biasA[j]
		}
	}
	return wR, aRK, bK, nil
}

func hingeAll(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func hingeCheckIndices(idx []int, n int, what string) error {
	if len(idx) == 0 {
		return fmt.Errorf("hinge: no %ss kept", what)
	}
	for k, i := range idx {
		if i < 0 || i >= n {
			return fmt.Errorf("hinge: %s index %d out of range [0,%d)", what, i, n)
		}
		if k > 0 && idx[k-1] >= i {
			return fmt.Errorf("hinge: %s indices must be strictly increasing", what)
		}
	}
	return nil
}

// HingeMerge folds the 1×1 into the conv (merge_conv): W″ = W·A and
// b″ = Aᵀ·biasConv + biasA, i.e. W″_onnx[o] = Σ_i Â[o,i]·W_onnx[i] and
// b″ = Â·b + b_A. Either bias may be nil (zero); the result is nil when both are.
func HingeMerge(w, a mat.Matrix, biasConv, biasA []float64) (*mat.Dense, []float64, error) {
	d, n := w.Dims()
	ar, ac := a.Dims()
	if ar != n {
		return nil, nil, fmt.Errorf("hinge merge: W is %d×%d but A has %d rows", d, n, ar)
	}
	if biasConv != nil && len(biasConv) != n {
		return nil, nil, fmt.Errorf("hinge merge: conv bias has %d entries for %d filters", len(biasConv), n)
	}
	if biasA != nil && len(biasA) != ac {
		return nil, nil, fmt.Errorf("hinge merge: 1×1 bias has %d entries for %d outputs", len(biasA), ac)
	}
	var merged mat.Dense
	merged.Mul(w, a)
	if biasConv == nil && biasA == nil {
		return &merged, nil, nil
	}
	bias := make([]float64, ac)
	for j := range bias {
		if biasA != nil {
			bias[j] = biasA[j]
		}
		if biasConv != nil {
			for i := 0; i < n; i++ {
				bias[j] += a.At(i, j) * biasConv[i]
			}
		}
	}
	return &merged, bias, nil
}

// HingePrune is A.3 column removal: the kept output channels K become a single
// conv W' = W·A[:, K] with bias A[:, K]ᵀ·biasConv + biasA[K].
func HingePrune(w, a mat.Matrix, biasConv, biasA []float64, keep []int) (*mat.Dense, []float64, error) {
	_, aK, bK, err := HingeSlice(w, a, biasA, nil, keep)
	if err != nil {
		return nil, nil, err
	}
	return HingeMerge(w, aK, biasConv, bK)
}

// HingeThreshold is where HingeSearchThreshold stopped.
type HingeThreshold struct {
	T, Ratio   float64
	Iterations int
	// Met says |Ratio − target| ≤ tol. When not, (Above, RatioAbove) is the
	// largest threshold found whose ratio is still above the target, for a
	// caller that can refine between thresholds.
	Met               bool
	Above, RatioAbove float64
}

// HingeSearchThreshold finds a threshold T with |ratio(T) − target| ≤ tol
// by bisection on [0, hi] (A.7, where the official code walks T in steps
// of 0.01 halved at each crossing; bisection reaches the same bracket in
// fewer evaluations). ratio must be non-increasing in T, as the cost of the
// model compressed at threshold T is. It stops after maxIter evaluations or
// when the bracket can no longer shrink: r(T) is a step function, and a
// single group may be worth more than 2·tol.
func HingeSearchThreshold(ratio func(t float64) (float64, error), target, tol, hi float64, maxIter int) (HingeThreshold, error) {
	if !(target > 0) || !(tol >= 0) || !(hi > 0) || math.IsInf(hi, 0) {
		return HingeThreshold{}, fmt.Errorf("hinge threshold search: target %g, tolerance %g and upper end %g must be positive and finite", target, tol, hi)
	}
	res := HingeThreshold{}
	eval := func(t float64) (float64, error) {
		res.Iterations++
		r, err := ratio(t)
		if err == nil && (math.IsNaN(r) || r < 0) {
			err = fmt.Errorf("hinge threshold search: ratio %g at threshold %g", r, t)
		}
		return r, err
	}
	done := func(t, r float64) HingeThreshold {
		res.T, res.Ratio, res.Met = t, r, math.Abs(r-target) <= tol
		return res
	}
	lo, rLo, err := 0.0, 0.0, error(nil)
	if rLo, err = eval(lo); err != nil {
		return res, err
	}
	res.Above, res.RatioAbove = lo, rLo
	if rLo <= target+tol {
		return done(lo, rLo), nil // already small enough (or too small) with nothing thresholded
	}
	rHi, err := eval(hi)
	if err != nil {
		return res, err
	}
	if rHi >= target-tol {
		return done(hi, rHi), nil // the floor of kept groups: as far as it goes
	}
	for res.Iterations < maxIter {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		r, err := eval(mid)
		if err != nil {
			return res, err
		}
		if math.Abs(r-target) <= tol {
			return done(mid, r), nil
		}
		if r > target {
			lo, rLo = mid, r
			res.Above, res.RatioAbove = lo, rLo
		} else {
			hi, rHi = mid, r
		}
	}
	res.T, res.Ratio = hi, rHi
	return res, nil
}
