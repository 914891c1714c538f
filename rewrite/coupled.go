package rewrite

import (
	"fmt"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
)

// coupledLister offers settings that change other layers too: hinge's
// pruning form removes output channels, so the layers reading them lose
// input channels. Finding those layers takes the graph.
type coupledLister interface {
	coupledCandidates(g *graph.Graph, l *Layer) ([]Candidate, error)
}

// candidatesIn is what m offers the global budget for l, a layer of g.
func candidatesIn(g *graph.Graph, m Method, l *Layer) ([]Candidate, error) {
	if c, ok := m.(coupledLister); ok {
		return c.coupledCandidates(g, l)
	}
	return m.(candidateLister).Candidates(l)
}

// coupled says whether any candidate saves cost in other layers.
func coupled(lists [][]Candidate) bool {
	for _, list := range lists {
		for _, c := range list {
			if c.SavedParams != 0 || c.SavedMACs != 0 {
				return true
			}
		}
	}
	return false
}

// coupledSteps bounds each bisection of spendCoupled: each step rewrites a
// copy of the model, and 2^-10 of the selected cost is finer than a step
// between two settings of any but the smallest layers.
const coupledSteps = 10

// spendCoupled is allocateGlobally for candidates that save cost in other
// layers. A pruned layer's credit is its readers' saving at their cost as
// selected, which keeps the knapsack separable (each layer's settings are
// priced alone) and is exact when the readers stay as they are. But the
// readers may be decomposed or pruned themselves, and then the channels
// they no longer read were worth less to them (a reader split at rank r
// saves only on its first factor), so a plan can cost more once written
// than the budget priced it. Pricing every pair of settings jointly would
// make the choice a quadratic knapsack; instead the nominal ratio is
// bisected: each plan it buys is rewritten on a copy of the model and
// costed as inspect counts the written file, and the plan that comes
// closest to the target from below is kept, so the target holds by
// construction. The realised cost grows with the nominal ratio (a larger
// budget buys the same upgrades and more) as long as the credits are
// mostly real; when readers are compressed hard the credits are mostly
// not, no nominal ratio fits, and the budget is spent again with pruning
// priced at its own cost alone, which the written model can only beat.
func (s *state) spendCoupled(layers []*Layer, lists [][]Candidate, ratio float64, cost budgetCost) ([]Candidate, error) {
	macs := s.opts.Target.MACsRatio > 0
	whole := s.report.Before.Params
	if macs {
		whole = s.report.Before.MACs
	}
	var selected float64
	for _, list := range lists {
		selected += float64(cost(list[len(list)-1]))
	}
	// Layers outside the budget keep their cost (or lose some, as readers).
	target := whole - int64(selected) + int64(ratio*selected)
	for _, price := range []budgetCost{cost, ownCost(macs)} {
		best, err := s.bisectRealised(layers, lists, ratio, price, target, macs)
		if best != nil || err != nil {
			return best, err
		}
	}
	what := "parameters"
	if macs {
		what = "MACs"
	}
	return nil, fmt.Errorf("ratio %g: no plan the budget buys keeps the written model within %d %s", ratio, target, what)
}

// ownCost prices a setting without its credit for other layers.
func ownCost(macs bool) budgetCost {
	if macs {
		return func(c Candidate) int64 { return c.MACs }
	}
	return func(c Candidate) int64 { return c.Params }
}

// bisectRealised returns the plan, among those the nominal ratios of a
// bisection buy at price, whose written model costs most within target;
// nil when none fits.
func (s *state) bisectRealised(layers []*Layer, lists [][]Candidate, ratio float64, price budgetCost, target int64, macs bool) ([]Candidate, error) {
	var best []Candidate
	bestCost := int64(-1)
	lo, hi, r := 0.0, 1.0, ratio
	for step := 0; step < coupledSteps; step++ {
		chosen, err := allocateGlobally(layers, lists, r, price)
		if err != nil {
			lo = r // even the smallest settings cost more than this budget
		} else {
			got, err := s.realisedCost(layers, chosen, macs)
			if err != nil {
				return nil, err
			}
			if got > target {
				hi = r
			} else {
				if got > bestCost {
					best, bestCost = chosen, got
				}
				if got == target {
					break
				}
				lo = r
			}
		}
		r = (lo + hi) / 2
	}
	return best, nil
}

// budgetHull is the candidates of a layer worth offering the budget: the
// lower hull at cost, and, where some candidate saves cost in other
// layers, also the lower hull at the setting's own cost (spendCoupled may
// price that way).
func budgetHull(list []Candidate, cost budgetCost, macs bool) []Candidate {
	hull := lowerHull(list, cost)
	if !coupled([][]Candidate{list}) {
		return hull
	}
	seen := map[string]bool{}
	for _, c := range hull {
		seen[c.Plan.Method+"|"+c.Plan.Describe()] = true
	}
	for _, c := range lowerHull(list, ownCost(macs)) {
		if !seen[c.Plan.Method+"|"+c.Plan.Describe()] {
			hull = append(hull, c)
		}
	}
	return hull
}

