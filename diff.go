package onnxcompress

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/htmlreport"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// DiffReport is what Diff finds: the structural diff, the costs on both
// sides and, when the models ran, how their outputs compare. Its JSON form
// is the stable schema documented on htmlreport.Document; RenderDiffHTML
// draws it.
type DiffReport = htmlreport.Document

// DefaultDiffTol is the usual DiffOptions.Tol: float32 rounding of a
// rewritten model at full rank stays well under it.
const DefaultDiffTol = 1e-4

// DiffOptions say how Diff costs and runs the two models.
type DiffOptions struct {
	// NameA and NameB are what the report calls the models (file names).
	NameA, NameB string
	// InputShapes fix the shapes the models are costed and probed at; the
	// rest are declared shapes with unknown dimensions set to 1 (see
	// InputShapes).
	InputShapes map[string]graph.Shape
	// Probes is how many random input batches (seeds Seed, Seed+1, …) both
	// models run on; with Data set, the labelled samples are used instead.
	// Zero probes and no Data: structure and cost only.
	Probes int
	Seed   uint64
	Data   *Dataset
	// Batch is the samples per run on Data (0: 256); Limit compares on the
	// first Limit samples only (0: all).
	Batch, Limit int
	// Tol is the relative L2 error within which the outputs are
	// equivalent; zero asks for equal outputs.
	Tol     float64
	Threads int
	// RequireNumeric makes Diff fail when the models cannot be run on the
	// same inputs (an op this runtime lacks, inputs that do not pair up);
	// otherwise the report says why in NumericSkipped and keeps the
	// structural diff.
	RequireNumeric bool
	// Progress, when set, is called after each probe or data batch.
	Progress func(done, total int)
}

// Diff pairs the nodes of a and b (onnxcompress provenance first, then node
// names, output names and structure), costs both sides and, with probes or
// data, runs both on the same inputs and compares outputs and the output of
// every changed region. The models' declared types are left as they were.
func Diff(ctx context.Context, a, b *Model, opts DiffOptions) (*DiffReport, error) {
	tol := opts.Tol
	if !(tol >= 0) {
		return nil, badInput(fmt.Errorf("diff: tolerance %g: must be a non-negative number", tol))
	}
	if opts.Probes < 0 {
		return nil, badInput(fmt.Errorf("diff: %d probes: must be at least 0", opts.Probes))
	}
	models := [2]*Model{a, b}
	names := [2]string{opts.NameA, opts.NameB}
	var shapes [2]map[string]graph.Shape
	var declared [2]graph.TypeSnapshot
	for i, m := range models {
		s, err := InputShapes(m, opts.InputShapes)
		if err != nil {
			return nil, badInput(fmt.Errorf("%s: %w", names[i], err))
		}
		// Hand the model back as it came, whatever inference leaves behind.
		defer graph.AllTypes(m.Graph).Restore()
		declared[i] = graph.DeclaredTypes(m.Graph)
		forgetInferredTypes(m.Graph, declared[i])
		if err := graph.InferShapes(m, s); err != nil {
			return nil, badInput(fmt.Errorf("%s: %w", names[i], err))
		}
		shapes[i] = s
	}
	d := graph.Diff(a, b)
	for i := len(models) - 1; i >= 0; i-- {
		// Costed at concrete shapes; run at any batch (Data), as the
		// models declare (in reverse: a and b may be the same model).
		declared[i].Restore()
	}
	doc := &DiffReport{
		Schema: htmlreport.SchemaVersion, A: opts.NameA, B: opts.NameB, InputShapes: map[string]string{},
		Identical: d.Identical(), Structure: d,
		ParamsRatio: share(d.After.Params, d.Before.Params), MACsRatio: share(d.After.MACs, d.Before.MACs),
	}
	for name, s := range shapes[0] {
		doc.InputShapes[name] = s.String()
	}
	if opts.Probes == 0 && opts.Data == nil {
		return doc, nil
	}
	cmp, err := newComparison(a, b, d, opts.Threads)
	if err == nil {
		if opts.Data != nil {
			err = cmp.onData(ctx, opts)
		} else {
			err = cmp.onProbes(ctx, a, shapes[0], opts)
		}
	}
	if err != nil {
		if opts.RequireNumeric || ctx.Err() != nil {
			return nil, err
		}
		doc.NumericSkipped = err.Error()
		return doc, nil
	}
	doc.Numeric, doc.LayerErrors = cmp.result(tol)
	eq := float64(doc.Numeric.RelL2) <= tol
	doc.Equivalent = &eq
	return doc, nil
}

