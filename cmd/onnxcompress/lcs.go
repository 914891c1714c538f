package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/htmlreport"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/urfave/cli/v2"
)

// LCS on the command line: `compress --method lcs` trains a subspace and
// writes it as one model (it runs as the uncompressed end) with a report of
// the accuracy/size curve on the level grid (JSON and SVG); `lcs-export`
// writes the static model of each level.

// lcsFlags are compress's extra flags for --method lcs. The data
// normalisation (--scale, --mean, --std) and --seed, --report, --json,
// --quiet are compress's own.
func lcsFlags() []cli.Flag {
	cat := "LCS (--method lcs)"
	return []cli.Flag{
		&cli.StringFlag{Category: cat, Name: "mode", Value: "unstructured", Usage: "LCS regime: unstructured (TopK), structured (width) or quantized (bits)"},
		&cli.StringFlag{Category: cat, Name: "subspace", Value: "point", Usage: "point (LCS+P, one set of weights) or line (LCS+L, two endpoints)"},
		&cli.StringFlag{Category: cat, Name: "data", Usage: "training `DATA` (as for eval; its test split, when there is one, scores the curve)"},
		&cli.StringFlag{Category: cat, Name: "teacher", Usage: "distil from `ORIG` (default: MODEL as given)"},
		&cli.StringFlag{Category: cat, Name: "norm", Usage: "replace BatchNormalization first: group (GroupNorm, 32 groups) or instance (InstanceNorm); LCS needs norms without stored statistics"},
		&cli.IntFlag{Category: cat, Name: "groups", Value: 32, Usage: "GroupNorm groups (fewer when the channels do not divide)"},
		&cli.IntFlag{Category: cat, Name: "epochs", Value: 1, Usage: "passes over the training data"},
		&cli.IntFlag{Category: cat, Name: "max-steps", Usage: "stop after `N` optimisation steps (0: no limit)"},
		&cli.Float64Flag{Category: cat, Name: "lr", Value: 1e-3, Usage: "base learning rate"},
		&cli.IntFlag{Category: cat, Name: "batch", Value: 64, Usage: "samples per step"},
		&cli.StringFlag{Category: cat, Name: "optimizer", Value: "adam", Usage: "sgd (momentum 0.9), adam or adamw"},
		&cli.Float64Flag{Category: cat, Name: "weight-decay", Usage: "weight decay"},
		&cli.StringFlag{Category: cat, Name: "schedule", Value: "cosine", Usage: "learning-rate schedule: cosine, step or constant"},
		&cli.IntFlag{Category: cat, Name: "warmup", Usage: "linear learning-rate warm-up `STEPS`"},
		&cli.Float64Flag{Category: cat, Name: "warmup-fraction", Value: 0.8, Usage: "share of the steps spent in LCS warm-up (TopK annealing, dense or 8-bit training)"},
		&cli.Float64Flag{Category: cat, Name: "beta", Value: 1, Usage: "weight of the cos² line regulariser (negative: off)"},
		&cli.Float64Flag{Category: cat, Name: "kd-temperature", Value: 4, Usage: "distillation temperature `T`"},
		&cli.Float64Flag{Category: cat, Name: "kd-alpha", Value: 0.9, Usage: "weight `A` of the distillation term (1−A on the labels' cross-entropy)"},
		&cli.Float64Flag{Category: cat, Name: "holdout", Value: 0.1, Usage: "fraction of the training data held out for model selection"},
		&cli.IntFlag{Category: cat, Name: "eval-limit", Usage: "evaluate on at most `N` samples per split"},
		&cli.StringFlag{Category: cat, Name: "levels", Usage: "levels `L,L,...` of the curve (default: the regime's grid)"},
		&cli.IntFlag{Category: cat, Name: "threads", Usage: "worker threads (0: one per core)"},
		&cli.BoolFlag{Category: cat, Name: "weights-only", Usage: "quantized: leave the layers' input activations float"},
	}
}

// lcsEpoch is one evaluation in the report.
type lcsEpoch struct {
	Epoch   int       `json:"epoch"`
	Steps   int       `json:"steps"`
	Loss    float64   `json:"loss"`
	Levels  []float64 `json:"levels"`
	Holdout []float64 `json:"holdout_accuracy"`
	Mean    float64   `json:"mean_holdout_accuracy"`
	Cos2    float64   `json:"cos2"`
	Best    bool      `json:"best"`
}

