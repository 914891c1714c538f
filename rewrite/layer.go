package rewrite

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/onnxcompress/onnxcompress/graph"
)

// LayerKind says how a layer's weight acts on its input.
type LayerKind int

const (
	ConvLayer   LayerKind = iota // Conv, any spatial rank
	GemmLayer                    // Gemm with a constant B
	MatMulLayer                  // MatMul with a constant right operand
)

func (k LayerKind) String() string {
	return [...]string{"Conv", "Gemm", "MatMul"}[k]
}

// Layer is a weighted node a method can replace, with its weight resolved
// (initializer, Constant node or Identity chain) and its attributes made
// explicit.
type Layer struct {
	Node   *graph.Node
	Kind   LayerKind
	Input  *graph.Value
	Output *graph.Value
	// Weight is the stored tensor: Conv (M, C/group, k…); Gemm B as stored;
	// MatMul (K, N).
	Weight *graph.Tensor
	// Bias is the Conv bias or Gemm C input (nil when absent). It is never
	// decomposed: the last factor reads the same value.
	Bias *graph.Value
	// BiasConst is the bias data when it is constant.
	BiasConst *graph.Tensor
	Conv      ConvAttrs
	Gemm      GemmAttrs
	// InShape and OutShape are the inferred activation shapes (nil if unknown).
	InShape, OutShape []int64
	// Cost is the node's cost as inspect counts it (weight and bias params,
	// MACs at the inferred shapes).
	Cost graph.LayerCost

	// memo keeps what planning computed for this layer (factorizations by
	// method and settings) for Apply, within one Compress run.
	memo map[string]any
	// calib holds inputs of the layer as its weight sees them, drawn from
	// the calibration data (nil without): per group, rows of length In()
	// (im2col patches for a Conv), for pricing output errors.
	calib []*mat.Dense
	// rankMultiple is the global budget's rank alignment (Options.RankMultiple)
	// while it asks for this layer's candidates; 0 or 1 offers every rank.
	rankMultiple int
}

// offersRank says whether the global budget may choose rank r for this
// layer: every rank below the alignment (small layers and tight budgets
// need them) and multiples of it above. A factor conv whose channel count
// is a multiple of the SIMD block runs on ONNX Runtime's blocked (NCHWc)
// kernels, and GEMMs pack whole panels; other widths fall back to slower
// paths, so an unaligned rank can cost more time than the MACs it saves.
func (l *Layer) offersRank(r int) bool {
	m := l.rankMultiple
	return m <= 1 || r < m || r%m == 0
}

// alignRank rounds r down to the alignment where it is above it, for
// methods that solve for a rank per budget rather than pricing every rank.
func (l *Layer) alignRank(r int) int {
	if m := l.rankMultiple; m > 1 && r >= m {
		return r / m * m
	}
	return r
}

// memoKey names a method's settings in the layer's memo.
func memoKey(method string, p LayerPlan) string { return method + "|" + p.Describe() }

// remember keeps v under key for the rest of the run (see recall).
func (l *Layer) remember(key string, v any) {
	if l.memo == nil {
		l.memo = map[string]any{}
	}
	l.memo[key] = v
}

// recall returns what remember kept under key.
func (l *Layer) recall(key string) (any, bool) {
	v, ok := l.memo[key]
	return v, ok
}

// keepOnlyMemo drops every memo entry but key's: once a layer's plan is
// chosen, the other settings' factorizations are dead weight.
func (l *Layer) keepOnlyMemo(key string) {
	for k := range l.memo {
		if k != key {
			delete(l.memo, k)
		}
	}
}

// ConvAttrs are a Conv's attributes with ONNX defaults filled in.
type ConvAttrs struct {
	Group     int64
	Kernel    []int64 // spatial kernel sizes
	Strides   []int64
	Dilations []int64
	Pads      []int64 // [b1..bn, e1..en]; meaningful when AutoPad is NOTSET
	AutoPad   string  // NOTSET, SAME_UPPER, SAME_LOWER or VALID
}

// GemmAttrs are a Gemm's attributes with ONNX defaults filled in.
type GemmAttrs struct {
	Alpha, Beta    float32
	TransA, TransB bool
}

// Out and In are the sizes of the layer as a linear map (per group for Conv):
// Conv M/group × (C/group·Πk); Gemm and MatMul N × K.
func (l *Layer) Out() int { return l.matrixDims()[0] }

// In is the input size of the per-group matrix (see Out).
func (l *Layer) In() int { return l.matrixDims()[1] }

func (l *Layer) matrixDims() [2]int {
	d := l.Weight.Dims
	switch l.Kind {
	case ConvLayer:
		in := int(d[1])
		for _, k := range d[2:] {
			in *= int(k)
		}
		return [2]int{int(d[0] / l.Conv.Group), in}
	case GemmLayer:
		if l.Gemm.TransB {
			return [2]int{int(d[0]), int(d[1])}
		}
		return [2]int{int(d[1]), int(d[0])}
	}
	return [2]int{int(d[1]), int(d[0])}
}

