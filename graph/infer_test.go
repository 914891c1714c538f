package graph

import (
	"strings"
	"testing"
)

func modelOf(g *Graph, opset int64) *Model {
	return &Model{IRVersion: 8, Opsets: []OpsetImport{{Version: opset}}, Graph: g}
}

func shapeOf(t *testing.T, v *Value) Shape {
	t.Helper()
	if v.Type == nil || !v.Type.HasShape {
		t.Fatalf("value %s has no inferred shape", v.Name)
	}
	return v.Type.Shape
}

func wantShape(t *testing.T, v *Value, want string) {
	t.Helper()
	if got := shapeOf(t, v).String(); got != want {
		t.Errorf("%s: shape %s, want %s", v.Name, got, want)
	}
}

// sameSpec is the ONNX Conv spec's auto_pad SAME rule, written out here
// independently of the implementation: output = ceil(in/stride),
// pad = (output−1)·stride + ((k−1)·dil+1) − in, the odd unit at the end for
// SAME_UPPER and at the beginning for SAME_LOWER.
func sameSpec(in, k, s, d int64, upper bool) (out, begin, end int64) {
	out = (in + s - 1) / s
	pad := (out-1)*s + (k-1)*d + 1 - in
	if pad < 0 {
		pad = 0
	}
	if upper {
		return out, pad / 2, pad - pad/2
	}
	return out, pad - pad/2, pad / 2
}

func TestResolveConvPadsSame(t *testing.T) {
	for _, mode := range []string{"SAME_UPPER", "SAME_LOWER"} {
		for in := int64(1); in <= 13; in++ {
			for s := int64(1); s <= 4; s++ {
				for k := int64(1); k <= 5; k++ {
					for d := int64(1); d <= 3; d++ {
						n := &Node{Name: "c", OpType: "Conv", Attrs: []*Attr{
							StringAttr("auto_pad", mode), IntsAttr("strides", s), IntsAttr("dilations", d)}}
						pads, err := ResolveConvPads(n, []int64{in}, []int64{k})
						if err != nil {
							t.Fatal(err)
						}
						out, b, e := sameSpec(in, k, s, d, mode == "SAME_UPPER")
						if pads[0] != b || pads[1] != e {
							t.Fatalf("%s in=%d k=%d s=%d d=%d: pads %v, want [%d %d]", mode, in, k, s, d, pads, b, e)
						}
						if got := ConvOutputSize(in, k, s, d, pads[0], pads[1]); got != out {
							t.Fatalf("%s in=%d k=%d s=%d d=%d: output %d, want %d", mode, in, k, s, d, got, out)
						}
					}
				}
			}
		}
	}
}

func TestResolveConvPadsExplicitAndValid(t *testing.T) {
	n := &Node{Name: "c", OpType: "Conv", Attrs: []*Attr{IntsAttr("pads", 1, 2, 3, 4)}}
	pads, err := ResolveConvPads(n, []int64{10, 10}, []int64{3, 3})
	if err != nil || !equalInts(pads, []int64{1, 2, 3, 4}) {
		t.Fatalf("NOTSET: %v %v", pads, err)
	}
	n = &Node{Name: "c", OpType: "Conv", Attrs: []*Attr{StringAttr("auto_pad", "VALID"), IntsAttr("pads", 1, 1, 1, 1)}}
	if pads, err = ResolveConvPads(n, []int64{10, 10}, []int64{3, 3}); err != nil || !equalInts(pads, []int64{0, 0, 0, 0}) {
		t.Fatalf("VALID: %v %v", pads, err)
	}
	n = &Node{Name: "bad", OpType: "Conv", Attrs: []*Attr{StringAttr("auto_pad", "SAME")}}
	if _, err = ResolveConvPads(n, []int64{10}, []int64{3}); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("unknown auto_pad accepted: %v", err)
	}
	n = &Node{Name: "c", OpType: "Conv", Attrs: []*Attr{IntsAttr("pads", 1, 1)}}
	if _, err = ResolveConvPads(n, []int64{10, 10}, []int64{3, 3}); err == nil {
		t.Fatal("pads of the wrong length accepted")
	}
	n = &Node{Name: "c", OpType: "Conv", Attrs: []*Attr{StringAttr("auto_pad", "SAME_UPPER")}}
	if _, err = ResolveConvPads(n, []int64{-1}, []int64{3}); err == nil {
		t.Fatal("SAME with unknown input size accepted")
	}
}