// forgetInferredTypes clears the types of g's undeclared intermediate
// values, which an earlier inference (Compress's, at batch 1) may have set
// at other sizes than Diff's.
func forgetInferredTypes(g *graph.Graph, declared graph.TypeSnapshot) {
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if _, ok := declared[v]; v != nil && !ok {
				v.Type = nil
			}
		}
	}
}

// comparison runs both models on the same inputs and accumulates how their
// outputs, and the outputs of changed regions, differ.
type comparison struct {
	sa, sb     *runtime.Session
	inputs     [][2]string // a's input name, b's
	outputs    []*errorSum // graph outputs, paired
	layers     []*errorSum // changed regions' outputs
	source     string
	probes     int
	seed       uint64
	data       string
	samples    int
	correctA   int
	correctB   int
	haveLabels bool
}

type errorSum struct {
	change         int
	a, b           string
	elements       int
	sqDiff, sqRef  float64
	maxAbs         float64
	bad            bool // shape mismatch or non-finite values
	agree, rows    int
	classification bool
}

func (e *errorSum) add(ta, tb *runtime.Tensor) {
	fa, fb := ta.Float64s(), tb.Float64s()
	if !equalInts(ta.Shape, tb.Shape) || len(fa) != len(fb) {
		e.bad = true
		return
	}
	e.elements += len(fa)
	for i := range fa {
		d := fb[i] - fa[i]
		if math.IsNaN(d) || math.IsInf(d, 0) {
			e.bad = true
		}
		e.sqDiff += d * d
		e.sqRef += fa[i] * fa[i]
		e.maxAbs = math.Max(e.maxAbs, math.Abs(d))
	}
	if len(ta.Shape) == 2 && ta.Shape[1] > 1 && ta.DType.IsFloat() {
		e.classification = true
		n, k := ta.Shape[0], ta.Shape[1]
		for r := 0; r < n; r++ {
			if argmax(fa[r*k:(r+1)*k]) == argmax(fb[r*k:(r+1)*k]) {
				e.agree++
			}
			e.rows++
		}
	}
}

func (e *errorSum) relL2() float64 {
	switch {
	case e.bad:
		return math.Inf(1)
	case e.sqRef == 0:
		return math.Sqrt(e.sqDiff)
	}
	return math.Sqrt(e.sqDiff / e.sqRef)
}

