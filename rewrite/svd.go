package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// svdMethod factors a layer's weight into two by truncated SVD. Gemm and
// MatMul become two of themselves. A Conv takes one of three forms
// (lowrank.md §3.2): "output" (k×k conv to r channels, then 1×1), "input"
// (1×1 to r channels, then k×k) or "spatial" (kH×1 then 1×kW, 2-D only).
// With a fixed rank the cheapest form wins; with a ratio the form with the
// lowest weight error within the budget; with an energy target the form
// that needs the fewest parameters to hold that energy.
type svdMethod struct{}

func (svdMethod) Name() string { return "svd" }

func (svdMethod) Check(l *Layer) error {
	if l.IsDepthwise() {
		return errNotFor(l, "depthwise conv has one input channel per group: nothing to factor")
	}
	return nil
}

// svdForm is one way to see a layer's weight as matrices, one per group.
type svdForm struct {
	name       string
	rows, cols int // per-group matrix
	groups     int
	// matrices returns each group's matrix in this form's orientation.
	matrices func(l *Layer) ([][]float64, error)
}

func svdForms(l *Layer) []svdForm {
	g := l.Groups()
	if l.Kind != ConvLayer {
		return []svdForm{{name: "matrix", rows: l.Out(), cols: l.In(), groups: 1, matrices: layerMatrices}}
	}
	d := l.Weight.Dims
	out, in := int(d[0])/g, int(d[1])
	k := l.In() / in
	forms := []svdForm{
		{name: "output", rows: out, cols: in * k, groups: g, matrices: layerMatrices},
		{name: "input", rows: in, cols: out * k, groups: g, matrices: inputSideMatrices},
	}
	if len(l.Conv.Kernel) == 2 && d[2] > 1 && d[3] > 1 {
		kh, kw := int(d[2]), int(d[3])
		forms = append(forms, svdForm{name: "spatial", rows: in * kh, cols: out * kw, groups: g, matrices: spatialMatrices})
	}
	return forms
}

func (f svdForm) fullRank() int      { return min(f.rows, f.cols) }
func (f svdForm) params(r int) int64 { return int64(f.groups) * int64(r) * int64(f.rows+f.cols) }

// macs prices rank r at the layer's inferred shapes, each factor at its own
// resolution (lowrank.md §3.0); 0 when shapes are unknown.
func (f svdForm) macs(l *Layer, r int) int64 {
	out := l.outPositions()
	if out == 0 {
		return 0
	}
	g, rr := int64(f.groups), int64(r)
	switch f.name {
	case "input": // 1×1 at input resolution, then the window
		return g*rr*int64(f.rows)*l.inPositions() + g*rr*int64(f.cols)*out
	case "spatial": // kH×1 at output height × input width, then 1×kW
		vertical := out / l.OutShape[3] * l.InShape[3]
		return g*rr*int64(f.rows)*vertical + g*rr*int64(f.cols)*out
	}
	return f.params(r) * out
}

func layerMatrices(l *Layer) ([][]float64, error) { return l.groupMatrices() }

// inputSideMatrices views each group's (out, in, k) weight as in × (out·k).
func inputSideMatrices(l *Layer) ([][]float64, error) {
	ms, err := layerMatrices(l)
	if err != nil {
		return nil, err
	}
	in := int(l.Weight.Dims[1])
	out, k := l.Out(), l.In()/in
	for g, w := range ms {
		t := make([]float64, len(w))
		for o := 0; o < out; o++ {
			for c := 0; c < in; c++ {
				copy(t[c*out*k+o*k:c*out*k+(o+1)*k], w[o*in*k+c*k:o*in*k+(c+1)*k])
			}
		}
		ms[g] = t
	}
	return ms, nil
}

// spatialMatrices views each group's (out, in, kH, kW) weight as
// (in·kH) × (out·kW).
func spatialMatrices(l *Layer) ([][]float64, error) {
	ms, err := layerMatrices(l)
	if err != nil {
		return nil, err
	}
	d := l.Weight.Dims
	in, kh, kw := int(d[1]), int(d[2]), int(d[3])
	out := l.Out()
	for g, w := range ms {
		t := make([]float64, len(w))
		for o := 0; o < out; o++ {
			for c := 0; c < in; c++ {
				for h := 0; h < kh; h++ {
					for x := 0; x < kw; x++ {
						t[(c*kh+h)*out*kw+o*kw+x] = w[((o*in+c)*kh+h)*kw+x]
					}
				}
			}
		}
		ms[g] = t
	}
	return ms, nil
}

