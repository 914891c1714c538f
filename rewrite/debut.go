package rewrite

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// debutMethod replaces a layer's weight W (m×n) by a canonical DeBut chain
// B_0·…·B_{N-1} of deformable butterfly factors (debut.md), initialised by
// ALS. The chain comes from the plan (LayerPlan.Chain, --sup/--sub notation)
// or, for a ratio, from solvers.DesignDeButChains.
//
// Every factor is one MatMul, with at most one Transpose between factors
// (debut.md §2.2 recipe C, rows last: see emitDeButChain). In ONNX Runtime
// recipe C beat one Transpose/MatMul/Transpose per factor (recipe B) and
// Einsum (recipe A); BenchmarkDeButInORT measures it. A Conv takes one of
// two forms, recorded in LayerPlan.Form:
//   - "conv": the input-side factor densified into a grouped k×k Conv on the
//     (c, kh, kw) flattening of the weight (lowrank.md §3.8(ii)); when the
//     factor's blocks cover whole channels it loses no sparsity;
//   - "patches": Pad + one strided Slice per kernel tap + Concat build the
//     im2col patches in (kh, kw, c) order (debut.md §5.2), and every factor
//     is a MatMul.
//
// Both continue in NCHW order with the remaining factors, the spatial axes
// flattened into rows. Plan picks the form with fewer parameters, "conv"
// on a tie: it reads the input once.
type debutMethod struct{}

const (
	debutConvForm    = "conv"
	debutPatchesForm = "patches"

	// debutIterations caps ALS (two iterations are one sweep); the solver
	// stops earlier once the error settles. Candidates price chains after
	// debutPriceIterations: the ALS error never rises, so the fit Apply then
	// runs for the chosen chain (same start, more iterations) is at least as
	// good as priced.
	debutIterations      = 20
	debutPriceIterations = 4
	// debutSeed drives ALS's U[0,1) start. Fixed, since Method has no run
	// seed (as in cp.go); the result is deterministic.
	debutSeed = 0xdeb07
	// debutDesigns is how many designed chains Plan prices per layer, and
	// debutPlanFits how many of the largest within budget it fits to keep
	// the one with the lowest error (errors differ by a few percent).
	debutDesigns  = 64
	debutPlanFits = 4
)

func (debutMethod) Name() string { return "debut" }

func (debutMethod) Check(l *Layer) error {
	switch l.Kind {
	case ConvLayer:
		if l.Groups() > 1 {
			return errNotFor(l, "grouped conv (group %d): a DeBut chain replaces the whole im2col matrix, group 1 only (debut.md §5.1)", l.Groups())
		}
	case MatMulLayer:
		if debutInputRank(l) < 2 {
			return errNotFor(l, "input rank unknown or below 2: the leading axes to keep are unknown")
		}
	}
	return debutSizeError(l)
}

// debutSizeError says why no chain saves anything on the layer's weight:
// the smallest designed chain tells, and sizes with large prime factors
// leave only the dense one-factor chain.
func debutSizeError(l *Layer) error {
	rows, cols := l.Out(), l.In()
	chains, err := solvers.DesignDeButChains(rows, cols, 1e-9, 1)
	if err != nil {
		return errNotFor(l, "%v", err)
	}
	if smallest := debutCheapest(l, chains[0]); smallest >= int64(rows)*int64(cols) {
		return errNotFor(l, "no DeBut chain for a %d×%d weight has fewer parameters than the weight itself (sizes with large prime factors)", rows, cols)
	}
	return nil
}

// debutCheapest is the parameter count of the chain's cheapest form.
func debutCheapest(l *Layer, c solvers.DeButChain) int64 {
	best := int64(math.MaxInt64)
	for _, form := range debutForms(l) {
		best = min(best, debutParams(l, form, c))
	}
	return best
}

