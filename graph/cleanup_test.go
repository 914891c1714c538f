package graph

import "testing"

func TestEliminateDeadNodes(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	cond := b.Input("cond", Bool, Shape{})
	x := b.Input("x", Float32, KnownShape(2))
	wLive := b.Const("w_live", zeros(2))
	wDead := b.Const("w_dead", zeros(2))
	wSub := b.Const("w_sub", zeros(2)) // read only inside a subgraph
	wUnused := b.Const("w_unused", zeros(2))
	// An initializer that is also a graph input stays even if unused.
	wDefault := b.Const("w_default", zeros(2))
	g.Inputs = append(g.Inputs, wDefault)

	live := b.Op("Add", "live", []*Value{x, wLive})
	dead1 := b.Op("Mul", "dead1", []*Value{live, wDead})
	dead2 := b.Op("Relu", "dead2", []*Value{dead1})
	g.ValueInfo = append(g.ValueInfo, dead2, live)
	thenG := &Graph{Name: "then"}
	tb := NewBuilder(thenG)
	// Dead inside the subgraph, and the only reader of outer_only, whose
	// producer then dies too.
	outerOnly := b.Op("Abs", "outer_only", []*Value{x})
	tb.Op("Neg", "then_dead", []*Value{outerOnly})
	tb.Output(tb.Op("Add", "then_live", []*Value{live, wSub}))
	elseG := &Graph{Name: "else"}
	eb := NewBuilder(elseG)
	eb.Output(eb.Op("Identity", "else_id", []*Value{live}))
	ifOut := b.Op("If", "if", []*Value{cond}, &Attr{Name: "then_branch", Kind: AttrGraph, G: thenG}, &Attr{Name: "else_branch", Kind: AttrGraph, G: elseG})
	b.Output(ifOut)

	removed := EliminateDeadNodes(g)
	if removed != 4 {
		t.Errorf("removed %d nodes, want 4 (dead1, dead2, then_dead, outer_only)", removed)
	}
	if got := names(g.Nodes); !sameNames(got, []string{"live", "if"}) {
		t.Errorf("nodes %v", got)
	}
	if got := names(thenG.Nodes); !sameNames(got, []string{"then_live"}) {
		t.Errorf("subgraph nodes %v", got)
	}
	var inits []string
	for _, v := range g.Initializers {
		inits = append(inits, v.Name)
	}
	if !sameNames(inits, []string{"w_live", "w_sub", "w_default"}) {
		t.Errorf("initializers %v", inits)
	}
	if len(g.ValueInfo) != 1 || g.ValueInfo[0] != live {
		t.Errorf("value_info %v", g.ValueInfo)
	}
	_ = wUnused
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	if EliminateDeadNodes(g) != 0 {
		t.Error("second pass removed more")
	}
}

func TestReplaceAllUses(t *testing.T) {
	g := &Graph{Name: "g"}
	b := NewBuilder(g)
	cond := b.Input("cond", Bool, Shape{})
	x := b.Input("x", Float32, KnownShape(2))
	old := b.Op("Relu", "old", []*Value{x})
	user := b.Node("Add", "user", []*Value{old, old}, 1)
	sub := &Graph{Name: "sub"}
	sb := NewBuilder(sub)
	sb.Output(sb.Op("Neg", "sub_neg", []*Value{old}))
	other := &Graph{Name: "other"}
	ob := NewBuilder(other)
	ob.Output(ob.Op("Abs", "other_abs", []*Value{x}))
	ifNode := b.Node("If", "if", []*Value{cond}, 1, &Attr{Name: "then_branch", Kind: AttrGraph, G: sub}, &Attr{Name: "else_branch", Kind: AttrGraph, G: other})
	b.Output(old)
	b.Output(user.Outputs[0])
	b.Output(ifNode.Outputs[0])

	// Insert new = Sigmoid(old) and send every reader of old to it.
	sig := b.Node("Sigmoid", "sig", []*Value{old}, 1)
	nv := sig.Outputs[0]
	ReplaceAllUses(g, old, nv)
	if sig.Inputs[0] != old {
		t.Error("the producer of the new value was rewired into a self-loop")
	}
	if user.Inputs[0] != nv || user.Inputs[1] != nv {
		t.Error("direct uses not rewired")
	}
	if sub.Nodes[0].Inputs[0] != nv {
		t.Error("subgraph capture not rewired")
	}
	if g.Outputs[0] != nv {
		t.Error("graph output not rewired")
	}
	if err := TopoSort(g); err != nil {
		t.Fatal(err)
	}
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	idx := NewIndex(g)
	if got := names(idx.Consumers(old)); !sameNames(got, []string{"sig"}) {
		t.Errorf("old still read by %v", got)
	}
}