// svdFactors is one form's full SVDs, one per group.
type svdFactors struct {
	form svdForm
	svds []*solvers.SVD
}

func factorForm(l *Layer, f svdForm) (*svdFactors, error) {
	ms, err := f.matrices(l)
	if err != nil {
		return nil, err
	}
	fs := &svdFactors{form: f}
	for g, m := range ms {
		var s solvers.SVD
		if err := s.Factorize(mat.NewDense(f.rows, f.cols, m), f.fullRank()); err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		fs.svds = append(fs.svds, &s)
	}
	return fs, nil
}

// relError is the weight error of keeping rank r in every group.
func (fs *svdFactors) relError(r int) float64 {
	var tail, all float64
	for _, s := range fs.svds {
		for i, v := range s.AllValues() {
			all += v * v
			if i >= r {
				tail += v * v
			}
		}
	}
	if all == 0 {
		return 0
	}
	return math.Sqrt(tail / all)
}

// energyRank is the smallest rank holding share tau of every group's energy.
func (fs *svdFactors) energyRank(tau float64) (int, error) {
	r := 1
	for _, s := range fs.svds {
		k, err := solvers.EnergyRank(s.AllValues(), tau)
		if err != nil {
			return 0, err
		}
		r = max(r, k)
	}
	return r, nil
}

func (m svdMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	type choice struct {
		form   svdForm
		rank   int
		params int64
		err    float64
	}
	var best *choice
	budget := ratioBudget(l, t.Ratio)
	for _, f := range svdForms(l) {
		c := choice{form: f}
		switch {
		case t.Rank > 0:
			c.rank = min(t.Rank, f.fullRank())
		case t.Energy > 0:
			fs, err := factorForm(l, f)
			if err != nil {
				return LayerPlan{}, err
			}
			if c.rank, err = fs.energyRank(t.Energy); err != nil {
				return LayerPlan{}, err
			}
		default:
			c.rank = min(int(budget/float64(f.params(1))), f.fullRank())
			if c.rank < 1 {
				continue
			}
			fs, err := factorForm(l, f)
			if err != nil {
				return LayerPlan{}, err
			}
			c.err = fs.relError(c.rank)
		}
		c.params = f.params(c.rank)
		better := best == nil
		if !better {
			if t.Rank > 0 || t.Energy > 0 {
				better = c.params < best.params
			} else {
				better = c.err < best.err
			}
		}
		if better {
			best = &c
		}
	}
	if best == nil {
		return LayerPlan{}, fmt.Errorf("ratio %g leaves no room for a rank-1 factorization", t.Ratio)
	}
	return LayerPlan{Form: best.form.name, Ranks: []int{best.rank}}, nil
}

func (m svdMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	if len(p.Ranks) != 1 || p.Ranks[0] < 1 {
		return nil, 0, fmt.Errorf("svd needs one positive rank, plan has %v", p.Ranks)
	}
	var form *svdForm
	for _, f := range svdForms(l) {
		if f.name == p.Form || (p.Form == "" && form == nil) {
			form = &f
		}
	}
	if form == nil {
		return nil, 0, fmt.Errorf("svd has no form %q for a %s layer", p.Form, l.Kind)
	}
	r := p.Ranks[0]
	if r > form.fullRank() {
		return nil, 0, fmt.Errorf("rank %d exceeds the full rank %d of the %s form", r, form.fullRank(), form.name)
	}
	fs, err := factorForm(l, *form)
	if err != nil {
		return nil, 0, err
	}
	// first[g] is r×cols (applied first), second[g] rows×r.
	first, second := make([][]float64, form.groups), make([][]float64, form.groups)
	for g, s := range fs.svds {
		if err := s.Truncate(r); err != nil {
			return nil, 0, err
		}
		q, pm := s.Split()
		first[g], second[g] = pm.RawMatrix().Data, q.RawMatrix().Data
	}
	out, err := emitSVD(e, l, form.name, r, first, second)
	return out, fs.relError(r), err
}