// debutInputRank is the rank of the layer's input, symbolic dims allowed
// (0 when unknown).
func debutInputRank(l *Layer) int {
	if t := l.Input.Type; t != nil && t.HasShape {
		return len(t.Shape)
	}
	return 0
}

// debutForms lists the realisations a layer can take.
func debutForms(l *Layer) []string {
	if l.Kind != ConvLayer {
		return []string{""}
	}
	forms := []string{debutConvForm}
	if debutTaps(l) > 1 && (l.Conv.AutoPad == "NOTSET" || l.Conv.AutoPad == "VALID") {
		forms = append(forms, debutPatchesForm)
	}
	return forms
}

// debutTaps is the number of kernel positions (1 for Gemm and MatMul).
func debutTaps(l *Layer) int {
	if l.Kind != ConvLayer {
		return 1
	}
	k := 1
	for _, d := range l.Conv.Kernel {
		k *= int(d)
	}
	return k
}

// debutParams counts the weights the form emits for chain c: the chain's
// nonzeros, plus the zeros a densified "conv" input factor stores.
func debutParams(l *Layer, form string, c solvers.DeButChain) int64 {
	total := int64(c.Params())
	if form == debutConvForm {
		first := c[len(c)-1]
		total += int64(first.P) * int64(debutConvSpan(first, debutTaps(l))-first.S)
	}
	return total
}

// debutConvSpan is the columns one group of the densified input factor
// covers: whole channels (multiples of the taps) and whole blocks.
func debutConvSpan(f solvers.DeButFactor, taps int) int {
	return f.S / gcd(f.S, taps) * taps
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (m debutMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	if t.Rank > 0 || t.Energy > 0 {
		return LayerPlan{}, fmt.Errorf("debut takes a ratio or a chain in the plan, not %s", t)
	}
	rows, cols := l.Out(), l.In()
	budget := ratioBudget(l, t.Ratio)
	if budget < 1 {
		return LayerPlan{}, fmt.Errorf("ratio %g leaves no parameters for the weight once the bias is kept", t.Ratio)
	}
	chains, err := solvers.DesignDeButChains(rows, cols, budget/float64(rows*cols), debutDesigns)
	if err != nil {
		return LayerPlan{}, err
	}
	type candidate struct {
		form   string
		chain  solvers.DeButChain
		params int64
	}
	var cands []candidate
	smallest := int64(math.MaxInt64)
	for _, c := range chains {
		for _, form := range debutForms(l) {
			p := debutParams(l, form, c)
			smallest = min(smallest, p)
			if float64(p) <= budget {
				cands = append(cands, candidate{form, c, p})
			}
		}
	}
	if len(cands) == 0 {
		return LayerPlan{}, fmt.Errorf("no DeBut chain for the %d×%d weight fits ratio %g (the smallest designed one keeps %.3g of it)",
			rows, cols, t.Ratio, float64(smallest)/float64(rows*cols))
	}
	// The largest chains within budget, "conv" before "patches" and fewer
	// factors first among equals; the one ALS fits best wins.
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if a.params != b.params {
			return int(b.params - a.params)
		}
		return len(a.chain) - len(b.chain)
	})
	best, bestErr := -1, math.Inf(1)
	for i, c := range cands[:min(len(cands), debutPlanFits)] {
		fit, err := cachedDeBut(l, c.form, c.chain, debutIterations)
		if err != nil {
			return LayerPlan{}, err
		}
		if fit.relErr < bestErr {
			best, bestErr = i, fit.relErr
		}
	}
	return LayerPlan{Form: cands[best].form, Chain: formatDeButChain(cands[best].chain)}, nil
}

// formatDeButChain writes a chain in main.py's --sup/--sub notation.
func formatDeButChain(c solvers.DeButChain) string {
	sup, sub := c.SupSub()
	join := func(v []int) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, " ")
	}
	return "--sup " + join(sup) + " --sub " + join(sub)
}

