package solvers

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// DeButFactor is one deformable butterfly factor (p, q, r, s, t): a p×q
// block-diagonal matrix with nb = p/(r·t) = q/(s·t) blocks, each an r×s grid of
// t×t diagonal matrices. Entry W[j,a,c,d] sits at row j·r·t+a·t+d, column
// j·s·t+c·t+d (Lin et al., NeurIPS 2021).
type DeButFactor struct {
	P, Q, R, S, T int
}

// Validate reports why the factor's sizes cannot describe a DeBut factor.
func (f DeButFactor) Validate() error {
	if f.P <= 0 || f.Q <= 0 || f.R <= 0 || f.S <= 0 || f.T <= 0 {
		return fmt.Errorf("debut factor %v: all sizes must be positive", f)
	}
	if f.P%(f.R*f.T) != 0 {
		return fmt.Errorf("debut factor %v: p=%d is not a multiple of r·t=%d", f, f.P, f.R*f.T)
	}
	if f.Q%(f.S*f.T) != 0 {
		return fmt.Errorf("debut factor %v: q=%d is not a multiple of s·t=%d", f, f.Q, f.S*f.T)
	}
	if f.P/(f.R*f.T) != f.Q/(f.S*f.T) {
		return fmt.Errorf("debut factor %v: p/(r·t)=%d differs from q/(s·t)=%d",
			f, f.P/(f.R*f.T), f.Q/(f.S*f.T))
	}
	return nil
}

// Blocks is nb, the number of diagonal blocks.
func (f DeButFactor) Blocks() int { return f.P / (f.R * f.T) }

// Params is the number of structural nonzeros, p·s = q·r.
func (f DeButFactor) Params() int { return f.P * f.S }

func (f DeButFactor) String() string {
	return fmt.Sprintf("(%d,%d,%d,%d,%d)", f.P, f.Q, f.R, f.S, f.T)
}

// Support returns the 0/1 sparsity pattern I_nb ⊗ 1_{r×s} ⊗ I_t as a p×q matrix.
func (f DeButFactor) Support() *mat.Dense {
	ones := make([]float64, f.Params())
	for i := range ones {
		ones[i] = 1
	}
	return DeButWeights{Factor: f, W: ones}.Dense()
}

// DeButChain is a list of factors ordered output side first: the chain
// approximates W ≈ B_0·B_1·…·B_{N-1}, the order of main.py's --sup/--sub.
type DeButChain []DeButFactor

// Rows is m, the output size of the chain.
func (c DeButChain) Rows() int {
	if len(c) == 0 {
		return 0
	}
	return c[0].P
}

// Cols is n, the input size of the chain.
func (c DeButChain) Cols() int {
	if len(c) == 0 {
		return 0
	}
	return c[len(c)-1].Q
}

// Validate checks every factor and that consecutive sizes chain (q_k = p_{k+1}).
func (c DeButChain) Validate() error {
	if len(c) == 0 {
		return fmt.Errorf("debut chain: no factors")
	}
	for k, f := range c {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("debut chain factor %d: %w", k, err)
		}
		if k > 0 && c[k-1].Q != f.P {
			return fmt.Errorf("debut chain: factor %d has q=%d but factor %d has p=%d", k-1, c[k-1].Q, k, f.P)
		}
	}
	return nil
}

// Params is Σ p_k·s_k, without a bias.
func (c DeButChain) Params() int {
	total := 0
	for _, f := range c {
		total += f.Params()
	}
	return total
}

// MACs per input vector equal the parameter count: each nonzero is used once.
func (c DeButChain) MACs() int { return c.Params() }

// LC is the layer-wise compression 1 − P/(m·n), bias excluded.
func (c DeButChain) LC() float64 {
	return 1 - float64(c.Params())/(float64(c.Rows())*float64(c.Cols()))
}

// Sizes returns d_0 = m, d_1 = p_1, …, d_N = n.
func (c DeButChain) Sizes() []int {
	sizes := make([]int, 0, len(c)+1)
	for _, f := range c {
		sizes = append(sizes, f.P)
	}
	return append(sizes, c.Cols())
}