func TestConvOutputSize(t *testing.T) {
	// floor((in + pb + pe − ((k−1)·d + 1)) / s) + 1
	cases := []struct{ in, k, s, d, pb, pe, want int64 }{
		{224, 7, 2, 1, 3, 3, 112},
		{112, 3, 2, 1, 1, 1, 56},
		{7, 3, 1, 2, 0, 0, 3},
		{10, 3, 3, 1, 0, 2, 4},
		{2, 5, 1, 1, 0, 0, 0}, // kernel longer than the input
	}
	for _, c := range cases {
		if got := ConvOutputSize(c.in, c.k, c.s, c.d, c.pb, c.pe); got != c.want {
			t.Errorf("%+v: got %d", c, got)
		}
	}
}

func TestInferShapeDataPropagation(t *testing.T) {
	// Older torch exports flatten with Shape → Gather → Unsqueeze → Concat → Reshape.
	g := &Graph{Name: "flatten"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, Shape{{Param: "N"}, {Value: 3}, {Value: 4}, {Value: 5}})
	shape := b.Op("Shape", "shape", []*Value{x})
	zero := b.Const("zero", NewInt64("", nil, []int64{0}))
	n := b.Op("Gather", "gather", []*Value{shape, zero}, IntAttr("axis", 0))
	axes := b.Const("axes", NewInt64("", []int64{1}, []int64{0}))
	u := b.Op("Unsqueeze", "unsq", []*Value{n, axes})
	minus1 := b.Const("m1", NewInt64("", []int64{1}, []int64{-1}))
	cat := b.Op("Concat", "cat", []*Value{u, minus1}, IntAttr("axis", 0))
	y := b.Op("Reshape", "reshape", []*Value{x, cat})
	// Reshape to [-1, 20] with a symbolic batch: -1 must be N·3.
	shape2 := b.Const("s2", NewInt64("", []int64{3}, []int64{0, -1, 20}))
	z := b.Op("Reshape", "reshape2", []*Value{x, shape2})
	sym := b.Const("s3", NewInt64("", []int64{2}, []int64{-1, 60}))
	w := b.Op("Reshape", "reshape3", []*Value{x, sym})
	b.Output(y)
	b.Output(z)
	b.Output(w)
	if err := InferShapes(modelOf(g, 13), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, shape, "[4]")
	wantShape(t, n, "[]")
	wantShape(t, cat, "[2]")
	wantShape(t, y, "[N,60]")
	wantShape(t, z, "[N,3,20]")
	wantShape(t, w, "[N,60]")
	if shape.Type.Elem != Int64 || y.Type.Elem != Float32 {
		t.Errorf("element types %s %s", shape.Type.Elem, y.Type.Elem)
	}
}

func TestInferShapesInputOverride(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, Shape{{Param: "batch"}, {Value: 3}, {Param: "h"}, {Param: "w"}})
	w := b.Const("w", NewFloat32("", []int64{8, 3, 3, 3}, make([]float32, 8*27)))
	y := b.Op("Conv", "conv", []*Value{x, w}, IntsAttr("pads", 1, 1, 1, 1))
	p := b.Op("MaxPool", "pool", []*Value{y}, IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 2, 2))
	b.Output(p)
	m := modelOf(g, 13)
	if err := InferShapes(m, nil); err != nil {
		t.Fatal(err)
	}
	// Stride 1 with "same" explicit pads keeps symbolic sizes; stride 2 cannot.
	wantShape(t, y, "[batch,8,h,w]")
	wantShape(t, p, "[batch,8,?,?]")
	if err := InferShapes(m, map[string]Shape{"x": KnownShape(2, 3, 32, 30)}); err != nil {
		t.Fatal(err)
	}
	wantShape(t, x, "[2,3,32,30]")
	wantShape(t, p, "[2,8,16,15]")
	if x.Type.Elem != Float32 {
		t.Errorf("override lost the element type: %s", x.Type.Elem)
	}
	if err := InferShapes(m, map[string]Shape{"nope": KnownShape(1)}); err == nil {
		t.Error("override of a missing input accepted")
	}
}