func (e *errorSum) maxAbsOrInf() float64 {
	if e.bad {
		return math.Inf(1)
	}
	return e.maxAbs
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func newComparison(a, b *Model, d *graph.ModelDiff, threads int) (*comparison, error) {
	cmp := &comparison{}
	ins, err := pairByNameThenPosition(valueNames(graph.RealInputs(a.Graph)), valueNames(graph.RealInputs(b.Graph)))
	if err != nil {
		return nil, fmt.Errorf("inputs: %w", err)
	}
	cmp.inputs = ins
	outs, err := pairByNameThenPosition(valueNames(a.Graph.Outputs), valueNames(b.Graph.Outputs))
	if err != nil {
		return nil, fmt.Errorf("outputs: %w", err)
	}
	watched := map[string]bool{}
	for _, p := range outs {
		cmp.outputs = append(cmp.outputs, &errorSum{change: -1, a: p[0], b: p[1]})
		watched[p[0]] = true
	}
	// Watch each changed region's first output pair as an extra output.
	idxA, idxB := graph.NewIndex(a.Graph), graph.NewIndex(b.Graph)
	var extraA, extraB []string
	for i, ch := range d.Changes {
		if ch.Kind == graph.Unchanged || len(ch.Outputs) == 0 {
			continue
		}
		p := ch.Outputs[0]
		if idxA.ValueByName(p.A) == nil || idxB.ValueByName(p.B) == nil {
			continue
		}
		cmp.layers = append(cmp.layers, &errorSum{change: i, a: p.A, b: p.B})
		if !watched[p.A] {
			watched[p.A] = true
			extraA = append(extraA, p.A)
			extraB = append(extraB, p.B)
		}
	}
	if cmp.sa, err = runtime.NewSession(a, runtime.Options{Threads: threads, ExtraOutputs: extraA}); err != nil {
		return nil, fmt.Errorf("A: %w", err)
	}
	if cmp.sb, err = runtime.NewSession(b, runtime.Options{Threads: threads, ExtraOutputs: extraB}); err != nil {
		return nil, fmt.Errorf("B: %w", err)
	}
	return cmp, nil
}

func valueNames(vs []*graph.Value) []string {
	var out []string
	for _, v := range vs {
		if v != nil {
			out = append(out, v.Name)
		}
	}
	return out
}

// pairByNameThenPosition pairs equal names, then the rest by position.
func pairByNameThenPosition(as, bs []string) ([][2]string, error) {
	if len(as) != len(bs) {
		return nil, fmt.Errorf("A has %d (%s), B has %d (%s)", len(as), strings.Join(as, ", "), len(bs), strings.Join(bs, ", "))
	}
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, n := range as {
		inA[n] = true
	}
	for _, n := range bs {
		inB[n] = true
	}
	var restB []string
	for _, n := range bs {
		if !inA[n] {
			restB = append(restB, n)
		}
	}
	var out [][2]string
	k := 0
	for _, n := range as {
		if inB[n] {
			out = append(out, [2]string{n, n})
		} else {
			out = append(out, [2]string{n, restB[k]})
			k++
		}
	}
	return out, nil
}

// run feeds one batch (keyed by a's input names) to both models.
func (cmp *comparison) run(in map[string]*runtime.Tensor) (map[string]*runtime.Tensor, map[string]*runtime.Tensor, error) {
	inB := map[string]*runtime.Tensor{}
	for _, p := range cmp.inputs {
		inB[p[1]] = in[p[0]]
	}
	outA, err := cmp.sa.Run(in)
	if err != nil {
		return nil, nil, fmt.Errorf("running A: %w", err)
	}
	outB, err := cmp.sb.Run(inB)
	if err != nil {
		return nil, nil, fmt.Errorf("running B: %w", err)
	}
	for _, e := range append(append([]*errorSum(nil), cmp.outputs...), cmp.layers...) {
		if outA[e.a] != nil && outB[e.b] != nil {
			e.add(outA[e.a], outB[e.b])
		}
	}
	return outA, outB, nil
}

func (cmp *comparison) onProbes(ctx context.Context, a *Model, shapes map[string]graph.Shape, opts DiffOptions) error {
	cmp.source, cmp.probes, cmp.seed = "probe", opts.Probes, opts.Seed
	for i := 0; i < opts.Probes; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		in, err := rewrite.RandomProbe(a, shapes, opts.Seed+uint64(i))
		if err != nil {
			return err
		}
		if _, _, err := cmp.run(in); err != nil {
			return err
		}
		if len(cmp.inputs) > 0 {
			if t := in[cmp.inputs[0][0]]; t != nil && len(t.Shape) > 0 {
				cmp.samples += t.Shape[0]
			}
		}
		if opts.Progress != nil {
			opts.Progress(i+1, opts.Probes)
		}
	}
	return nil
}

