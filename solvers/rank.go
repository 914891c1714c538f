package solvers

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// EnergyRank returns the smallest r with Σ_{i≤r} σ_i² ≥ tau·Σ σ_i², for
// singular values sorted descending and 0 < tau ≤ 1.
func EnergyRank(sv []float64, tau float64) (int, error) {
	if !(tau > 0 && tau <= 1) {
		return 0, fmt.Errorf("solvers: energy threshold %g outside (0, 1]", tau)
	}
	total := sumSquares(sv)
	if total == 0 || math.IsNaN(total) || math.IsInf(total, 0) {
		return 0, errors.New("solvers: energy rank of zero or non-finite singular values")
	}
	var acc float64
	for i, v := range sv {
		acc += v * v
		if acc >= tau*total*(1-1e-15) {
			return i + 1, nil
		}
	}
	return len(sv), nil
}

// EVBMFRank estimates the rank of y by empirical variational Bayesian matrix
// factorization (Nakajima et al., JMLR 2013), following the reference
// implementation used by Kim et al. and jacobgil: the noise variance σ² minimises
// the free energy on its analytic bounds, and the rank counts the singular values
// above √(M·σ²·(1+τ̄)(1+α/τ̄)). EVBMF may answer 1 on small or odd matrices
// (VBMF issue #2), so the result is clamped to [rMin, min(L,M)].
func EVBMFRank(y mat.Matrix, rMin int) (rank int, sigma2 float64, err error) {
	if y == nil {
		return 0, 0, errors.New("solvers: EVBMF of a nil matrix")
	}
	r, c, data := compact(y)
	if err := checkInput(fmt.Sprintf("EVBMF of a %d×%d matrix", r, c), data); err != nil {
		return 0, 0, err
	}
	var s SVD
	if err := s.Factorize(y, 1); err != nil {
		return 0, 0, err
	}
	rank, sigma2 = evbmf(s.AllValues(), min(r, c), max(r, c))
	return ClampRank(rank, rMin, min(r, c)), sigma2, nil
}

func evbmf(s []float64, l, m int) (int, float64) {
	L, M := float64(l), float64(m)
	alpha := L / M
	tauBar := 2.5129 * math.Sqrt(alpha)
	xuBar := (1 + tauBar) * (1 + alpha/tauBar)
	eHub := min(int(math.Ceil(L/(1+alpha)))-1, l) - 1
	first := min(max(eHub+1, 0), l-1)
	var ssq, tailMean float64
	for _, v := range s {
		ssq += v * v
	}
	for _, v := range s[first:] {
		tailMean += v * v
	}
	tailMean /= float64(len(s) - first)
	upper := ssq / (L * M)
	lower := math.Max(s[first]*s[first]/(M*xuBar), tailMean/M)
	if lower > upper {
		lower, upper = upper, lower
	}
	freeEnergy := func(sigma2 float64) float64 {
		var obj float64
		for _, v := range s {
			x := v * v / (M * sigma2)
			if x > xuBar {
				tau := 0.5 * (x - (1 + alpha) + math.Sqrt((x-(1+alpha))*(x-(1+alpha))-4*alpha))
				obj += x - tau + math.Log((tau+1)/x) + alpha*math.Log(tau/alpha+1)
			} else {
				obj += x - math.Log(x)
			}
		}
		return obj
	}
	sigma2 := goldenMin(freeEnergy, lower, upper)
	threshold := math.Sqrt(M * sigma2 * (1 + tauBar) * (1 + alpha/tauBar))
	rank := 0
	for _, v := range s {
		if v > threshold {
			rank++
		}
	}
	return rank, sigma2
}

// goldenMin minimises f on [a, b] by golden-section search to relative width 1e-12.
func goldenMin(f func(float64) float64, a, b float64) float64 {
	const g = 0.6180339887498949
	c, d := b-g*(b-a), a+g*(b-a)
	fc, fd := f(c), f(d)
	for i := 0; i < 200 && b-a > 1e-12*math.Abs(b); i++ {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - g*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + g*(b-a)
			fd = f(d)
		}
	}
	return (a + b) / 2
}