func TestInferShapesContradiction(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(1, 3, 32, 32))
	w := b.Const("w", NewFloat32("", []int64{8, 3, 3, 3}, make([]float32, 8*27)))
	y := b.Op("Conv", "the_conv", []*Value{x, w})
	y.Type = &ValueType{Elem: Float32, HasShape: true, Shape: KnownShape(1, 8, 32, 32)}
	b.Output(y)
	err := InferShapes(modelOf(g, 13), nil)
	if err == nil || !strings.Contains(err.Error(), "the_conv") {
		t.Fatalf("contradiction not reported with the node name: %v", err)
	}
	// A declared symbolic or unknown dim is refined, not contradicted.
	y.Type = &ValueType{Elem: Float32, HasShape: true, Shape: Shape{{Param: "n"}, {Value: 8}, {Value: -1}, {Value: -1}}}
	if err := InferShapes(modelOf(g, 13), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, y, "[1,8,30,30]")
	// Element type contradictions count too.
	y.Type = &ValueType{Elem: Float64}
	if err := InferShapes(modelOf(g, 13), nil); err == nil {
		t.Fatal("element type contradiction accepted")
	}
}

func TestInferShapesUnknownOpsAndDomains(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(2, 3))
	u := b.Op("NoSuchOp", "mystery", []*Value{x})
	custom := b.Node("Relu", "custom", []*Value{x}, 1)
	custom.Domain = "com.example"
	r := b.Op("Relu", "relu", []*Value{u})
	b.Output(r)
	b.Output(custom.Outputs[0])
	if err := InferShapes(modelOf(g, 13), nil); err != nil {
		t.Fatal(err)
	}
	if u.Type != nil || custom.Outputs[0].Type != nil || r.Type != nil {
		t.Errorf("unknown ops got types: %v %v %v", u.Type, custom.Outputs[0].Type, r.Type)
	}
}

func TestInferShapesMisc(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(1, 3, 6, 6))
	// ceil_mode: a window that would start in the end padding is dropped
	// (ONNX ≥1.16 wording, as in PyTorch): ceil((6−1)/4)+1 = 3 → 2.
	pool := b.Op("MaxPool", "pool", []*Value{x}, IntsAttr("kernel_shape", 1, 1), IntsAttr("strides", 4, 4), IntAttr("ceil_mode", 1))
	// Split with num_outputs (opset 18): 10 → 4, 4, 2.
	v := b.Input("v", Float32, KnownShape(10, 2))
	split := b.Node("Split", "split", []*Value{v}, 3, IntAttr("num_outputs", 3))
	// Constant node forms.
	c1 := b.Op("Constant", "c1", nil, TensorAttr("value", NewFloat32("", []int64{2, 2}, []float32{1, 2, 3, 4})))
	c2 := b.Op("Constant", "c2", nil, &Attr{Name: "value_ints", Kind: AttrInts, Ints: []int64{1, 2, 3}})
	c3 := b.Op("Constant", "c3", nil, FloatAttr("value_float", 2))
	// ConstantOfShape fed by a Constant, with an int32 value.
	fill := b.Op("ConstantOfShape", "fill", []*Value{c2}, TensorAttr("value", &Tensor{DType: Int32, Dims: []int64{1}, Raw: make([]byte, 4)}))
	// Slice before opset 10 uses attributes; 2..7 and 0..-1.
	sl := b.Op("Slice", "slice", []*Value{v}, IntsAttr("starts", 2, 0), IntsAttr("ends", 7, -1), IntsAttr("axes", 0, 1))
	for _, o := range split.Outputs {
		b.Output(o)
	}
	for _, o := range []*Value{pool, c1, c2, c3, fill, sl} {
		b.Output(o)
	}
	if err := InferShapes(modelOf(g, 18), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, pool, "[1,3,2,2]")
	wantShape(t, split.Outputs[0], "[4,2]")
	wantShape(t, split.Outputs[2], "[2,2]")
	wantShape(t, c1, "[2,2]")
	wantShape(t, c2, "[3]")
	wantShape(t, c3, "[]")
	wantShape(t, fill, "[1,2,3]")
	wantShape(t, sl, "[5,1]")
	if fill.Type.Elem != Int32 || c2.Type.Elem != Int64 {
		t.Errorf("element types %s %s", fill.Type.Elem, c2.Type.Elem)
	}
}