func (cmp *comparison) onData(ctx context.Context, opts DiffOptions) error {
	if len(cmp.inputs) != 1 {
		return badInput(fmt.Errorf("data feeds one image input; %s has %d inputs", opts.NameA, len(cmp.inputs)))
	}
	ds := opts.Data
	cmp.source, cmp.data = "data", ds.Path
	n := ds.N
	if opts.Limit > 0 && opts.Limit < n {
		n = opts.Limit
	}
	batch := opts.Batch
	if batch == 0 {
		batch = 256
	}
	if batch < 1 {
		return badInput(fmt.Errorf("diff: batch %d: must be at least 1", batch))
	}
	cmp.haveLabels = ds.Labels != nil
	buf := make([]float32, batch*ds.SampleSize())
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		var idx []int
		for i := start; i < min(start+batch, n); i++ {
			idx = append(idx, i)
		}
		x := buf[:len(idx)*ds.SampleSize()]
		if err := ds.Batch(idx, x); err != nil {
			return err
		}
		shape := append([]int{len(idx)}, ds.Shape...)
		outA, outB, err := cmp.run(map[string]*runtime.Tensor{cmp.inputs[0][0]: runtime.NewFloat32Tensor(shape, x)})
		if err != nil {
			return err
		}
		cmp.samples += len(idx)
		if opts.Progress != nil {
			opts.Progress(cmp.samples, n)
		}
		if !cmp.haveLabels {
			continue
		}
		first := cmp.outputs[0]
		la, lb := outA[first.a], outB[first.b]
		if len(la.Shape) != 2 || la.Shape[0] != len(idx) || !equalInts(la.Shape, lb.Shape) {
			return fmt.Errorf("data: first output has shape %v (A) and %v (B), want [%d, classes]", la.Shape, lb.Shape, len(idx))
		}
		fa, fb := la.Float64s(), lb.Float64s()
		k := la.Shape[1]
		for r, i := range idx {
			label := int(ds.Labels[i])
			if argmax(fa[r*k:(r+1)*k]) == label {
				cmp.correctA++
			}
			if argmax(fb[r*k:(r+1)*k]) == label {
				cmp.correctB++
			}
		}
	}
	return nil
}

func (cmp *comparison) result(tol float64) (*htmlreport.Numeric, []htmlreport.LayerError) {
	num := &htmlreport.Numeric{Source: cmp.source, Probes: cmp.probes, Seed: cmp.seed, Data: cmp.data,
		Samples: cmp.samples, Tol: tol, Outputs: []htmlreport.OutputComparison{}}
	if cmp.source == "data" {
		num.Seed = 0
	}
	for i, e := range cmp.outputs {
		oc := htmlreport.OutputComparison{A: e.a, B: e.b, Elements: e.elements,
			MaxAbs: htmlreport.Metric(e.maxAbsOrInf()), RelL2: htmlreport.Metric(e.relL2())}
		if e.classification && e.rows > 0 {
			agree := float64(e.agree) / float64(e.rows)
			oc.Top1Agreement = &agree
			if i == 0 {
				num.Top1Agreement = &agree
			}
		}
		num.Outputs = append(num.Outputs, oc)
		num.MaxAbs = htmlreport.Metric(math.Max(float64(num.MaxAbs), float64(oc.MaxAbs)))
		num.RelL2 = htmlreport.Metric(math.Max(float64(num.RelL2), float64(oc.RelL2)))
	}
	if cmp.haveLabels && cmp.samples > 0 {
		accA, accB := float64(cmp.correctA)/float64(cmp.samples), float64(cmp.correctB)/float64(cmp.samples)
		num.AccuracyA, num.AccuracyB = &accA, &accB
	}
	var layers []htmlreport.LayerError
	for _, e := range cmp.layers {
		if e.elements == 0 && !e.bad {
			continue
		}
		layers = append(layers, htmlreport.LayerError{Change: e.change, A: e.a, B: e.b,
			MaxAbs: htmlreport.Metric(e.maxAbsOrInf()), RelL2: htmlreport.Metric(e.relL2())})
	}
	return num, layers
}

// RenderDiffHTML writes r as one self-contained HTML page: a summary,
// per-layer bar charts of params, MACs and error, the table of changes and
// a drawing of each replaced region, in inline CSS and SVG with nothing
// fetched from the network.
func RenderDiffHTML(w io.Writer, r *DiffReport) error { return htmlreport.Render(w, r) }
