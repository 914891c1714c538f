package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/htmlreport"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/urfave/cli/v2"
)

// defaultDiffTol is the relative L2 error under which outputs count as equal.
const defaultDiffTol = 1e-4

func diffCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "print the diff as JSON (schema onnxcompress.diff/v1, see package htmlreport)"},
		&cli.StringFlag{Name: "html", Usage: "write a self-contained HTML report to `FILE`"},
		&cli.IntFlag{Name: "probe", Value: 1, Usage: "compare outputs on `N` random inputs (0: don't run the models)"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the first probe (probe i uses seed+i)"},
		&cli.Float64Flag{Name: "tol", Value: defaultDiffTol, Usage: "relative L2 under which outputs are equal; given explicitly, the exit status depends on the numbers only"},
		&cli.StringSliceFlag{Name: "shape", Usage: "input shape `[NAME=]D1,D2,...` for MACs and probes; unknown dims default to 1"},
		&cli.IntFlag{Name: "batch", Value: 256, Usage: "samples per run with --data"},
		&cli.IntFlag{Name: "limit", Usage: "compare on the first `N` samples of --data only"},
		&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
	}
	for _, f := range dataFlags() {
		if s, ok := f.(*cli.StringFlag); ok && s.Name == "data" {
			s.Required = false
			s.Usage = "compare on labelled data instead of random probes: " + s.Usage
		}
		flags = append(flags, f)
	}
	return &cli.Command{
		Name:      "diff",
		Usage:     "structural and numeric comparison of two models",
		ArgsUsage: "A B",
		Description: `Pairs the nodes of A and B (onnxcompress provenance first, then node names,
output names and structure) and lists what is unchanged, modified, removed,
added or replaced, with params and MACs per layer and in total; then runs both
models on the same inputs and compares their outputs.

Exit status, like diff(1): 0 when the models do not differ (no structural or
model-level change, outputs within --tol), 1 when they differ, 2 on bad input
or any other trouble. Given --tol explicitly, only the numbers count: 0 when
every output is within --tol relative L2.

Examples:
   onnxcompress diff model.onnx small.onnx
   onnxcompress diff model.onnx small.onnx --probe 8 --html report.html
   onnxcompress diff model.onnx small.onnx --tol 0.05 --data /usr/share/datasets/fashion-mnist --mean 0.286 --std 0.353`,
		Flags:  flags,
		Action: runDiff,
	}
}

func runDiff(c *cli.Context) error {
	doc, numericOnly, err := buildDiff(c)
	if err != nil {
		// Unix diff's convention: every kind of trouble is status 2.
		return usageError{err}
	}
	if p := c.String("html"); p != "" {
		var buf bytes.Buffer
		if err := htmlreport.Render(&buf, doc); err != nil {
			return usageError{err}
		}
		if err := writeFileAtomic(p, buf.Bytes()); err != nil {
			return usageError{err}
		}
	}
	if c.Bool("json") {
		if err := writeJSON(c.App.Writer, doc); err != nil {
			return usageError{err}
		}
	} else if err := printDiff(c.App.Writer, doc); err != nil {
		return usageError{err}
	}
	same := doc.Identical && (doc.Equivalent == nil || *doc.Equivalent)
	if numericOnly {
		same = *doc.Equivalent
	}
	if !same {
		return cli.Exit("", 1)
	}
	return nil
}

