package rewrite

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// rewriteLayers applies each layer's plan. A rewrite that fails on a layer
// the user did not name, or that does not reduce the parameter count, is
// rolled back and reported as skipped.
func rewriteLayers(s *state) error {
	g := s.model.Graph
	b := graph.NewBuilder(g)
	idx := graph.NewIndex(g)
	opset := s.model.OpsetVersion("")
	for i, l := range s.layers {
		orig := l
		if ctx := s.opts.Context; ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if s.opts.Progress != nil && i > 0 {
			s.opts.Progress(i, len(s.layers), s.layers[i-1].Node.Label())
		}
		p := s.plans[l]
		method, err := MethodByName(p.Method)
		if err != nil {
			return err
		}
		// Earlier rewrites (pruning) may have changed this layer's weight:
		// work on the graph as it is now, but report the cost the layer had
		// when it was selected, as inspect of the original counts it.
		before := l.Cost
		idx = graph.NewIndex(g)
		if fresh, err := layerOf(g, idx, l.Node); err == nil && fresh != nil {
			fresh.Cost = l.Cost
			if fresh.Weight == l.Weight {
				fresh.memo = l.memo // what planning factorized still holds
			}
			l.memo = nil // released with this layer, whatever happens next
			l = fresh
		}
		e := &Emitter{b: b, layer: l, method: method.Name(), opset: opset, seed: s.opts.Seed, ranges: s.ranges}
		out, relErr, err := method.Apply(e, l, p)
		l.memo = nil
		if err != nil {
			e.rollback(g)
			if _, named := s.namedExplicitly(l); named {
				return fmt.Errorf("layer %s: %s: %w", l.Node.Label(), method.Name(), err)
			}
			s.report.skip(l, method.Name(), err.Error())
			continue
		}
		after := int64(0)
		for _, n := range e.nodes {
			after += graph.NodeCost(g, idx, n).Params
		}
		if after >= graph.NodeCost(g, idx, l.Node).Params && !keepsParamCount(method) && !s.opts.Force {
			e.rollback(g)
			s.report.skip(l, method.Name(), fmt.Sprintf("does not reduce parameters (%d → %d)", before.Params, after))
			continue
		}
		row := s.report.add(l, p, before, relErr)
		prov := fmt.Sprintf("onnxcompress: replaces %s (%s) by %s %s; weight rel. error %.4g",
			l.Node.Label(), l.Node.OpType, p.Method, p.Describe(), relErr)
		if err := e.splice(g, out, prov); err != nil {
			return err
		}
		for _, n := range e.nodes {
			row.NewNodes = append(row.NewNodes, n.Name)
		}
		s.applied = append(s.applied, appliedRewrite{row: row, nodes: e.nodes})
		// The old weight is dead unless another node shares it: free it now,
		// not at the dead-nodes pass, so that old and new weights of the
		// whole model are never held at once.
		releaseWeight(g, l.Node.Input(1))
		orig.Weight, orig.BiasConst, l.Weight, l.BiasConst = nil, nil, nil, nil
	}
	if s.opts.Progress != nil && len(s.layers) > 0 {
		s.opts.Progress(len(s.layers), len(s.layers), s.layers[len(s.layers)-1].Node.Label())
	}
	return nil
}

func (s *state) namedExplicitly(l *Layer) (string, bool) {
	for _, p := range s.opts.Layers {
		if p == l.Node.Name {
			return p, true
		}
	}
	for _, p := range s.opts.Plan {
		if p.Layer == l.Node.Name {
			return p.Layer, true
		}
	}
	return "", false
}

// paramKeeper is implemented by methods whose saving is not a parameter
// count (quantisation shrinks bytes, not elements).
type paramKeeper interface{ keepsParamCount() bool }

func keepsParamCount(m Method) bool {
	k, ok := m.(paramKeeper)
	return ok && k.keepsParamCount()
}

// releaseWeight drops the initializer v once nothing reads it any more.
func releaseWeight(g *graph.Graph, v *graph.Value) {
	if v == nil || v.Const == nil {
		return
	}
	for _, io := range [][]*graph.Value{g.Inputs, g.Outputs} {
		for _, w := range io {
			if w == v || (w != nil && w.Name == v.Name) {
				return
			}
		}
	}
	for _, n := range g.Nodes {
		for _, r := range graph.NodeReads(n) {
			if r == v {
				return
			}
		}
	}
	for i, w := range g.Initializers {
		if w == v {
			g.Initializers = append(g.Initializers[:i], g.Initializers[i+1:]...)
			return
		}
	}
}
