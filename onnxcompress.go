package onnxcompress

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// The model vocabulary, from package graph.
type (
	// Model is an ONNX model in memory: the graph and the model-level fields
	// (opsets, IR version, metadata) a Save writes back unchanged.
	Model = graph.Model
	// Tensor is a named, typed array: an initializer, an input or an output.
	Tensor = graph.Tensor
	// Shape is a tensor shape whose dimensions may be unknown or symbolic.
	Shape = graph.Shape
)

// Load reads an ONNX model; external data is resolved inside its folder.
// Malformed input gives an error matching onnx.ErrBadInput.
func Load(path string) (*Model, error) { return onnx.Read(path) }

// Save writes m atomically (temp file, then rename): a failed write leaves
// any existing file untouched.
func Save(path string, m *Model, opts ...onnx.Option) error {
	return onnx.Write(path, m, opts...)
}

// Clone returns an independent copy of m (through the codec, so it is exact).
func Clone(m *Model) (*Model, error) {
	data, err := onnx.Encode(m)
	if err != nil {
		return nil, err
	}
	return onnx.Decode(data, "")
}

// InputShapes completes the given shapes with m's declared ones, unknown
// dimensions set to 1. The empty name stands for a model's only input.
func InputShapes(m *Model, given map[string]Shape) (map[string]Shape, error) {
	if s, ok := given[""]; ok {
		ins := graph.RealInputs(m.Graph)
		if len(ins) != 1 {
			return nil, badInput(fmt.Errorf("shape %v: the model has %d inputs; name one as NAME=dims", s, len(ins)))
		}
		named := map[string]graph.Shape{ins[0].Name: s}
		for k, v := range given {
			if k != "" {
				named[k] = v
			}
		}
		given = named
	}
	shapes, err := graph.ConcreteInputShapes(m.Graph, given)
	return shapes, badInput(err)
}

// ParseInputShapes reads shapes written "[NAME=]D1,D2,...", as the
// command line's --shape takes them; an unnamed shape is keyed by the empty
// name, which InputShapes gives to a model's only input.
func ParseInputShapes(specs []string) (map[string]Shape, error) {
	out := map[string]Shape{}
	for _, spec := range specs {
		name, dims := "", spec
		if i := strings.IndexByte(spec, '='); i >= 0 {
			name, dims = spec[:i], spec[i+1:]
		}
		var ds []int64
		for _, p := range strings.Split(dims, ",") {
			d, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil || d <= 0 {
				return nil, badInput(fmt.Errorf("shape %q: %q is not a positive dimension", spec, p))
			}
			ds = append(ds, d)
		}
		if _, dup := out[name]; dup {
			return nil, badInput(fmt.Errorf("shape %q: input %q has two shapes", spec, name))
		}
		out[name] = graph.KnownShape(ds...)
	}
	return out, nil
}

// LayerInfo is one weighted layer as Inspect sees it.
type LayerInfo struct {
	Name        string  `json:"name"`
	Op          string  `json:"op"`
	WeightShape []int64 `json:"weight_shape"`
	Params      int64   `json:"params"`
	MACs        int64   `json:"macs"`
	ParamShare  float64 `json:"param_share"`
	MACShare    float64 `json:"mac_share"`
}

// InspectReport is a model's cost, per weighted layer and in total.
type InspectReport struct {
	IRVersion    int64             `json:"ir_version"`
	Opsets       map[string]int64  `json:"opsets"`
	Producer     string            `json:"producer,omitempty"`
	InputShapes  map[string]string `json:"input_shapes"`
	Layers       []LayerInfo       `json:"layers"`
	Params       int64             `json:"params"`
	UniqueParams int64             `json:"unique_params"`
	MACs         int64             `json:"macs"`
}

// Inspect infers shapes at the given input shapes (see InputShapes) and
// counts each weighted layer's parameters and multiply-adds.
func Inspect(m *Model, shapes map[string]Shape) (*InspectReport, error) {
	shapes, err := InputShapes(m, shapes)
	if err != nil {
		return nil, err
	}
	// Costing needs shapes at concrete input sizes; the model keeps the
	// types it declares (a dynamic batch stays dynamic).
	defer graph.AllTypes(m.Graph).Restore()
	if err := graph.InferShapes(m, shapes); err != nil {
		return nil, err
	}
	layers, totals := graph.ModelCost(m)
	rep := &InspectReport{
		IRVersion:    m.IRVersion,
		Opsets:       map[string]int64{},
		Producer:     strings.TrimSpace(m.ProducerName + " " + m.ProducerVersion),
		InputShapes:  map[string]string{},
		Layers:       []LayerInfo{},
		Params:       totals.Params,
		UniqueParams: totals.UniqueParams,
		MACs:         totals.MACs,
	}
	for _, o := range m.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		rep.Opsets[d] = o.Version
	}
	for name, s := range shapes {
		rep.InputShapes[name] = s.String()
	}
	for _, l := range layers {
		rep.Layers = append(rep.Layers, LayerInfo{
			Name: l.Node.Label(), Op: l.Op, WeightShape: l.WeightShape, Params: l.Params, MACs: l.MACs,
			ParamShare: share(l.Params, totals.Params), MACShare: share(l.MACs, totals.MACs),
		})
	}
	return rep, nil
}