// ClampRank limits r to [rMin, full] (rMin itself capped at full).
func ClampRank(r, rMin, full int) int {
	return max(min(r, full), min(max(rMin, 1), full))
}

// RoundRank rounds r to a multiple of `multiple` (GPUs and CPUs are much faster at
// aligned channel counts, TP #97), within [multiple, maxRank] where possible: up
// when up is set (the EVBMF convention), else down (keeps a parameter budget).
func RoundRank(r, multiple, maxRank int, up bool) int {
	if multiple <= 1 || r < 1 {
		return min(max(r, 1), maxRank)
	}
	q := r / multiple * multiple
	if up && q < r {
		q += multiple
	}
	q = max(q, multiple)
	if q > maxRank {
		q = max(maxRank/multiple*multiple, min(multiple, maxRank))
	}
	return q
}

// Method names a factorized form whose parameter count RankForRatio balances.
type Method int

const (
	// SVDMatrix: an out×in matrix, shape {out, in}, factors r(out+in).
	SVDMatrix Method = iota
	// WeightSVDOutput: conv {T,S,kH,kW} unfolded T×(S·kH·kW), factors r(S·kH·kW + T).
	WeightSVDOutput
	// WeightSVDInput: conv unfolded S×(T·kH·kW), factors r(S + T·kH·kW).
	WeightSVDInput
	// SpatialSVD: conv as (S·kH)×(T·kW), factors r(S·kH + T·kW).
	SpatialSVD
	// CP4: 4-way CP of a conv kernel, factors R(T+S+kH+kW).
	CP4
	// CP3: CP of the (T, S, kH·kW) reshaping, factors R(T+S+kH·kW).
	CP3
	// Tucker2Conv: ranks {R_out, R_in} with R_in/R_out ≈ S/T, factors
	// S·R_in + R_in·R_out·kH·kW + R_out·T.
	Tucker2Conv
	// TTUniform: TT-SVD of a d-way tensor with one maximum rank r (clamped per
	// bond to what the unfoldings allow), factors Σ r_{k−1} n_k r_k.
	TTUniform
	// TRUniform: tensor ring with all d ranks equal to r, factors r²·Σ n_k.
	TRUniform
)

func (m Method) String() string {
	names := [...]string{"svd", "weight-svd-output", "weight-svd-input", "spatial-svd", "cp4", "cp3", "tucker2", "tt", "tr"}
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("method(%d)", int(m))
}

