package testmodels

import (
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Transformer block dimensions: sequence, model width, heads, feed-forward width.
const (
	tfSeq   = 8
	tfModel = 32
	tfHeads = 2
	tfFF    = 64
)

// Transformer is one pre-norm transformer encoder block on [N, 8, 32]:
// two-head self-attention (MatMul + Add projections, Softmax) and a ReLU
// feed-forward layer, with LayerNorm written out as elementary ops the way
// exporters emit it below opset 17.
func Transformer(seed uint64) *graph.Model {
	n := newNet("transformer", seed)
	x := n.input("input", batched(tfSeq, tfModel))
	x = n.op("Add", []*graph.Value{x, n.attention("attn", n.layerNorm("ln1", x))})
	f := n.relu(n.linear("ffn1", n.layerNorm("ln2", x), tfModel, tfFF))
	x = n.op("Add", []*graph.Value{x, n.linear("ffn2", f, tfFF, tfModel)})
	n.output(x, "output", batched(tfSeq, tfModel))
	return n.m
}

// layerNorm normalises over the last axis: (x-mean)/sqrt(var+eps)*gamma+beta.
func (n *net) layerNorm(name string, x *graph.Value) *graph.Value {
	last := []*graph.Attr{graph.IntsAttr("axes", -1), graph.IntAttr("keepdims", 1)}
	mean := n.b.Op("ReduceMean", name+"_mean", []*graph.Value{x}, last...)
	centred := n.b.Op("Sub", name+"_centre", []*graph.Value{x, mean})
	sq := n.b.Op("Pow", name+"_square", []*graph.Value{centred, n.scalar(name+".two", 2)})
	variance := n.b.Op("ReduceMean", name+"_var", []*graph.Value{sq}, last...)
	std := n.b.Op("Sqrt", name+"_std", []*graph.Value{n.b.Op("Add", name+"_eps", []*graph.Value{variance, n.scalar(name+".eps", 1e-5)})})
	y := n.b.Op("Div", name+"_norm", []*graph.Value{centred, std})
	gamma := n.b.Const(name+".weight", graph.NewFloat32("", []int64{tfModel}, n.uniform(tfModel, 0.5, 1.5)))
	y = n.b.Op("Mul", name+"_scale", []*graph.Value{y, gamma})
	return n.b.Op("Add", name+"_shift", []*graph.Value{y, n.bias(name+".bias", tfModel)})
}

// attention is multi-head self-attention on [N, S, D].
func (n *net) attention(name string, x *graph.Value) *graph.Value {
	head := int64(tfModel / tfHeads)
	split := n.ints(name+".split_shape", 0, tfSeq, tfHeads, head)
	heads := func(proj string, perm ...int64) *graph.Value {
		y := n.linear(name+"."+proj, x, tfModel, tfModel)
		y = n.b.Op("Reshape", name+"_"+proj+"_split", []*graph.Value{y, split})
		return n.b.Op("Transpose", name+"_"+proj+"_heads", []*graph.Value{y}, graph.IntsAttr("perm", perm...))
	}
	q := heads("q", 0, 2, 1, 3) // [N, H, S, d]
	k := heads("k", 0, 2, 3, 1) // [N, H, d, S]
	v := heads("v", 0, 2, 1, 3) // [N, H, S, d]
	scores := n.b.Op("MatMul", name+"_scores", []*graph.Value{q, k})
	scores = n.b.Op("Mul", name+"_scaled", []*graph.Value{scores, n.scalar(name+".scale", float32(1/math.Sqrt(float64(head))))})
	probs := n.b.Op("Softmax", name+"_softmax", []*graph.Value{scores}, graph.IntAttr("axis", -1))
	ctx := n.b.Op("MatMul", name+"_context", []*graph.Value{probs, v})
	ctx = n.b.Op("Transpose", name+"_merge", []*graph.Value{ctx}, graph.IntsAttr("perm", 0, 2, 1, 3))
	ctx = n.b.Op("Reshape", name+"_concat", []*graph.Value{ctx, n.ints(name+".merge_shape", 0, tfSeq, tfModel)})
	return n.linear(name+".out", ctx, tfModel, tfModel)
}