func share(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// CompressOptions are rewrite's options plus the checks Compress runs.
type CompressOptions struct {
	rewrite.Options
	// Probes is how many random input batches (seeded by Options.Seed) the
	// original and the compressed model run on in this project's runtime to
	// measure output error; 0 skips the check.
	Probes int
}

// CompressResult is what Compress did and what it measured.
type CompressResult struct {
	Report *rewrite.Report `json:"report"`
	// OutputError is the worst relative L2 error of the model outputs over
	// the probes; nil when not measured.
	OutputError *float64 `json:"output_error,omitempty"`
}

// Compress rewrites m in place as opts say and, with Probes > 0, measures
// the output error against the model as it was. ctx cancels between layers;
// opts.Progress reports each layer.
func Compress(ctx context.Context, m *Model, opts CompressOptions) (*CompressResult, error) {
	shapes, err := InputShapes(m, opts.InputShapes)
	if err != nil {
		return nil, err
	}
	// The original's side of each probe is computed before compressing,
	// and only the values compared are kept: a copy of the original model
	// alongside the compressed one would cost a whole model more.
	var refs []*rewrite.ProbeReference
	for i := 0; i < opts.Probes; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in, err := rewrite.RandomProbe(m, shapes, opts.Seed+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		ref, err := rewrite.RecordReference(m, opts.Options, in, 0)
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		refs = append(refs, ref)
	}
	opts.InputShapes = shapes
	opts.Context = ctx
	rep, err := rewrite.Compress(m, opts.Options)
	if err != nil {
		return nil, err
	}
	res := &CompressResult{Report: rep}
	if len(refs) == 0 || len(rep.Rewritten()) == 0 {
		return res, nil
	}
	worst := 0.0
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := ref.MeasureOutputErrors(m, rep, 0)
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		worst = max(worst, e)
	}
	res.OutputError = &worst
	return res, nil
}

// Plan is the method and settings Compress chose for each layer it
// rewrote: given back as Options.Plan, it reproduces the same model.
func (r *CompressResult) Plan() []LayerPlan {
	plans := []LayerPlan{}
	for _, l := range r.Report.Rewritten() {
		plans = append(plans, LayerPlan{Layer: l.Layer, Method: l.Method, Form: l.Form, Ranks: l.Ranks,
			Chain: l.Chain, Keep: l.Keep, Bits: l.Bits})
	}
	return plans
}

// Plan chooses each layer's method and settings as Compress would, leaving
// m as it is (it compresses a copy): a plan to review, edit and apply with
// Options.Plan.
func Plan(ctx context.Context, m *Model, opts CompressOptions) ([]LayerPlan, error) {
	c, err := Clone(m)
	if err != nil {
		return nil, err
	}
	opts.Probes = 0
	res, err := Compress(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	return res.Plan(), nil
}

// The compression vocabulary, from package rewrite.
type (
	// Options say what Compress rewrites and how far.
	Options = rewrite.Options
	// Target is how far to compress each layer (or, for a ratio, all).
	Target = rewrite.Target
	// LayerPlan is one layer's method and settings (the --plan file format).
	LayerPlan = rewrite.LayerPlan
	// Report says what Compress did per layer and in total.
	Report = rewrite.Report
	// LayerReport is one layer's row of a Report.
	LayerReport = rewrite.LayerReport
	// UsageError marks a request that cannot be met as asked.
	UsageError = rewrite.UsageError
)

// AutoMethod lets the global budget pick each layer's method.
const AutoMethod = rewrite.AutoMethod

// DefaultRankMultiple is the global budget's rank alignment when
// Options.RankMultiple is 0.
const DefaultRankMultiple = rewrite.DefaultRankMultiple

// MethodNames lists the compression methods.
func MethodNames() []string { return rewrite.MethodNames() }

// CalibrationBatches cuts the first samples of d (in order) into batches
// for Options.Calibration, fed to m's single real input.
func CalibrationBatches(m *Model, d *Dataset, samples, batch int) ([]map[string]*runtime.Tensor, error) {
	ins := graph.RealInputs(m.Graph)
	if len(ins) != 1 {
		return nil, fmt.Errorf("calibration data feeds one input; the model has %d", len(ins))
	}
	if samples <= 0 || samples > d.N {
		samples = d.N
	}
	if batch <= 0 {
		batch = 64
	}
	var out []map[string]*runtime.Tensor
	for start := 0; start < samples; start += batch {
		idx := make([]int, 0, batch)
		for i := start; i < min(start+batch, samples); i++ {
			idx = append(idx, i)
		}
		x := make([]float32, len(idx)*d.SampleSize())
		if err := d.Batch(idx, x); err != nil {
			return nil, err
		}
		shape := append([]int{len(idx)}, d.Shape...)
		out = append(out, map[string]*runtime.Tensor{ins[0].Name: runtime.NewFloat32Tensor(shape, x)})
	}
	return out, nil
}