// parseDeButChain reads "--sup p0 q0 … --sub r0 s0 t0 …".
func parseDeButChain(text string) (solvers.DeButChain, error) {
	var sup, sub []string
	var into *[]string
	for _, f := range strings.Fields(text) {
		switch strings.TrimLeft(f, "-") {
		case "sup":
			into = &sup
		case "sub":
			into = &sub
		default:
			if into == nil {
				return nil, fmt.Errorf("debut chain %q: numbers before --sup/--sub", text)
			}
			*into = append(*into, f)
		}
	}
	if len(sup) == 0 || len(sub) == 0 {
		return nil, fmt.Errorf("debut chain %q: want --sup p0 q0 … --sub r0 s0 t0 …", text)
	}
	return solvers.ParseDeButSupSub(strings.Join(sup, " "), strings.Join(sub, " "))
}

// debutMatrix is the m×n matrix the chain approximates in the given form:
// the weight's (c, kh, kw) flattening, or (kh, kw, c) for "patches", whose
// Concat of taps orders the features that way.
func debutMatrix(l *Layer, form string) ([]float64, error) {
	w, err := l.Matrix(0)
	if err != nil {
		return nil, err
	}
	if form != debutPatchesForm {
		return w, nil
	}
	rows, cols, taps := l.Out(), l.In(), debutTaps(l)
	ch := cols / taps
	out := make([]float64, len(w))
	for o := 0; o < rows; o++ {
		for c := 0; c < ch; c++ {
			for k := 0; k < taps; k++ {
				out[o*cols+k*ch+c] = w[o*cols+c*taps+k]
			}
		}
	}
	return out, nil
}

// fitDeBut fits the chain to f and returns the factors and the relative
// Frobenius error of their product. A one-factor chain is the matrix itself.
func fitDeBut(f []float64, chain solvers.DeButChain, iterations int) ([]solvers.DeButWeights, float64, error) {
	rows, cols := chain.Rows(), chain.Cols()
	target := mat.NewDense(rows, cols, f)
	if len(chain) == 1 {
		w, err := solvers.DeButWeightsFromDense(chain[0], target)
		if err != nil {
			return nil, 0, err
		}
		return []solvers.DeButWeights{w}, 0, nil
	}
	var d solvers.DeBut
	if err := d.Fit(target, chain, &solvers.DeButOptions{Iterations: iterations, Seed: debutSeed}); err != nil {
		return nil, 0, err
	}
	approx, err := d.Dense()
	if err != nil {
		return nil, 0, err
	}
	var diff mat.Dense
	diff.Sub(target, approx)
	return d.Factors(), mat.Norm(&diff, 2) / mat.Norm(target, 2), nil
}

func (m debutMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	chain, err := parseDeButChain(p.Chain)
	if err != nil {
		return nil, 0, err
	}
	if err := chain.CanonicalError(); err != nil {
		return nil, 0, fmt.Errorf("%w (only canonical chains have an ALS fit)", err)
	}
	if chain.Rows() != l.Out() || chain.Cols() != l.In() {
		return nil, 0, fmt.Errorf("chain %v is %d×%d, the layer's weight is %d×%d", chain, chain.Rows(), chain.Cols(), l.Out(), l.In())
	}
	if e.Opset() < 5 {
		return nil, 0, fmt.Errorf("opset %d: debut emits Reshape with a shape input (opset 5)", e.Opset())
	}
	form := p.Form
	if form == "" && l.Kind == ConvLayer {
		form = debutConvForm
		for _, f := range debutForms(l) {
			if f == debutPatchesForm && e.Opset() < 10 {
				continue
			}
			if debutParams(l, f, chain) < debutParams(l, form, chain) {
				form = f
			}
		}
	}
	if !slices.Contains(debutForms(l), form) {
		return nil, 0, fmt.Errorf("debut has no form %q for this %s layer (forms: %q)", form, l.Kind, debutForms(l))
	}
	if form == debutPatchesForm && e.Opset() < 10 {
		return nil, 0, fmt.Errorf("the patches form needs strided Slice (opset 10), the model has opset %d", e.Opset())
	}
	fit, err := cachedDeBut(l, form, chain, debutIterations)
	if err != nil {
		return nil, 0, err
	}
	factors, relErr := fit.factors, fit.relErr
	var out *graph.Value
	switch form {
	case debutConvForm:
		out, err = emitDeButConv(e, l, factors)
	case debutPatchesForm:
		out, err = emitDeButPatches(e, l, factors)
	default:
		out, err = emitDeButFC(e, l, factors)
	}
	return out, relErr, err
}