// String writes the chain in the paper's notation, e.g. 4←(2,2,2)4←(2,3,1)6.
func (c DeButChain) String() string {
	var b strings.Builder
	for _, f := range c {
		fmt.Fprintf(&b, "%d←(%d,%d,%d)", f.P, f.R, f.S, f.T)
	}
	fmt.Fprintf(&b, "%d", c.Cols())
	return b.String()
}

// SupSub returns the chain as main.py's --sup and --sub integer lists.
func (c DeButChain) SupSub() (sup, sub []int) {
	for _, f := range c {
		sup = append(sup, f.P, f.Q)
		sub = append(sub, f.R, f.S, f.T)
	}
	return sup, sub
}

// CanonicalError explains why the chain is not canonical (nil when it is):
// nb_0 = 1, t_{N-1} = 1, t_k = r_{k+1}·t_{k+1} and nb_{k+1} = nb_k·s_k. Canonical
// chains are dense with exactly one path between every input and output, which
// is what the ALS solver relies on.
func (c DeButChain) CanonicalError() error {
	if err := c.Validate(); err != nil {
		return err
	}
	n := len(c)
	if c[0].Blocks() != 1 {
		return fmt.Errorf("debut chain %v is not canonical: first factor has %d blocks, want 1", c, c[0].Blocks())
	}
	if c[n-1].T != 1 {
		return fmt.Errorf("debut chain %v is not canonical: last factor has t=%d, want 1", c, c[n-1].T)
	}
	for k := 0; k+1 < n; k++ {
		if c[k].T != c[k+1].R*c[k+1].T {
			return fmt.Errorf("debut chain %v is not canonical: t_%d=%d but r_%d·t_%d=%d",
				c, k, c[k].T, k+1, k+1, c[k+1].R*c[k+1].T)
		}
		if c[k+1].Blocks() != c[k].Blocks()*c[k].S {
			return fmt.Errorf("debut chain %v is not canonical: nb_%d=%d but nb_%d·s_%d=%d",
				c, k+1, c[k+1].Blocks(), k, k, c[k].Blocks()*c[k].S)
		}
	}
	return nil
}

// IsCanonical reports whether CanonicalError is nil.
func (c DeButChain) IsCanonical() bool { return c.CanonicalError() == nil }

// CanonicalDeButChain builds the canonical chain for an m-row matrix from the
// radices (r_k, s_k), output side first; t, nb and the sizes follow from them.
func CanonicalDeButChain(r, s []int) (DeButChain, error) {
	if len(r) == 0 || len(r) != len(s) {
		return nil, fmt.Errorf("debut canonical chain: need equally many r and s radices, got %d and %d", len(r), len(s))
	}
	n := len(r)
	chain := make(DeButChain, n)
	t := 1
	for k := n - 1; k >= 0; k-- {
		if r[k] <= 0 || s[k] <= 0 {
			return nil, fmt.Errorf("debut canonical chain: radix %d is (%d,%d), must be positive", k, r[k], s[k])
		}
		chain[k].R, chain[k].S, chain[k].T = r[k], s[k], t
		t *= r[k]
	}
	nb := 1
	for k := range chain {
		chain[k].P = nb * chain[k].R * chain[k].T
		chain[k].Q = nb * chain[k].S * chain[k].T
		nb *= s[k]
	}
	return chain, nil
}

// DeButShape classifies a chain by its intermediate sizes.
type DeButShape int

const (
	// DeButMonotonic chains move monotonically from n to m.
	DeButMonotonic DeButShape = iota
	// DeButBulging chains have an intermediate size above max(m, n).
	DeButBulging
	// DeButNonMonotonic chains are neither: they dip but never exceed max(m, n).
	DeButNonMonotonic
)

func (s DeButShape) String() string {
	switch s {
	case DeButMonotonic:
		return "monotonic"
	case DeButBulging:
		return "bulging"
	default:
		return "non-monotonic"
	}
}

// Shape classifies the chain from its sizes d_k (d_k/d_{k+1} = r_k/s_k).
func (c DeButChain) Shape() DeButShape {
	sizes := c.Sizes()
	limit := max(c.Rows(), c.Cols())
	for _, d := range sizes {
		if d > limit {
			return DeButBulging
		}
	}
	nonIncreasing, nonDecreasing := true, true
	for k := 0; k+1 < len(sizes); k++ {
		if sizes[k] < sizes[k+1] {
			nonIncreasing = false
		}
		if sizes[k] > sizes[k+1] {
			nonDecreasing = false
		}
	}
	if nonIncreasing || nonDecreasing {
		return DeButMonotonic
	}
	return DeButNonMonotonic
}

