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
	{"save-declared-types", saveDeclaredTypes},
	{"infer-shapes", inferShapes},
	{"fold-batchnorm", foldBatchNormsIfAsked},
	{"select-layers", selectLayers},
	{"calibrate", calibrate},
	{"plan", planLayers},
	{"rewrite", rewriteLayers},
	{"dead-nodes", eliminateDeadNodes},
	{"toposort", sortNodes},
	{"infer-shapes", inferShapes},
	{"report", finishReport},
	{"restore-declared-types", restoreDeclaredTypes},
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
	// declared keeps the file's own types of the interface and value_info
	// values: inference runs at the probe shapes (batch 1), which must not
	// leak into the written model (a dynamic batch stays dynamic).
	declared graph.TypeSnapshot
	// ranges are calibrated activation ranges by value name.
	ranges map[string][2]float64
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
	if opts.Plan == nil && opts.Method != AutoMethod {
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

// inferShapes runs at concrete shapes (declared ones, unknown dims as 1,
// unless the caller fixed them) so that MACs can be priced.
func inferShapes(s *state) error {
	if s.opts.InputShapes == nil {
		if shapes, err := graph.ConcreteInputShapes(s.model.Graph, nil); err == nil {
			s.opts.InputShapes = shapes
		}
	}
	return graph.InferShapes(s.model, s.opts.InputShapes)
}

func eliminateDeadNodes(s *state) error {
	graph.EliminateDeadNodes(s.model.Graph)
	return nil
}

func sortNodes(s *state) error { return graph.TopoSort(s.model.Graph) }

func saveDeclaredTypes(s *state) error {
	s.declared = graph.DeclaredTypes(s.model.Graph)
	return nil
}

func restoreDeclaredTypes(s *state) error {
	s.declared.Restore()
	return nil
}