// lcsReport is what compress --method lcs writes with --report (and
// prints with --json).
type lcsReport struct {
	Model        string                  `json:"model"`
	Output       string                  `json:"output"`
	Mode         string                  `json:"mode"`
	Subspace     string                  `json:"subspace"`
	NormsSwapped int                     `json:"norms_swapped,omitempty"`
	Steps        int                     `json:"steps"`
	Interrupted  bool                    `json:"interrupted"`
	Seconds      float64                 `json:"seconds"`
	Epochs       []lcsEpoch              `json:"epochs"`
	Scored       string                  `json:"scored_on,omitempty"`
	Original     *float64                `json:"original_accuracy,omitempty"`
	Curve        []onnxcompress.LCSPoint `json:"curve"`
}

func newLCSEpoch(e finetune.LCSEpoch) lcsEpoch {
	le := lcsEpoch{Epoch: e.Epoch.Epoch, Steps: e.Steps, Loss: e.Loss, Levels: e.Levels, Mean: e.Mean, Cos2: e.Cos2, Best: e.Best}
	if math.IsNaN(le.Loss) { // before training
		le.Loss = 0
	}
	for _, s := range e.Scores {
		le.Holdout = append(le.Holdout, s.Accuracy)
	}
	return le
}

func parseLevels(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, badInput("--levels %q: %q is not a number", s, p)
		}
		out = append(out, v)
	}
	return out, nil
}

func lcsLevels(c *cli.Context, mode string) ([]float64, error) {
	if c.String("levels") == "" {
		grid, err := finetune.LCSGrid(mode)
		if err != nil {
			return nil, badInput("--mode: %v", err)
		}
		return grid, nil
	}
	levels, err := parseLevels(c.String("levels"))
	if err != nil {
		return nil, err
	}
	for _, l := range levels {
		if _, err := finetune.LCSAlpha(mode, l); err != nil {
			return nil, badInput("--levels: %v", err)
		}
	}
	return levels, nil
}

