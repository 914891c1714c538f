package graph

import "testing"

func TestConstTensor(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(1, 2))
	bias := b.Const("bias", NewFloat32("", []int64{2}, []float32{1, 2}))
	// torch-style sharing: one stored bias reached through two Identity chains.
	id1 := b.Op("Identity", "id1", []*Value{bias})
	id2 := b.Op("Identity", "id2", []*Value{id1})
	// PaddleOCR-style weight in a Constant node, seen through an Identity.
	wT := NewFloat32("", []int64{2, 2}, []float32{1, 0, 0, 1})
	cw := b.Op("Constant", "cw", nil, TensorAttr("value", wT))
	cwID := b.Op("Identity", "cw_id", []*Value{cw})
	cf := b.Op("Constant", "cf", nil, FloatAttr("value_float", 0.5))
	cfs := b.Op("Constant", "cfs", nil, &Attr{Name: "value_floats", Kind: AttrFloats, Floats: []float32{1, 2, 3}})
	ci := b.Op("Constant", "ci", nil, IntAttr("value_int", 7))
	cis := b.Op("Constant", "cis", nil, &Attr{Name: "value_ints", Kind: AttrInts, Ints: []int64{4, 5}})
	relu := b.Op("Relu", "relu", []*Value{x})
	idRelu := b.Op("Identity", "id_relu", []*Value{relu})

	idx := NewIndex(g)
	for _, v := range []*Value{bias, id1, id2} {
		got, ok := ConstTensor(g, idx, v)
		if !ok || got != bias.Const {
			t.Errorf("%s: not resolved to the stored bias", v.Name)
		}
	}
	if got, ok := ConstTensor(g, nil, cwID); !ok || got != wT {
		t.Errorf("Constant weight through Identity: %v %v", got, ok)
	}
	checkF := func(v *Value, dims []int64, want []float32) {
		t.Helper()
		got, ok := ConstTensor(g, idx, v)
		if !ok {
			t.Fatalf("%s not resolved", v.Name)
		}
		f, err := got.Float32s()
		if err != nil || !equalInts(got.Dims, dims) || len(f) != len(want) {
			t.Fatalf("%s: dims %v data %v err %v", v.Name, got.Dims, f, err)
		}
		for i := range f {
			if f[i] != want[i] {
				t.Fatalf("%s: data %v, want %v", v.Name, f, want)
			}
		}
	}
	checkF(cf, []int64{}, []float32{0.5})
	checkF(cfs, []int64{3}, []float32{1, 2, 3})
	checkI := func(v *Value, dims []int64, want []int64) {
		t.Helper()
		got, ok := ConstTensor(g, idx, v)
		if !ok || got.DType != Int64 {
			t.Fatalf("%s not resolved as int64", v.Name)
		}
		vals, _ := got.Int64s()
		if !equalInts(got.Dims, dims) || !equalInts(vals, want) {
			t.Fatalf("%s: dims %v data %v", v.Name, got.Dims, vals)
		}
	}
	checkI(ci, []int64{}, []int64{7})
	checkI(cis, []int64{2}, []int64{4, 5})
	for _, v := range []*Value{x, relu, idRelu, nil} {
		if _, ok := ConstTensor(g, idx, v); ok {
			t.Errorf("%v resolved as constant", v)
		}
	}
	// An Identity cycle (malformed) must not hang.
	loopA := &Value{Name: "la"}
	loopB := &Value{Name: "lb"}
	g.Nodes = append(g.Nodes, &Node{Name: "ia", OpType: "Identity", Inputs: []*Value{loopB}, Outputs: []*Value{loopA}},
		&Node{Name: "ib", OpType: "Identity", Inputs: []*Value{loopA}, Outputs: []*Value{loopB}})
	if _, ok := ConstTensor(g, nil, loopA); ok {
		t.Error("Identity cycle resolved")
	}
}
