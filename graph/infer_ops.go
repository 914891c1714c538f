package graph

import "fmt"

// inferFuncs maps default-domain op types to their shape inference.
var inferFuncs map[string]inferFunc

func init() {
	inferFuncs = map[string]inferFunc{
		"Conv":                  inferConv,
		"ConvTranspose":         inferConvTranspose,
		"MaxPool":               inferPool,
		"AveragePool":           inferPool,
		"LpPool":                inferPool,
		"GlobalAveragePool":     inferGlobalPool,
		"GlobalMaxPool":         inferGlobalPool,
		"GlobalLpPool":          inferGlobalPool,
		"Gemm":                  inferGemm,
		"MatMul":                inferMatMul,
		"MatMulInteger":         inferMatMulInteger,
		"QLinearMatMul":         inferQLinearMatMul,
		"ConvInteger":           inferConvInteger,
		"QLinearConv":           inferQLinearConv,
		"DynamicQuantizeLinear": inferDynamicQuantize,
		"LSTM":                  inferRecurrent,
		"GRU":                   inferRecurrent,
		"RNN":                   inferRecurrent,
		"NonZero":               inferNonZero,
		"NonMaxSuppression":     inferNonMaxSuppression,
		"OneHot":                inferOneHot,
		"Where":                 inferWhere,
		"Dropout":               inferDropout,
		"Cast":                  inferCast,
		"CastLike":              inferCastLike,
		"BatchNormalization":    inferBatchNorm,
		"LayerNormalization":    inferLayerNorm,
		"Flatten":               inferFlatten,
		"Reshape":               inferReshape,
		"Transpose":             inferTranspose,
		"Concat":                inferConcat,
		"Split":                 inferSplit,
		"Slice":                 inferSlice,
		"Squeeze":               inferSqueeze,
		"Unsqueeze":             inferUnsqueeze,
		"Gather":                inferGather,
		"GatherElements":        inferGatherElements,
		"Shape":                 inferShape,
		"Size":                  inferSize,
		"ConstantOfShape":       inferConstantOfShape,
		"Constant":              inferConstant,
		"Einsum":                inferEinsum,
		"Pad":                   inferPad,
		"Resize":                inferResize,
		"Upsample":              inferResize,
		"TopK":                  inferTopK,
		"QuantizeLinear":        inferQuantize,
		"DequantizeLinear":      inferDequantize,
		"Expand":                inferExpand,
		"Tile":                  inferTile,
		"ArgMax":                inferArgReduce,
		"ArgMin":                inferArgReduce,
		"Range":                 inferRange,
		"If":                    inferIf,
		"Loop":                  inferLoop,
		"DepthToSpace":          inferDepthToSpace,
		"SpaceToDepth":          inferSpaceToDepth,
		"InstanceNormalization": inferSameShape,
		"GroupNormalization":    inferSameShape,
	}
	for _, op := range []string{
		"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Erf", "Exp",
		"Log", "Sqrt", "Neg", "Abs", "Softmax", "LogSoftmax", "Hardmax", "Identity", "Elu", "Selu",
		"Celu", "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Shrink", "Floor", "Ceil",
		"Round", "Reciprocal", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
		"Asinh", "Acosh", "Atanh", "LRN", "MeanVarianceNormalization", "LpNormalization", "Not",
		"BitwiseNot", "Trilu", "CumSum", "ReverseSequence", "Scatter", "ScatterElements",
		"ScatterND",
		// PRelu's slope broadcasts to X one way (and per channel before
		// opset 7): the result is shaped like X.
		"PRelu",
	} {
		inferFuncs[op] = inferSameShape
	}
	for _, op := range []string{"IsNaN", "IsInf"} {
		inferFuncs[op] = inferBoolSameShape
	}
	for _, op := range []string{
		"Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr",
		"BitwiseXor", "Max", "Min", "Sum", "Mean",
	} {
		inferFuncs[op] = inferBroadcast
	}
	for _, op := range []string{
		"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor",
	} {
		inferFuncs[op] = inferCompare
	}
	for _, op := range []string{
		"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
	} {
		inferFuncs[op] = inferReduce
	}
}

func one(t *ValueType) ([]*ValueType, error) { return []*ValueType{t}, nil }

func inferSameShape(c *nodeCtx) ([]*ValueType, error) { return one(c.typeLike(0, Undefined)) }