// emitDeButFC: Gemm (alpha is in the factors, beta·C is added after) or
// MatMul, whose leading axes are flattened into rows and restored from the
// input's shape. The rows go last for the chain: two 2-D Transposes.
func emitDeButFC(e *Emitter, l *Layer, factors []solvers.DeButWeights) (*graph.Value, error) {
	x, n, m := l.Input, int64(l.In()), int64(l.Out())
	lead := debutInputRank(l) - 1
	if l.Kind == MatMulLayer && lead > 1 {
		x = e.Op("Reshape", "rows", []*graph.Value{x, e.Int64s("rows_shape", -1, n)})
	}
	if l.Kind == MatMulLayer || !l.Gemm.TransA {
		x = e.Op("Transpose", "rows_last", []*graph.Value{x}, graph.IntsAttr("perm", 1, 0))
	}
	y, err := emitDeButChain(e, x, false, factors)
	if err != nil {
		return nil, err
	}
	y = e.Op("Transpose", "rows_first", []*graph.Value{y}, graph.IntsAttr("perm", 1, 0))
	if l.Kind == GemmLayer {
		return addGemmBias(e, l, y)
	}
	if lead > 1 {
		shape := debutShapeSlices(e, l.Input, [2]int64{0, int64(lead)}, m)
		y = e.Op("Reshape", "unrows", []*graph.Value{y, shape})
	}
	return y, nil
}

// debutShapeSlices builds a shape from x's own dims (so symbolic ones stay
// symbolic): dims [lo, hi) of the first range, then size, then the second
// range's dims if given.
func debutShapeSlices(e *Emitter, x *graph.Value, before [2]int64, size int64, after ...[2]int64) *graph.Value {
	shape := e.Op("Shape", "shape", []*graph.Value{x})
	slice := func(r [2]int64) *graph.Value {
		if e.Opset() >= 10 {
			return e.Op("Slice", "dims", []*graph.Value{shape, e.Int64s("dims_start", r[0]), e.Int64s("dims_end", r[1])})
		}
		return e.Op("Slice", "dims", []*graph.Value{shape}, graph.IntsAttr("starts", r[0]), graph.IntsAttr("ends", r[1]))
	}
	parts := []*graph.Value{slice(before), e.Int64s("size", size)}
	for _, r := range after {
		parts = append(parts, slice(r))
	}
	return e.Op("Concat", "out_shape", parts, graph.IntAttr("axis", 0))
}

// addGemmBias adds β·C to y exactly as Gemm would (C broadcasts the same
// way under Add); a constant C is scaled once, in float64.
func addGemmBias(e *Emitter, l *Layer, y *graph.Value) (*graph.Value, error) {
	beta := l.Gemm.Beta
	if l.Bias == nil || beta == 0 {
		return y, nil
	}
	c := l.Bias
	if beta != 1 {
		if l.BiasConst != nil {
			data, err := l.BiasConst.Float64s()
			if err != nil {
				return nil, err
			}
			for i := range data {
				data[i] *= float64(beta)
			}
			if c, err = e.Weight("bias", l.BiasConst.Dims, data); err != nil {
				return nil, err
			}
		} else {
			b, err := e.Weight("beta", nil, []float64{float64(beta)})
			if err != nil {
				return nil, err
			}
			c = e.Op("Mul", "beta_C", []*graph.Value{c, b})
		}
	}
	return e.Op("Add", "bias", []*graph.Value{y, c}), nil
}

