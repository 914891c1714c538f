package rewrite

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// cpMethod replaces a Conv by a CP decomposition of its kernel (lowrank.md
// §3.4), in one of two forms:
//
//   - "4way" (2-D kernels): 1×1 S→R, kH×1 depthwise, 1×kW depthwise (each
//     carrying its axis' stride, padding and dilation), 1×1 R→T with λ folded
//     in and the bias; R(T+S+kH+kW) parameters per group.
//   - "3way" (any spatial rank, so also Conv1D): CP of the (T, S, Πk) reshaping;
//     1×1 S→R, one depthwise conv with the original window, 1×1 R→T;
//     R(T+S+Πk) parameters per group.
//
// Each group is decomposed on its own with the same rank: the first 1×1 has
// group=g and makes g·R channels, the depthwise convs have group=g·R, the
// last 1×1 has group=g. With a fixed rank the cheaper form wins (ties go to
// the single depthwise op of 3way). With a ratio the form is chosen by cost
// before anything is solved (cpFormFor): 3way, unless 4way fits clearly more
// rank into the same parameters. Candidates prices a few ranks of that form
// for the global budget, each by one bounded CP-ALS run whose factors are
// kept for Apply, so a layer is never factorized twice at the same settings.
//
// CP is ill-posed: a best rank-R approximation may not exist. The solver's
// proximal ridge keeps each update well posed and the error non-increasing;
// sweeps are capped. A layer whose error stays high is still emitted: its
// error is in the report (weight_error) and the node provenance, for the user
// to compare with tucker or svd.
//
// Gemm and MatMul are refused: the CP of a matrix is a rank-R factorization,
// which truncated SVD does optimally.
type cpMethod struct{}

const (
	cp4Way = "4way"
	cp3Way = "3way"
	// CP-ALS gets about cpSweepWork multiply-adds per group, within
	// [cpMinSweeps, cpMaxSweeps] sweeps: small kernels can afford the many
	// sweeps ALS needs to leave a swamp; the error is then whatever it
	// reached. Big kernels at high ranks (a 512×512×3×3 kernel at rank 1000
	// costs 10¹⁰ per sweep) are held to cpWorkCap in all, and at least
	// cpFloorSweeps sweeps.
	cpSweepWork   = 3e8
	cpMinSweeps   = 50
	cpMaxSweeps   = 2000
	cpWorkCap     = 1e10
	cpFloorSweeps = 3
	// cpTol stops CP-ALS once a sweep gains less than this in relative error;
	// exactly low-rank kernels need it small to come out exact.
	cpTol = 1e-10
	// cpSeed fills the factor columns the SVD start cannot (rank above a mode
	// size). Fixed, since Method has no run seed; the result is deterministic.
	cpSeed = 0x5eed
	// cpRankGain is how much more rank 4way must fit into a budget than 3way
	// for cpFormFor to prefer it.
	cpRankGain = 1.25
)

// cpFractions are the kept shares of a layer's parameters Candidates prices:
// each costs one CP-ALS run, so there are few, and none above one half (the
// work grows with the rank; keeping a layer whole is always a candidate).
var cpFractions = []float64{1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2}

func (cpMethod) Name() string { return "cp" }

func (cpMethod) Check(l *Layer) error {
	if l.Kind != ConvLayer {
		return errNotFor(l, "cp factors conv kernels; the CP of a %s weight is a rank-R matrix factorization, which svd does optimally (use --method svd)", l.Kind)
	}
	if l.IsDepthwise() {
		return errNotFor(l, "depthwise conv has one input channel per group: nothing to factor")
	}
	return nil
}

// cpForms lists the forms a layer can take, cheapest per rank first.
func cpForms(l *Layer) []string {
	if len(l.Conv.Kernel) == 2 {
		return []string{cp4Way, cp3Way}
	}
	return []string{cp3Way}
}

// cpModes is the solver tensor shape of one group for form.
func cpModes(l *Layer, form string) []int {
	b := blockShape(l)
	if form == cp4Way {
		return b.tensorShape(l)
	}
	return []int{b.t, b.s, b.k}
}

// cpRankParams is one group's emitted parameters per unit of rank (a
// 1×…×1 window's factors are folded into λ, see emitCP).
func cpRankParams(l *Layer, form string) int {
	modes := cpModes(l, form)
	if blockShape(l).k == 1 {
		modes = modes[:2]
	}
	p := 0
	for _, n := range modes {
		p += n
	}
	return p
}

// cpMaxRank bounds the useful rank: a tensor's CP rank is at most the product
// of all its modes but the largest (one component per entry of the others).
func cpMaxRank(l *Layer, form string) int {
	modes := cpModes(l, form)
	prod, largest := 1, 0
	for _, n := range modes {
		prod *= n
		largest = max(largest, n)
	}
	return prod / largest
}