func buildDiff(c *cli.Context) (*htmlreport.Document, bool, error) {
	if c.NArg() != 2 {
		return nil, false, fmt.Errorf("diff: expected two models A B, got %d arguments", c.NArg())
	}
	pathA, pathB := c.Args().Get(0), c.Args().Get(1)
	tol := c.Float64("tol")
	if !(tol >= 0) {
		return nil, false, fmt.Errorf("--tol %g: must be a non-negative number", tol)
	}
	if c.Int("probe") < 0 {
		return nil, false, fmt.Errorf("--probe %d: must be at least 0", c.Int("probe"))
	}
	numericOnly := c.IsSet("tol")
	if numericOnly && c.Int("probe") == 0 && c.String("data") == "" {
		return nil, false, fmt.Errorf("--tol compares outputs: give --probe N > 0 or --data")
	}
	var models [2]*graph.Model
	var shapes [2]map[string]graph.Shape
	var declared [2]graph.TypeSnapshot
	for i, p := range []string{pathA, pathB} {
		m, err := onnx.Read(p)
		if err != nil {
			return nil, false, err
		}
		s, err := inputShapes(m, c.StringSlice("shape"))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", p, err)
		}
		declared[i] = graph.DeclaredTypes(m.Graph)
		if err := graph.InferShapes(m, s); err != nil {
			return nil, false, fmt.Errorf("%s: %w", p, err)
		}
		models[i], shapes[i] = m, s
	}
	d := graph.Diff(models[0], models[1])
	for i := range models {
		// Run at any batch (--data), as the files declare, not at the
		// shapes the models were costed at.
		declared[i].Restore()
	}
	doc := &htmlreport.Document{
		Schema: htmlreport.SchemaVersion, A: pathA, B: pathB, InputShapes: map[string]string{},
		Identical: d.Identical(), Structure: d,
		ParamsRatio: ratio(d.After.Params, d.Before.Params), MACsRatio: ratio(d.After.MACs, d.Before.MACs),
	}
	for name, s := range shapes[0] {
		doc.InputShapes[name] = s.String()
	}
	if c.Int("probe") == 0 && c.String("data") == "" {
		return doc, numericOnly, nil
	}
	num, layers, err := compareNumerically(c, models, shapes[0], d, tol, pathA)
	if err != nil {
		// Numbers nobody asked for explicitly must not hide the structural
		// diff (an op this runtime lacks, inputs that do not pair up).
		if numericOnly || c.IsSet("probe") || c.String("data") != "" {
			return nil, false, err
		}
		doc.NumericSkipped = err.Error()
		return doc, numericOnly, nil
	}
	doc.Numeric, doc.LayerErrors = num, layers
	eq := float64(doc.Numeric.RelL2) <= tol
	doc.Equivalent = &eq
	return doc, numericOnly, nil
}

func compareNumerically(c *cli.Context, models [2]*graph.Model, shapes map[string]graph.Shape, d *graph.ModelDiff,
	tol float64, pathA string) (*htmlreport.Numeric, []htmlreport.LayerError, error) {
	cmp, err := newComparison(models[0], models[1], d, c.Int("threads"))
	if err != nil {
		return nil, nil, err
	}
	defer cmp.restore()
	if c.String("data") != "" {
		err = cmp.onData(c, pathA)
	} else {
		err = cmp.onProbes(shapes, c.Int("probe"), c.Uint64("seed"))
	}
	if err != nil {
		return nil, nil, err
	}
	num, layers := cmp.result(tol)
	return num, layers, nil
}

func ratio(after, before int64) float64 {
	if before == 0 {
		return 0
	}
	return float64(after) / float64(before)
}