// emitDeButChain applies the factors (output side first, so applied from
// the last) to x laid out ([P], q, rows…): an optional leading axis P kept
// by Reshape's 0, the q features, then the rows, flattened by the first
// Reshape. It returns ([P], m, rows). This is recipe C of debut.md §2.2
// with the rows last, so that every Transpose moves whole contiguous rows
// (ONNX Runtime's fast path; with the rows in the middle its Transposes
// took most of the time):
//
//	([P], nb, t, s, R) → MatMul Wᵀ (nb, t, r, s) from the left → ([P], nb, t, r, R)
//
// and between factor k and k−1 (nb_k = nb_{k−1}·s_{k−1}, t_{k−1} = r_k·t_k)
// ([P], nb', s', t, r, R) → Transpose ([P], nb', r, t, s', R), which is
// factor k−1's input layout.
func emitDeButChain(e *Emitter, x *graph.Value, keepLead bool, factors []solvers.DeButWeights) (*graph.Value, error) {
	var lead []int64
	if keepLead {
		lead = []int64{0}
	}
	shape := func(d ...int64) []int64 { return append(append([]int64(nil), lead...), d...) }
	perm := func(p ...int64) []int64 {
		if !keepLead {
			return p
		}
		out := []int64{0}
		for _, v := range p {
			out = append(out, v+1)
		}
		return out
	}
	n := len(factors)
	f := factors[n-1].Factor
	nb, s, t := int64(f.Blocks()), int64(f.S), int64(f.T)
	x = debutShuffle(e, "in", x, shape(nb, s, t, -1), perm(0, 2, 1, 3), shape(nb, t, s, -1))
	for k := n - 1; k >= 0; k-- {
		f := factors[k].Factor
		name := fmt.Sprintf("B%d", k)
		r, t := int64(f.R), int64(f.T)
		w, err := e.Weight(name, []int64{int64(f.Blocks()), t, r, int64(f.S)}, factors[k].Twiddle())
		if err != nil {
			return nil, err
		}
		x = e.Op("MatMul", name, []*graph.Value{w, x})
		if k == 0 {
			return debutShuffle(e, "out", x, shape(t, r, -1), perm(1, 0, 2), shape(int64(f.P), -1)), nil
		}
		next := factors[k-1].Factor
		nb, s := int64(next.Blocks()), int64(next.S)
		x = debutShuffle(e, name+"_shuffle", x, shape(nb, s, t, r, -1), perm(0, 3, 2, 1, 4), shape(nb, r*t, s, -1))
	}
	return x, nil
}

// debutShuffle reshapes x to dims, transposes by perm and reshapes to out.
// Axes of size 1 are left out of the Transpose, which is skipped when no
// axis of another size moves. dims hold 0 (copy) and -1 (rest) as
// Reshape does; those axes are never of size 1.
func debutShuffle(e *Emitter, name string, x *graph.Value, dims, perm, out []int64) *graph.Value {
	pos := map[int64]int64{}
	var kept []int64
	for i, d := range dims {
		if d != 1 {
			pos[int64(i)] = int64(len(kept))
			kept = append(kept, d)
		}
	}
	var p []int64
	moved := false
	for _, a := range perm {
		if q, ok := pos[a]; ok {
			moved = moved || q != int64(len(p))
			p = append(p, q)
		}
	}
	if moved {
		x = e.Op("Reshape", name+"_split", []*graph.Value{x, e.Int64s(name+"_split_shape", kept...)})
		x = e.Op("Transpose", name, []*graph.Value{x}, graph.IntsAttr("perm", p...))
	}
	return e.Op("Reshape", name+"_merge", []*graph.Value{x, e.Int64s(name+"_merge_shape", out...)})
}