// realisedCost rewrites a copy of the model with the chosen settings, as
// the rewrite pass will, and returns the written model's parameters or
// MACs as inspect counts them.
func (s *state) realisedCost(layers []*Layer, chosen []Candidate, macs bool) (int64, error) {
	m, nodes := copyModel(s.model)
	trial := &state{model: m, opts: s.opts, plans: map[*Layer]LayerPlan{}, report: &Report{}, ranges: s.ranges}
	trial.opts.Progress = nil
	idx := graph.NewIndex(m.Graph)
	for i, l := range layers {
		p := chosen[i].Plan
		if p.Method == "" {
			continue // left as it is
		}
		cl, err := layerOf(m.Graph, idx, nodes[l.Node])
		if err != nil {
			return 0, &trialError{"select", err}
		}
		cl.Cost = l.Cost
		cl.memo = l.memo // the factorizations planning priced, shared: the trial only adds to them
		p.Layer = l.Node.Name
		trial.plans[cl] = p
		trial.layers = append(trial.layers, cl)
	}
	for _, p := range []pass{{"rewrite", rewriteLayers}, {"dead-nodes", eliminateDeadNodes}, {"toposort", sortNodes}} {
		if err := p.run(trial); err != nil {
			return 0, &trialError{p.name, err}
		}
	}
	_, t := graph.ModelCost(m)
	if macs {
		return t.MACs, nil
	}
	return t.Params, nil
}

// trialError is a failure while rewriting a copy to cost a plan: the work
// failed, not the request (a budget no plan meets is a UsageError).
type trialError struct {
	pass string
	err  error
}

func (e *trialError) Error() string { return fmt.Sprintf("trial rewrite, %s: %v", e.pass, e.err) }
func (e *trialError) Unwrap() error { return e.err }

// copyModel copies m deeply enough for a trial rewrite: graphs, nodes,
// values (with their types) and graph attributes are new; tensors are
// shared, since rewrites replace constants rather than edit them. It also
// returns where each node of m went.
func copyModel(m *graph.Model) (*graph.Model, map[*graph.Node]*graph.Node) {
	c := *m
	c.Opsets = slices.Clone(m.Opsets)
	c.Metadata = slices.Clone(m.Metadata)
	cp := graphCopier{values: map[*graph.Value]*graph.Value{}, nodes: map[*graph.Node]*graph.Node{}}
	c.Graph = cp.graph(m.Graph)
	return &c, cp.nodes
}

type graphCopier struct {
	values map[*graph.Value]*graph.Value
	nodes  map[*graph.Node]*graph.Node
}

func (cp graphCopier) value(v *graph.Value) *graph.Value {
	if v == nil {
		return nil
	}
	if c, ok := cp.values[v]; ok {
		return c
	}
	c := *v
	c.Type = v.Type.Clone()
	cp.values[v] = &c
	return &c
}

func (cp graphCopier) list(vs []*graph.Value) []*graph.Value {
	if vs == nil {
		return nil
	}
	out := make([]*graph.Value, len(vs))
	for i, v := range vs {
		out[i] = cp.value(v)
	}
	return out
}

// graph copies g; a subgraph shares the copies of the outer values it
// reads.
func (cp graphCopier) graph(g *graph.Graph) *graph.Graph {
	if g == nil {
		return nil
	}
	c := *g
	c.Inputs, c.Outputs = cp.list(g.Inputs), cp.list(g.Outputs)
	c.Initializers, c.ValueInfo = cp.list(g.Initializers), cp.list(g.ValueInfo)
	c.Nodes = make([]*graph.Node, len(g.Nodes))
	for i, n := range g.Nodes {
		cn := *n
		cn.Inputs, cn.Outputs = cp.list(n.Inputs), cp.list(n.Outputs)
		cn.Attrs = slices.Clone(n.Attrs)
		for j, a := range n.Attrs {
			if a.G == nil && a.Graphs == nil {
				continue // SetAttr replaces attributes, never edits them
			}
			ca := *a
			ca.G = cp.graph(a.G)
			if a.Graphs != nil {
				ca.Graphs = make([]*graph.Graph, len(a.Graphs))
				for k, sg := range a.Graphs {
					ca.Graphs[k] = cp.graph(sg)
				}
			}
			cn.Attrs[j] = &ca
		}
		cp.nodes[n] = &cn
		c.Nodes[i] = &cn
	}
	return &c
}