func emitSVD(e *Emitter, l *Layer, form string, r int, first, second [][]float64) (*graph.Value, error) {
	switch form {
	case "matrix":
		return emitTwoMatrices(e, l, r, first[0], second[0])
	case "output":
		return emitOutputSideSVD(e, l, r, first, second)
	case "input":
		return emitInputSideSVD(e, l, r, first, second)
	}
	return emitSpatialSVD(e, l, r, first, second)
}

// emitTwoMatrices replaces W (out×in) ≈ Q·P for Gemm and MatMul.
func emitTwoMatrices(e *Emitter, l *Layer, r int, p, q []float64) (*graph.Value, error) {
	out, in := l.Out(), l.In()
	if l.Kind == GemmLayer {
		pw, err := e.Weight("P", []int64{int64(r), int64(in)}, p)
		if err != nil {
			return nil, err
		}
		qw, err := e.Weight("Q", []int64{int64(out), int64(r)}, q)
		if err != nil {
			return nil, err
		}
		h := e.Gemm("0", l.Input, pw, nil, 1, 1, l.Gemm.TransA, true)
		return e.Gemm("1", h, qw, l.Bias, 1, l.Gemm.Beta, false, true), nil
	}
	// MatMul: X·Wᵀ with Wᵀ = Pᵀ·Qᵀ.
	a, err := e.Weight("A", []int64{int64(in), int64(r)}, transposeRowMajor(p, r, in))
	if err != nil {
		return nil, err
	}
	b, err := e.Weight("B", []int64{int64(r), int64(out)}, transposeRowMajor(q, out, r))
	if err != nil {
		return nil, err
	}
	h := e.Op("MatMul", "0", []*graph.Value{l.Input, a})
	return e.Op("MatMul", "1", []*graph.Value{h, b}), nil
}

// concatGroups stacks per-group blocks along the output-channel axis.
func concatGroups(blocks [][]float64) []float64 {
	var out []float64
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}

func withDims(dims []int64, head ...int64) []int64 {
	return append(append([]int64(nil), head...), dims...)
}