// finishDeButConv runs the remaining factors on h (N, C, out…), adds the
// bias and restores the spatial axes from h's own shape.
func finishDeButConv(e *Emitter, l *Layer, h *graph.Value, factors []solvers.DeButWeights) (*graph.Value, error) {
	sp := int64(len(l.Conv.Kernel))
	y, err := emitDeButChain(e, h, true, factors)
	if err != nil {
		return nil, err
	}
	m := int64(l.Out())
	if l.Bias != nil {
		b := e.Op("Reshape", "bias_column", []*graph.Value{l.Bias, e.Int64s("bias_column_shape", m, 1)})
		y = e.Op("Add", "bias", []*graph.Value{y, b})
	}
	shape := debutShapeSlices(e, h, [2]int64{0, 1}, m, [2]int64{2, 2 + sp})
	return e.Op("Reshape", "unrows", []*graph.Value{y, shape}), nil
}

// emitDeButConv: the input-side factor (t = 1: nb blocks of r×s) as a
// grouped k×k Conv with the layer's window, each group spanning whole
// channels and whole blocks, then the other factors.
func emitDeButConv(e *Emitter, l *Layer, factors []solvers.DeButWeights) (*graph.Value, error) {
	last := len(factors) - 1
	first := factors[last]
	f := first.Factor
	span := debutConvSpan(f, debutTaps(l))
	groups := f.Q / span
	rowsPerGroup := f.P / groups
	dense := first.Dense()
	w := make([]float64, 0, f.P*span)
	for o := 0; o < f.P; o++ {
		g := o / rowsPerGroup
		w = append(w, dense.RawRowView(o)[g*span:(g+1)*span]...)
	}
	dims := append([]int64{int64(f.P), int64(span / debutTaps(l))}, l.Conv.Kernel...)
	wv, err := e.Weight("B"+strconv.Itoa(last), dims, w)
	if err != nil {
		return nil, err
	}
	if last == 0 {
		return e.Conv("B0", l.Input, wv, l.Bias, l.Conv), nil
	}
	h := e.Conv("B"+strconv.Itoa(last), l.Input, wv, nil, l.Conv.withGroup(int64(groups)))
	return finishDeButConv(e, l, h, factors[:last])
}

// emitDeButPatches: Pad, one strided Slice per kernel tap (row-major over
// the kernel) and a Concat give the patches (N, taps·C, out…) in (tap, c)
// order without an Im2Col op; then every factor. A Slice ends
// dil·(k−1−u) before the padded end, which yields exactly the conv's
// output size whatever the input size.
func emitDeButPatches(e *Emitter, l *Layer, factors []solvers.DeButWeights) (*graph.Value, error) {
	c := l.Conv
	sp := len(c.Kernel)
	x := l.Input
	if c.AutoPad == "NOTSET" && slices.ContainsFunc(c.Pads, func(p int64) bool { return p != 0 }) {
		pads := make([]int64, 2*(sp+2))
		copy(pads[2:], c.Pads[:sp])
		copy(pads[sp+4:], c.Pads[sp:])
		if e.Opset() >= 11 {
			x = e.Op("Pad", "pad", []*graph.Value{x, e.Int64s("pads", pads...)})
		} else {
			x = e.Op("Pad", "pad", []*graph.Value{x}, graph.IntsAttr("pads", pads...))
		}
	}
	axes := make([]int64, sp)
	for i := range axes {
		axes[i] = int64(2 + i)
	}
	axesV := e.Int64s("axes", axes...)
	stepsV := e.Int64s("steps", c.Strides...)
	var taps []*graph.Value
	tap := make([]int64, sp)
	for n := 0; n < debutTaps(l); n++ {
		starts, ends := make([]int64, sp), make([]int64, sp)
		for i := range tap {
			starts[i] = tap[i] * c.Dilations[i]
			ends[i] = -c.Dilations[i] * (c.Kernel[i] - 1 - tap[i])
			if ends[i] == 0 {
				ends[i] = math.MaxInt64
			}
		}
		suffix := fmt.Sprintf("tap%d", n)
		taps = append(taps, e.Op("Slice", suffix, []*graph.Value{x,
			e.Int64s(suffix+"_starts", starts...), e.Int64s(suffix+"_ends", ends...), axesV, stepsV}))
		for i := sp - 1; i >= 0; i-- {
			if tap[i]++; tap[i] < c.Kernel[i] {
				break
			}
			tap[i] = 0
		}
	}
	patches := e.Op("Concat", "patches", taps, graph.IntAttr("axis", 1))
	return finishDeButConv(e, l, patches, factors)
}