func inferBoolSameShape(c *nodeCtx) ([]*ValueType, error) { return one(c.typeLike(0, Bool)) }

func inferCast(c *nodeCtx) ([]*ValueType, error) {
	to := castTarget(c.n)
	if to == Undefined {
		return nil, fmt.Errorf("attribute to is missing or names no known type")
	}
	return one(c.typeLike(0, to))
}

// castTarget reads Cast's "to": a DataType number, or before opset 6 its
// name ("FLOAT", "INT64", …).
func castTarget(n *Node) DType {
	a := n.Attr("to")
	switch {
	case a == nil:
		return Undefined
	case a.Kind == AttrInt:
		return DType(a.I)
	case a.Kind == AttrString:
		names := map[string]DType{
			"FLOAT": Float32, "UINT8": Uint8, "INT8": Int8, "UINT16": Uint16, "INT16": Int16,
			"INT32": Int32, "INT64": Int64, "STRING": String, "BOOL": Bool, "FLOAT16": Float16,
			"DOUBLE": Float64, "UINT32": Uint32, "UINT64": Uint64, "COMPLEX64": Complex64,
			"COMPLEX128": Complex128, "BFLOAT16": BFloat16,
		}
		return names[string(a.S)]
	}
	return Undefined
}

func inferCastLike(c *nodeCtx) ([]*ValueType, error) { return one(c.typeLike(0, c.elem(1))) }

func inferDropout(c *nodeCtx) ([]*ValueType, error) {
	return []*ValueType{c.typeLike(0, Undefined), c.typeLike(0, Bool)}, nil
}

func inferBatchNorm(c *nodeCtx) ([]*ValueType, error) {
	outs := []*ValueType{c.typeLike(0, Undefined)}
	if x, ok := c.shape(0); ok && len(x) < 2 {
		return nil, fmt.Errorf("input rank %d; BatchNormalization needs (N, C, …)", len(x))
	}
	for i := 1; i <= 4; i++ {
		s, ok := c.shape(i)
		if x, xok := c.shape(0); ok && xok && (len(s) != 1 || !compatibleDim(s[0], x[1])) {
			return nil, fmt.Errorf("input %d shape %v does not match %v channels", i, s, x[1])
		}
	}
	// Training mode adds running mean and variance, shaped like input 3 and 4.
	outs = append(outs, c.typeLike(3, Undefined), c.typeLike(4, Undefined))
	return outs, nil
}

func inferLayerNorm(c *nodeCtx) ([]*ValueType, error) {
	outs := []*ValueType{c.typeLike(0, Undefined)}
	x, ok := c.shape(0)
	if !ok {
		return outs, nil
	}
	axis, err := normAxis(c.n.AttrInt("axis", -1), len(x))
	if err != nil {
		return nil, err
	}
	stat := append(Shape(nil), x[:axis]...)
	for range x[axis:] {
		stat = append(stat, Dim{Value: 1})
	}
	elem := DType(c.n.AttrInt("stash_type", int64(Float32)))
	return append(outs, tensorType(elem, stat), tensorType(elem, append(Shape(nil), stat...))), nil
}

func compatibleDim(a, b Dim) bool { return !a.Known() || !b.Known() || a.Value == b.Value }

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// broadcastDim combines two dimensions under numpy broadcasting.
func broadcastDim(a, b Dim) (Dim, bool) {
	switch {
	case a.Known() && a.Value == 1:
		return b, true
	case b.Known() && b.Value == 1:
		return a, true
	case a.Known() && b.Known():
		return a, a.Value == b.Value
	case a.Known():
		return a, true
	case b.Known():
		return b, true
	case a.Param != "" && a.Param == b.Param:
		return a, true
	}
	return unknownDim(), true
}

// broadcastShapes applies numpy broadcasting to shapes.
func broadcastShapes(shapes ...Shape) (Shape, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make(Shape, rank)
	for i := range out {
		out[i] = Dim{Value: 1}
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			b, ok := broadcastDim(out[off+i], d)
			if !ok {
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
			out[off+i] = b
		}
	}
	return out, nil
}

// broadcastInputs broadcasts the shapes of all present inputs.
func (c *nodeCtx) broadcastInputs(first int) (Shape, bool, error) {
	var shapes []Shape
	for i := first; i < len(c.n.Inputs); i++ {
		if !c.has(i) {
			continue
		}
		s, ok := c.shape(i)
		if !ok {
			return nil, false, nil
		}
		shapes = append(shapes, s)
	}
	if len(shapes) == 0 {
		return nil, false, nil
	}
	out, err := broadcastShapes(shapes...)
	return out, err == nil, err
}