func TestInferEinsum(t *testing.T) {
	// onnx 1.12 infers only the rank for Einsum; these are by hand from the
	// subscripts.
	cases := []struct {
		eq     string
		shapes []Shape
		want   string
	}{
		{"ij,jk->ik", []Shape{KnownShape(3, 4), KnownShape(4, 5)}, "[3,5]"},
		{"ij,jk", []Shape{KnownShape(3, 4), KnownShape(4, 5)}, "[3,5]"},
		{"ba", []Shape{KnownShape(3, 4)}, "[4,3]"},
		{"i,j", []Shape{KnownShape(3), KnownShape(4)}, "[3,4]"},
		{"ii->i", []Shape{KnownShape(4, 4)}, "[4]"},
		{"ij->", []Shape{KnownShape(4, 5)}, "[]"},
		{"...ij,jk->...ik", []Shape{KnownShape(7, 2, 3, 4), KnownShape(4, 5)}, "[7,2,3,5]"},
		{"...ij,...jk", []Shape{KnownShape(2, 1, 3, 4), KnownShape(6, 4, 5)}, "[2,6,3,5]"},
		{"nchw,oc->nohw", []Shape{{{Param: "N"}, {Value: 8}, {Value: 5}, {Value: 5}}, KnownShape(16, 8)}, "[N,16,5,5]"},
		{"b i j , b j k -> b i k", []Shape{KnownShape(2, 3, 4), KnownShape(2, 4, 5)}, "[2,3,5]"},
	}
	for _, c := range cases {
		g := &Graph{Name: "g"}
		b := NewBuilder(g)
		var ins []*Value
		for _, s := range c.shapes {
			ins = append(ins, b.Input("x", Float32, s))
		}
		y := b.Op("Einsum", "e", ins, StringAttr("equation", c.eq))
		b.Output(y)
		if err := InferShapes(modelOf(g, 13), nil); err != nil {
			t.Fatalf("%s: %v", c.eq, err)
		}
		if got := shapeOf(t, y).String(); got != c.want {
			t.Errorf("%s: %s, want %s", c.eq, got, c.want)
		}
	}
	for _, eq := range []string{"ij,jk->ik", "ij,jk->iz", "i.j"} {
		g := &Graph{Name: "g"}
		b := NewBuilder(g)
		y := b.Op("Einsum", "e", []*Value{b.Input("a", Float32, KnownShape(3, 4)), b.Input("b", Float32, KnownShape(5, 6))}, StringAttr("equation", eq))
		b.Output(y)
		if err := InferShapes(modelOf(g, 13), nil); err == nil {
			t.Errorf("%s with mismatched operands accepted", eq)
		}
	}
}

func TestInferShapesIfSubgraph(t *testing.T) {
	g := &Graph{Name: "main"}
	b := NewBuilder(g)
	cond := b.Input("cond", Bool, Shape{})
	x := b.Input("x", Float32, KnownShape(2, 3))
	// Both branches read x from the outer scope.
	thenG := &Graph{Name: "then"}
	tb := NewBuilder(thenG)
	tOut := tb.Op("Relu", "t_relu", []*Value{x})
	tb.Output(tOut)
	elseG := &Graph{Name: "else"}
	eb := NewBuilder(elseG)
	eOut := eb.Op("Neg", "e_neg", []*Value{x})
	eb.Output(eOut)
	y := b.Op("If", "if", []*Value{cond}, &Attr{Name: "then_branch", Kind: AttrGraph, G: thenG}, &Attr{Name: "else_branch", Kind: AttrGraph, G: elseG})
	b.Output(y)
	if err := InferShapes(modelOf(g, 13), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, tOut, "[2,3]")
	wantShape(t, y, "[2,3]")
}