// debutFit is one chain's ALS fit to the layer in one form.
type debutFit struct {
	factors []solvers.DeButWeights
	relErr  float64
}

// cachedDeBut fits chain to the layer's matrix in form with the given ALS
// iterations, through the layer's memo: a fit Plan chose is the one Apply
// emits.
func cachedDeBut(l *Layer, form string, chain solvers.DeButChain, iterations int) (*debutFit, error) {
	key := memoKey(debutMethod{}.Name(), LayerPlan{Form: form, Chain: formatDeButChain(chain)})
	if iterations != debutIterations {
		key += fmt.Sprintf("|%d iterations", iterations)
	}
	if v, ok := l.recall(key); ok {
		return v.(*debutFit), nil
	}
	f, err := debutMatrix(l, form)
	if err != nil {
		return nil, err
	}
	factors, relErr, err := fitDeBut(f, chain, iterations)
	if err != nil {
		return nil, err
	}
	fit := &debutFit{factors, relErr}
	l.remember(key, fit)
	return fit, nil
}

// debutFractions are the kept shares of a layer's parameters Candidates
// prices, one ALS fit each: steps of √2, since designed chains come in
// coarse sizes and a coarser grid leaves much of a global budget unspent.
var debutFractions = []float64{1.0 / 32, 0.044, 1.0 / 16, 0.088, 1.0 / 8, 0.177, 1.0 / 4, 0.354, 1.0 / 2, 0.707}

// Candidates prices, for each of debutFractions, the largest designed chain
// (in its cheaper form) within that share of the layer's parameters by a
// short ALS fit (debutPriceIterations). MACs are priced for Gemm and MatMul,
// where every factor is a MatMul; a Conv's chain also moves patches and
// channels around, which MACs do not count, so conv layers take part in
// parameter budgets only.
func (m debutMethod) Candidates(l *Layer) ([]Candidate, error) {
	rows, cols := l.Out(), l.In()
	var out []Candidate
	seen := map[string]bool{}
	for _, frac := range debutFractions {
		budget := ratioBudget(l, frac)
		if budget < 1 {
			continue
		}
		chains, err := solvers.DesignDeButChains(rows, cols, budget/float64(rows*cols), debutDesigns)
		if err != nil {
			continue
		}
		var best solvers.DeButChain
		var bestForm string
		bestParams := int64(-1)
		for _, c := range chains {
			for _, form := range debutForms(l) {
				if p := debutParams(l, form, c); float64(p) <= budget && p > bestParams {
					best, bestForm, bestParams = c, form, p
				}
			}
		}
		if best == nil || seen[bestForm+formatDeButChain(best)] {
			continue
		}
		seen[bestForm+formatDeButChain(best)] = true
		fit, err := cachedDeBut(l, bestForm, best, debutPriceIterations)
		if err != nil {
			return nil, err
		}
		var macs int64
		if l.Kind != ConvLayer {
			macs = l.outPositions() * int64(best.MACs())
		}
		// The bias is carried over: a single Conv reads it, a chain adds it
		// with an Add behind its output layout ops; inspect counts both.
		out = append(out, Candidate{Plan: LayerPlan{Form: bestForm, Chain: formatDeButChain(best)},
			Params: bestParams + biasParams(l), MACs: macs, Err: fit.relErr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no designed DeBut chain fits three quarters of the %d×%d weight", rows, cols)
	}
	return out, nil
}