// Groups is the Conv group count (1 for Gemm and MatMul).
func (l *Layer) Groups() int {
	if l.Kind == ConvLayer {
		return int(l.Conv.Group)
	}
	return 1
}

// Matrix returns group g's weight as a row-major Out×In float64 matrix
// (W·x = y orientation; Gemm's alpha is folded in).
func (l *Layer) Matrix(g int) ([]float64, error) {
	w, err := l.Weight.Float64s()
	if err != nil {
		return nil, err
	}
	out, in := l.Out(), l.In()
	switch l.Kind {
	case ConvLayer:
		if l.Groups() == 1 {
			return w, nil // Float64s made a fresh copy already
		}
		block := out * in
		return append([]float64(nil), w[g*block:(g+1)*block]...), nil
	case GemmLayer:
		m := w
		if !l.Gemm.TransB {
			m = transposeRowMajor(w, in, out)
		}
		if l.Gemm.Alpha != 1 {
			a := float64(l.Gemm.Alpha)
			for i := range m {
				m[i] *= a
			}
		}
		return m, nil
	}
	return transposeRowMajor(w, in, out), nil
}

// groupMatrices returns every group's Matrix, converting the stored weight
// once: a Conv's groups are contiguous blocks of one float64 copy.
func (l *Layer) groupMatrices() ([][]float64, error) {
	if l.Groups() == 1 {
		m, err := l.Matrix(0)
		return [][]float64{m}, err
	}
	w, err := l.Weight.Float64s()
	if err != nil {
		return nil, err
	}
	block := l.Out() * l.In()
	out := make([][]float64, l.Groups())
	for g := range out {
		out[g] = w[g*block : (g+1)*block : (g+1)*block]
	}
	return out, nil
}

