package graph

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// TestInferShapesRandomNodes feeds every operator InferShapes knows random
// input shapes, constant inputs and attributes. Whatever the input, the
// result must be a type or an error: an "internal error" means inference
// panicked (the per-node recover turns a panic into that message).
func TestInferShapesRandomNodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ops := make([]string, 0, len(inferFuncs))
	for op := range inferFuncs {
		if op != "If" && op != "Loop" {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	dims := []Dim{{Value: 0}, {Value: 1}, {Value: 2}, {Value: 3}, {Value: 5}, {Param: "N"}, {Value: -1}}
	randShape := func() Shape {
		s := Shape{}
		for i := rng.IntN(5); i > 0; i-- {
			s = append(s, dims[rng.IntN(len(dims))])
		}
		return s
	}
	randInts := func() []int64 {
		v := make([]int64, rng.IntN(5))
		for i := range v {
			v[i] = int64(rng.IntN(9)) - 3
		}
		return v
	}
	attrPool := func() *Attr {
		switch rng.IntN(16) {
		case 0:
			return IntAttr("axis", int64(rng.IntN(9))-4)
		case 1:
			return IntsAttr("axes", randInts()...)
		case 2:
			return IntsAttr("perm", randInts()...)
		case 3:
			return IntsAttr("pads", randInts()...)
		case 4:
			return IntsAttr("strides", randInts()...)
		case 5:
			return IntsAttr("kernel_shape", randInts()...)
		case 6:
			return IntAttr("group", int64(rng.IntN(4))-1)
		case 7:
			return IntsAttr("dilations", randInts()...)
		case 8:
			return StringAttr("auto_pad", []string{"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "bad"}[rng.IntN(5)])
		case 9:
			return IntsAttr("split", randInts()...)
		case 10:
			return IntAttr("keepdims", int64(rng.IntN(2)))
		case 11:
			return StringAttr("equation", []string{"ij,jk->ik", "...i", "i...j,j", "ii", "a->", "ab,bc", "..", "i,i->i", "abc->cba"}[rng.IntN(9)])
		case 12:
			return IntAttr("to", int64(rng.IntN(18)))
		case 13:
			return IntAttr("blocksize", int64(rng.IntN(4))-1)
		case 14:
			return IntAttr("num_outputs", int64(rng.IntN(4))-1)
		}
		return IntsAttr("output_shape", randInts()...)
	}
	for iter := 0; iter < 4000; iter++ {
		op := ops[rng.IntN(len(ops))]
		g := &Graph{Name: "g"}
		b := NewBuilder(g)
		var inputs []*Value
		for i := rng.IntN(5); i > 0; i-- {
			switch rng.IntN(4) {
			case 0:
				v := randInts()
				inputs = append(inputs, b.Const("c", NewInt64("", []int64{int64(len(v))}, v)))
			case 1:
				inputs = append(inputs, nil)
			default:
				inputs = append(inputs, b.Input("x", []DType{Float32, Int64, Bool}[rng.IntN(3)], randShape()))
			}
		}
		var attrs []*Attr
		for i := rng.IntN(4); i > 0; i-- {
			attrs = append(attrs, attrPool())
		}
		n := b.Node(op, "n", inputs, 1+rng.IntN(3), attrs...)
		for _, v := range n.Outputs {
			b.Output(v)
		}
		for _, opset := range []int64{1, 9, 13, 18} {
			err := InferShapes(modelOf(g, opset), nil)
			if err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("%s with inputs %v attrs %v (opset %d): %v", op, describeInputs(inputs), attrs, opset, err)
			}
		}
		if err := Verify(g); err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Verify: %v", err)
		}
	}
}

func describeInputs(vs []*Value) []string {
	var out []string
	for _, v := range vs {
		switch {
		case v == nil:
			out = append(out, "∅")
		case v.Const != nil:
			vals, _ := v.Const.Int64s()
			out = append(out, "const"+KnownShape(vals...).String())
		case v.Type != nil:
			out = append(out, v.Type.Shape.String())
		}
	}
	return out
}

func TestInferShapesRecoversFromPanics(t *testing.T) {
	// The safety net behind the test above: a panicking inference function
	// becomes an error naming the node.
	inferFuncs["TestOnlyPanic"] = func(*nodeCtx) ([]*ValueType, error) { panic("boom") }
	defer delete(inferFuncs, "TestOnlyPanic")
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	b.Output(b.Op("TestOnlyPanic", "the_node", []*Value{b.Input("x", Float32, KnownShape(1))}))
	err := InferShapes(modelOf(g, 13), nil)
	if err == nil || !strings.Contains(err.Error(), "the_node") || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("panic not turned into an error: %v", err)
	}
}
