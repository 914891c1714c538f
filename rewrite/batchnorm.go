package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

func foldBatchNormsIfAsked(s *state) error {
	if !s.opts.FoldBatchNorm {
		return nil
	}
	_, err := FoldBatchNorms(s.model.Graph)
	return err
}

// FoldBatchNorms folds each inference BatchNormalization whose input is the
// sole use of a Conv's output into that Conv: W' = W·γ/σ, b' = (b−μ)·γ/σ + β
// with σ = √(var+ε). The Conv gets new weight and bias constants (the old
// ones may be shared) and takes over the BN's output value. It returns how
// many it folded.
func FoldBatchNorms(g *graph.Graph) (int, error) {
	idx := graph.NewIndex(g)
	b := graph.NewBuilder(g)
	removed := map[*graph.Node]bool{}
	for _, bn := range g.Nodes {
		if bn.OpType != "BatchNormalization" || !bn.IsDefaultDomain() || len(bn.Outputs) != 1 || len(bn.Inputs) != 5 {
			continue
		}
		conv := idx.Producer(bn.Inputs[0])
		if conv == nil || conv.OpType != "Conv" || len(idx.Consumers(bn.Inputs[0])) != 1 || idx.IsGraphOutput(bn.Inputs[0]) {
			continue
		}
		l, err := layerOf(g, idx, conv)
		if err != nil || l == nil {
			continue
		}
		var params [4][]float64
		ok := true
		for i := range params {
			t, isConst := graph.ConstTensor(g, idx, bn.Inputs[i+1])
			if !isConst {
				ok = false
				break
			}
			if params[i], err = t.Float64s(); err != nil {
				return 0, fmt.Errorf("node %s: %w", bn.Label(), err)
			}
		}
		m := int(l.Weight.Dims[0])
		if !ok || len(params[0]) != m {
			continue
		}
		gamma, beta, mean, variance := params[0], params[1], params[2], params[3]
		eps := float64(bn.AttrFloat("epsilon", 1e-5))
		w, err := l.Weight.Float64s()
		if err != nil {
			return 0, err
		}
		bias := make([]float64, m)
		if bt, isConst := graph.ConstTensor(g, idx, l.Bias); isConst {
			if bias, err = bt.Float64s(); err != nil {
				return 0, err
			}
		} else if l.Bias != nil {
			continue // a computed bias cannot be folded into
		}
		per := len(w) / m
		for o := 0; o < m; o++ {
			k := gamma[o] / math.Sqrt(variance[o]+eps)
			for i := o * per; i < (o+1)*per; i++ {
				w[i] *= k
			}
			bias[o] = (bias[o]-mean[o])*k + beta[o]
		}
		wt, err := graph.NewFromFloat64("", l.Weight.DType, l.Weight.Dims, w)
		if err != nil {
			return 0, err
		}
		bt, err := graph.NewFromFloat64("", l.Weight.DType, []int64{int64(m)}, bias)
		if err != nil {
			return 0, err
		}
		conv.Inputs = []*graph.Value{conv.Inputs[0], b.Const(conv.Label()+"/folded_W", wt), b.Const(conv.Label()+"/folded_B", bt)}
		conv.Outputs[0] = bn.Outputs[0]
		removed[bn] = true
	}
	if len(removed) == 0 {
		return 0, nil
	}
	nodes := g.Nodes[:0]
	for _, n := range g.Nodes {
		if !removed[n] {
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	graph.EliminateDeadNodes(g)
	return len(removed), nil
}