func TestInferShapesNoPanicOnMalformed(t *testing.T) {
	// Malformed attributes and inputs must give errors or unknown shapes,
	// never a panic.
	mk := func(op string, inputs []Shape, attrs ...*Attr) error {
		g := &Graph{Name: "g"}
		b := NewBuilder(g)
		var ins []*Value
		for _, s := range inputs {
			ins = append(ins, b.Input("x", Float32, s))
		}
		b.Output(b.Op(op, "n", ins, attrs...))
		return InferShapes(modelOf(g, 13), nil)
	}
	cases := []struct {
		op     string
		inputs []Shape
		attrs  []*Attr
	}{
		{"Conv", []Shape{KnownShape(1, 3, 5, 5), KnownShape(2, 3, 3, 3)}, []*Attr{IntsAttr("strides", 0, 1)}},
		{"Conv", []Shape{KnownShape(1, 3, 5, 5), KnownShape(2, 3, 3, 3)}, []*Attr{IntsAttr("pads", 1)}},
		{"Conv", []Shape{KnownShape(1, 3), KnownShape(2, 3)}, nil},
		{"Conv", []Shape{KnownShape(1, 3, 2, 2), KnownShape(2, 3, 3, 3)}, nil},
		{"MaxPool", []Shape{KnownShape(1, 3, 5, 5)}, nil},
		{"Transpose", []Shape{KnownShape(1, 3)}, []*Attr{IntsAttr("perm", 0, 0)}},
		{"Flatten", []Shape{KnownShape(1, 3)}, []*Attr{IntAttr("axis", 5)}},
		{"Concat", []Shape{KnownShape(1, 3), KnownShape(1, 3, 4)}, []*Attr{IntAttr("axis", 0)}},
		{"Gather", []Shape{KnownShape(1, 3), KnownShape(2)}, []*Attr{IntAttr("axis", 7)}},
		{"Split", []Shape{KnownShape(7, 3)}, []*Attr{IntsAttr("split", 6)}},
		{"Squeeze", []Shape{KnownShape(2, 3)}, []*Attr{IntsAttr("axes", 0)}},
		{"Unsqueeze", []Shape{KnownShape(2, 3)}, []*Attr{IntsAttr("axes", 9)}},
		{"Gemm", []Shape{KnownShape(2, 3, 4), KnownShape(4, 5)}, nil},
		{"MatMul", []Shape{{}, KnownShape(4, 5)}, nil},
		{"Einsum", []Shape{KnownShape(2, 3)}, []*Attr{StringAttr("equation", "ijk->i")}},
		{"TopK", []Shape{KnownShape(2, 3)}, []*Attr{IntAttr("axis", 4)}},
		{"ConvTranspose", []Shape{KnownShape(1, 3, 5, 5), KnownShape(3, 2, 3, 3)}, []*Attr{IntsAttr("output_shape", 1, 2, 3)}},
	}
	for _, c := range cases {
		if err := mk(c.op, c.inputs, c.attrs...); err == nil {
			t.Errorf("%s %v %v: accepted", c.op, c.inputs, c.attrs)
		} else if strings.Contains(err.Error(), "internal error") {
			t.Errorf("%s: %v", c.op, err)
		}
	}
}

func TestInferLegacyForms(t *testing.T) {
	// onnx 1.12 infers nothing for these opset-1 forms; expected shapes come
	// from the operator definitions: Concat-1 defaults to axis 1, Pad-1
	// names its pads "paddings", Cast-1 names the target type.
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(2, 3))
	y := b.Input("y", Float32, KnownShape(2, 4))
	cat := b.Op("Concat", "cat", []*Value{x, y})
	pad := b.Op("Pad", "pad", []*Value{x}, IntsAttr("paddings", 1, 0, 2, 1))
	cast := b.Op("Cast", "cast", []*Value{x}, StringAttr("to", "INT64"))
	prelu := b.Op("PRelu", "prelu", []*Value{y, b.Input("slope", Float32, KnownShape(1))})
	for _, v := range []*Value{cat, pad, cast, prelu} {
		b.Output(v)
	}
	if err := InferShapes(modelOf(g, 1), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, cat, "[2,7]")
	wantShape(t, pad, "[5,4]")
	wantShape(t, cast, "[2,3]")
	wantShape(t, prelu, "[2,4]")
	if cast.Type.Elem != Int64 {
		t.Errorf("Cast-1 to INT64 gave %s", cast.Type.Elem)
	}
}

