package rewrite

import (
	"fmt"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
)

// SwapNorms replaces every BatchNormalization by a norm without stored
// statistics (lcs.md B.4): LCS changes every activation distribution with
// the level, so statistics gathered at one level are wrong at the others.
//   - "instance": InstanceNormalization, per sample and channel;
//   - "group": GroupNorm over G groups of channels — the largest divisor of
//     the channel count not above groups (32 in the paper) — written as
//     Reshape [0, G, −1] → InstanceNormalization (unit scale, zero bias) →
//     Reshape back → Mul γ → Add β, which is how GroupNorm is expressed
//     below opset 18 and what this project's runtime trains through.
//
// The new norm starts from the BatchNormalization's γ and β; its stored
// statistics are dropped, so the model computes a different function and
// must be retrained. The unit scale and zero bias of the GroupNorm core
// are Constant nodes, so training leaves them alone. It returns how many
// norms it replaced.
func SwapNorms(m *graph.Model, kind string, groups int) (int, error) {
	if kind != "group" && kind != "instance" {
		return 0, fmt.Errorf("norm swap: unknown norm %q (want group or instance)", kind)
	}
	if kind == "group" && groups < 1 {
		return 0, fmt.Errorf("norm swap: %d groups", groups)
	}
	if m.OpsetVersion("") < 6 {
		return 0, fmt.Errorf("norm swap: InstanceNormalization with these semantics needs opset ≥ 6, the model imports %d", m.OpsetVersion(""))
	}
	g := m.Graph
	declared := graph.DeclaredTypes(g)
	defer declared.Restore()
	if shapes, err := graph.ConcreteInputShapes(g, nil); err == nil {
		if err := graph.InferShapes(m, shapes); err != nil {
			return 0, err
		}
	}
	idx := graph.NewIndex(g)
	b := graph.NewBuilder(g)
	nodes := slices.Clone(g.Nodes)
	var out []*graph.Node
	swapped := 0
	for _, n := range nodes {
		if n.OpType != "BatchNormalization" || !n.IsDefaultDomain() {
			out = append(out, n)
			continue
		}
		for _, o := range n.Outputs[1:] {
			if o != nil && (len(idx.Consumers(o)) > 0 || idx.IsGraphOutput(o)) {
				return 0, fmt.Errorf("norm swap: node %s: its running statistics output %s is used", n.Label(), o.Name)
			}
		}
		scale, ok1 := graph.ConstTensor(g, idx, n.Input(1))
		bias, ok2 := graph.ConstTensor(g, idx, n.Input(2))
		if !ok1 || !ok2 || scale.DType != graph.Float32 || bias.DType != graph.Float32 || scale.Len() != bias.Len() {
			return 0, fmt.Errorf("norm swap: node %s: scale and bias must be float32 constants of one length", n.Label())
		}
		x := n.Input(0)
		rank := 0
		if x.Type != nil && x.Type.HasShape {
			rank = len(x.Type.Shape)
		}
		if rank < 3 {
			return 0, fmt.Errorf("norm swap: node %s: input %s has rank %d; a per-sample norm needs spatial axes (rank ≥ 3, shapes inferred)", n.Label(), x.Name, rank)
		}
		c := scale.Len()
		eps := graph.FloatAttr("epsilon", n.AttrFloat("epsilon", 1e-5))
		gamma, err := scale.Float32s()
		if err != nil {
			return 0, err
		}
		beta, err := bias.Float32s()
		if err != nil {
			return 0, err
		}
		start := len(g.Nodes)
		base := n.Label()
		var last *graph.Node
		if kind == "instance" {
			s := b.Const(base+"/in_scale", graph.NewFloat32("", []int64{int64(c)}, slices.Clone(gamma)))
			bb := b.Const(base+"/in_bias", graph.NewFloat32("", []int64{int64(c)}, slices.Clone(beta)))
			last = b.Node("InstanceNormalization", base+"/instance_norm", []*graph.Value{x, s, bb}, 1, eps)
		} else {
			G := min(groups, c)
			for c%G != 0 {
				G--
			}
			constant := func(name string, t *graph.Tensor) *graph.Value {
				return b.Node("Constant", name, nil, 1, graph.TensorAttr("value", t)).Outputs[0]
			}
			grouped := b.Op("Reshape", base+"/gn_group", []*graph.Value{x,
				constant(base+"/gn_group_shape", graph.NewInt64("", []int64{3}, []int64{0, int64(G), -1}))})
			ones, zeros := make([]float32, G), make([]float32, G)
			for i := range ones {
				ones[i] = 1
			}
			normed := b.Op("InstanceNormalization", base+"/gn_norm", []*graph.Value{grouped,
				constant(base+"/gn_unit_scale", graph.NewFloat32("", []int64{int64(G)}, ones)),
				constant(base+"/gn_zero_bias", graph.NewFloat32("", []int64{int64(G)}, zeros))}, eps)
			back := b.Op("Reshape", base+"/gn_ungroup", []*graph.Value{normed, b.Op("Shape", base+"/gn_shape", []*graph.Value{x})})
			dims := make([]int64, rank-1)
			dims[0] = int64(c)
			for i := 1; i < len(dims); i++ {
				dims[i] = 1
			}
			s := b.Const(base+"/gn_scale", graph.NewFloat32("", dims, slices.Clone(gamma)))
			bb := b.Const(base+"/gn_bias", graph.NewFloat32("", slices.Clone(dims), slices.Clone(beta)))
			scaled := b.Op("Mul", base+"/gn_affine", []*graph.Value{back, s})
			last = b.Node("Add", base+"/gn_shift", []*graph.Value{scaled, bb}, 1)
		}
		last.Outputs[0] = n.Outputs[0]
		provenance := fmt.Sprintf("onnxcompress: replaces %s (BatchNormalization) by %s norm, to retrain", n.Label(), kind)
		for _, nn := range g.Nodes[start:] {
			nn.DocString = provenance
		}
		out = append(out, g.Nodes[start:]...)
		g.Nodes = g.Nodes[:start]
		swapped++
	}
	g.Nodes = out
	graph.EliminateDeadNodes(g)
	if err := graph.TopoSort(g); err != nil {
		return 0, err
	}
	return swapped, graph.VerifyModel(m)
}