// FactorParams is the parameter count of the factors of method m applied to a
// weight of the given shape at the given rank (Tucker2Conv: {R_out, R_in}).
func FactorParams(m Method, shape []int, ranks []int) (int, error) {
	if err := checkRankShape(m, shape); err != nil {
		return 0, err
	}
	if want := 1 + btoi(m == Tucker2Conv); len(ranks) != want {
		return 0, fmt.Errorf("solvers: %v needs %d ranks, got %v", m, want, ranks)
	}
	r := ranks[0]
	if r < 1 || (m == Tucker2Conv && ranks[1] < 1) {
		return 0, fmt.Errorf("solvers: ranks %v must be positive", ranks)
	}
	switch m {
	case SVDMatrix:
		return r * (shape[0] + shape[1]), nil
	case TTUniform:
		p := 0
		for _, core := range ttCoreSizes(shape, r) {
			p += core
		}
		return p, nil
	case TRUniform:
		sum := 0
		for _, n := range shape {
			sum += n
		}
		return r * r * sum, nil
	}
	t, s, kh, kw := shape[0], shape[1], shape[2], shape[3]
	switch m {
	case WeightSVDOutput:
		return r * (s*kh*kw + t), nil
	case WeightSVDInput:
		return r * (s + t*kh*kw), nil
	case SpatialSVD:
		return r * (s*kh + t*kw), nil
	case CP4:
		return r * (t + s + kh + kw), nil
	case CP3:
		return r * (t + s + kh*kw), nil
	default: // Tucker2Conv
		rOut, rIn := ranks[0], ranks[1]
		return s*rIn + rIn*rOut*kh*kw + rOut*t, nil
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ttCoreSizes returns, per core, r_{k−1}·n_k·r_k for TT-SVD with maximum rank r.
func ttCoreSizes(shape []int, r int) []int {
	d := len(shape)
	ranks := make([]int, d+1)
	ranks[0], ranks[d] = 1, 1
	for k := 1; k < d; k++ {
		left, right := 1, 1
		for i, n := range shape {
			if i < k {
				left = min(left*n, math.MaxInt32)
			} else {
				right = min(right*n, math.MaxInt32)
			}
		}
		ranks[k] = min(r, left, right)
	}
	cores := make([]int, d)
	for k := 0; k < d; k++ {
		cores[k] = ranks[k] * shape[k] * ranks[k+1]
	}
	return cores
}

func checkRankShape(m Method, shape []int) error {
	for _, d := range shape {
		if d < 1 {
			return fmt.Errorf("solvers: shape %v has a non-positive dimension", shape)
		}
	}
	switch m {
	case SVDMatrix:
		if len(shape) != 2 {
			return fmt.Errorf("solvers: %v needs a matrix shape, got %v", m, shape)
		}
	case TTUniform, TRUniform:
		if len(shape) < 2 {
			return fmt.Errorf("solvers: %v needs at least 2 modes, got %v", m, shape)
		}
	case WeightSVDOutput, WeightSVDInput, SpatialSVD, CP4, CP3, Tucker2Conv:
		if len(shape) != 4 {
			return fmt.Errorf("solvers: %v needs a conv shape {T,S,kH,kW}, got %v", m, shape)
		}
	default:
		return fmt.Errorf("solvers: unknown method %d", int(m))
	}
	return nil
}

// maxUsefulRank is the rank beyond which method m stops changing the
// factorization (0: unbounded, as for CP).
func maxUsefulRank(m Method, shape []int) int {
	switch m {
	case SVDMatrix:
		return min(shape[0], shape[1])
	case WeightSVDOutput:
		return min(shape[0], shape[1]*shape[2]*shape[3])
	case WeightSVDInput:
		return min(shape[1], shape[0]*shape[2]*shape[3])
	case SpatialSVD:
		return min(shape[1]*shape[2], shape[0]*shape[3])
	case Tucker2Conv:
		return shape[0]
	case TTUniform:
		best := 1
		for k := 1; k < len(shape); k++ {
			left, right := 1, 1
			for i, n := range shape {
				if i < k {
					left = min(left*n, math.MaxInt32)
				} else {
					right = min(right*n, math.MaxInt32)
				}
			}
			best = max(best, min(left, right))
		}
		return best
	}
	return 0
}

// RankForRatio returns the largest rank whose factors keep at most ratio·(the
// original parameter count) parameters, from the closed forms of lowrank.md
// §3.11 (Tucker2Conv: {R_out, R_in} with R_in = round(R_out·S/T)). The closed
// form is then corrected by single steps so that the budget holds exactly and
// one more rank would break it; ranks never exceed the point where the method
// becomes exact. A ratio too small for rank 1 is an error.
func RankForRatio(m Method, shape []int, ratio float64) ([]int, error) {
	if err := checkRankShape(m, shape); err != nil {
		return nil, err
	}
	if !(ratio > 0) || math.IsInf(ratio, 0) {
		return nil, fmt.Errorf("solvers: ratio %g must be positive and finite", ratio)
	}
	n := 1.0
	for _, d := range shape {
		n *= float64(d)
	}
	budget := ratio * n
	var guess float64
	sum := 0.0
	for _, d := range shape {
		sum += float64(d)
	}
	switch m {
	case SVDMatrix:
		guess = budget / sum
	case WeightSVDOutput:
		guess = budget / float64(shape[1]*shape[2]*shape[3]+shape[0])
	case WeightSVDInput:
		guess = budget / float64(shape[1]+shape[0]*shape[2]*shape[3])
	case SpatialSVD:
		guess = budget / float64(shape[1]*shape[2]+shape[0]*shape[3])
	case CP4:
		guess = budget / sum
	case CP3:
		guess = budget / float64(shape[0]+shape[1]+shape[2]*shape[3])
	case Tucker2Conv:
		t, s, k2 := float64(shape[0]), float64(shape[1]), float64(shape[2]*shape[3])
		// k²·(S/T)·x² + 2S·x − ρTSk² = 0 with R_out = x, R_in = x·S/T.
		a, b := k2*s/t, 2*s
		guess = (-b + math.Sqrt(b*b+4*a*budget)) / (2 * a)
	case TTUniform:
		// Unclamped: (Σ_{middle} n_k)·r² + (n_1 + n_d)·r = budget.
		mid := sum - float64(shape[0]) - float64(shape[len(shape)-1])
		ends := float64(shape[0] + shape[len(shape)-1])
		if mid == 0 {
			guess = budget / ends
		} else {
			guess = (-ends + math.Sqrt(ends*ends+4*mid*budget)) / (2 * mid)
		}
	case TRUniform:
		guess = math.Sqrt(budget / sum)
	}
	ranksOf := func(r int) []int {
		if m == Tucker2Conv {
			rIn := int(math.Round(float64(r) * float64(shape[1]) / float64(shape[0])))
			return []int{r, min(max(rIn, 1), shape[1])}
		}
		return []int{r}
	}
	fits := func(r int) bool {
		p, err := FactorParams(m, shape, ranksOf(r))
		return err == nil && float64(p) <= budget
	}
	limit := maxUsefulRank(m, shape)
	r := int(math.Min(math.Floor(guess), float64(math.MaxInt32)))
	if limit > 0 {
		r = min(r, limit)
	}
	for r >= 1 && !fits(r) {
		r--
	}
	for (limit == 0 || r < limit) && fits(r+1) {
		r++
	}
	if r < 1 {
		return nil, fmt.Errorf("solvers: ratio %g is too small for %v of %v: rank 1 already exceeds the budget", ratio, m, shape)
	}
	return ranksOf(r), nil
}

// truncationRank is the smallest rank whose discarded tail Σ_{i>r} σ_i² is at
// most deltaSq, capped at maxRank when positive (the δ-truncation of TT/TR/HT-SVD).
func truncationRank(sv []float64, deltaSq float64, maxRank int) int {
	r := len(sv)
	var tail float64
	for r > 1 {
		next := tail + sv[r-1]*sv[r-1]
		if next > deltaSq {
			break
		}
		tail = next
		r--
	}
	if maxRank > 0 {
		r = min(r, maxRank)
	}
	return max(r, 1)
}

// EVBMFTucker2Ranks applies EVBMF to the mode-0 and mode-1 unfoldings of a
// kernel (Kim et al. 2016; jacobgil), clamps each to [rMin, mode size] and,
// when multiple > 1, rounds up to a multiple of it within the mode size.
func EVBMFTucker2Ranks(w *Tensor, rMin, multiple int) (rOut, rIn int, err error) {
	if w == nil || len(w.Shape) < 2 {
		return 0, 0, errors.New("solvers: EVBMF Tucker-2 ranks need a tensor with at least 2 modes")
	}
	ranks := [2]int{}
	for mode := 0; mode < 2; mode++ {
		unf, err := w.Unfold(mode)
		if err != nil {
			return 0, 0, err
		}
		r, _, err := EVBMFRank(unf, rMin)
		if err != nil {
			return 0, 0, fmt.Errorf("solvers: EVBMF of unfolding %d: %w", mode, err)
		}
		ranks[mode] = RoundRank(r, multiple, w.Shape[mode], true)
	}
	return ranks[0], ranks[1], nil
}
