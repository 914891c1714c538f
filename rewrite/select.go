package rewrite

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// selectLayers finds the candidate layers and keeps those the options select
// and the method can take. Layers the method cannot take are reported as
// skipped with the reason, unless the user named them explicitly: then the
// whole run fails, since silently not doing what was asked is worse.
func selectLayers(s *state) error {
	g := s.model.Graph
	_, before := graph.ModelCost(s.model)
	s.report.Before = before
	explicit := map[string]bool{}
	for _, p := range s.opts.Layers {
		if !strings.ContainsAny(p, "*?[") {
			explicit[p] = true
		}
	}
	found := map[string]bool{}
	planned := map[string]LayerPlan{}
	for _, p := range s.opts.Plan {
		planned[p.Layer] = p
	}
	for _, l := range FindLayers(g) {
		name := l.Node.Name
		if !s.selects(name, l) {
			continue
		}
		found[name] = true
		method := s.method
		if p, ok := planned[name]; ok {
			m, err := MethodByName(p.Method)
			if err != nil {
				return fmt.Errorf("plan for layer %s: %w", name, err)
			}
			method = m
		} else if s.opts.Plan != nil {
			continue
		}
		if method == nil { // auto: each method checks the layer while planning
			s.layers = append(s.layers, l)
			continue
		}
		if err := method.Check(l); err != nil {
			if explicit[name] || planned[name].Layer != "" {
				return usageErrorf("layer %s cannot take %s: %v", name, method.Name(), err)
			}
			s.report.skip(l, method.Name(), err.Error())
			continue
		}
		s.layers = append(s.layers, l)
	}
	for name := range explicit {
		if !found[name] {
			return usageErrorf("no weighted layer named %q (see `onnxcompress inspect`)", name)
		}
	}
	for name := range planned {
		if !found[name] {
			return usageErrorf("plan names layer %q, which is not a selected weighted layer", name)
		}
	}
	return nil
}

func (s *state) selects(name string, l *Layer) bool {
	if len(s.opts.Layers) > 0 && !matchAny(s.opts.Layers, name) {
		return false
	}
	if matchAny(s.opts.Skip, name) {
		return false
	}
	if len(s.opts.Ops) > 0 {
		ok := false
		for _, op := range s.opts.Ops {
			ok = ok || strings.EqualFold(op, l.Node.OpType)
		}
		if !ok {
			return false
		}
	}
	return l.WeightParams() >= s.opts.MinParams
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, err := path.Match(g, name); err == nil && ok {
			return true
		}
	}
	return false
}

// UsageError marks a request that cannot be met as asked (exit code 2 on
// the command line), as opposed to a failure while working.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// planLayers asks the method (or the user's plan) for each layer's settings.
func planLayers(s *state) error {
	planned := map[string]LayerPlan{}
	for _, p := range s.opts.Plan {
		planned[p.Layer] = p
	}
	if s.opts.Plan == nil {
		budgeted := s.opts.Target.Ratio > 0 || s.opts.Target.MACsRatio > 0
		listers := s.listers()
		switch {
		case s.method == nil && !budgeted:
			return usageErrorf("method auto needs a ratio or a MAC ratio to spend")
		case s.method == nil && len(listers) == 0:
			return usageErrorf("no method can price its settings for auto")
		case s.opts.Target.MACsRatio > 0 && len(listers) == 0:
			return usageErrorf("method %s cannot plan for a MAC budget; use a parameter ratio", s.method.Name())
		case budgeted && len(listers) > 0 && (s.method == nil || s.opts.Target.MACsRatio > 0 ||
			s.opts.Allocation != "uniform" && !spendsRatioPerLayer(s.method)):
			return s.planGlobally(listers)
		}
	}
	kept := s.layers[:0]
	for _, l := range s.layers {
		if p, ok := planned[l.Node.Name]; ok {
			s.plans[l] = p
			kept = append(kept, l)
			continue
		}
		p, err := s.method.Plan(l, s.opts.Target)
		if err != nil {
			if _, named := s.namedExplicitly(l); named {
				return usageErrorf("layer %s: %s cannot meet %s: %v", l.Node.Label(), s.method.Name(), s.opts.Target, err)
			}
			s.report.skip(l, s.method.Name(), err.Error())
			l.memo = nil
			continue
		}
		p.Layer = l.Node.Name
		p.Method = s.method.Name()
		l.keepOnlyMemo(memoKey(p.Method, p))
		s.plans[l] = p
		kept = append(kept, l)
	}
	s.layers = kept
	return nil
}