// runLCSCompress is compress --method lcs.
func runLCSCompress(c *cli.Context) error {
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	if c.String("data") == "" {
		return badInput("compress --method lcs: --data is required (LCS trains)")
	}
	mode, sub := c.String("mode"), c.String("subspace")
	levels, err := lcsLevels(c, mode)
	if err != nil {
		return err
	}
	student, err := onnxcompress.Load(path)
	if err != nil {
		return err
	}
	teacherPath := path
	if c.String("teacher") != "" {
		teacherPath = c.String("teacher")
	}
	teacher, err := onnxcompress.Load(teacherPath)
	if err != nil {
		return err
	}
	rep := lcsReport{Model: path, Output: c.String("output"), Mode: mode, Subspace: sub, Epochs: []lcsEpoch{}, Curve: []onnxcompress.LCSPoint{}}
	if kind := c.String("norm"); kind != "" {
		if rep.NormsSwapped, err = onnxcompress.SwapNorms(student, kind, c.Int("groups")); err != nil {
			return usageError{withPath(path, err)}
		}
		if rep.NormsSwapped == 0 && !c.Bool("quiet") && !c.Bool("json") {
			fmt.Fprintf(c.App.Writer, "note: --norm %s: %s has no BatchNormalization to replace\n", kind, path)
		}
	}
	dataOpts, err := dataOptions(c)
	if err != nil {
		return err
	}
	train, test, err := onnxcompress.OpenSplits(c.String("data"), student, dataOpts)
	if err != nil {
		return err
	}
	talk := !c.Bool("quiet") && !c.Bool("json")
	out := c.App.Writer
	bar := newProgress(c, "lcs")
	opts := onnxcompress.LCSOptions{
		Options: finetune.Options{
			Epochs: c.Int("epochs"), MaxSteps: c.Int("max-steps"), Batch: c.Int("batch"), LR: c.Float64("lr"),
			Seed: c.Uint64("seed"), Optimizer: c.String("optimizer"), WeightDecay: c.Float64("weight-decay"),
			Distillation: finetune.Distillation{Temperature: c.Float64("kd-temperature"), Alpha: c.Float64("kd-alpha")},
			Schedule:     c.String("schedule"), Warmup: c.Int("warmup"),
			Holdout: c.Float64("holdout"), EvalLimit: c.Int("eval-limit"), Threads: c.Int("threads"),
			Progress: func(p finetune.Progress) {
				bar.update(p.Step, p.TotalSteps, fmt.Sprintf("epoch %d  loss %.4f  lr %.3g  %.0f img/s", p.Epoch, p.Loss, p.LR, p.ImagesPerSecond))
			},
		},
		Mode: mode, Subspace: sub, Beta: c.Float64("beta"), WarmupFraction: c.Float64("warmup-fraction"), WeightsOnly: c.Bool("weights-only"),
		LevelReport: func(e finetune.LCSEpoch) {
			le := newLCSEpoch(e)
			rep.Epochs = append(rep.Epochs, le)
			if talk {
				bar.clear()
				fmt.Fprintf(out, "epoch %d: step %d, hold-out top-1 %s at levels %s, cos² %.3g%s\n", le.Epoch, le.Steps,
					percents(le.Holdout), joinLevels(le.Levels), le.Cos2, map[bool]string{true: " (best)"}[le.Best])
			}
		},
	}
	if opts.Epochs < 1 || opts.Batch < 1 || opts.MaxSteps < 0 || !(opts.LR > 0) {
		return badInput("--epochs, --batch and --lr must be positive and --max-steps not negative")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	go func() {
		// After the first Ctrl-C, a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	start := time.Now()
	res, err := onnxcompress.TrainLCS(ctx, student, teacher, train, test, opts)
	bar.clear()
	if err != nil {
		if errors.Is(err, finetune.ErrBadOptions) {
			return usageError{withPath(path, err)}
		}
		return withPath(path, err)
	}
	rep.Steps, rep.Interrupted, rep.Seconds = res.Steps, res.Interrupted, time.Since(start).Seconds()
	if sub == finetune.LCSLine && len(res.Subspace.End0) == 0 && talk {
		fmt.Fprintln(out, "note: no tensor is a line (structured LCS+L puts lines on norm parameters only; the model has none), so this is LCS+P")
	}
	if err := onnxcompress.SaveLCS(rep.Output, student, res.Subspace); err != nil {
		return err
	}
	if res.Interrupted {
		if talk {
			fmt.Fprintf(out, "interrupted after %d steps: wrote the best subspace so far to %s; no curve\n", res.Steps, rep.Output)
		}
		return writeLCSReport(c, rep)
	}
	scoreOn := test
	rep.Scored = "test split"
	if scoreOn == nil {
		scoreOn, rep.Scored = train, "training data (no test split)"
	}
	evalOpts := finetune.EvalOptions{Threads: opts.Threads, Limit: opts.EvalLimit}
	orig, err := onnxcompress.Evaluate(ctx, teacher, scoreOn, evalOpts)
	if err != nil {
		return err
	}
	rep.Original = &orig.Accuracy
	evalBar := newProgress(c, "curve")
	for i, level := range levels {
		evalBar.update(i, len(levels), "level "+onnxcompress.FormatLevel(level))
		pts, err := onnxcompress.LCSCurve(ctx, student, res.Subspace, []float64{level}, scoreOn, evalOpts)
		if err != nil {
			evalBar.clear()
			return withPath(rep.Output, err)
		}
		rep.Curve = append(rep.Curve, pts...)
	}
	evalBar.clear()
	if err := writeLCSReport(c, rep); err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(out, rep)
	}
	if talk {
		fmt.Fprintf(out, "wrote %s (%s LCS+%s, %d steps, %.0f s); %s top-1 of the original %.2f%%\n",
			rep.Output, mode, strings.ToUpper(sub[:1]), rep.Steps, rep.Seconds, rep.Scored, 100*orig.Accuracy)
		return printCurve(out, mode, rep.Curve)
	}
	return nil
}

func percents(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f%%", 100*x)
	}
	return strings.Join(s, "/")
}

func joinLevels(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = onnxcompress.FormatLevel(x)
	}
	return strings.Join(s, "/")
}

func levelName(mode string) string {
	switch mode {
	case finetune.LCSUnstructured:
		return "keep"
	case finetune.LCSStructured:
		return "width"
	}
	return "bits"
}

func printCurve(w io.Writer, mode string, curve []onnxcompress.LCSPoint) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\ttop-1\tloss\tparams\tnon-zero\tsize\t\n", levelName(mode))
	for _, p := range curve {
		fmt.Fprintf(tw, "%s\t%.2f%%\t%.4f\t%d\t%d\t%.3f\t\n", onnxcompress.FormatLevel(p.Level), 100*p.Accuracy, p.Loss,
			p.Size.Params, p.Size.NonZero, p.Size.Fraction)
	}
	return tw.Flush()
}