func transposeRowMajor(a []float64, rows, cols int) []float64 {
	t := make([]float64, len(a))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

// IsDepthwise reports a Conv with one input channel per group.
func (l *Layer) IsDepthwise() bool {
	return l.Kind == ConvLayer && l.Weight.Dims[1] == 1 && l.Conv.Group > 1
}

// WeightParams counts the stored weight elements (bias excluded).
func (l *Layer) WeightParams() int64 { return int64(l.Weight.Len()) }

// FindLayers returns every node of g a method could replace, in graph order.
// A node is a candidate when its weight is constant; nodes whose weight is
// computed at run time, or that reach outside the default domain, are not.
func FindLayers(g *graph.Graph) []*Layer {
	idx := graph.NewIndex(g)
	var out []*Layer
	for _, n := range g.Nodes {
		if l, err := layerOf(g, idx, n); err == nil && l != nil {
			out = append(out, l)
		}
	}
	return out
}

// layerOf builds the Layer for n, or returns nil (not a weighted layer) or an
// error (a weighted layer we cannot read).
func layerOf(g *graph.Graph, idx *graph.Index, n *graph.Node) (*Layer, error) {
	if !n.IsDefaultDomain() || len(n.Outputs) != 1 {
		return nil, nil
	}
	l := &Layer{Node: n, Input: n.Input(0), Output: n.Outputs[0]}
	switch n.OpType {
	case "Conv":
		l.Kind = ConvLayer
	case "Gemm":
		l.Kind = GemmLayer
	case "MatMul":
		l.Kind = MatMulLayer
	default:
		return nil, nil
	}
	if l.Input == nil {
		return nil, nil
	}
	w, ok := graph.ConstTensor(g, idx, n.Input(1))
	if !ok || !w.DType.IsFloat() {
		return nil, nil
	}
	l.Weight = w
	l.Bias = n.Input(2)
	if b, ok := graph.ConstTensor(g, idx, l.Bias); ok {
		l.BiasConst = b
	}
	switch l.Kind {
	case ConvLayer:
		if len(w.Dims) < 3 {
			return nil, fmt.Errorf("node %s: Conv weight %v has no spatial axes", n.Label(), w.Dims)
		}
		c, err := convAttrsOf(n, w.Dims)
		if err != nil {
			return nil, err
		}
		l.Conv = c
	case GemmLayer:
		if len(w.Dims) != 2 {
			return nil, fmt.Errorf("node %s: Gemm weight %v is not a matrix", n.Label(), w.Dims)
		}
		l.Gemm = GemmAttrs{
			Alpha:  n.AttrFloat("alpha", 1),
			Beta:   n.AttrFloat("beta", 1),
			TransA: n.AttrInt("transA", 0) != 0,
			TransB: n.AttrInt("transB", 0) != 0,
		}
	case MatMulLayer:
		if len(w.Dims) != 2 {
			return nil, nil // batched constant operands are not a single linear map
		}
	}
	l.InShape = knownDims(l.Input)
	l.OutShape = knownDims(l.Output)
	l.Cost = graph.NodeCost(g, idx, n)
	return l, nil
}

func knownDims(v *graph.Value) []int64 {
	if v == nil || v.Type == nil || !v.Type.HasShape {
		return nil
	}
	d, ok := v.Type.Shape.Ints()
	if !ok {
		return nil
	}
	return d
}

func convAttrsOf(n *graph.Node, wdims []int64) (ConvAttrs, error) {
	sp := len(wdims) - 2
	ones := func() []int64 {
		s := make([]int64, sp)
		for i := range s {
			s[i] = 1
		}
		return s
	}
	c := ConvAttrs{
		Group:     n.AttrInt("group", 1),
		Kernel:    append([]int64(nil), wdims[2:]...),
		Strides:   append([]int64(nil), n.AttrInts("strides", ones())...),
		Dilations: append([]int64(nil), n.AttrInts("dilations", ones())...),
		Pads:      append([]int64(nil), n.AttrInts("pads", make([]int64, 2*sp))...),
		AutoPad:   n.AttrString("auto_pad", "NOTSET"),
	}
	if c.AutoPad == "" {
		c.AutoPad = "NOTSET"
	}
	if ks := n.AttrInts("kernel_shape", nil); ks != nil && !equalInts(ks, c.Kernel) {
		return c, fmt.Errorf("node %s: kernel_shape %v disagrees with weight %v", n.Label(), ks, wdims)
	}
	if c.Group < 1 || wdims[0]%c.Group != 0 {
		return c, fmt.Errorf("node %s: group %d does not divide %d output channels", n.Label(), c.Group, wdims[0])
	}
	if len(c.Strides) != sp || len(c.Dilations) != sp || len(c.Pads) != 2*sp {
		return c, fmt.Errorf("node %s: strides/dilations/pads do not match a %d-D kernel", n.Label(), sp)
	}
	return c, nil
}

func equalInts(a, b []int64) bool {
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

// pointwise is a 1×…×1, stride-1, unpadded conv of the same spatial rank.
func (c ConvAttrs) pointwise() ConvAttrs {
	sp := len(c.Kernel)
	p := ConvAttrs{Group: 1, AutoPad: "NOTSET", Pads: make([]int64, 2*sp)}
	for i := 0; i < sp; i++ {
		p.Kernel = append(p.Kernel, 1)
		p.Strides = append(p.Strides, 1)
		p.Dilations = append(p.Dilations, 1)
	}
	return p
}

// alongAxis keeps only spatial axis ax of the window: kernel, stride,
// dilation and padding there, 1/1/1/0 on the other axes. auto_pad stays,
// since SAME padding on an axis depends only on that axis.
func (c ConvAttrs) alongAxis(ax int) ConvAttrs {
	p := c.pointwise()
	p.AutoPad = c.AutoPad
	p.Kernel[ax] = c.Kernel[ax]
	p.Strides[ax] = c.Strides[ax]
	p.Dilations[ax] = c.Dilations[ax]
	sp := len(c.Kernel)
	p.Pads[ax], p.Pads[ax+sp] = c.Pads[ax], c.Pads[ax+sp]
	return p
}

// withGroup returns c with another group count.
func (c ConvAttrs) withGroup(g int64) ConvAttrs {
	c.Group = g
	return c
}

func (c ConvAttrs) attrs() []*graph.Attr {
	a := []*graph.Attr{
		graph.IntsAttr("kernel_shape", c.Kernel...),
		graph.IntsAttr("strides", c.Strides...),
		graph.IntsAttr("dilations", c.Dilations...),
		graph.IntAttr("group", c.Group),
	}
	if c.AutoPad == "NOTSET" {
		a = append(a, graph.IntsAttr("pads", c.Pads...))
	} else {
		a = append(a, graph.StringAttr("auto_pad", c.AutoPad))
	}
	return a
}

// outPositions is how many times the layer's weight is applied in one run:
// batch × output spatial positions for Conv, the product of the output's
// leading axes for Gemm and MatMul. 0 when the shapes are not known.
func (l *Layer) outPositions() int64 { return leadingPositions(l.Kind, l.OutShape) }

// inPositions is outPositions at the input's resolution (for factors that
// run before the strided window).
func (l *Layer) inPositions() int64 { return leadingPositions(l.Kind, l.InShape) }

func leadingPositions(k LayerKind, shape []int64) int64 {
	if len(shape) < 2 {
		return 0
	}
	n := int64(1)
	switch k {
	case ConvLayer:
		n = shape[0]
		for _, d := range shape[2:] {
			n *= d
		}
	default:
		for _, d := range shape[:len(shape)-1] {
			n *= d
		}
	}
	return n
}
