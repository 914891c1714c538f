package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// This file holds what the tensor-network methods (tt, tr, ht) share: seeing
// a Conv kernel or an FC weight as a many-way tensor, and emitting a chain of
// factors — plain Convs for a kernel, two-operand MatMul contractions for an
// FC weight — from the factor data the solvers return.

// convModeRole says what a mode of a conv kernel tensor indexes.
type convModeRole int

const (
	inChannelMode  convModeRole = iota // S, the input channels of a group
	spatialMode                        // one kernel axis
	outChannelMode                     // T, the output channels of a group
)

// convMode is one mode of a group's kernel seen as (S, k_1…k_n, T).
type convMode struct {
	role convModeRole
	axis int // spatial axis, for spatialMode
	size int
}

// convModes lists the modes (S, k_1…k_n, T) of one group's kernel block,
// leaving out modes of size 1: a 1×1 conv is a 2-way (S, T) tensor, a Conv1D
// a 3-way one, and an RGB-input conv starts at its kernel.
func convModes(l *Layer) []convMode {
	d := l.Weight.Dims
	var modes []convMode
	if d[1] > 1 {
		modes = append(modes, convMode{role: inChannelMode, size: int(d[1])})
	}
	for ax, k := range d[2:] {
		if k > 1 {
			modes = append(modes, convMode{role: spatialMode, axis: ax, size: int(k)})
		}
	}
	if t := l.Out(); t > 1 {
		modes = append(modes, convMode{role: outChannelMode, size: t})
	}
	return modes
}

func modeSizes(modes []convMode) []int {
	s := make([]int, len(modes))
	for i, m := range modes {
		s[i] = m.size
	}
	return s
}