// IsDense is the bipolar test of chain_test.py: it reports whether the
// chain's support can produce a fully dense m×n product, i.e. whether every
// input reaches every output. It propagates reachability bitsets from the
// input side, so it is exact and costs Σ nnz_k · n/64 word operations.
func (c DeButChain) IsDense() (bool, error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	n := c.Cols()
	words := (n + 63) / 64
	reach := make([]uint64, n*words)
	for j := 0; j < n; j++ {
		reach[j*words+j/64] |= 1 << uint(j%64)
	}
	for k := len(c) - 1; k >= 0; k-- {
		f := c[k]
		r, s, t := f.R, f.S, f.T
		next := make([]uint64, f.P*words)
		for blk := 0; blk < f.Blocks(); blk++ {
			for a := 0; a < r; a++ {
				for d := 0; d < t; d++ {
					row := next[(blk*r*t+a*t+d)*words:][:words]
					for cc := 0; cc < s; cc++ {
						col := reach[(blk*s*t+cc*t+d)*words:][:words]
						for w := range row {
							row[w] |= col[w]
						}
					}
				}
			}
		}
		reach = next
	}
	full := n % 64
	for i := 0; i < c.Rows(); i++ {
		row := reach[i*words:][:words]
		for w, v := range row {
			want := ^uint64(0)
			if w == words-1 && full != 0 {
				want = 1<<uint(full) - 1
			}
			if v != want {
				return false, nil
			}
		}
	}
	return true, nil
}

// ParseDeButSupSub parses main.py's --sup (pairs p q) and --sub (triples r s t)
// lists, both output side first. Numbers may be separated by spaces or commas.
func ParseDeButSupSub(sup, sub string) (DeButChain, error) {
	ps, err := parseInts(sup)
	if err != nil {
		return nil, fmt.Errorf("debut --sup: %w", err)
	}
	rs, err := parseInts(sub)
	if err != nil {
		return nil, fmt.Errorf("debut --sub: %w", err)
	}
	if len(ps)%2 != 0 {
		return nil, fmt.Errorf("debut --sup: %d numbers, want pairs (p q)", len(ps))
	}
	if len(rs)%3 != 0 {
		return nil, fmt.Errorf("debut --sub: %d numbers, want triples (r s t)", len(rs))
	}
	if len(ps)/2 != len(rs)/3 {
		return nil, fmt.Errorf("debut --sup has %d factors but --sub has %d", len(ps)/2, len(rs)/3)
	}
	chain := make(DeButChain, len(ps)/2)
	for k := range chain {
		chain[k] = DeButFactor{P: ps[2*k], Q: ps[2*k+1], R: rs[3*k], S: rs[3*k+1], T: rs[3*k+2]}
	}
	return chain, chain.Validate()
}

// ParseDeButChainLine parses one line of an r_shape_txt file: groups of five
// integers "p q r s t", input side first (R_shapes order). The result is
// reversed into output-side-first order.
func ParseDeButChainLine(line string) (DeButChain, error) {
	nums, err := parseInts(line)
	if err != nil {
		return nil, fmt.Errorf("debut chain line: %w", err)
	}
	if len(nums) == 0 || len(nums)%5 != 0 {
		return nil, fmt.Errorf("debut chain line: %d numbers, want groups of 5 (p q r s t)", len(nums))
	}
	chain := make(DeButChain, len(nums)/5)
	for k := range chain {
		g := nums[5*k:]
		chain[len(chain)-1-k] = DeButFactor{P: g[0], Q: g[1], R: g[2], S: g[3], T: g[4]}
	}
	return chain, chain.Validate()
}

