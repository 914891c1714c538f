package graph

import (
	"strings"
	"testing"
)

func names(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func TestIndex(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	cond := b.Input("cond", Bool, Shape{})
	x := b.Input("x", Float32, KnownShape(2))
	w := b.Const("w", NewFloat32("", []int64{2}, []float32{1, 2}))
	add := b.Node("Add", "add", []*Value{x, w}, 1)
	// mul reads add twice: it is listed once.
	mul := b.Node("Mul", "mul", []*Value{add.Outputs[0], add.Outputs[0]}, 1)
	// An If whose branches capture w and add's output from the outer scope,
	// one of them inside a nested If.
	inner := &Graph{Name: "inner"}
	ib := NewBuilder(inner)
	ib.Output(ib.Op("Neg", "inner_neg", []*Value{add.Outputs[0]}))
	thenG := &Graph{Name: "then"}
	tb := NewBuilder(thenG)
	tb.Output(tb.Op("If", "nested", []*Value{cond}, &Attr{Name: "then_branch", Kind: AttrGraph, G: inner}, &Attr{Name: "else_branch", Kind: AttrGraph, G: inner}))
	elseG := &Graph{Name: "else"}
	eb := NewBuilder(elseG)
	local := eb.Op("Relu", "else_relu", []*Value{w})
	eb.Output(local)
	ifNode := b.Node("If", "if", []*Value{cond}, 1, &Attr{Name: "then_branch", Kind: AttrGraph, G: thenG}, &Attr{Name: "else_branch", Kind: AttrGraph, G: elseG})
	b.Output(mul.Outputs[0])
	b.Output(ifNode.Outputs[0])

	idx := NewIndex(g)
	if idx.Producer(add.Outputs[0]) != add || idx.Producer(x) != nil || idx.Producer(w) != nil {
		t.Error("producers wrong")
	}
	if got := names(idx.Consumers(add.Outputs[0])); len(got) != 2 || got[0] != "mul" || got[1] != "if" {
		t.Errorf("consumers of add: %v, want [mul if]", got)
	}
	if got := names(idx.Consumers(w)); len(got) != 2 || got[0] != "add" || got[1] != "if" {
		t.Errorf("consumers of w: %v, want [add if]", got)
	}
	if got := idx.Consumers(local); len(got) != 0 {
		t.Errorf("a subgraph-local value has outer consumers: %v", names(got))
	}
	if idx.ValueByName("w") != w || idx.ValueByName(add.Outputs[0].Name) != add.Outputs[0] || idx.ValueByName("none") != nil {
		t.Error("ValueByName wrong")
	}
	if !idx.IsGraphOutput(mul.Outputs[0]) || idx.IsGraphOutput(add.Outputs[0]) {
		t.Error("IsGraphOutput wrong")
	}
	free := FreeValues(thenG)
	if len(free) != 2 || free[0] != cond || free[1] != add.Outputs[0] {
		t.Errorf("FreeValues(then) = %v", free)
	}
}

func TestTopoSortStableAndCycle(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	x := b.Input("x", Float32, KnownShape(2))
	a := b.Node("Relu", "a", []*Value{x}, 1)
	c := b.Node("Neg", "c", []*Value{x}, 1) // independent of a
	d := b.Node("Add", "d", []*Value{a.Outputs[0], c.Outputs[0]}, 1)
	e := b.Node("Abs", "e", []*Value{x}, 1)
	b.Output(d.Outputs[0])
	b.Output(e.Outputs[0])

	orig := names(g.Nodes)
	if err := TopoSort(g); err != nil {
		t.Fatal(err)
	}
	if got := names(g.Nodes); !sameNames(got, orig) {
		t.Errorf("valid order changed: %v → %v", orig, got)
	}
	// Move d first: it must go back after a and c, and e keeps its place
	// relative to the others.
	g.Nodes = []*Node{d, a, c, e}
	if err := TopoSort(g); err != nil {
		t.Fatal(err)
	}
	if got := names(g.Nodes); !sameNames(got, []string{"a", "c", "d", "e"}) {
		t.Errorf("sorted order %v", got)
	}
	// A cycle a → d → a.
	a.Inputs[0] = d.Outputs[0]
	err := TopoSort(g)
	if err == nil {
		t.Fatal("cycle accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, "node a") && !strings.Contains(msg, "node d") {
		t.Errorf("cycle error names no node on the cycle: %v", err)
	}
}

func sameNames(a, b []string) bool {
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

func TestNodeReadsManyInputs(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	var vals []*Value
	for i := 0; i < 20; i++ {
		vals = append(vals, b.Input("x", Float32, KnownShape(1)))
	}
	// 40 inputs, each value twice, in an order that repeats after 20.
	cat := b.Node("Concat", "cat", append(append([]*Value(nil), vals...), vals...), 1, IntAttr("axis", 0))
	reads := NodeReads(cat)
	if len(reads) != 20 {
		t.Fatalf("%d reads, want 20", len(reads))
	}
	for i, v := range reads {
		if v != vals[i] {
			t.Fatalf("read %d is %s, want %s", i, v.Name, vals[i].Name)
		}
	}
	idx := NewIndex(g)
	if got := idx.Consumers(vals[3]); len(got) != 1 {
		t.Errorf("consumers %v", names(got))
	}
}

// BenchmarkAnalyses times the analyses a pass pipeline runs after every
// pass on a 2,000-node convolutional chain.
func BenchmarkAnalyses(b *testing.B) {
	g := &Graph{Name: "chain"}
	bd := NewBuilder(g)
	x := bd.Input("x", Float32, Shape{{Param: "N"}, {Value: 16}, {Value: 32}, {Value: 32}})
	w := bd.Const("w", NewFloat32("", []int64{16, 16, 3, 3}, make([]float32, 16*16*9)))
	for i := 0; i < 1000; i++ {
		x = bd.Op("Conv", "conv", []*Value{x, w}, IntsAttr("pads", 1, 1, 1, 1))
		x = bd.Op("Relu", "relu", []*Value{x})
	}
	bd.Output(x)
	m := &Model{IRVersion: 8, Opsets: []OpsetImport{{Version: 13}}, Graph: g}
	b.Run("NewIndex", func(b *testing.B) {
		for b.Loop() {
			NewIndex(g)
		}
	})
	b.Run("TopoSort", func(b *testing.B) {
		for b.Loop() {
			if err := TopoSort(g); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verify", func(b *testing.B) {
		for b.Loop() {
			if err := Verify(g); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ModelCost", func(b *testing.B) {
		for b.Loop() {
			ModelCost(m)
		}
	})
}
