package rewrite

import (
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
	if s.opts.Plan == nil && s.opts.Target.Ratio > 0 && s.opts.Allocation != "uniform" {
		if lister, ok := s.method.(candidateLister); ok {
			return s.planGlobally(lister)
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
			s.report.skip(l, s.method.Name(), err.Error())
			continue
		}
		p.Layer = l.Node.Name
		p.Method = s.method.Name()
		s.plans[l] = p
		kept = append(kept, l)
	}
	s.layers = kept
	return nil
}

// planGlobally spreads the ratio over all selected layers at once (see
// allocateGlobally). Layers the method offers no candidate for are skipped.
func (s *state) planGlobally(lister candidateLister) error {
	var layers []*Layer
	var lists [][]Candidate
	for _, l := range s.layers {
		list, err := lister.Candidates(l)
		if err != nil || len(list) == 0 {
			reason := "no candidate settings"
			if err != nil {
				reason = err.Error()
			}
			s.report.skip(l, s.method.Name(), reason)
			continue
		}
		// Leaving the layer as it is is always an option: exact, at its
		// present size.
		orig := l.WeightParams()
		if l.BiasConst != nil {
			orig += int64(l.BiasConst.Len())
		}
		list = append(list, Candidate{Params: orig})
		layers = append(layers, l)
		lists = append(lists, list)
	}
	chosen, err := allocateGlobally(layers, lists, s.opts.Target.Ratio)
	if err != nil {
		return usageErrorf("%v", err)
	}
	s.layers = s.layers[:0]
	for i, l := range layers {
		p := chosen[i].Plan
		if p.Method == "" && len(p.Ranks) == 0 && p.Form == "" && p.Chain == "" {
			s.report.skip(l, s.method.Name(), keptByBudget)
			continue
		}
		p.Layer, p.Method = l.Node.Name, s.method.Name()
		s.plans[l] = p
		s.layers = append(s.layers, l)
	}
	return nil
}

// keptByBudget is the skip reason of a layer the global budget left whole.
const keptByBudget = "left as is: the global budget is better spent on other layers"