func parseInts(text string) ([]int, error) {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	out := make([]int, 0, len(fields))
	for _, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// DeButWeights holds the values of one factor as W[j,a,c,d] in row-major
// (nb, r, s, t) order, the layout of ONNX recipe A's Einsum initializer.
type DeButWeights struct {
	Factor DeButFactor
	W      []float64
}

func (w DeButWeights) check() error {
	if err := w.Factor.Validate(); err != nil {
		return err
	}
	if len(w.W) != w.Factor.Params() {
		return fmt.Errorf("debut factor %v: %d weights, want %d", w.Factor, len(w.W), w.Factor.Params())
	}
	return nil
}

// Dense returns the p×q matrix of the factor.
func (w DeButWeights) Dense() *mat.Dense {
	f := w.Factor
	out := mat.NewDense(f.P, f.Q, nil)
	raw := out.RawMatrix()
	idx := 0
	for blk := 0; blk < f.Blocks(); blk++ {
		for a := 0; a < f.R; a++ {
			for c := 0; c < f.S; c++ {
				for d := 0; d < f.T; d++ {
					row := blk*f.R*f.T + a*f.T + d
					col := blk*f.S*f.T + c*f.T + d
					raw.Data[row*raw.Stride+col] = w.W[idx]
					idx++
				}
			}
		}
	}
	return out
}

// DeButWeightsFromDense reads the factor's values from a dense p×q matrix. It
// fails if the matrix has a nonzero outside the support; exact zeros on the
// support are kept (unlike process_als_weight's nonzero()).
func DeButWeightsFromDense(f DeButFactor, b mat.Matrix) (DeButWeights, error) {
	if err := f.Validate(); err != nil {
		return DeButWeights{}, err
	}
	rows, cols := b.Dims()
	if rows != f.P || cols != f.Q {
		return DeButWeights{}, fmt.Errorf("debut factor %v: matrix is %d×%d", f, rows, cols)
	}
	support := f.Support()
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if v := b.At(i, j); v != 0 && support.At(i, j) == 0 {
				return DeButWeights{}, fmt.Errorf("debut factor %v: entry (%d,%d)=%g lies outside the support", f, i, j, v)
			}
		}
	}
	w := DeButWeights{Factor: f, W: make([]float64, f.Params())}
	idx := 0
	for blk := 0; blk < f.Blocks(); blk++ {
		for a := 0; a < f.R; a++ {
			for c := 0; c < f.S; c++ {
				for d := 0; d < f.T; d++ {
					w.W[idx] = b.At(blk*f.R*f.T+a*f.T+d, blk*f.S*f.T+c*f.T+d)
					idx++
				}
			}
		}
	}
	return w, nil
}

// Twiddle returns the values in the official code's twiddle order (j, d, a, c):
// element W[j,a,c,d] at ((j·t+d)·r+a)·s+c.
func (w DeButWeights) Twiddle() []float64 {
	return w.permuted(func(j, a, c, d int) int {
		f := w.Factor
		return ((j*f.T+d)*f.R+a)*f.S + c
	})
}

// MatMulWeight returns Wm of ONNX recipe B, shape (nb, t, s, r) with
// Wm[j,d,c,a] = W[j,a,c,d].
func (w DeButWeights) MatMulWeight() []float64 {
	return w.permuted(func(j, a, c, d int) int {
		f := w.Factor
		return ((j*f.T+d)*f.S+c)*f.R + a
	})
}

func (w DeButWeights) permuted(dst func(j, a, c, d int) int) []float64 {
	f := w.Factor
	out := make([]float64, len(w.W))
	idx := 0
	for j := 0; j < f.Blocks(); j++ {
		for a := 0; a < f.R; a++ {
			for c := 0; c < f.S; c++ {
				for d := 0; d < f.T; d++ {
					out[dst(j, a, c, d)] = w.W[idx]
					idx++
				}
			}
		}
	}
	return out
}

// DeButWeightsFromTwiddle is the inverse of Twiddle.
func DeButWeightsFromTwiddle(f DeButFactor, twiddle []float64) (DeButWeights, error) {
	if err := f.Validate(); err != nil {
		return DeButWeights{}, err
	}
	if len(twiddle) != f.Params() {
		return DeButWeights{}, fmt.Errorf("debut factor %v: twiddle has %d values, want %d", f, len(twiddle), f.Params())
	}
	w := DeButWeights{Factor: f, W: make([]float64, f.Params())}
	idx := 0
	for j := 0; j < f.Blocks(); j++ {
		for a := 0; a < f.R; a++ {
			for c := 0; c < f.S; c++ {
				for d := 0; d < f.T; d++ {
					w.W[idx] = twiddle[((j*f.T+d)*f.R+a)*f.S+c]
					idx++
				}
			}
		}
	}
	return w, nil
}