func TestInferResizeSizesFromShape(t *testing.T) {
	// FPN-style upsampling: resize x to y's spatial size, with sizes built
	// from Shape → Slice → Concat and a symbolic batch.
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, Shape{{Param: "N"}, {Value: 8}, {Value: 10}, {Value: 12}})
	y := b.Input("y", Float32, Shape{{Param: "N"}, {Value: 4}, {Value: 20}, {Value: 24}})
	i64 := func(v ...int64) *Value { return b.Const("c", NewInt64("", []int64{int64(len(v))}, v)) }
	nc := b.Op("Slice", "nc", []*Value{b.Op("Shape", "sx", []*Value{x}), i64(0), i64(2)})
	hw := b.Op("Slice", "hw", []*Value{b.Op("Shape", "sy", []*Value{y}), i64(2), i64(4)})
	sizes := b.Op("Concat", "sizes", []*Value{nc, hw}, IntAttr("axis", 0))
	empty := b.Const("empty", NewFloat32("", []int64{0}, nil))
	up := b.Op("Resize", "up", []*Value{x, empty, empty, sizes}, StringAttr("mode", "nearest"))
	b.Output(up)
	if err := InferShapes(modelOf(g, 13), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, sizes, "[4]")
	wantShape(t, up, "[N,8,20,24]")
}

func TestInferShapesLoop(t *testing.T) {
	// Loop(M, cond, acc[2,3]) with a body emitting cond, acc+x and one scan
	// output row[3]: outputs acc [2,3] and the stacked rows [?,3].
	g := &Graph{Name: "main"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(2, 3))
	trip := b.Const("M", NewInt64("", nil, []int64{4}))
	cond := b.Input("cond", Bool, Shape{})
	acc0 := b.Input("acc0", Float32, KnownShape(2, 3))
	body := &Graph{Name: "body"}
	bb := NewBuilder(body)
	bb.Input("i", Int64, Shape{})
	bcond := bb.Input("c", Bool, Shape{})
	acc := bb.Input("acc", Float32, nil) // body input declared without a shape
	next := bb.Op("Add", "next", []*Value{acc, x})
	row := bb.Op("ReduceSum", "row", []*Value{next}, IntsAttr("axes", 0), IntAttr("keepdims", 0))
	bb.Output(bb.Op("Identity", "c_out", []*Value{bcond}))
	bb.Output(next)
	bb.Output(row)
	loop := b.Node("Loop", "loop", []*Value{trip, cond, acc0}, 2, &Attr{Name: "body", Kind: AttrGraph, G: body})
	b.Output(loop.Outputs[0])
	b.Output(loop.Outputs[1])
	if err := InferShapes(modelOf(g, 13), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, next, "[2,3]")
	wantShape(t, loop.Outputs[0], "[2,3]")
	wantShape(t, loop.Outputs[1], "[?,3]")
}

func TestInferShapesOutOfOrderGraph(t *testing.T) {
	// A rewrite appends nodes and sorts later: inference must not depend on
	// the stored order.
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(2, 6))
	relu := b.Node("Relu", "relu", []*Value{x}, 1)
	flat := b.Node("Reshape", "reshape", []*Value{relu.Outputs[0], b.Const("s", NewInt64("", []int64{2}, []int64{3, -1}))}, 1)
	g.Nodes = []*Node{flat, relu}
	b.Output(flat.Outputs[0])
	if err := InferShapes(modelOf(g, 13), nil); err != nil {
		t.Fatal(err)
	}
	wantShape(t, flat.Outputs[0], "[3,4]")
	if g.Nodes[0] != flat {
		t.Error("InferShapes reordered the nodes")
	}
}
