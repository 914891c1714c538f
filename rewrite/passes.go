package rewrite

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// pass is one step of Compress: a small function over the whole state.
type pass struct {
	name string
	run  func(*state) error
}

// passes is the whole pipeline, in order. graph.Verify runs after each.
var passes = []pass{
	{"infer-shapes", inferShapes},
	{"fold-batchnorm", foldBatchNormsIfAsked},
	{"select-layers", selectLayers},
	{"plan", planLayers},
	{"rewrite", rewriteLayers},
	{"dead-nodes", eliminateDeadNodes},
	{"toposort", sortNodes},
	{"infer-shapes", inferShapes},
	{"report", finishReport},
}

// state is what the passes share.
type state struct {
	model  *graph.Model
	opts   Options
	method Method
	layers []*Layer
	plans  map[*Layer]LayerPlan
	report *Report
	// applied pairs each rewritten layer's report row with the nodes now
	// computing it, so the report can cost them once shapes are known.
	applied []appliedRewrite
}

type appliedRewrite struct {
	row   *LayerReport
	nodes []*graph.Node
}

// Compress rewrites m in place as opts ask and returns the report. On error
// the model may be partly rewritten; callers that need the original keep a
// copy (the command line reads the file again).
func Compress(m *graph.Model, opts Options) (*Report, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("compress: no graph")
	}
	s := &state{model: m, opts: opts, plans: map[*Layer]LayerPlan{}, report: &Report{}}
	if opts.Plan == nil {
		method, err := MethodByName(opts.Method)
		if err != nil {
			return nil, err
		}
		s.method = method
	}
	for _, p := range passes {
		if err := p.run(s); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if err := graph.Verify(m.Graph); err != nil {
			return nil, fmt.Errorf("after pass %s the graph is invalid: %w", p.name, err)
		}
	}
	return s.report, nil
}

func inferShapes(s *state) error {
	return graph.InferShapes(s.model, s.opts.InputShapes)
}

func eliminateDeadNodes(s *state) error {
	graph.EliminateDeadNodes(s.model.Graph)
	return nil
}

func sortNodes(s *state) error { return graph.TopoSort(s.model.Graph) }