// convModeTensors returns every group's kernel block permuted to
// (S, k_1…k_n, T) and reshaped to the kept modes' sizes.
func convModeTensors(l *Layer, modes []convMode) ([]*solvers.Tensor, error) {
	blocks, err := groupTensors(l) // (T, S, k…)
	if err != nil {
		return nil, err
	}
	order := len(l.Weight.Dims)
	perm := make([]int, 0, order)
	for ax := 1; ax < order; ax++ {
		perm = append(perm, ax)
	}
	perm = append(perm, 0)
	out := make([]*solvers.Tensor, len(blocks))
	for g, b := range blocks {
		p, err := b.Permute(perm...)
		if err != nil {
			return nil, err
		}
		if out[g], err = p.Reshape(modeSizes(modes)...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// convFactor is one Conv of a chain, as data for every layer group.
type convFactor struct {
	suffix string
	// out channels per layer group; in channels per conv group; groups conv
	// groups per layer group (the ring index of tr rides here).
	out, in, groups int
	// carries are the spatial axes whose window, stride, padding and
	// dilation this factor applies; its window is 1 on the others.
	carries []int
	// blocks[g] is layer group g's weight, (out, in, window) row-major.
	blocks [][]float64
}

// carrying keeps the window attributes of the given axes and makes the
// others 1×1, stride 1, unpadded; auto_pad stays when any axis is carried,
// since SAME padding on an axis depends only on that axis.
func (c ConvAttrs) carrying(axes []int) ConvAttrs {
	p := c.pointwise()
	sp := len(c.Kernel)
	for _, ax := range axes {
		p.AutoPad = c.AutoPad
		p.Kernel[ax] = c.Kernel[ax]
		p.Strides[ax] = c.Strides[ax]
		p.Dilations[ax] = c.Dilations[ax]
		p.Pads[ax], p.Pads[ax+sp] = c.Pads[ax], c.Pads[ax+sp]
	}
	return p
}

// assignAxes says which factor carries each spatial axis: the factor of that
// axis' mode when the kernel spans it, else the first factor (a 1-wide axis
// may still be strided or padded, and striding or zero-padding commutes with
// the bias-free 1×1 factors before the last).
func assignAxes(l *Layer, modes []convMode) [][]int {
	carries := make([][]int, len(modes))
	for ax := range l.Conv.Kernel {
		owner := 0
		for f, m := range modes {
			if m.role == spatialMode && m.axis == ax {
				owner = f
			}
		}
		carries[owner] = append(carries[owner], ax)
	}
	return carries
}

// emitConvChain emits the factors as Convs in order; the last gets the bias.
func emitConvChain(e *Emitter, l *Layer, factors []convFactor) (*graph.Value, error) {
	g := l.Groups()
	x := l.Input
	for i, f := range factors {
		attrs := l.Conv.carrying(f.carries)
		w, err := e.Weight(f.suffix, withDims(attrs.Kernel, int64(g*f.out), int64(f.in)), concatGroups(f.blocks))
		if err != nil {
			return nil, err
		}
		var bias *graph.Value
		if i == len(factors)-1 {
			bias = l.Bias
		}
		x = e.Conv(fmt.Sprint(i), x, w, bias, attrs.withGroup(int64(g*f.groups)))
	}
	return x, nil
}

// permutedData returns t permuted, as row-major data.
func permutedData(t *solvers.Tensor, perm ...int) ([]float64, error) {
	p, err := t.Permute(perm...)
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}

// padTensor zero-pads t up to shape (a bond the solver found smaller than
// planned carries zeros, which changes nothing: every group then has the
// same channel counts).
func padTensor(t *solvers.Tensor, shape []int) (*solvers.Tensor, error) {
	if len(shape) != len(t.Shape) {
		return nil, fmt.Errorf("padding a %v tensor to %v", t.Shape, shape)
	}
	same := true
	for i := range shape {
		if shape[i] < t.Shape[i] {
			return nil, fmt.Errorf("a %v factor does not fit the planned %v", t.Shape, shape)
		}
		same = same && shape[i] == t.Shape[i]
	}
	if same {
		return t, nil
	}
	out, err := solvers.NewZeroTensor(shape...)
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(shape))
	for i, v := range t.Data {
		rem, off := i, 0
		for k := len(t.Shape) - 1; k >= 0; k-- {
			idx[k] = rem % t.Shape[k]
			rem /= t.Shape[k]
		}
		for k := range shape {
			off = off*shape[k] + idx[k]
		}
		out.Data[off] = v
	}
	return out, nil
}

// fcTensorization splits a Gemm/MatMul's out and in sizes into d balanced
// factors each; false when a factor would be 1 (a prime or too small size:
// the tensorization buys nothing).
func fcTensorization(l *Layer, d int) (outModes, inModes []int, ok bool) {
	outModes, err1 := solvers.BalancedFactors(l.Out(), d)
	inModes, err2 := solvers.BalancedFactors(l.In(), d)
	if err1 != nil || err2 != nil {
		return nil, nil, false
	}
	for k := 0; k < d; k++ {
		if outModes[k] < 2 || inModes[k] < 2 {
			return nil, nil, false
		}
	}
	return outModes, inModes, true
}

// fcOrders are the tensorization orders tried for FC layers.
var fcOrders = []int{2, 3, 4}

func fcForm(d int) string { return fmt.Sprintf("d%d", d) }

// fcForms lists the usable tensorization orders of an FC layer.
func fcForms(l *Layer) []int {
	var ds []int
	for _, d := range fcOrders {
		if _, _, ok := fcTensorization(l, d); ok {
			ds = append(ds, d)
		}
	}
	return ds
}

// fcOrder parses an FC plan's form ("" picks the lowest usable order).
func fcOrder(l *Layer, form string) (int, error) {
	for _, d := range fcForms(l) {
		if form == "" || form == fcForm(d) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("no usable tensorization %q for a %d×%d weight (usable: %v)", form, l.Out(), l.In(), fcForms(l))
}

// checkFCTensorizable is the Check of a tensorized FC method.
func checkFCTensorizable(l *Layer) error {
	if len(fcForms(l)) == 0 {
		return errNotFor(l, "a %d×%d weight does not factor into balanced tensor modes (a size is prime or too small)", l.Out(), l.In())
	}
	return nil
}

// tensorAxis is a named axis of an activation in a contraction chain.
type tensorAxis struct {
	name string
	size int
}

// contraction is one step of a chain: the state's contract axes (in the
// matrix's row order) are summed against matrix, whose columns index the
// produce axes.
type contraction struct {
	contract []string
	produce  []tensorAxis
	matrix   []float64
}

// fcChain emits an FC layer as a chain of two-operand contractions of its
// tensorized input (axes in: j_1…j_d, C order) ending in the axes out
// (i_1…i_d), then Gemm's bias. Leading axes (batch, or a MatMul's N-D
// prefix) are kept by Reshape's 0 (copy) entries, so symbolic batches stay.
// Each step is Reshape → Transpose → Reshape → MatMul, which is valid at
// every opset from 5 on, so no Einsum fallback is needed.
func fcChain(e *Emitter, l *Layer, in []tensorAxis, steps []contraction, out []string) (*graph.Value, error) {
	if e.Opset() < 5 {
		return nil, fmt.Errorf("opset %d has no Reshape with a shape input", e.Opset())
	}
	x := l.Input
	lead := 1
	switch l.Kind {
	case GemmLayer:
		if l.Gemm.TransA {
			x = e.Op("Transpose", "A_T", []*graph.Value{x}, graph.IntsAttr("perm", 1, 0))
		}
	case MatMulLayer:
		if l.Input.Type == nil || !l.Input.Type.HasShape {
			return nil, fmt.Errorf("node %s: the input's rank is unknown, so its leading axes cannot be kept through reshapes", l.Node.Label())
		}
		lead = len(l.Input.Type.Shape) - 1
	default:
		return nil, fmt.Errorf("node %s: not an FC layer", l.Node.Label())
	}
	c := &chainEmitter{e: e, x: x, lead: lead, state: in, phys: []int{axesSize(in)}}
	for i, s := range steps {
		if err := c.step(i, s); err != nil {
			return nil, fmt.Errorf("node %s: %w", l.Node.Label(), err)
		}
	}
	c.arrange(out, "out")
	y := c.reshape("out", []int{axesSize(c.state)})
	return addGemmBias(e, l, y)
}

type chainEmitter struct {
	e     *Emitter
	x     *graph.Value
	lead  int
	state []tensorAxis
	phys  []int // the activation's trailing dims after the leading axes
	ops   int
}

func axesSize(axes []tensorAxis) int {
	p := 1
	for _, a := range axes {
		p *= a.size
	}
	return p
}

func (c *chainEmitter) suffix(kind string) string {
	c.ops++
	return fmt.Sprintf("%s%d", kind, c.ops)
}

func (c *chainEmitter) reshape(tag string, dims []int) *graph.Value {
	if equalIntSlices(c.phys, dims) {
		return c.x
	}
	shape := make([]int64, 0, c.lead+len(dims))
	for i := 0; i < c.lead; i++ {
		shape = append(shape, 0)
	}
	for _, d := range dims {
		shape = append(shape, int64(d))
	}
	s := c.suffix("reshape_" + tag)
	c.x = c.e.Op("Reshape", s, []*graph.Value{c.x, c.e.Int64s(s+"_shape", shape...)})
	c.phys = append([]int(nil), dims...)
	return c.x
}

// arrange transposes the state into the given axis order, merging runs of
// axes that stay adjacent so the Transpose has as few dims as possible.
func (c *chainEmitter) arrange(order []string, tag string) {
	pos := map[string]int{}
	for i, a := range c.state {
		pos[a.name] = i
	}
	src := make([]int, len(order))
	for i, name := range order {
		src[i] = pos[name]
	}
	// Runs: maximal stretches of order that are consecutive in the state.
	type run struct{ first, last int }
	var runs []run
	for _, s := range src {
		if n := len(runs); n > 0 && runs[n-1].last+1 == s {
			runs[n-1].last = s
		} else {
			runs = append(runs, run{s, s})
		}
	}
	if len(runs) == 1 {
		return
	}
	// Runs sorted by their position in the state give the reshape dims.
	bySource := append([]run(nil), runs...)
	for i := 1; i < len(bySource); i++ {
		for j := i; j > 0 && bySource[j].first < bySource[j-1].first; j-- {
			bySource[j], bySource[j-1] = bySource[j-1], bySource[j]
		}
	}
	dims := make([]int, len(bySource))
	index := map[int]int{}
	for i, r := range bySource {
		dims[i] = axesSize(c.state[r.first : r.last+1])
		index[r.first] = i
	}
	c.reshape(tag, dims)
	perm := make([]int64, 0, c.lead+len(runs))
	for i := 0; i < c.lead; i++ {
		perm = append(perm, int64(i))
	}
	next := make([]tensorAxis, 0, len(c.state))
	outDims := make([]int, len(runs))
	for i, r := range runs {
		perm = append(perm, int64(c.lead+index[r.first]))
		next = append(next, c.state[r.first:r.last+1]...)
		outDims[i] = dims[index[r.first]]
	}
	c.x = c.e.Op("Transpose", c.suffix("transpose_"+tag), []*graph.Value{c.x}, graph.IntsAttr("perm", perm...))
	c.state, c.phys = next, outDims
}

func (c *chainEmitter) step(i int, s contraction) error {
	inContract := map[string]bool{}
	var contracted []tensorAxis
	for _, name := range s.contract {
		found := false
		for _, a := range c.state {
			if a.name == name {
				contracted, found = append(contracted, a), true
			}
		}
		if !found || inContract[name] {
			return fmt.Errorf("contraction %d: axis %q not in the state %v", i, name, c.state)
		}
		inContract[name] = true
	}
	var order []string
	var rest []tensorAxis
	for _, a := range c.state {
		if !inContract[a.name] {
			order, rest = append(order, a.name), append(rest, a)
		}
	}
	order = append(order, s.contract...)
	rows, cols := axesSize(contracted), axesSize(s.produce)
	if len(s.matrix) != rows*cols {
		return fmt.Errorf("contraction %d: %d values for a %d×%d matrix", i, len(s.matrix), rows, cols)
	}
	c.arrange(order, fmt.Sprint(i))
	c.reshape(fmt.Sprint(i), []int{axesSize(rest), rows})
	w, err := c.e.Weight(fmt.Sprintf("core%d", i), []int64{int64(rows), int64(cols)}, s.matrix)
	if err != nil {
		return err
	}
	c.x = c.e.Op("MatMul", c.suffix("matmul_"), []*graph.Value{c.x, w})
	c.state = append(rest, s.produce...)
	c.phys = []int{axesSize(rest), cols}
	return nil
}

func equalIntSlices(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// energyEpsilon turns an energy share τ into the relative Frobenius error
// bound of δ-truncation: keeping τ of ‖W‖² leaves √(1−τ)·‖W‖.
func energyEpsilon(tau float64) (float64, error) {
	if !(tau > 0 && tau <= 1) {
		return 0, fmt.Errorf("energy %g must be in (0, 1]", tau)
	}
	return math.Sqrt(1 - tau), nil
}

// groupRatio is the kept fraction of one group's weight that a layer's ratio
// target leaves for the factors (the bias is paid first; see ratioBudget).
func groupRatio(l *Layer, ratio float64) float64 {
	return ratioBudget(l, ratio) / float64(l.WeightParams())
}

// maxRanks is the element-wise maximum of per-group rank lists.
func maxRanks(lists [][]int) []int {
	var out []int
	for _, r := range lists {
		if out == nil {
			out = append([]int(nil), r...)
			continue
		}
		for i := range out {
			out[i] = max(out[i], r[i])
		}
	}
	return out
}

// networkShape is the tensor a tensor network is taken of: the conv modes,
// or the merged (m_k·n_k) modes of a tensorized FC weight (TT-matrix layout).
func networkShape(l *Layer, form string) ([]int, error) {
	if l.Kind == ConvLayer {
		return modeSizes(convModes(l)), nil
	}
	d, err := fcOrder(l, form)
	if err != nil {
		return nil, err
	}
	outModes, inModes, _ := fcTensorization(l, d)
	shape := make([]int, d)
	for k := range shape {
		shape[k] = outModes[k] * inModes[k]
	}
	return shape, nil
}

// networkTensors is every group's tensor: the conv block in mode order, or
// the FC weight tensorized in the TT-matrix layout.
func networkTensors(l *Layer, form string) ([]*solvers.Tensor, error) {
	if l.Kind == ConvLayer {
		return convModeTensors(l, convModes(l))
	}
	d, err := fcOrder(l, form)
	if err != nil {
		return nil, err
	}
	outModes, inModes, _ := fcTensorization(l, d)
	w, err := l.Matrix(0)
	if err != nil {
		return nil, err
	}
	x, err := solvers.TensorizeMatrix(mat.NewDense(l.Out(), l.In(), w), outModes, inModes)
	if err != nil {
		return nil, err
	}
	return []*solvers.Tensor{x}, nil
}

// networkForms are the forms a layer can take: "" for conv, the usable
// tensorization orders for FC.
func networkForms(l *Layer) []string {
	if l.Kind == ConvLayer {
		return []string{""}
	}
	var forms []string
	for _, d := range fcForms(l) {
		forms = append(forms, fcForm(d))
	}
	return forms
}

// convChainMACs prices a chain of conv factors (their shapes; blocks are not
// read) at the layer's inferred shapes: a factor runs at the output size on
// the axes it or an earlier factor carries, at the input size on the others.
// 0 when shapes are unknown.
func convChainMACs(l *Layer, factors []convFactor) int64 {
	sp := len(l.Conv.Kernel)
	if len(l.InShape) != sp+2 || len(l.OutShape) != sp+2 {
		return 0
	}
	g := int64(l.Groups())
	carried := make([]bool, sp)
	var total int64
	for _, f := range factors {
		window := int64(1)
		for _, ax := range f.carries {
			carried[ax] = true
			window *= l.Conv.Kernel[ax]
		}
		pos := l.OutShape[0]
		for ax := 0; ax < sp; ax++ {
			if carried[ax] {
				pos *= l.OutShape[2+ax]
			} else {
				pos *= l.InShape[2+ax]
			}
		}
		total += pos * g * int64(f.out) * int64(f.in) * window
	}
	return total
}

// fcChainMACs prices contraction steps given as (rows, cols, rest): each is
// a MatMul of the leading positions × rest rows by a rows×cols matrix.
// 0 when shapes are unknown.
func fcChainMACs(l *Layer, steps [][3]int) int64 {
	lead := l.outPositions()
	var total int64
	for _, s := range steps {
		total += lead * int64(s[2]) * int64(s[0]) * int64(s[1])
	}
	return total
}

// product multiplies sizes.
func product(sizes []int) int {
	p := 1
	for _, n := range sizes {
		p *= n
	}
	return p
}

// networkCandidates prices a tensor network's settings for the global
// budget: for each form and each of networkFractions, the settings rankSets
// offers within that budget, each priced by price (params per group, MACs,
// error).
func networkCandidates(l *Layer, rankSets func(form string, shape []int, budget float64) [][]int,
	price func(form string, shape, ranks []int) (params, macs int64, relErr float64, err error)) ([]Candidate, error) {
	groups := int64(l.Groups())
	// A conv chain's last Conv reads the bias, an FC chain adds it with an
	// Add behind its output layout ops; inspect counts both.
	bias := biasParams(l)
	var out []Candidate
	for _, form := range networkForms(l) {
		shape, err := networkShape(l, form)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, f := range networkFractions {
			for _, ranks := range rankSets(form, shape, ratioBudget(l, f)/float64(groups)) {
				key := fmt.Sprint(ranks)
				if seen[key] {
					continue
				}
				seen[key] = true
				params, macs, relErr, err := price(form, shape, ranks)
				if err != nil {
					return nil, err
				}
				out = append(out, Candidate{Plan: LayerPlan{Form: form, Ranks: ranks},
					Params: groups*params + bias, MACs: macs, Err: relErr})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rank-1 setting fits three quarters of the layer's parameters")
	}
	return out, nil
}
