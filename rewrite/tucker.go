package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// tuckerMethod factors a Conv kernel's channel modes and keeps its window
// whole (lowrank.md §3.3). Three forms:
//
//   - "tucker2": 1×1 S→R_in (U_inᵀ), the original window R_in→R_out (core G),
//     1×1 R_out→T (U_out, bias); ranks [R_out, R_in]; HOSVD then HOOI.
//   - "tucker1-out": the original window S→R, then 1×1 R→T (output side only,
//     for a thin input such as RGB); ranks [R].
//   - "tucker1-in": 1×1 S→R, then the original window R→T; ranks [R].
//
// Each group is decomposed on its own with the same ranks and every factor
// conv gets group=g. With a fixed rank the form with the fewest parameters
// wins; with a per-layer ratio the form with the lowest weight error within
// the budget (Tucker-2 over every rank pair, by truncated-HOSVD error); with
// an energy target the ranks hold that share of each unfolding's energy and
// the cheapest form wins. Candidates prices every setting for the global
// budget. All of it comes from one full HOSVD per group (hosvdEnergy).
//
// Gemm and MatMul are refused: a 2-way Tucker U_out·G·U_inᵀ has rank at most
// min(R_out, R_in) and pays R_out·R_in more parameters than the truncated SVD
// of that rank, which is optimal (Eckart–Young), so svd is always better.
type tuckerMethod struct{}

func (tuckerMethod) Name() string { return "tucker" }

func (tuckerMethod) Check(l *Layer) error {
	if l.Kind != ConvLayer {
		return errNotFor(l, "tucker factors conv kernels; for %s a Tucker U_out·G·U_inᵀ is never better than svd at equal parameters (use --method svd)", l.Kind)
	}
	if l.IsDepthwise() {
		return errNotFor(l, "depthwise conv has one input channel per group: nothing to factor")
	}
	return nil
}

// convBlockShape is one group's kernel block: T out, S in channels and the
// K = Π kernel window positions.
type convBlockShape struct{ t, s, k int }

func blockShape(l *Layer) convBlockShape {
	d := l.Weight.Dims
	return convBlockShape{t: l.Out(), s: int(d[1]), k: l.In() / int(d[1])}
}

// tensorShape is the solver's view of the block: (T, S, kernel…).
func (b convBlockShape) tensorShape(l *Layer) []int {
	shape := []int{b.t, b.s}
	for _, k := range l.Weight.Dims[2:] {
		shape = append(shape, int(k))
	}
	return shape
}

// groupTensors returns every group's (T, S, kernel…) weight block.
func groupTensors(l *Layer) ([]*solvers.Tensor, error) {
	shape := blockShape(l).tensorShape(l)
	ms, err := l.groupMatrices()
	if err != nil {
		return nil, err
	}
	out := make([]*solvers.Tensor, len(ms))
	for g, m := range ms {
		if out[g], err = solvers.NewTensor(shape, m); err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
	}
	return out, nil
}

// pooledError combines per-group relative errors into the relative error of
// the whole weight.
func pooledError(blocks []*solvers.Tensor, relErrs []float64) float64 {
	var errSq, all float64
	for g, b := range blocks {
		n := b.Norm()
		errSq += relErrs[g] * relErrs[g] * n * n
		all += n * n
	}
	if all == 0 {
		return 0
	}
	return math.Sqrt(errSq / all)
}

const (
	tucker2    = "tucker2"
	tucker1Out = "tucker1-out"
	tucker1In  = "tucker1-in"
)

var tuckerForms = []string{tucker2, tucker1Out, tucker1In}

// clampRanks limits ranks to what the form can use; beyond these the
// decomposition is exact and more rank only costs parameters. Tucker-2 also
// needs R_out ≤ R_in·K and R_in ≤ R_out·K (the solver's own clamping).
func (b convBlockShape) clampRanks(form string, ranks []int) []int {
	switch form {
	case tucker2:
		rOut := min(ranks[0], b.t, b.s*b.k)
		rIn := min(ranks[1], b.s, b.t*b.k)
		rOut = min(rOut, rIn*b.k)
		rIn = min(rIn, rOut*b.k)
		return []int{rOut, rIn}
	case tucker1Out:
		return []int{min(ranks[0], b.t, b.s*b.k)}
	}
	return []int{min(ranks[0], b.s, b.t*b.k)}
}

