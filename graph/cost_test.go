package graph

import "testing"

func zeros(dims ...int64) *Tensor {
	n, _ := NumElements(dims)
	return NewFloat32("", dims, make([]float32, n))
}

func TestModelCost(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, Shape{{Param: "N"}, {Value: 3}, {Value: 32}, {Value: 32}})
	// Conv 3→16, 3×3, stride 2, pad 1: out 16×16.
	c1 := b.Node("Conv", "conv1", []*Value{x, b.Const("w1", zeros(16, 3, 3, 3)), b.Const("b1", zeros(16))}, 1,
		IntsAttr("strides", 2, 2), IntsAttr("pads", 1, 1, 1, 1))
	// Grouped conv 16→16, group 4 (4 input channels per group), pad 1.
	c2 := b.Node("Conv", "conv2", []*Value{c1.Outputs[0], b.Const("w2", zeros(16, 4, 3, 3))}, 1,
		IntAttr("group", 4), IntsAttr("pads", 1, 1, 1, 1))
	// ConvTranspose 16→8, 2×2 stride 2: out 32×32; weight from a Constant node.
	w3 := b.Op("Constant", "w3", nil, TensorAttr("value", zeros(16, 8, 2, 2)))
	c3 := b.Node("ConvTranspose", "deconv", []*Value{c2.Outputs[0], w3}, 1, IntsAttr("strides", 2, 2))
	gap := b.Op("GlobalAveragePool", "gap", []*Value{c3.Outputs[0]})
	flat := b.Op("Flatten", "flat", []*Value{gap})
	// Two Gemms share one stored weight and bias; the second reads them
	// through Identity, as torch exports do.
	wfc := b.Const("wfc", zeros(10, 8))
	bfc := b.Const("bfc", zeros(10))
	fc1 := b.Node("Gemm", "fc1", []*Value{flat, wfc, bfc}, 1, IntAttr("transB", 1))
	fc2 := b.Node("Gemm", "fc2", []*Value{flat, b.Op("Identity", "wfc_id", []*Value{wfc}), b.Op("Identity", "bfc_id", []*Value{bfc})}, 1, IntAttr("transB", 1))
	mm := b.Node("MatMul", "mm", []*Value{flat, b.Const("k", zeros(8, 4))}, 1)
	ein := b.Node("Einsum", "ein", []*Value{flat, b.Const("we", zeros(5, 8))}, 1, StringAttr("equation", "nc,oc->no"))
	// A MatMul of two activations holds no weight: not a layer.
	act := b.Node("MatMul", "act", []*Value{flat, b.Op("Transpose", "tr", []*Value{flat})}, 1)
	for _, n := range []*Node{fc1, fc2, mm, ein, act} {
		b.Output(n.Outputs[0])
	}
	m := modelOf(g, 13)

	layers, tot := ModelCost(m)
	// Expected figures from the formulas in NodeCost's documentation.
	want := []struct {
		name         string
		weight       []int64
		params, macs int64
	}{
		{"conv1", []int64{16, 3, 3, 3}, 16*27 + 16, 1 * 16 * 16 * 16 * 3 * 3 * 3},
		{"conv2", []int64{16, 4, 3, 3}, 16 * 36, 1 * 16 * 16 * 16 * 4 * 3 * 3},
		{"deconv", []int64{16, 8, 2, 2}, 16 * 8 * 4, 1 * 16 * 16 * 16 * 8 * 2 * 2},
		{"fc1", []int64{10, 8}, 90, 1 * 10 * 8},
		{"fc2", []int64{10, 8}, 90, 1 * 10 * 8},
		{"mm", []int64{8, 4}, 32, 1 * 4 * 8},
		{"ein", []int64{5, 8}, 40, 1 * 5 * 8},
	}
	if len(layers) != len(want) {
		t.Fatalf("%d layers, want %d: %+v", len(layers), len(want), layers)
	}
	var sumP, sumM int64
	for i, w := range want {
		l := layers[i]
		if l.Node.Name != w.name || l.Op != l.Node.OpType || !equalInts(l.WeightShape, w.weight) || l.Params != w.params || l.MACs != w.macs {
			t.Errorf("layer %d: %s %s weight %v params %d MACs %d; want %s %v %d %d",
				i, l.Node.Name, l.Op, l.WeightShape, l.Params, l.MACs, w.name, w.weight, w.params, w.macs)
		}
		sumP += w.params
		sumM += w.macs
	}
	// The deconv's MACs equal, for stride = kernel, one MAC per output
	// element per input channel: 8·32·32·16.
	if layers[2].MACs != 8*32*32*16 {
		t.Errorf("ConvTranspose MACs %d", layers[2].MACs)
	}
	if tot.Layers != len(want) || tot.Params != sumP || tot.MACs != sumM {
		t.Errorf("totals %+v, want layers %d params %d MACs %d", tot, len(want), sumP, sumM)
	}
	if tot.UniqueParams != sumP-90 {
		t.Errorf("unique params %d, want %d (the shared Gemm weight once)", tot.UniqueParams, sumP-90)
	}
	// ModelCost infers on the side: the model is untouched.
	if c1.Outputs[0].Type != nil {
		t.Error("ModelCost wrote inferred types into the model")
	}

	// NodeCost reads the model's own types: after InferShapes at batch 2
	// the MACs double.
	if err := InferShapes(m, map[string]Shape{"x": KnownShape(2, 3, 32, 32)}); err != nil {
		t.Fatal(err)
	}
	idx := NewIndex(g)
	for i, n := range []*Node{c1, c2, c3, fc1, fc2, mm, ein} {
		lc := NodeCost(g, idx, n)
		if lc.Params != want[i].params || lc.MACs != 2*want[i].macs {
			t.Errorf("NodeCost(%s) = params %d MACs %d, want %d %d", n.Name, lc.Params, lc.MACs, want[i].params, 2*want[i].macs)
		}
	}
}