func ones(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// emitOutputSideSVD: k×k conv C→g·r (original window), then 1×1 g·r→M.
func emitOutputSideSVD(e *Emitter, l *Layer, r int, first, second [][]float64) (*graph.Value, error) {
	g := int64(l.Groups())
	d := l.Weight.Dims
	w1, err := e.Weight("W0", withDims(d[1:], g*int64(r)), concatGroups(first))
	if err != nil {
		return nil, err
	}
	w2, err := e.Weight("W1", withDims(ones(len(d)-2), d[0], int64(r)), concatGroups(second))
	if err != nil {
		return nil, err
	}
	h := e.Conv("0", l.Input, w1, nil, l.Conv)
	return e.Conv("1", h, w2, l.Bias, l.Conv.pointwise().withGroup(g)), nil
}

// emitInputSideSVD: 1×1 conv C→g·r, then k×k g·r→M (original window).
// first[g] is r × (out·k), second[g] is in × r.
func emitInputSideSVD(e *Emitter, l *Layer, r int, first, second [][]float64) (*graph.Value, error) {
	g := l.Groups()
	d := l.Weight.Dims
	in := int(d[1])
	out, k := l.Out(), l.In()/in
	pointwise := make([]float64, 0, g*r*in)
	window := make([]float64, 0, g*out*r*k)
	for gi := 0; gi < g; gi++ {
		pointwise = append(pointwise, transposeRowMajor(second[gi], in, r)...)
		// window[o][j][k] = first[j][(o,k)]
		blk := make([]float64, out*r*k)
		for j := 0; j < r; j++ {
			for o := 0; o < out; o++ {
				copy(blk[(o*r+j)*k:(o*r+j+1)*k], first[gi][j*out*k+o*k:j*out*k+(o+1)*k])
			}
		}
		window = append(window, blk...)
	}
	w1, err := e.Weight("W0", withDims(ones(len(d)-2), int64(g*r), int64(in)), pointwise)
	if err != nil {
		return nil, err
	}
	w2, err := e.Weight("W1", withDims(d[2:], d[0], int64(r)), window)
	if err != nil {
		return nil, err
	}
	h := e.Conv("0", l.Input, w1, nil, l.Conv.pointwise().withGroup(int64(g)))
	return e.Conv("1", h, w2, l.Bias, l.Conv), nil
}

// emitSpatialSVD: kH×1 conv C→g·r, then 1×kW g·r→M (lowrank.md §3.2).
// second[g] is (in·kH) × r, first[g] is r × (out·kW).
func emitSpatialSVD(e *Emitter, l *Layer, r int, first, second [][]float64) (*graph.Value, error) {
	g := l.Groups()
	d := l.Weight.Dims
	in, kh, kw := int(d[1]), int(d[2]), int(d[3])
	out := l.Out()
	vertical := make([]float64, 0, g*r*in*kh)
	horizontal := make([]float64, 0, g*out*r*kw)
	for gi := 0; gi < g; gi++ {
		vertical = append(vertical, transposeRowMajor(second[gi], in*kh, r)...) // (r, in, kH)
		blk := make([]float64, out*r*kw)
		for j := 0; j < r; j++ {
			for o := 0; o < out; o++ {
				copy(blk[(o*r+j)*kw:(o*r+j+1)*kw], first[gi][j*out*kw+o*kw:j*out*kw+(o+1)*kw])
			}
		}
		horizontal = append(horizontal, blk...)
	}
	w1, err := e.Weight("V", []int64{int64(g * r), int64(in), int64(kh), 1}, vertical)
	if err != nil {
		return nil, err
	}
	w2, err := e.Weight("H", []int64{d[0], int64(r), 1, int64(kw)}, horizontal)
	if err != nil {
		return nil, err
	}
	h := e.Conv("0", l.Input, w1, nil, l.Conv.alongAxis(0).withGroup(int64(g)))
	return e.Conv("1", h, w2, l.Bias, l.Conv.alongAxis(1).withGroup(int64(g))), nil
}

// Candidates lists every form at every rank with its exact weight error,
// or, with calibration inputs (Layer.calib), its exact output error on them:
// Σ_{i≥r} σ_i²‖X·v_i‖² over ‖X·Wᵀ‖² (solvers.SVD.OutputEnergies). That
// closed form holds where the factorization's left factor is the layer's
// output side (forms "matrix" and "output"), so with calibration inputs only
// those forms are offered.
func (m svdMethod) Candidates(l *Layer) ([]Candidate, error) {
	bias := biasParams(l)
	var out []Candidate
	for _, f := range svdForms(l) {
		if l.calib != nil && f.name != "matrix" && f.name != "output" {
			continue
		}
		fs, err := factorForm(l, f)
		if err != nil {
			return nil, err
		}
		relErr := fs.relError
		if l.calib != nil {
			if relErr, err = fs.outputError(l.calib); err != nil {
				return nil, fmt.Errorf("%s: %w", l.Node.Label(), err)
			}
		}
		for r := 1; r <= f.fullRank(); r++ {
			if !l.offersRank(r) {
				continue
			}
			out = append(out, Candidate{
				Plan:   LayerPlan{Form: f.name, Ranks: []int{r}},
				Params: f.params(r) + bias,
				MACs:   f.macs(l, r),
				Err:    relErr(r),
			})
		}
	}
	return out, nil
}

// outputError returns the relative output error of keeping rank r in every
// group, on inputs x (per group, rows of the form's columns).
func (fs *svdFactors) outputError(x []*mat.Dense) (func(r int) float64, error) {
	var energies [][]float64
	total := 0.0
	for g, s := range fs.svds {
		e, err := s.OutputEnergies(x[g])
		if err != nil {
			return nil, err
		}
		energies = append(energies, e)
		for _, v := range e {
			total += v
		}
	}
	return func(r int) float64 {
		if total == 0 {
			return 0
		}
		tail := 0.0
		for _, e := range energies {
			for _, v := range e[min(r, len(e)):] {
				tail += v
			}
		}
		return math.Sqrt(tail / total)
	}, nil
}