// fullRanks are the ranks at which the form reproduces the weight exactly.
func (b convBlockShape) fullRanks(form string) []int {
	if form == tucker2 {
		return b.clampRanks(form, []int{b.t, b.s})
	}
	return b.clampRanks(form, []int{math.MaxInt32})
}

// params counts one group's factor parameters.
func (b convBlockShape) params(form string, ranks []int) int64 {
	switch form {
	case tucker2:
		rOut, rIn := int64(ranks[0]), int64(ranks[1])
		return int64(b.s)*rIn + rIn*rOut*int64(b.k) + rOut*int64(b.t)
	case tucker1Out:
		return int64(ranks[0]) * int64(b.s*b.k+b.t)
	}
	return int64(ranks[0]) * int64(b.s+b.t*b.k)
}

// macs prices the form at the layer's inferred shapes, each factor at its own
// resolution (a 1×1 before the window runs at input resolution, lowrank.md
// §3.0); 0 when shapes are unknown.
func (b convBlockShape) macs(l *Layer, form string, ranks []int) int64 {
	out, in := l.outPositions(), l.inPositions()
	if out == 0 || in == 0 {
		return 0
	}
	g, s, t, k := int64(l.Groups()), int64(b.s), int64(b.t), int64(b.k)
	switch form {
	case tucker2:
		rOut, rIn := int64(ranks[0]), int64(ranks[1])
		return g * (s*rIn*in + (rIn*rOut*k+rOut*t)*out)
	case tucker1Out:
		return g * b.params(form, ranks) * out
	}
	r := int64(ranks[0])
	return g * (s*r*in + r*t*k*out)
}

// ratioRanks returns the ranks of form that fit budget (per group) with the
// least error, or nil when rank 1 does not fit. Tucker-1 takes the largest
// rank that fits. Tucker-2 weighs every R_out with the largest R_in that fits
// beside it and takes the pair whose truncated HOSVD has the smallest error
// (HOOI then only improves it): a fixed R_in/R_out = S/T (lowrank.md §3.11)
// misses the better pairs on lopsided layers.
func (b convBlockShape) ratioRanks(form string, budget float64, h *hosvdEnergy) []int {
	full := b.fullRanks(form)
	if form != tucker2 {
		r := min(int(budget/float64(b.params(form, []int{1}))), full[0])
		if r < 1 {
			return nil
		}
		return []int{r}
	}
	var best []int
	bestErr := math.Inf(1)
	for rOut := 1; rOut <= full[0]; rOut++ {
		rIn := int((budget - float64(rOut*b.t)) / float64(b.s+rOut*b.k))
		if rIn < 1 {
			break
		}
		ranks := b.clampRanks(form, []int{rOut, rIn})
		if float64(b.params(form, ranks)) > budget {
			continue
		}
		if e := h.relError(ranks[0], ranks[1]); e < bestErr {
			best, bestErr = ranks, e
		}
	}
	return best
}

// hosvdEnergy tabulates the full-rank HOSVD cores of all groups: kept[a][b] is
// the squared norm of the leading a×b core block, summed over groups. As the
// factors are orthonormal and sorted by singular value, the truncated HOSVD
// at ranks (a, b) keeps exactly that block, so its error is known for every
// pair from one decomposition.
type hosvdEnergy struct {
	kept  [][]float64 // (R_out+1) × (R_in+1) prefix sums
	total float64
}

func hosvdEnergyOf(l *Layer) (*hosvdEnergy, error) {
	blocks, err := groupTensors(l)
	if err != nil {
		return nil, err
	}
	full := blockShape(l).fullRanks(tucker2)
	h := &hosvdEnergy{kept: make([][]float64, full[0]+1)}
	for i := range h.kept {
		h.kept[i] = make([]float64, full[1]+1)
	}
	for g, w := range blocks {
		energy, err := solvers.HOSVDCoreEnergies(w)
		if err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		for i := 0; i < full[0]; i++ {
			for j := 0; j < full[1]; j++ {
				h.kept[i+1][j+1] += energy.At(i, j)
			}
		}
		n := w.Norm()
		h.total += n * n
	}
	for i := 1; i <= full[0]; i++ {
		for j := 1; j <= full[1]; j++ {
			h.kept[i][j] += h.kept[i-1][j] + h.kept[i][j-1] - h.kept[i-1][j-1]
		}
	}
	return h, nil
}