func inferBroadcast(c *nodeCtx) ([]*ValueType, error) {
	// Before opset 7, B broadcast to A only, per the broadcast and axis
	// attributes: the result is shaped like A.
	if c.n.Attr("broadcast") != nil || (c.inf.opset > 0 && c.inf.opset < 7) {
		return one(c.typeLike(0, Undefined))
	}
	// Pow's result has the base's type; the others share one type.
	elem := c.elem(0)
	for i := 1; elem == Undefined && c.n.OpType != "Pow" && i < len(c.n.Inputs); i++ {
		elem = c.elem(i)
	}
	s, ok, err := c.broadcastInputs(0)
	if err != nil {
		return nil, err
	}
	if !ok {
		return one(elemType(elem))
	}
	return one(tensorType(elem, s))
}

func inferCompare(c *nodeCtx) ([]*ValueType, error) {
	s, ok, err := c.broadcastInputs(0)
	if err != nil {
		return nil, err
	}
	if !ok {
		return one(elemType(Bool))
	}
	return one(tensorType(Bool, s))
}

func inferWhere(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(1)
	if elem == Undefined {
		elem = c.elem(2)
	}
	s, ok, err := c.broadcastInputs(0)
	if err != nil {
		return nil, err
	}
	if !ok {
		return one(elemType(elem))
	}
	return one(tensorType(elem, s))
}

func inferGemm(c *nodeCtx) ([]*ValueType, error) {
	a, aok := c.shape(0)
	b, bok := c.shape(1)
	elem := c.elem(0)
	if !aok || !bok {
		return one(elemType(elem))
	}
	if len(a) != 2 || len(b) != 2 {
		return nil, fmt.Errorf("Gemm needs 2-D operands, got %v and %v", a, b)
	}
	m, ka := a[0], a[1]
	if c.n.AttrInt("transA", 0) != 0 {
		m, ka = a[1], a[0]
	}
	kb, n := b[0], b[1]
	if c.n.AttrInt("transB", 0) != 0 {
		kb, n = b[1], b[0]
	}
	if !compatibleDim(ka, kb) {
		return nil, fmt.Errorf("inner dimensions differ: A %v, B %v (transA=%d, transB=%d)", a, b, c.n.AttrInt("transA", 0), c.n.AttrInt("transB", 0))
	}
	out := Shape{m, n}
	if cs, ok := c.shape(2); ok {
		if _, err := broadcastShapes(out, cs); err != nil {
			return nil, fmt.Errorf("C %v does not broadcast to %v", cs, out)
		}
	}
	return one(tensorType(elem, out))
}

// matMulShape is numpy matmul's result shape.
func matMulShape(a, b Shape) (Shape, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("MatMul operands must not be scalars: %v, %v", a, b)
	}
	aa, bb := a, b
	if len(a) == 1 {
		aa = Shape{{Value: 1}, a[0]}
	}
	if len(b) == 1 {
		bb = Shape{b[0], {Value: 1}}
	}
	if !compatibleDim(aa[len(aa)-1], bb[len(bb)-2]) {
		return nil, fmt.Errorf("inner dimensions differ: %v × %v", a, b)
	}
	batch, err := broadcastShapes(aa[:len(aa)-2], bb[:len(bb)-2])
	if err != nil {
		return nil, err
	}
	out := batch
	if len(a) > 1 {
		out = append(out, aa[len(aa)-2])
	}
	if len(b) > 1 {
		out = append(out, bb[len(bb)-1])
	}
	return out, nil
}

func inferMatMul(c *nodeCtx) ([]*ValueType, error) { return c.matMulType(0, 1, c.elem(0)) }

// inferMatMulInteger covers MatMulInteger (a, b, a_zero_point, b_zero_point).
func inferMatMulInteger(c *nodeCtx) ([]*ValueType, error) { return c.matMulType(0, 1, Int32) }

// inferQLinearMatMul covers QLinearMatMul (a, a_scale, a_zero_point, b,
// b_scale, b_zero_point, y_scale, y_zero_point).
func inferQLinearMatMul(c *nodeCtx) ([]*ValueType, error) { return c.matMulType(0, 3, c.elem(7)) }