// planGlobally spreads the ratio over all selected layers at once (see
// allocateGlobally), with one method or, for "auto", every method that can
// price its settings, so methods mix across layers. Layers no method offers
// a candidate for are skipped with the reasons.
func (s *state) planGlobally(listers []Method) error {
	cost, ratio := budgetCost(paramsCost), s.opts.Target.Ratio
	if s.opts.Target.MACsRatio > 0 {
		cost, ratio = macsCost, s.opts.Target.MACsRatio
	}
	multiple := s.opts.RankMultiple
	if multiple == 0 {
		multiple = DefaultRankMultiple
	}
	if multiple < 0 {
		return usageErrorf("rank multiple %d: want 1 or more (1 offers every rank)", multiple)
	}
	var layers []*Layer
	var lists [][]Candidate
	for _, l := range s.layers {
		l.rankMultiple = multiple
		var list []Candidate
		var reasons []string
		for _, m := range listers {
			if err := m.Check(l); err != nil {
				reasons = append(reasons, m.Name()+": "+err.Error())
				continue
			}
			cands, err := candidatesIn(s.model.Graph, m, l)
			if err != nil {
				reasons = append(reasons, m.Name()+": "+err.Error())
				continue
			}
			for _, c := range cands {
				own := c.Params // not cost(c): a credit for other layers' saving may take that to 0 or below
				if s.opts.Target.MACsRatio > 0 {
					own = c.MACs
				}
				if own <= 0 {
					reasons = append(reasons, m.Name()+": cannot price this layer's MACs")
					break
				}
				c.Plan.Method = m.Name()
				list = append(list, c)
			}
		}
		if len(list) == 0 {
			s.report.skip(l, s.opts.Method, strings.Join(reasons, "; "))
			continue
		}
		// Only the lower hull can be chosen (see allocateGlobally): keeping
		// just it holds a few hundred candidates per layer, not every rank
		// pair. Leaving the layer as it is is always an option: exact, at
		// its present size; allocateGlobally counts it as the layer's total.
		list = append(budgetHull(list, cost, s.opts.Target.MACsRatio > 0), Candidate{Params: l.Cost.Params, MACs: l.Cost.MACs})
		layers = append(layers, l)
		lists = append(lists, list)
	}
	s.layers = nil
	if len(layers) == 0 {
		return nil
	}
	spend := allocateGlobally
	if coupled(lists) {
		spend = s.spendCoupled
	}
	chosen, err := spend(layers, lists, ratio, cost)
	var trial *trialError
	if errors.As(err, &trial) {
		return err
	}
	if err != nil {
		return usageErrorf("%v", err)
	}
	for i, l := range layers {
		p := chosen[i].Plan
		l.keepOnlyMemo(memoKey(p.Method, p))
		if p.Method == "" {
			s.report.skip(l, s.opts.Method, keptByBudget)
			continue
		}
		p.Layer = l.Node.Name
		s.plans[l] = p
		s.layers = append(s.layers, l)
	}
	return nil
}

// listers are the methods able to take part in a global budget: the chosen
// one, or every such method for "auto".
func (s *state) listers() []Method {
	var out []Method
	for _, m := range methods {
		if _, ok := m.(candidateLister); ok && (s.method == nil || m == s.method) {
			out = append(out, m)
		}
	}
	return out
}

// ratioPerLayer is a method that spends a plain --ratio layer by layer
// (hinge: each layer keeps that share of its own parameters, pruned where
// its channels allow it, which users rely on); --macs-ratio and auto still
// go through the budget.
type ratioPerLayer interface{ spendsRatioPerLayer() }

func spendsRatioPerLayer(m Method) bool {
	_, ok := m.(ratioPerLayer)
	return ok
}

// keptByBudget is the skip reason of a layer the global budget left whole.
const keptByBudget = "left as is: the global budget is better spent on other layers"