// applyRows computes y[b, j·r·t+a·t+d] = Σ_c W[j,a,c,d]·x[b, j·s·t+c·t+d] for
// every row b of x (batch×q), giving batch×p: the §2 forward of one factor.
func (w DeButWeights) applyRows(x []float64, batch int) []float64 {
	f := w.Factor
	r, s, t := f.R, f.S, f.T
	y := make([]float64, batch*f.P)
	for b := 0; b < batch; b++ {
		xr := x[b*f.Q:][:f.Q]
		yr := y[b*f.P:][:f.P]
		for blk := 0; blk < f.Blocks(); blk++ {
			wb := w.W[blk*r*s*t:][:r*s*t]
			xb := xr[blk*s*t:][:s*t]
			yb := yr[blk*r*t:][:r*t]
			for a := 0; a < r; a++ {
				ya := yb[a*t:][:t]
				for c := 0; c < s; c++ {
					wac := wb[(a*s+c)*t:][:t]
					xc := xb[c*t:][:t]
					for d := range ya {
						ya[d] += wac[d] * xc[d]
					}
				}
			}
		}
	}
	return y
}

func checkDeButWeights(factors []DeButWeights) (DeButChain, error) {
	chain := make(DeButChain, len(factors))
	for k, f := range factors {
		if err := f.check(); err != nil {
			return nil, fmt.Errorf("debut factor %d: %w", k, err)
		}
		chain[k] = f.Factor
	}
	return chain, chain.Validate()
}

// ApplyDeButChain computes Y = X·(B_0·…·B_{N-1})ᵀ for a batch X (batch×n),
// applying the factors input side first without forming the dense product.
func ApplyDeButChain(factors []DeButWeights, x mat.Matrix) (*mat.Dense, error) {
	chain, err := checkDeButWeights(factors)
	if err != nil {
		return nil, err
	}
	batch, cols := x.Dims()
	if cols != chain.Cols() {
		return nil, fmt.Errorf("debut apply: input has %d columns, chain %v takes %d", cols, chain, chain.Cols())
	}
	cur := denseRowMajor(x)
	for k := len(factors) - 1; k >= 0; k-- {
		cur = factors[k].applyRows(cur, batch)
	}
	return mat.NewDense(batch, chain.Rows(), cur), nil
}

// DensifyDeButChain returns the m×n product B_0·…·B_{N-1}.
func DensifyDeButChain(factors []DeButWeights) (*mat.Dense, error) {
	chain, err := checkDeButWeights(factors)
	if err != nil {
		return nil, err
	}
	n := chain.Cols()
	eye := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		eye.Set(i, i, 1)
	}
	prodT, err := ApplyDeButChain(factors, eye)
	if err != nil {
		return nil, err
	}
	return mat.DenseCopyOf(prodT.T()), nil
}

// denseRowMajor copies any matrix into a fresh contiguous row-major slice.
func denseRowMajor(a mat.Matrix) []float64 {
	rows, cols := a.Dims()
	out := make([]float64, rows*cols)
	if d, ok := a.(mat.RawMatrixer); ok {
		raw := d.RawMatrix()
		for i := 0; i < rows; i++ {
			copy(out[i*cols:(i+1)*cols], raw.Data[i*raw.Stride:i*raw.Stride+cols])
		}
		return out
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[i*cols+j] = a.At(i, j)
		}
	}
	return out
}

