package graph

import (
	"strings"
	"testing"
)

// smallNet is x → Conv → Relu → Gemm-free flatten head; every test below
// breaks it in one way.
func smallNet() (*Graph, map[string]*Node) {
	g := &Graph{Name: "net"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, Shape{{Param: "N"}, {Value: 3}, {Value: 8}, {Value: 8}})
	w := b.Const("w", NewFloat32("", []int64{4, 3, 3, 3}, make([]float32, 108)))
	bias := b.Const("b", NewFloat32("", []int64{4}, make([]float32, 4)))
	conv := b.Node("Conv", "conv", []*Value{x, w, bias}, 1, IntsAttr("pads", 1, 1, 1, 1))
	relu := b.Node("Relu", "relu", []*Value{conv.Outputs[0]}, 1)
	flat := b.Node("Flatten", "flat", []*Value{relu.Outputs[0]}, 1)
	b.Output(flat.Outputs[0])
	return g, map[string]*Node{"conv": conv, "relu": relu, "flat": flat}
}

func wantVerifyError(t *testing.T, g *Graph, fragments ...string) {
	t.Helper()
	err := Verify(g)
	if err == nil {
		t.Fatalf("Verify accepted a broken graph (want %q)", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

func TestVerifyAcceptsGoodGraph(t *testing.T) {
	g, _ := smallNet()
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	if err := VerifyModel(modelOf(g, 13)); err != nil {
		t.Fatal(err)
	}
	// Verify does not write inferred types.
	if g.Outputs[0].Type != nil {
		t.Errorf("Verify changed the graph: output type %v", g.Outputs[0].Type)
	}
}

func TestVerifyDuplicateNodeName(t *testing.T) {
	g, nodes := smallNet()
	nodes["relu"].Name = "conv"
	wantVerifyError(t, g, `"conv"`, "twice")
}

func TestVerifyDuplicateValueName(t *testing.T) {
	g, nodes := smallNet()
	nodes["relu"].Outputs[0].Name = nodes["conv"].Outputs[0].Name
	wantVerifyError(t, g, "relu", nodes["conv"].Outputs[0].Name)

	g, nodes = smallNet()
	nodes["flat"].Outputs[0] = nodes["relu"].Outputs[0] // one value, two producers
	g.Outputs[0] = nodes["relu"].Outputs[0]
	wantVerifyError(t, g, "flat", "defined twice")

	g, _ = smallNet()
	// An initializer sharing its name with a graph input is that input's
	// default: allowed, whether the codec made them one value or two.
	extra := &Value{Name: "b", Type: g.Initializers[1].Type}
	g.Inputs = append(g.Inputs, extra)
	if err := Verify(g); err != nil {
		t.Fatalf("initializer sharing a name with an input rejected: %v", err)
	}
	g, nodes = smallNet()
	g.Initializers[1].Name = nodes["relu"].Outputs[0].Name // an initializer and a node output
	wantVerifyError(t, g, nodes["relu"].Outputs[0].Name, "relu")
}

func TestVerifyUndefinedInput(t *testing.T) {
	g, nodes := smallNet()
	nodes["relu"].Inputs[0] = &Value{Name: "ghost"}
	wantVerifyError(t, g, "relu", "ghost", "undefined")
}

func TestVerifyUndefinedOutput(t *testing.T) {
	g, _ := smallNet()
	g.Outputs = append(g.Outputs, &Value{Name: "nowhere"})
	wantVerifyError(t, g, "nowhere")
}

func TestVerifyOrderAndCycle(t *testing.T) {
	g, nodes := smallNet()
	g.Nodes[0], g.Nodes[1] = g.Nodes[1], g.Nodes[0]
	wantVerifyError(t, g, "relu", "topological")
	if err := TopoSort(g); err != nil {
		t.Fatal(err)
	}
	if err := Verify(g); err != nil {
		t.Fatalf("after TopoSort: %v", err)
	}

	g, nodes = smallNet()
	// relu reads flat's output, flat reads relu's: a cycle.
	nodes["relu"].Inputs[0] = nodes["flat"].Outputs[0]
	wantVerifyError(t, g, "cycle")
}

func TestVerifyContradictingShape(t *testing.T) {
	g, nodes := smallNet()
	nodes["relu"].Outputs[0].Type = &ValueType{Elem: Float32, HasShape: true, Shape: Shape{{Param: "N"}, {Value: 4}, {Value: 6}, {Value: 6}}}
	wantVerifyError(t, g, "relu", "inferred")

	g, nodes = smallNet()
	nodes["conv"].Inputs[1].Const = NewFloat32("w", []int64{4, 2, 3, 3}, make([]float32, 72))
	wantVerifyError(t, g, `"w"`)
}

func TestVerifyBadInitializer(t *testing.T) {
	g, _ := smallNet()
	g.Initializers[0].Const.Raw = g.Initializers[0].Const.Raw[:10]
	wantVerifyError(t, g, `"w"`)
}

func TestVerifySubgraphScope(t *testing.T) {
	g := &Graph{Name: "main"}
	b := NewBuilder(g)
	cond := b.Input("cond", Bool, Shape{})
	x := b.Input("x", Float32, KnownShape(2))
	branch := func(name string, read *Value) *Graph {
		sg := &Graph{Name: name}
		sb := NewBuilder(sg)
		sb.Output(sb.Op("Relu", name+"_relu", []*Value{read}))
		return sg
	}
	late := &Value{Name: "late"}
	ifNode := b.Node("If", "if", []*Value{cond}, 1,
		&Attr{Name: "then_branch", Kind: AttrGraph, G: branch("then", x)},
		&Attr{Name: "else_branch", Kind: AttrGraph, G: branch("else", late)})
	lateNode := b.Node("Neg", "neg", []*Value{x}, 1)
	lateNode.Outputs[0] = late
	b.Output(ifNode.Outputs[0])
	b.Output(late)
	// The else branch reads "late", produced after the If: Verify must say so.
	err := Verify(g)
	if err == nil || !strings.Contains(err.Error(), "else_relu") {
		t.Fatalf("subgraph reading a later value: %v", err)
	}
	// TopoSort counts captured values as uses, which fixes the order.
	if err := TopoSort(g); err != nil {
		t.Fatal(err)
	}
	if err := Verify(g); err != nil {
		t.Fatalf("after TopoSort: %v", err)
	}
}

func TestVerifyModel(t *testing.T) {
	g, nodes := smallNet()
	m := modelOf(g, 13)
	m.Opsets = nil
	if err := VerifyModel(m); err == nil || !strings.Contains(err.Error(), "import") {
		t.Fatalf("missing default opset: %v", err)
	}
	m = modelOf(g, 13)
	m.Opsets = append(m.Opsets, OpsetImport{Domain: "ai.onnx", Version: 13})
	if err := VerifyModel(m); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate opset: %v", err)
	}
	m = modelOf(g, 13)
	nodes["relu"].Domain = "com.example"
	if err := VerifyModel(m); err == nil || !strings.Contains(err.Error(), "com.example") {
		t.Fatalf("unimported domain: %v", err)
	}
	m.Opsets = append(m.Opsets, OpsetImport{Domain: "com.example", Version: 1})
	if err := VerifyModel(m); err != nil {
		t.Fatal(err)
	}
	m.IRVersion = 0
	if err := VerifyModel(m); err == nil {
		t.Fatal("missing IR version accepted")
	}
	if err := VerifyModel(&Model{IRVersion: 8}); err == nil {
		t.Fatal("model without graph accepted")
	}
}