// comparison runs both models on the same inputs and accumulates how their
// outputs, and the outputs of changed regions, differ.
type comparison struct {
	a, b       *graph.Model
	sa, sb     *runtime.Session
	inputs     [][2]string // a's input name, b's
	outputs    []*errorSum // graph outputs, paired
	layers     []*errorSum // changed regions' outputs
	savedA     []*graph.Value
	savedB     []*graph.Value
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

func newComparison(a, b *graph.Model, d *graph.ModelDiff, threads int) (*comparison, error) {
	cmp := &comparison{a: a, b: b, savedA: a.Graph.Outputs, savedB: b.Graph.Outputs}
	ins, err := pairByNameThenPosition(names(graph.RealInputs(a.Graph)), names(graph.RealInputs(b.Graph)))
	if err != nil {
		return nil, fmt.Errorf("inputs: %w", err)
	}
	cmp.inputs = ins
	outs, err := pairByNameThenPosition(names(a.Graph.Outputs), names(b.Graph.Outputs))
	if err != nil {
		return nil, fmt.Errorf("outputs: %w", err)
	}
	for _, p := range outs {
		cmp.outputs = append(cmp.outputs, &errorSum{change: -1, a: p[0], b: p[1]})
	}
	// Watch each changed region's first output pair as an extra output.
	idxA, idxB := graph.NewIndex(a.Graph), graph.NewIndex(b.Graph)
	watchA, watchB := append([]*graph.Value(nil), a.Graph.Outputs...), append([]*graph.Value(nil), b.Graph.Outputs...)
	watched := map[string]bool{}
	for _, v := range a.Graph.Outputs {
		watched[v.Name] = true
	}
	for i, ch := range d.Changes {
		if ch.Kind == graph.Unchanged || len(ch.Outputs) == 0 {
			continue
		}
		p := ch.Outputs[0]
		va, vb := idxA.ValueByName(p.A), idxB.ValueByName(p.B)
		if va == nil || vb == nil {
			continue
		}
		cmp.layers = append(cmp.layers, &errorSum{change: i, a: p.A, b: p.B})
		if !watched[p.A] {
			watched[p.A] = true
			watchA = append(watchA, va)
			watchB = append(watchB, vb)
		}
	}
	a.Graph.Outputs, b.Graph.Outputs = watchA, watchB
	if cmp.sa, err = runtime.NewSession(a, runtime.Options{Threads: threads}); err != nil {
		cmp.restore()
		return nil, err
	}
	if cmp.sb, err = runtime.NewSession(b, runtime.Options{Threads: threads}); err != nil {
		cmp.restore()
		return nil, err
	}
	return cmp, nil
}

func (cmp *comparison) restore() {
	cmp.a.Graph.Outputs, cmp.b.Graph.Outputs = cmp.savedA, cmp.savedB
}

func names(vs []*graph.Value) []string {
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
	inB := map[string]bool{}
	for _, n := range bs {
		inB[n] = true
	}
	var restB []string
	inA := map[string]bool{}
	for _, n := range as {
		inA[n] = true
	}
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

func (cmp *comparison) onProbes(shapes map[string]graph.Shape, n int, seed uint64) error {
	cmp.source, cmp.probes, cmp.seed = "probe", n, seed
	for i := 0; i < n; i++ {
		in, err := rewrite.RandomProbe(cmp.a, shapes, seed+uint64(i))
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
	}
	return nil
}

func (cmp *comparison) onData(c *cli.Context, pathA string) error {
	ins := graph.RealInputs(cmp.a.Graph)
	if len(ins) != 1 {
		return fmt.Errorf("--data feeds one image input; %s has %d inputs", pathA, len(ins))
	}
	var shape []int64
	if ins[0].Type != nil {
		shape, _ = concreteTail(ins[0].Type.Shape)
	}
	ds, err := openData(c, shape)
	if err != nil {
		return err
	}
	cmp.source, cmp.data = "data", ds.Path
	n := ds.N
	if l := c.Int("limit"); l > 0 && l < n {
		n = l
	}
	batch := c.Int("batch")
	if batch < 1 {
		return fmt.Errorf("--batch %d: must be at least 1", batch)
	}
	cmp.haveLabels = ds.Labels != nil
	buf := make([]float32, batch*ds.SampleSize())
	for start := 0; start < n; start += batch {
		var idx []int
		for i := start; i < min(start+batch, n); i++ {
			idx = append(idx, i)
		}
		x := buf[:len(idx)*ds.SampleSize()]
		if err := ds.Batch(idx, x); err != nil {
			return err
		}
		shape := append([]int{len(idx)}, ds.Shape...)
		outA, outB, err := cmp.run(map[string]*runtime.Tensor{ins[0].Name: runtime.NewFloat32Tensor(shape, x)})
		if err != nil {
			return err
		}
		cmp.samples += len(idx)
		if !cmp.haveLabels {
			continue
		}
		first := cmp.outputs[0]
		la, lb := outA[first.a], outB[first.b]
		if len(la.Shape) != 2 || la.Shape[0] != len(idx) || !equalInts(la.Shape, lb.Shape) {
			return fmt.Errorf("--data: first output has shape %v (A) and %v (B), want [%d, classes]", la.Shape, lb.Shape, len(idx))
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

func printDiff(w io.Writer, doc *htmlreport.Document) error {
	d := doc.Structure
	shapes := make([]string, 0, len(doc.InputShapes))
	for k, v := range doc.InputShapes {
		shapes = append(shapes, k+" "+v)
	}
	sort.Strings(shapes)
	fmt.Fprintf(w, "%s → %s  (inputs %s)\n\n", doc.A, doc.B, strings.Join(shapes, ", "))
	errs := map[int]htmlreport.LayerError{}
	for _, e := range doc.LayerErrors {
		errs[e.Change] = e
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if !d.Identical() || len(d.GraphChanges) > 0 {
		fmt.Fprintln(tw, "change\tmatch\told\tnew\tparams\tMACs\trel. L2\tnotes\t")
	}
	for i, c := range d.Changes {
		if c.Kind == graph.Unchanged {
			continue
		}
		relErr := ""
		if e, ok := errs[i]; ok {
			relErr = fmt.Sprintf("%.4g", float64(e.RelL2))
		}
		var notes []string
		if c.Method != "" {
			notes = append(notes, strings.TrimSpace(c.Method+" "+c.Settings))
		}
		notes = append(notes, c.Details...)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Kind, c.Match, chainText(c.Old), chainText(c.New),
			arrow(c.ParamsBefore, c.ParamsAfter), arrow(c.MACsBefore, c.MACsAfter), relErr, strings.Join(notes, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nnodes: %d unchanged, %d modified, %d replaced, %d removed, %d added\n",
		d.Count(graph.Unchanged), d.Count(graph.Modified), d.Count(graph.Replaced), d.Count(graph.Removed), d.Count(graph.Added))
	fmt.Fprintf(w, "total: params %d → %d (%.1f%%), MACs %d → %d (%.1f%%)\n",
		d.Before.Params, d.After.Params, 100*doc.ParamsRatio, d.Before.MACs, d.After.MACs, 100*doc.MACsRatio)
	for _, g := range d.GraphChanges {
		fmt.Fprintf(w, "model: %s: %q → %q\n", g.What, shorten(g.Old, 60), shorten(g.New, 60))
	}
	if doc.NumericSkipped != "" {
		fmt.Fprintf(w, "outputs not compared: %s\n", doc.NumericSkipped)
	}
	if n := doc.Numeric; n != nil {
		what := fmt.Sprintf("%d random probe(s), seed %d", n.Probes, n.Seed)
		if n.Source == "data" {
			what = fmt.Sprintf("%d samples of %s", n.Samples, n.Data)
		}
		fmt.Fprintf(w, "outputs on %s:\n", what)
		for _, o := range n.Outputs {
			fmt.Fprintf(w, "  %s: max abs %.4g, rel. L2 %.4g", o.A, float64(o.MaxAbs), float64(o.RelL2))
			if o.Top1Agreement != nil {
				fmt.Fprintf(w, ", top-1 agreement %.2f%%", 100**o.Top1Agreement)
			}
			fmt.Fprintln(w)
		}
		if n.AccuracyA != nil {
			fmt.Fprintf(w, "  accuracy: A %.2f%%, B %.2f%%\n", 100**n.AccuracyA, 100**n.AccuracyB)
		}
	}
	switch {
	case doc.Identical && (doc.Equivalent == nil || *doc.Equivalent):
		fmt.Fprintln(w, "the models are identical")
	case doc.Equivalent != nil && *doc.Equivalent:
		fmt.Fprintf(w, "the models differ in structure; outputs agree within %g\n", doc.Numeric.Tol)
	case doc.Equivalent != nil:
		fmt.Fprintf(w, "the models differ; outputs differ beyond %g\n", doc.Numeric.Tol)
	default:
		fmt.Fprintln(w, "the models differ")
	}
	return nil
}

func chainText(ns []graph.NodeRef) string {
	var parts []string
	for _, n := range ns {
		s := n.Op + " " + n.Name
		if len(n.Outputs) > 0 && n.Outputs[0].Shape != "" {
			s += " " + n.Outputs[0].Shape
		}
		parts = append(parts, s)
	}
	if len(parts) > 4 {
		parts = append(parts[:3], fmt.Sprintf("… %d more", len(parts)-3))
	}
	return strings.Join(parts, " → ")
}

func arrow(a, b int64) string {
	if a == b {
		if a == 0 {
			return ""
		}
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d → %d", a, b)
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