// DesignDeButChains proposes up to limit canonical monotonic chains for an
// m×n matrix whose parameter fraction P/(m·n) is closest to ratio (in log
// distance), fewest factors first among equals.
//
// Built from the input side, a canonical chain is a path through the states
// (m', n') = (m/Π r, n/Π s) of remaining radices; the size after each factor
// is n'·m/m', so a factor's cost p·s depends only on the state it leads to.
// A dynamic program over the divisor pairs of (m, n) therefore finds every
// reachable parameter count, keeping one chain per 1% bucket of parameters.
// Monotonic means r_k ≤ s_k throughout when m ≤ n (r_k ≥ s_k when m > n).
func DesignDeButChains(m, n int, ratio float64, limit int) ([]DeButChain, error) {
	if m <= 0 || n <= 0 {
		return nil, fmt.Errorf("debut design: matrix %d×%d must have positive sizes", m, n)
	}
	if !(ratio > 0) || math.IsInf(ratio, 0) {
		return nil, fmt.Errorf("debut design: parameter ratio %g must be positive and finite", ratio)
	}
	if limit <= 0 {
		limit = 1
	}
	const maxFactors = 16
	type partial struct {
		params int
		r, s   []int // radices from the input side
	}
	mDivs, nDivs := divisors(m), divisors(n)
	type state struct{ mRem, nRem int }
	// Every transition divides mRem·nRem by at least 2, so processing states
	// by decreasing product visits each after all its predecessors.
	var states []state
	for _, a := range mDivs {
		for _, b := range nDivs {
			states = append(states, state{a, b})
		}
	}
	slices.SortFunc(states, func(x, y state) int {
		if px, py := x.mRem*x.nRem, y.mRem*y.nRem; px != py {
			return py - px
		}
		return x.mRem - y.mRem
	})
	reach := map[state]map[int]partial{{m, n}: {0: {}}}
	for _, st := range states {
		buckets := reach[st]
		if len(buckets) == 0 || st == (state{1, 1}) {
			continue
		}
		keys := make([]int, 0, len(buckets))
		for k := range buckets {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, r := range divisors(st.mRem) {
			for _, s := range divisors(st.nRem) {
				if r*s == 1 || (m <= n && r > s) || (m > n && r < s) {
					continue
				}
				next := state{st.mRem / r, st.nRem / s}
				cost := next.nRem * (m / next.mRem) * s
				for _, key := range keys {
					p := buckets[key]
					if len(p.r) >= maxFactors {
						continue
					}
					cand := partial{p.params + cost, append(slices.Clone(p.r), r), append(slices.Clone(p.s), s)}
					bucket := int(math.Round(math.Log(float64(cand.params)) / math.Log(1.01)))
					if reach[next] == nil {
						reach[next] = map[int]partial{}
					}
					old, ok := reach[next][bucket]
					if !ok || designBetter(cand.params, cand.r, cand.s, old.params, old.r, old.s) {
						reach[next][bucket] = cand
					}
				}
			}
		}
	}
	type candidate struct {
		chain DeButChain
		dist  float64
	}
	var cands []candidate
	for _, p := range reach[state{1, 1}] {
		r, s := slices.Clone(p.r), slices.Clone(p.s)
		slices.Reverse(r)
		slices.Reverse(s)
		chain, err := CanonicalDeButChain(r, s)
		if err != nil {
			return nil, err
		}
		frac := float64(p.params) / (float64(m) * float64(n))
		cands = append(cands, candidate{chain, math.Abs(math.Log(frac / ratio))})
	}
	slices.SortFunc(cands, func(x, y candidate) int {
		if x.dist != y.dist {
			return compareFloat(x.dist, y.dist)
		}
		if len(x.chain) != len(y.chain) {
			return len(x.chain) - len(y.chain)
		}
		return strings.Compare(x.chain.String(), y.chain.String())
	})
	out := make([]DeButChain, 0, limit)
	for _, c := range cands[:min(limit, len(cands))] {
		out = append(out, c.chain)
	}
	return out, nil
}

// designBetter orders chains of nearly equal cost: fewer factors, then fewer
// parameters, then the lexicographically smaller radix list, so the
// designer's output does not depend on map iteration order.
func designBetter(pa int, ra, sa []int, pb int, rb, sb []int) bool {
	if len(ra) != len(rb) {
		return len(ra) < len(rb)
	}
	if pa != pb {
		return pa < pb
	}
	if c := slices.Compare(ra, rb); c != 0 {
		return c < 0
	}
	return slices.Compare(sa, sb) < 0
}

// divisors lists the divisors of v in ascending order.
func divisors(v int) []int {
	var small, large []int
	for d := 1; d*d <= v; d++ {
		if v%d == 0 {
			small = append(small, d)
			if d*d != v {
				large = append(large, v/d)
			}
		}
	}
	slices.Reverse(large)
	return append(small, large...)
}