func TestNodeCostUnknownShapes(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, nil)
	conv := b.Node("Conv", "conv", []*Value{x, b.Const("w", zeros(4, 2, 3, 3))}, 1)
	lc := NodeCost(g, nil, conv)
	if lc.Params != 72 || lc.MACs != 0 || !equalInts(lc.WeightShape, []int64{4, 2, 3, 3}) {
		t.Errorf("unknown input shape: %+v", lc)
	}
}

func TestModelCostQuantizedWeights(t *testing.T) {
	// QDQ: Conv(x, DequantizeLinear(int8 W, scale, zp)) and
	// MatMul(x, DequantizeLinear(int8 K)): the layers count the quantized
	// tensors' elements.
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(1, 2, 5, 5))
	scale := b.Const("scale", NewFloat32("", nil, []float32{0.1}))
	zp := b.Const("zp", &Tensor{DType: Int8, Dims: []int64{}, Raw: []byte{0}})
	wq := b.Const("wq", &Tensor{DType: Int8, Dims: []int64{3, 2, 3, 3}, Raw: make([]byte, 54)})
	w := b.Op("DequantizeLinear", "dq", []*Value{wq, scale, zp})
	conv := b.Op("Conv", "conv", []*Value{x, w})
	flat := b.Op("Flatten", "flat", []*Value{conv})
	kq := b.Const("kq", &Tensor{DType: Int8, Dims: []int64{27, 4}, Raw: make([]byte, 108)})
	k := b.Op("DequantizeLinear", "dqk", []*Value{kq, scale, zp})
	b.Output(b.Op("MatMul", "mm", []*Value{flat, k}))
	layers, tot := ModelCost(modelOf(g, 13))
	if len(layers) != 2 {
		t.Fatalf("%d layers", len(layers))
	}
	if l := layers[0]; l.Params != 54 || l.MACs != 3*3*3*2*3*3 || !equalInts(l.WeightShape, []int64{3, 2, 3, 3}) {
		t.Errorf("conv %+v", l)
	}
	if l := layers[1]; l.Params != 108 || l.MACs != 4*27 {
		t.Errorf("matmul %+v", l)
	}
	if tot.UniqueParams != 162 {
		t.Errorf("unique %d", tot.UniqueParams)
	}
}

func TestModelCostQOperatorLayers(t *testing.T) {
	// QLinearConv and QLinearMatMul (the QOperator format) are layers too;
	// their weights are inputs 3, biases input 8.
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	u8 := func(dims ...int64) *Tensor {
		n, _ := NumElements(dims)
		return &Tensor{DType: Uint8, Dims: dims, Raw: make([]byte, n)}
	}
	scale := b.Const("s", NewFloat32("", nil, []float32{0.1}))
	zp := b.Const("zp", u8())
	x := b.Input("x", Uint8, KnownShape(1, 2, 6, 6))
	bias := b.Const("bias", &Tensor{DType: Int32, Dims: []int64{4}, Raw: make([]byte, 16)})
	conv := b.Op("QLinearConv", "qconv", []*Value{x, scale, zp, b.Const("w", u8(4, 2, 3, 3)), scale, zp, scale, zp, bias})
	a := b.Input("a", Uint8, KnownShape(3, 5))
	mm := b.Op("QLinearMatMul", "qmm", []*Value{a, scale, zp, b.Const("k", u8(5, 7)), scale, zp, scale, zp})
	b.Output(conv)
	b.Output(mm)
	layers, tot := ModelCost(modelOf(g, 13))
	if len(layers) != 2 {
		t.Fatalf("%d layers", len(layers))
	}
	if l := layers[0]; l.Params != 72+4 || l.MACs != 4*4*4*2*9 || !equalInts(l.WeightShape, []int64{4, 2, 3, 3}) {
		t.Errorf("QLinearConv %+v", l)
	}
	if l := layers[1]; l.Params != 35 || l.MACs != 3*7*5 || !equalInts(l.WeightShape, []int64{5, 7}) {
		t.Errorf("QLinearMatMul %+v", l)
	}
	if tot.Params != 72+4+35 {
		t.Errorf("totals %+v", tot)
	}
}