func (c *nodeCtx) matMulType(ai, bi int, elem DType) ([]*ValueType, error) {
	a, aok := c.shape(ai)
	b, bok := c.shape(bi)
	if !aok || !bok {
		return one(elemType(elem))
	}
	out, err := matMulShape(a, b)
	if err != nil {
		return nil, err
	}
	return one(tensorType(elem, out))
}

// dimProduct multiplies dims, or returns unknown when any is not known.
func dimProduct(s Shape) Dim {
	p := int64(1)
	for _, d := range s {
		if !d.Known() {
			if len(s) == 1 {
				return d
			}
			return unknownDim()
		}
		p *= d.Value
	}
	return Dim{Value: p}
}

// inferDynamicQuantize: y (uint8, shaped like x), y_scale and
// y_zero_point (scalars).
func inferDynamicQuantize(c *nodeCtx) ([]*ValueType, error) {
	return []*ValueType{c.typeLike(0, Uint8), tensorType(Float32, Shape{}), tensorType(Uint8, Shape{})}, nil
}

func inferQuantize(c *nodeCtx) ([]*ValueType, error) {
	elem := Uint8
	if c.has(2) && c.elem(2) != Undefined {
		elem = c.elem(2)
	} else if a := c.n.Attr("output_dtype"); a != nil && a.I != 0 {
		elem = DType(a.I)
	}
	return one(c.typeLike(0, elem))
}

func inferDequantize(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(1)
	if !elem.IsFloat() {
		elem = Float32
	}
	return one(c.typeLike(0, elem))
}

// inferRecurrent covers LSTM, GRU and RNN: X is (seq, batch, input), or
// (batch, seq, input) with layout=1. Y is (seq, directions, batch, hidden)
// (layout 1: batch, seq, directions, hidden); Y_h and Y_c are
// (directions, batch, hidden) (layout 1: batch, directions, hidden).
func inferRecurrent(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(0)
	unknown := []*ValueType{elemType(elem), elemType(elem), elemType(elem)}
	x, ok := c.shape(0)
	if !ok {
		return unknown, nil
	}
	if len(x) != 3 {
		return nil, fmt.Errorf("input X %v must be 3-D", x)
	}
	dirs := int64(1)
	if c.n.AttrString("direction", "forward") == "bidirectional" {
		dirs = 2
	}
	hidden := unknownDim()
	if h := c.n.AttrInt("hidden_size", 0); h > 0 {
		hidden = Dim{Value: h}
	}
	seq, batch := x[0], x[1]
	layout := c.n.AttrInt("layout", 0)
	if layout != 0 {
		seq, batch = x[1], x[0]
	}
	d := Dim{Value: dirs}
	y, state := Shape{seq, d, batch, hidden}, Shape{d, batch, hidden}
	if layout != 0 {
		y, state = Shape{batch, seq, d, hidden}, Shape{batch, d, hidden}
	}
	return []*ValueType{tensorType(elem, y), tensorType(elem, state), tensorType(elem, append(Shape(nil), state...))}, nil
}

// inferNonZero: int64 (rank of X, number of non-zeros), the latter data
// dependent.
func inferNonZero(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	if !ok {
		return one(tensorType(Int64, unknownShape(2)))
	}
	return one(tensorType(Int64, Shape{{Value: int64(len(x))}, unknownDim()}))
}

// inferNonMaxSuppression: int64 (selected boxes, 3), the count data
// dependent.
func inferNonMaxSuppression(c *nodeCtx) ([]*ValueType, error) {
	return one(tensorType(Int64, Shape{unknownDim(), {Value: 3}}))
}

// inferOneHot inserts depth at axis (default -1, the new last axis) into the
// indices' shape; the result has the values' element type.
func inferOneHot(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(2)
	ix, ok := c.shape(0)
	if !ok {
		return one(elemType(elem))
	}
	axis, err := normAxis(c.n.AttrInt("axis", -1), len(ix)+1)
	if err != nil {
		return nil, err
	}
	depth := unknownDim()
	if t, ok := c.constant(1); ok && t.Len() == 1 {
		if f, err := t.Float64s(); err == nil && f[0] >= 1 {
			depth = Dim{Value: int64(f[0])}
		}
	}
	out := append(append(append(Shape(nil), ix[:axis]...), depth), ix[axis:]...)
	return one(tensorType(elem, out))
}