// cpSweeps is the sweep cap for a rank-r CP of a tensor of the given modes;
// one sweep costs about (number of modes)·r·(number of entries).
func cpSweeps(modes []int, r int) int {
	work := float64(len(modes) * r)
	for _, n := range modes {
		work *= float64(n)
	}
	sweeps := max(cpMinSweeps, min(cpMaxSweeps, cpSweepWork/work))
	return int(min(sweeps, max(cpFloorSweeps, cpWorkCap/work)))
}

// cpFormFor picks the form for a parameter budget before anything is
// solved. At equal rank 3way fits at least as well as 4way (4way is 3way
// with rank-1 windows) and is one depthwise conv instead of two, which
// runtimes run better (lowrank.md §3.4); 4way only pays when it fits
// cpRankGain times the rank into the same parameters (windows large next to
// the channel counts).
func cpFormFor(l *Layer) string {
	forms := cpForms(l)
	if len(forms) == 1 || float64(cpRankParams(l, cp3Way)) <= cpRankGain*float64(cpRankParams(l, cp4Way)) {
		return cp3Way
	}
	return cp4Way
}

// cpBudgetRank is the largest rank of form within budget parameters per
// group (0 when rank 1 does not fit).
func cpBudgetRank(l *Layer, form string, budget float64) int {
	return max(0, min(int(budget/float64(cpRankParams(l, form))), cpMaxRank(l, form)))
}

// cpMACs prices form at rank r at the layer's inferred shapes, each factor
// at its own resolution; 0 when shapes are unknown.
func cpMACs(l *Layer, form string, r int) int64 {
	out, in := l.outPositions(), l.inPositions()
	if out == 0 || in == 0 {
		return 0
	}
	b := blockShape(l)
	gr := int64(l.Groups() * r)
	last := gr * int64(b.t) * out
	if b.k == 1 { // the first 1×1 takes the layer's strides (see emitCP)
		return gr*int64(b.s)*out + last
	}
	first := gr * int64(b.s) * in
	if form == cp3Way {
		return first + gr*int64(b.k)*out + last
	}
	vertical := out / l.OutShape[3] * l.InShape[3] // kH×1: output height, input width
	return first + gr*l.Weight.Dims[2]*vertical + gr*l.Weight.Dims[3]*out + last
}

// cpFactors is one form's CP of every group.
type cpFactors struct {
	form   string
	rank   int
	cps    []*solvers.CP
	relErr float64
}

// cachedCP is factorCP through the layer's memo: the factors Candidates
// priced are the ones Apply emits.
func cachedCP(l *Layer, form string, rank int) (*cpFactors, error) {
	key := memoKey(cpMethod{}.Name(), LayerPlan{Form: form, Ranks: []int{rank}})
	if v, ok := l.recall(key); ok {
		return v.(*cpFactors), nil
	}
	cf, err := factorCP(l, form, rank)
	if err != nil {
		return nil, err
	}
	l.remember(key, cf)
	return cf, nil
}

func factorCP(l *Layer, form string, rank int) (*cpFactors, error) {
	blocks, err := groupTensors(l)
	if err != nil {
		return nil, err
	}
	cf := &cpFactors{form: form, rank: rank}
	errs := make([]float64, len(blocks))
	for g, w := range blocks {
		modes := cpModes(l, form)
		x, err := w.Reshape(modes...)
		if err != nil {
			return nil, err
		}
		var c solvers.CP
		if err := c.Factorize(x, solvers.CPOptions{Rank: rank, MaxIter: cpSweeps(modes, rank), Tol: cpTol, Seed: cpSeed}); err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		e := c.Errors()
		errs[g] = e[len(e)-1]
		cf.cps = append(cf.cps, &c)
	}
	cf.relErr = pooledError(blocks, errs)
	return cf, nil
}

func (m cpMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	forms := cpForms(l)
	switch {
	case t.Rank > 0:
		best := LayerPlan{Form: forms[0]}
		for _, f := range forms[1:] {
			if cpRankParams(l, f) <= cpRankParams(l, best.Form) {
				best.Form = f
			}
		}
		best.Ranks = []int{min(t.Rank, cpMaxRank(l, best.Form))}
		return best, nil
	case t.Energy > 0:
		return LayerPlan{}, fmt.Errorf("cp has no energy rule (CP ranks do not follow singular values); use a rank or a ratio")
	}
	budget := ratioBudget(l, t.Ratio) / float64(l.Groups())
	form := cpFormFor(l)
	for _, f := range append([]string{form}, forms...) {
		if r := cpBudgetRank(l, f, budget); r >= 1 {
			return LayerPlan{Form: f, Ranks: []int{r}}, nil
		}
	}
	return LayerPlan{}, fmt.Errorf("ratio %g leaves no room for a rank-1 CP", t.Ratio)
}