// relError is the truncated HOSVD's relative error at ranks (rOut, rIn).
func (h *hosvdEnergy) relError(rOut, rIn int) float64 {
	if h.total == 0 {
		return 0
	}
	return math.Sqrt(math.Max(0, h.total-h.kept[rOut][rIn]) / h.total)
}

// energyRanks are the smallest R_out and R_in whose unfoldings keep share tau
// of the weight's energy (the mode-0 and mode-1 singular values, pooled over
// groups, are the core's row and column energies).
func (h *hosvdEnergy) energyRanks(tau float64) (rOut, rIn int, err error) {
	n, m := len(h.kept)-1, len(h.kept[0])-1
	rows, cols := make([]float64, n), make([]float64, m)
	for i := range rows {
		rows[i] = math.Sqrt(math.Max(0, h.kept[i+1][m]-h.kept[i][m]))
	}
	for j := range cols {
		cols[j] = math.Sqrt(math.Max(0, h.kept[n][j+1]-h.kept[n][j]))
	}
	if rOut, err = solvers.EnergyRank(rows, tau); err != nil {
		return 0, 0, err
	}
	rIn, err = solvers.EnergyRank(cols, tau)
	return rOut, rIn, err
}

// tuckerFactors is one form's decomposition of every group.
type tuckerFactors struct {
	form   string
	ranks  []int
	t2     []*solvers.Tucker2
	t1     []*solvers.Tucker1
	relErr float64
}

func factorTucker(l *Layer, form string, ranks []int) (*tuckerFactors, error) {
	blocks, err := groupTensors(l)
	if err != nil {
		return nil, err
	}
	tf := &tuckerFactors{form: form, ranks: ranks}
	errs := make([]float64, len(blocks))
	for g, w := range blocks {
		switch form {
		case tucker2:
			var tk solvers.Tucker2
			if err := tk.Factorize(w, solvers.Tucker2Options{RankOut: ranks[0], RankIn: ranks[1]}); err != nil {
				return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
			}
			e := tk.Errors()
			errs[g] = e[len(e)-1]
			tf.t2 = append(tf.t2, &tk)
		default:
			mode := 0
			if form == tucker1In {
				mode = 1
			}
			var tk solvers.Tucker1
			if err := tk.Factorize(w, mode, ranks[0]); err != nil {
				return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
			}
			errs[g] = tk.RelError()
			tf.t1 = append(tf.t1, &tk)
		}
	}
	tf.relErr = pooledError(blocks, errs)
	return tf, nil
}

func (m tuckerMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	b := blockShape(l)
	groups := int64(l.Groups())
	var candidates []LayerPlan
	switch {
	case t.Rank > 0:
		for _, f := range tuckerForms {
			candidates = append(candidates, LayerPlan{Form: f, Ranks: b.clampRanks(f, []int{t.Rank, t.Rank})})
		}
	case t.Energy > 0:
		h, err := hosvdEnergyOf(l)
		if err != nil {
			return LayerPlan{}, err
		}
		rOut, rIn, err := h.energyRanks(t.Energy)
		if err != nil {
			return LayerPlan{}, err
		}
		candidates = []LayerPlan{
			{Form: tucker2, Ranks: b.clampRanks(tucker2, []int{rOut, rIn})},
			{Form: tucker1Out, Ranks: b.clampRanks(tucker1Out, []int{rOut})},
			{Form: tucker1In, Ranks: b.clampRanks(tucker1In, []int{rIn})},
		}
	default:
		budget := ratioBudget(l, t.Ratio) / float64(groups)
		h, err := hosvdEnergyOf(l)
		if err != nil {
			return LayerPlan{}, err
		}
		var best *LayerPlan
		bestErr := math.Inf(1)
		for _, f := range tuckerForms {
			ranks := b.ratioRanks(f, budget, h)
			if ranks == nil {
				continue
			}
			tf, err := factorTucker(l, f, ranks)
			if err != nil {
				return LayerPlan{}, err
			}
			// Equal errors (a Tucker-2 whose input side is already full is a
			// Tucker-1 with an extra 1×1) go to the smaller form.
			tie := math.Abs(tf.relErr-bestErr) <= 1e-9
			if (!tie && tf.relErr < bestErr) || (tie && b.params(f, ranks) < b.params(best.Form, best.Ranks)) {
				best, bestErr = &LayerPlan{Form: f, Ranks: ranks}, tf.relErr
			}
		}
		if best == nil {
			return LayerPlan{}, fmt.Errorf("ratio %g leaves no room for a rank-1 Tucker factorization", t.Ratio)
		}
		return *best, nil
	}
	best := candidates[0]
	for _, c := range candidates[1:] {
		if b.params(c.Form, c.Ranks) < b.params(best.Form, best.Ranks) {
			best = c
		}
	}
	return best, nil
}