// A biased Linear exported as MatMul + Add counts its bias like Gemm's C.
func TestMatMulBiasAddCountsAsParams(t *testing.T) {
	g := &Graph{}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(2, 8))
	w := b.Const("w", NewFloat32("", []int64{8, 4}, make([]float32, 32)))
	bias := b.Const("bias", NewFloat32("", []int64{4}, make([]float32, 4)))
	y := b.Op("MatMul", "mm", []*Value{x, w})
	b.Output(b.Op("Add", "add", []*Value{y, bias}))
	m := &Model{IRVersion: 8, Opsets: []OpsetImport{{Version: 13}}, Graph: g}
	layers, tot := ModelCost(m)
	if len(layers) != 1 || layers[0].Params != 36 || tot.Params != 36 || tot.UniqueParams != 36 {
		t.Fatalf("layers %+v totals %+v, want one layer of 32+4 params", layers, tot)
	}
	// A second reader of the MatMul output makes the Add no longer its bias.
	b.Output(y)
	if _, tot := ModelCost(m); tot.Params != 32 {
		t.Fatalf("params %d with the MatMul output also read elsewhere, want 32", tot.Params)
	}
}

// A factorized layer's bias Add may sit behind layout-only ops (DeBut's
// output Reshape/Transpose); it is still the layer's bias. A residual Add
// (no constant operand) and arithmetic in between are not.
func TestBiasAddBehindLayoutOpsCountsAsParams(t *testing.T) {
	build := func(between string, constBias bool) *Model {
		g := &Graph{}
		b := NewBuilder(g)
		x := b.Input("x", Float32, KnownShape(2, 8))
		w := b.Const("w", NewFloat32("", []int64{8, 4}, make([]float32, 32)))
		y := b.Op("MatMul", "mm", []*Value{x, w})
		shape := b.Const("shape", NewInt64("", []int64{2}, []int64{4, 2}))
		switch between {
		case "Reshape":
			y = b.Op("Reshape", "r", []*Value{y, shape})
		case "Relu":
			y = b.Op("Relu", "relu", []*Value{y})
		}
		y = b.Op("Transpose", "t", []*Value{y})
		other := x
		if constBias {
			other = b.Const("bias", NewFloat32("", []int64{1}, []float32{0}))
		}
		b.Output(b.Op("Add", "add", []*Value{y, other}))
		return &Model{IRVersion: 8, Opsets: []OpsetImport{{Version: 13}}, Graph: g}
	}
	for _, c := range []struct {
		between   string
		constBias bool
		want      int64
	}{{"Reshape", true, 33}, {"", true, 33}, {"Relu", true, 32}, {"Reshape", false, 32}} {
		if _, tot := ModelCost(build(c.between, c.constBias)); tot.Params != c.want || tot.UniqueParams != c.want {
			t.Errorf("MatMul→%s→Transpose→Add (constant operand %v): params %d, unique %d, want %d",
				c.between, c.constBias, tot.Params, tot.UniqueParams, c.want)
		}
	}
}

// A bias reshaped for broadcasting before the Add (DeBut's conv chains) is
// still the same parameters.
func TestReshapedBiasAddCountsAsParams(t *testing.T) {
	g := &Graph{}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(2, 8))
	w := b.Const("w", NewFloat32("", []int64{8, 4}, make([]float32, 32)))
	bias := b.Const("bias", NewFloat32("", []int64{4}, make([]float32, 4)))
	column := b.Op("Reshape", "column", []*Value{bias, b.Const("shape", NewInt64("", []int64{2}, []int64{1, 4}))})
	b.Output(b.Op("Add", "add", []*Value{b.Op("MatMul", "mm", []*Value{x, w}), column}))
	m := &Model{IRVersion: 8, Opsets: []OpsetImport{{Version: 13}}, Graph: g}
	if _, tot := ModelCost(m); tot.Params != 36 || tot.UniqueParams != 36 {
		t.Fatalf("params %d, unique %d, want 32 weights + 4 reshaped biases", tot.Params, tot.UniqueParams)
	}
}