// Candidates prices cpFormFor's form at the ranks that keep cpFractions of
// the layer's parameters, each by its CP-ALS error (kept for Apply).
func (m cpMethod) Candidates(l *Layer) ([]Candidate, error) {
	form := cpFormFor(l)
	groups := int64(l.Groups())
	var out []Candidate
	seen := map[int]bool{}
	for _, f := range cpFractions {
		r := l.alignRank(cpBudgetRank(l, form, ratioBudget(l, f)/float64(groups)))
		if r < 1 || seen[r] {
			continue
		}
		seen[r] = true
		cf, err := cachedCP(l, form, r)
		if err != nil {
			return nil, err
		}
		out = append(out, Candidate{Plan: LayerPlan{Form: form, Ranks: []int{r}},
			Params: groups*int64(r*cpRankParams(l, form)) + biasParams(l), MACs: cpMACs(l, form, r), Err: cf.relErr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rank-1 CP fits half of the layer's parameters")
	}
	return out, nil
}

func (m cpMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	form := p.Form
	if form == "" {
		form = cpForms(l)[0]
	}
	known := false
	for _, f := range cpForms(l) {
		known = known || f == form
	}
	if !known {
		return nil, 0, fmt.Errorf("cp has no form %q for a %d-D conv (forms: %v)", p.Form, len(l.Conv.Kernel), cpForms(l))
	}
	if len(p.Ranks) != 1 || p.Ranks[0] < 1 {
		return nil, 0, fmt.Errorf("cp needs one positive rank, plan has %v", p.Ranks)
	}
	if limit := cpMaxRank(l, form); p.Ranks[0] > limit {
		return nil, 0, fmt.Errorf("cp %s rank %d is more than a %v kernel block can use (at most %d)", form, p.Ranks[0], cpModes(l, form), limit)
	}
	cf, err := cachedCP(l, form, p.Ranks[0])
	if err != nil {
		return nil, 0, err
	}
	out, err := emitCP(e, l, cf)
	return out, cf.relErr, err
}

// emitCP: 1×1 (A_Sᵀ) → depthwise window factor(s) → 1×1 (A_T·diag λ, bias).
// A 1×…×1 kernel has nothing to filter spatially: its window factors are
// scalars, folded into λ, and the first 1×1 takes the layer's strides and
// padding (zero-padded positions stay zero until the bias, as before).
func emitCP(e *Emitter, l *Layer, cf *cpFactors) (*graph.Value, error) {
	g, r := l.Groups(), cf.rank
	gr := int64(g * r)
	sp := len(l.Conv.Kernel)
	noWindow := blockShape(l).k == 1
	var first, last [][]float64
	spatial := make([][][]float64, len(cpModes(l, cf.form))-2) // per spatial mode, per group
	for _, c := range cf.cps {
		first = append(first, transposed(c.Factor(1)))
		lambda := c.Weights()
		if noWindow {
			for m := range spatial {
				for q := range lambda {
					lambda[q] *= c.Factor(2+m).At(0, q)
				}
			}
		}
		scaled := mat.DenseCopyOf(c.Factor(0))
		for i := 0; i < scaled.RawMatrix().Rows; i++ {
			for q := range lambda {
				scaled.Set(i, q, scaled.At(i, q)*lambda[q])
			}
		}
		last = append(last, rowMajor(scaled))
		for m := range spatial {
			spatial[m] = append(spatial[m], transposed(c.Factor(2+m)))
		}
	}
	w0, err := e.Weight("A_in", pointwiseDims(l, int(gr), blockShape(l).s), concatGroups(first))
	if err != nil {
		return nil, err
	}
	pw := l.Conv.pointwise().withGroup(int64(g))
	var h *graph.Value
	switch {
	case noWindow:
		h = e.Conv("0", l.Input, w0, nil, l.Conv)
	case cf.form == cp3Way:
		h = e.Conv("0", l.Input, w0, nil, pw)
		w, err := e.Weight("A_window", windowDims(l, int(gr), 1), concatGroups(spatial[0]))
		if err != nil {
			return nil, err
		}
		h = e.Conv("1", h, w, nil, l.Conv.withGroup(gr))
	default:
		h = e.Conv("0", l.Input, w0, nil, pw)
		for ax := 0; ax < sp; ax++ {
			dims := withDims(ones(sp), gr, 1)
			dims[2+ax] = l.Weight.Dims[2+ax]
			w, err := e.Weight(fmt.Sprintf("A_axis%d", ax), dims, concatGroups(spatial[ax]))
			if err != nil {
				return nil, err
			}
			h = e.Conv(fmt.Sprint(1+ax), h, w, nil, l.Conv.alongAxis(ax).withGroup(gr))
		}
	}
	w1, err := e.Weight("A_out", pointwiseDims(l, int(l.Weight.Dims[0]), r), concatGroups(last))
	if err != nil {
		return nil, err
	}
	return e.Conv("out", h, w1, l.Bias, pw), nil
}