// Candidates prices every form at every rank for the global budget, from
// one full HOSVD per group: Tucker-1 errors are exact (Eckart–Young tails of
// the unfolding), Tucker-2 errors are those of the truncated HOSVD, which the
// HOOI run by Apply only lowers.
func (m tuckerMethod) Candidates(l *Layer) ([]Candidate, error) {
	h, err := hosvdEnergyOf(l)
	if err != nil {
		return nil, err
	}
	b := blockShape(l)
	groups := int64(l.Groups())
	bias := int64(0)
	if l.BiasConst != nil {
		bias = int64(l.BiasConst.Len())
	}
	full := b.fullRanks(tucker2)
	// Every rank pair is a setting (a quarter million for a 512×512 kernel):
	// price them as plain numbers and build Candidates for the hull points
	// only, the only ones a budget can choose.
	var pts []pricedSetting
	add := func(form string, ranks []int, relErr float64) {
		p := pricedSetting{form: form, nRanks: len(ranks), err: relErr,
			params: groups*b.params(form, ranks) + bias, macs: b.macs(l, form, ranks)}
		copy(p.ranks[:], ranks)
		pts = append(pts, p)
	}
	for r := 1; r <= b.fullRanks(tucker1Out)[0]; r++ {
		if !l.offersRank(r) {
			continue
		}
		add(tucker1Out, []int{r}, h.relError(min(r, full[0]), full[1]))
	}
	for r := 1; r <= b.fullRanks(tucker1In)[0]; r++ {
		if !l.offersRank(r) {
			continue
		}
		add(tucker1In, []int{r}, h.relError(full[0], min(r, full[1])))
	}
	pts = append(pts, h.tucker2Settings(l, tucker2, func(rOut, rIn int) bool {
		ranks := b.clampRanks(tucker2, []int{rOut, rIn})
		return ranks[0] == rOut && ranks[1] == rIn
	})...)
	return hullCandidates(pts), nil
}

// tucker2Settings prices every rank pair (R_out, R_in) that valid accepts as
// a Tucker-2-shaped rewrite (1×1, window, 1×1) whose error is the truncated
// HOSVD's, under the given form name.
func (h *hosvdEnergy) tucker2Settings(l *Layer, form string, valid func(rOut, rIn int) bool) []pricedSetting {
	b := blockShape(l)
	groups := int64(l.Groups())
	var pts []pricedSetting
	for rOut := 1; rOut < len(h.kept); rOut++ {
		for rIn := 1; rIn < len(h.kept[0]); rIn++ {
			if !valid(rOut, rIn) || !l.offersRank(rOut) || !l.offersRank(rIn) {
				continue
			}
			ranks := []int{rOut, rIn}
			pts = append(pts, pricedSetting{form: form, ranks: [2]int{rOut, rIn}, nRanks: 2, err: h.relError(rOut, rIn),
				params: groups*b.params(tucker2, ranks) + biasParams(l), macs: b.macs(l, tucker2, ranks)})
		}
	}
	return pts
}

func (m tuckerMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	b := blockShape(l)
	form := p.Form
	if form == "" {
		form = tucker2
	}
	want := 1
	switch form {
	case tucker2:
		want = 2
	case tucker1Out, tucker1In:
	default:
		return nil, 0, fmt.Errorf("tucker has no form %q (forms: %s, %s, %s)", p.Form, tucker2, tucker1Out, tucker1In)
	}
	if len(p.Ranks) != want {
		return nil, 0, fmt.Errorf("tucker form %s needs %d ranks, plan has %v", form, want, p.Ranks)
	}
	for _, r := range p.Ranks {
		if r < 1 {
			return nil, 0, fmt.Errorf("tucker ranks %v must be positive", p.Ranks)
		}
	}
	full := b.fullRanks(form)
	for i, r := range b.clampRanks(form, p.Ranks) {
		if r != p.Ranks[i] {
			return nil, 0, fmt.Errorf("tucker %s ranks %v exceed what a %d×%d×%d block can use (at most %v)", form, p.Ranks, b.t, b.s, b.k, full)
		}
	}
	tf, err := factorTucker(l, form, p.Ranks)
	if err != nil {
		return nil, 0, err
	}
	var out *graph.Value
	switch form {
	case tucker2:
		out, err = emitTucker2(e, l, tf)
	case tucker1Out:
		out, err = emitTucker1Out(e, l, tf)
	default:
		out, err = emitTucker1In(e, l, tf)
	}
	return out, tf.relErr, err
}