// writeLCSReport writes --report as JSON and, beside it, the curve as SVG
// (same name, .svg).
func writeLCSReport(c *cli.Context, rep lcsReport) error {
	path := c.String("report")
	if path == "" {
		return nil
	}
	if err := writeJSONFile(path, rep); err != nil {
		return err
	}
	plot := htmlreport.CurvePlot{
		Title:  fmt.Sprintf("%s: %s LCS+%s", filepath.Base(rep.Model), rep.Mode, strings.ToUpper(rep.Subspace[:1])),
		XLabel: "stored size (fraction of the dense weights)", YLabel: "top-1 accuracy (" + rep.Scored + ")",
		Reference: math.NaN(),
	}
	if rep.Original != nil {
		plot.Reference, plot.ReferenceLabel = *rep.Original, "original"
	}
	series := htmlreport.CurveSeries{Name: "LCS+" + strings.ToUpper(rep.Subspace[:1])}
	for _, p := range rep.Curve {
		series.Points = append(series.Points, htmlreport.CurvePoint{X: p.Size.Fraction, Y: p.Accuracy,
			Label: levelName(rep.Mode) + " " + onnxcompress.FormatLevel(p.Level)})
	}
	plot.Series = []htmlreport.CurveSeries{series}
	return writeFileAtomic(strings.TrimSuffix(path, filepath.Ext(path))+".svg", []byte(plot.SVG()))
}

func lcsExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "lcs-export",
		Usage:     "write the static model of each level of a trained LCS subspace",
		ArgsUsage: "SUBSPACE",
		Description: `SUBSPACE is a model written by compress --method lcs. Each level's model is
written to DIR as <name>.<level>.onnx: TopK-masked weights (unstructured), layers narrowed
to their leading channels (structured) or int8 codes read through DequantizeLinear
(quantized, b-bit codes); --sparse stores the zeros sparsely. --adaptive also writes one graph whose int64 input lcs_level
(an index into --levels) picks the member through a chain of If nodes.

Examples:
   onnxcompress lcs-export lenet.lcs.onnx -o family/
   onnxcompress lcs-export lenet.lcs.onnx -o family/ --levels 0.1,0.5,1 --adaptive lenet.adaptive.onnx`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the models into folder `DIR`", Required: true},
			&cli.StringFlag{Name: "levels", Usage: "levels `L,L,...` (default: the regime's grid)"},
			&cli.StringFlag{Name: "adaptive", Usage: "also write one graph with a level input to `FILE`"},
			&cli.BoolFlag{Name: "sparse", Usage: "store mostly-zero weights as sparse_initializer (smaller files for unstructured levels; ONNX Runtime reads them, the ONNX checker's full check does not)"},
			jsonFlag(),
			quietFlag(),
		},
		Action: lcsExportAction,
	}
}

// lcsMember is one written level.
type lcsMember struct {
	Level    float64  `json:"level"`
	Path     string   `json:"path"`
	Params   int64    `json:"params"`
	NonZero  int64    `json:"nonzero"`
	Fraction float64  `json:"size_fraction"`
	Narrowed []string `json:"narrowed,omitempty"`
	Masked   []string `json:"masked_only,omitempty"`
}

func lcsExportAction(c *cli.Context) error {
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	m, s, err := onnxcompress.LoadLCS(path)
	if err != nil {
		return usageError{err}
	}
	levels, err := lcsLevels(c, s.Mode)
	if err != nil {
		return err
	}
	dir := c.String("output")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var members []lcsMember
	var models []*graph.Model
	for _, level := range levels {
		sm, rep, err := onnxcompress.LCSLevelModel(m, s, level)
		if err != nil {
			return usageError{withPath(path, fmt.Errorf("level %s: %w", onnxcompress.FormatLevel(level), err))}
		}
		file := filepath.Join(dir, base+"."+onnxcompress.FormatLevel(level)+".onnx")
		var saveOpts []onnx.Option
		if c.Bool("sparse") {
			saveOpts = append(saveOpts, onnx.SparseWhenSmaller())
		}
		if err := onnxcompress.Save(file, sm, saveOpts...); err != nil {
			return err
		}
		sz := onnxcompress.LCSModelSize(m, sm, s, level)
		mem := lcsMember{Level: level, Path: file, Params: sz.Params, NonZero: sz.NonZero, Fraction: sz.Fraction, Narrowed: rep.Narrowed}
		for name := range rep.Masked {
			mem.Masked = append(mem.Masked, name)
		}
		members = append(members, mem)
		models = append(models, sm)
	}
	if a := c.String("adaptive"); a != "" {
		am, err := onnxcompress.LCSAdaptive(models)
		if err != nil {
			return withPath(path, err)
		}
		if err := onnxcompress.Save(a, am); err != nil {
			return err
		}
	}
	return printResult(c, members, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tparams\tnon-zero\tsize\tfile\n", levelName(s.Mode))
		for _, mem := range members {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%s\n", onnxcompress.FormatLevel(mem.Level), mem.Params, mem.NonZero, mem.Fraction, mem.Path)
		}
		if c.String("adaptive") != "" {
			fmt.Fprintf(tw, "adaptive\t\t\t\t%s (input lcs_level: 0…%d)\n", c.String("adaptive"), len(members)-1)
		}
		return tw.Flush()
	})
}
