package main

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/urfave/cli/v2"
)

func diffCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "print the diff as JSON (schema onnxcompress.diff/v1, see package htmlreport)"},
		&cli.StringFlag{Name: "html", Usage: "write a self-contained HTML report to `FILE`"},
		&cli.IntFlag{Name: "probe", Value: 1, Usage: "compare outputs on `N` random inputs (0: don't run the models)"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the first probe (probe i uses seed+i)"},
		&cli.Float64Flag{Name: "tol", Value: onnxcompress.DefaultDiffTol, Usage: "relative L2 under which outputs are equal; given explicitly, the exit status depends on the numbers only"},
		&cli.StringSliceFlag{Name: "shape", Usage: "input shape `[NAME=]D1,D2,...` for MACs and probes; unknown dims default to 1"},
		&cli.IntFlag{Name: "batch", Value: 256, Usage: "samples per run with --data"},
		&cli.IntFlag{Name: "limit", Usage: "compare on the first `N` samples of --data only"},
		&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
		quietFlag(),
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
   onnxcompress diff model.onnx small.onnx --quiet && echo same
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
		if err := onnxcompress.RenderDiffHTML(&buf, doc); err != nil {
			return usageError{err}
		}
		if err := writeFileAtomic(p, buf.Bytes()); err != nil {
			return usageError{err}
		}
	}
	if err := printResult(c, doc, func(w io.Writer) error { return printDiff(w, doc) }); err != nil {
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

// buildDiff runs the API's Diff as the flags say; numericOnly is true when
// --tol was given, so that only the numbers decide the exit status.
func buildDiff(c *cli.Context) (*onnxcompress.DiffReport, bool, error) {
	if c.NArg() != 2 {
		return nil, false, fmt.Errorf("diff: expected two models A B, got %d arguments", c.NArg())
	}
	pathA, pathB := c.Args().Get(0), c.Args().Get(1)
	numericOnly := c.IsSet("tol")
	if numericOnly && c.Int("probe") == 0 && c.String("data") == "" {
		return nil, false, fmt.Errorf("--tol compares outputs: give --probe N > 0 or --data")
	}
	if !(c.Float64("tol") >= 0) {
		return nil, false, fmt.Errorf("--tol %g: must be a non-negative number", c.Float64("tol"))
	}
	if c.Int("probe") < 0 {
		return nil, false, fmt.Errorf("--probe %d: must be at least 0", c.Int("probe"))
	}
	a, err := onnxcompress.Load(pathA)
	if err != nil {
		return nil, false, err
	}
	b, err := onnxcompress.Load(pathB)
	if err != nil {
		return nil, false, err
	}
	shapes, err := onnxcompress.ParseInputShapes(c.StringSlice("shape"))
	if err != nil {
		return nil, false, fmt.Errorf("--%w", err)
	}
	bar := newProgress(c, "diff")
	defer bar.clear()
	opts := onnxcompress.DiffOptions{
		NameA: pathA, NameB: pathB, InputShapes: shapes, Probes: c.Int("probe"), Seed: c.Uint64("seed"),
		Batch: c.Int("batch"), Limit: c.Int("limit"), Tol: c.Float64("tol"), Threads: c.Int("threads"),
		// Numbers nobody asked for explicitly must not hide the structural
		// diff (an op this runtime lacks, inputs that do not pair up).
		RequireNumeric: numericOnly || c.IsSet("probe") || c.String("data") != "",
		Progress:       bar.counter,
	}
	if p := c.String("data"); p != "" {
		if c.Int("batch") < 1 {
			return nil, false, fmt.Errorf("--batch %d: must be at least 1", c.Int("batch"))
		}
		if opts.Data, err = openData(c, p, a); err != nil {
			return nil, false, err
		}
	}
	doc, err := onnxcompress.Diff(c.Context, a, b, opts)
	return doc, numericOnly, err
}

func printDiff(w io.Writer, doc *onnxcompress.DiffReport) error {
	d := doc.Structure
	shapes := make([]string, 0, len(doc.InputShapes))
	for k, v := range doc.InputShapes {
		shapes = append(shapes, k+" "+v)
	}
	sort.Strings(shapes)
	fmt.Fprintf(w, "%s → %s  (inputs %s)\n\n", doc.A, doc.B, strings.Join(shapes, ", "))
	errs := map[int]float64{}
	for _, e := range doc.LayerErrors {
		errs[e.Change] = float64(e.RelL2)
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
			relErr = fmt.Sprintf("%.4g", e)
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