// pointwiseDims is a 1×…×1 kernel's weight dims (out, in, 1…).
func pointwiseDims(l *Layer, out, in int) []int64 {
	return withDims(ones(len(l.Weight.Dims)-2), int64(out), int64(in))
}

// windowDims is a weight with the layer's own window (out, in, kernel…).
func windowDims(l *Layer, out, in int) []int64 {
	return withDims(l.Weight.Dims[2:], int64(out), int64(in))
}

// emitTucker2: 1×1 (U_inᵀ) → window (G) → 1×1 (U_out, bias), all group=g.
func emitTucker2(e *Emitter, l *Layer, tf *tuckerFactors) (*graph.Value, error) {
	g := l.Groups()
	rOut, rIn := tf.ranks[0], tf.ranks[1]
	var first, core, last [][]float64
	for _, tk := range tf.t2 {
		first = append(first, transposed(tk.UIn()))
		core = append(core, tk.Core().Data)
		last = append(last, rowMajor(tk.UOut()))
	}
	w0, err := e.Weight("U_in", pointwiseDims(l, g*rIn, blockShape(l).s), concatGroups(first))
	if err != nil {
		return nil, err
	}
	w1, err := e.Weight("G", windowDims(l, g*rOut, rIn), concatGroups(core))
	if err != nil {
		return nil, err
	}
	w2, err := e.Weight("U_out", pointwiseDims(l, int(l.Weight.Dims[0]), rOut), concatGroups(last))
	if err != nil {
		return nil, err
	}
	pw := l.Conv.pointwise().withGroup(int64(g))
	h := e.Conv("0", l.Input, w0, nil, pw)
	h = e.Conv("1", h, w1, nil, l.Conv)
	return e.Conv("2", h, w2, l.Bias, pw), nil
}

// emitTucker1Out: window S→R (core W ×₀ Uᵀ) → 1×1 R→T (U, bias).
func emitTucker1Out(e *Emitter, l *Layer, tf *tuckerFactors) (*graph.Value, error) {
	g, r := l.Groups(), tf.ranks[0]
	var core, last [][]float64
	for _, tk := range tf.t1 {
		core = append(core, tk.Core().Data)
		last = append(last, rowMajor(tk.U()))
	}
	w0, err := e.Weight("G", windowDims(l, g*r, blockShape(l).s), concatGroups(core))
	if err != nil {
		return nil, err
	}
	w1, err := e.Weight("U_out", pointwiseDims(l, int(l.Weight.Dims[0]), r), concatGroups(last))
	if err != nil {
		return nil, err
	}
	h := e.Conv("0", l.Input, w0, nil, l.Conv)
	return e.Conv("1", h, w1, l.Bias, l.Conv.pointwise().withGroup(int64(g))), nil
}

// emitTucker1In: 1×1 S→R (Uᵀ) → window R→T (core W ×₁ Uᵀ, bias).
func emitTucker1In(e *Emitter, l *Layer, tf *tuckerFactors) (*graph.Value, error) {
	g, r := l.Groups(), tf.ranks[0]
	var first, core [][]float64
	for _, tk := range tf.t1 {
		first = append(first, transposed(tk.U()))
		core = append(core, tk.Core().Data)
	}
	w0, err := e.Weight("U_in", pointwiseDims(l, g*r, blockShape(l).s), concatGroups(first))
	if err != nil {
		return nil, err
	}
	w1, err := e.Weight("G", windowDims(l, int(l.Weight.Dims[0]), r), concatGroups(core))
	if err != nil {
		return nil, err
	}
	h := e.Conv("0", l.Input, w0, nil, l.Conv.pointwise().withGroup(int64(g)))
	return e.Conv("1", h, w1, l.Bias, l.Conv), nil
}

// rowMajor copies m into contiguous row-major data.
func rowMajor(m mat.Matrix) []float64 { return mat.DenseCopyOf(m).RawMatrix().Data }

// transposed returns mᵀ as row-major data.
func transposed(m mat.Matrix) []float64 { return rowMajor(m.T()) }
