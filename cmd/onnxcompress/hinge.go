package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/htmlreport"
	"github.com/onnxcompress/onnxcompress/solvers"
	"github.com/urfave/cli/v2"
)

// Hinge trained on the command line: `compress --method hinge --train-data
// DATA --flops-ratio R` runs the search, the threshold bisection, the
// compression and the fine-tuning (onnxcompress.CompressHinge). Without
// --train-data, --method hinge is the data-free form of the ordinary
// compress pipeline. The training flags shared with --method lcs (--epochs,
// --max-steps, --lr, --batch, --optimizer, --threads, --eval-limit,
// --kd-*) set the fine-tuning stage.

func hingeFlags() []cli.Flag {
	cat := "Hinge, trained (--method hinge --train-data)"
	return []cli.Flag{
		&cli.StringFlag{Category: cat, Name: "train-data", Usage: "training `DATA` (as for eval; its test split, when there is one, scores every stage)"},
		&cli.Float64Flag{Category: cat, Name: "flops-ratio", Usage: "target multiply-adds of the whole model, as a fraction of the original's (as inspect counts them; met within 0.001)"},
		&cli.IntFlag{Category: cat, Name: "search-epochs", Value: 1, Usage: "epochs of proximal-gradient search"},
		&cli.Float64Flag{Category: cat, Name: "search-lr", Value: 0.1, Usage: "search learning rate (SGD, momentum 0.9, on the sparsity matrices)"},
		&cli.Float64Flag{Category: cat, Name: "search-clip-norm", Value: 5, Usage: "search: clip the gradient norm to `X` (0: off)"},
		&cli.Float64Flag{Category: cat, Name: "lambda", Value: 0.1, Usage: "group-sparsity regularisation λ (threshold per step: lr·λ·s_l)"},
		&cli.StringFlag{Category: cat, Name: "regularizer", Value: "l21", Usage: "l21 (group soft-threshold) or l21half (ℓ2,1/2 half-threshold)"},
		&cli.BoolFlag{Category: cat, Name: "no-layer-balancing", Usage: "one threshold for every layer instead of one scaled by its mean group norm"},
		&cli.Float64Flag{Category: cat, Name: "anneal", Value: 2, Usage: "divide λ by `A` when the penalty falls below 80% and 60% of its start (0: off)"},
		&cli.IntFlag{Category: cat, Name: "curve-points", Value: 3, Usage: "FLOP ratios between 1 and the target scored (not fine-tuned) for the curve"},
	}
}

// hingeReport is what compress --method hinge --train-data writes with
// --report (and prints with --json).
type hingeReport struct {
	Model   string                    `json:"model"`
	Output  string                    `json:"output"`
	Data    string                    `json:"data"`
	Seconds float64                   `json:"seconds"`
	Result  *onnxcompress.HingeResult `json:"result"`
}

func runHingeCompress(c *cli.Context) error {
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	ratio := c.Float64("flops-ratio")
	if !(ratio > 0 && ratio <= 1) {
		return badInput("compress --method hinge --train-data: --flops-ratio in (0, 1] is required")
	}
	reg := solvers.HingeL21
	switch c.String("regularizer") {
	case "l21":
	case "l21half":
		reg = solvers.HingeL21Half
	default:
		return badInput("--regularizer %q: want l21 or l21half", c.String("regularizer"))
	}
	m, err := onnxcompress.Load(path)
	if err != nil {
		return err
	}
	dataOpts, err := dataOptions(c)
	if err != nil {
		return err
	}
	train, test, err := onnxcompress.OpenSplits(c.String("train-data"), m, dataOpts)
	if err != nil {
		return err
	}
	talk := !c.Bool("quiet") && !c.Bool("json")
	out := c.App.Writer
	output := c.String("output")
	bars := map[string]*progress{"search": newProgress(c, "hinge search"), "finetune": newProgress(c, "fine-tune")}
	clearBars := func() {
		for _, b := range bars {
			b.clear()
		}
	}
	anneal := c.Float64("anneal")
	if anneal == 0 {
		anneal = -1
	}
	epochs := 2 // the fine-tuning default; lcs's --epochs defaults to 1
	if c.IsSet("epochs") {
		epochs = c.Int("epochs")
	}
	kd := finetune.Distillation{Temperature: c.Float64("kd-temperature"), Alpha: 0.4}
	if c.IsSet("kd-alpha") {
		kd.Alpha = c.Float64("kd-alpha")
	}
	threads := c.Int("threads")
	opts := onnxcompress.HingeOptions{
		Select: onnxcompress.Options{Layers: c.StringSlice("layers"), Skip: c.StringSlice("skip"), Ops: c.StringSlice("ops"),
			MinParams: c.Int64("min-params"), Seed: c.Uint64("seed")},
		FLOPsRatio: ratio,
		Search: finetune.Options{Epochs: c.Int("search-epochs"), MaxSteps: c.Int("max-steps"), Batch: c.Int("batch"),
			LR: c.Float64("search-lr"), ClipNorm: c.Float64("search-clip-norm"), Distillation: kd,
			Holdout: c.Float64("holdout"), EvalLimit: c.Int("eval-limit"), Threads: threads},
		Prox: finetune.HingeOptions{Lambda: c.Float64("lambda"), Regularizer: reg,
			NoLayerBalancing: c.Bool("no-layer-balancing"), Anneal: anneal},
		FineTune: finetune.Options{Epochs: epochs, MaxSteps: c.Int("max-steps"), Batch: c.Int("batch"), LR: c.Float64("lr"),
			Optimizer: c.String("optimizer"), WeightDecay: c.Float64("weight-decay"), Schedule: c.String("schedule"),
			Warmup: c.Int("warmup"), Distillation: kd, Holdout: c.Float64("holdout"), EvalLimit: c.Int("eval-limit"),
			Threads: threads},
		CurvePoints: c.Int("curve-points"), CurveSamples: c.Int("eval-limit"),
		Progress: func(stage string, p finetune.Progress) {
			bars[stage].update(p.Step, p.TotalSteps, fmt.Sprintf("epoch %d  loss %.4f  lr %.3g  %.0f img/s", p.Epoch, p.Loss, p.LR, p.ImagesPerSecond))
		},
		Trace: func(p onnxcompress.HingeSearchPoint) {
			bars["search"].clear()
			if talk {
				fmt.Fprintf(out, "search step %d: the groups already near zero leave %.4f of the MACs (penalty %.3f of its start, λ %.3g)\n",
					p.Step, p.Ratio, p.Penalty, p.Lambda)
			}
		},
		Stage: func(stage string) {
			clearBars()
			if talk {
				fmt.Fprintf(out, "hinge: %s\n", map[string]string{"search": "proximal-gradient search", "threshold": "threshold search to the FLOP ratio",
					"curve": "scoring the accuracy/size curve", "finetune": "fine-tuning by distillation"}[stage])
			}
		},
		EpochReport: func(stage string, e finetune.Epoch) {
			clearBars()
			if !talk {
				return
			}
			var scores []string
			if e.Holdout.Samples > 0 {
				scores = append(scores, fmt.Sprintf("hold-out top-1 %.2f%%", 100*e.Holdout.Accuracy))
			}
			if e.Test != nil {
				scores = append(scores, fmt.Sprintf("test top-1 %.2f%%", 100*e.Test.Accuracy))
			}
			fmt.Fprintf(out, "%s epoch %d: %s\n", stage, e.Epoch, strings.Join(scores, ", "))
		},
		Checkpoint: func(stage string, m *graph.Model) error {
			return onnxcompress.Save(output, m)
		},
	}
	if opts.Search.Epochs < 1 || epochs < 0 || (opts.Search.Batch < 1) || opts.Search.MaxSteps < 0 || !(opts.FineTune.LR > 0) || !(opts.Search.LR > 0) {
		return badInput("--search-epochs, --batch, --lr and --search-lr must be positive, --epochs and --max-steps not negative")
	}
	if epochs == 0 {
		opts.FineTune.Epochs = -1
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	go func() {
		// After the first Ctrl-C, a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	start := time.Now()
	small, res, err := onnxcompress.CompressHinge(ctx, m, train, test, opts)
	clearBars()
	if err != nil {
		return withPath(path, err)
	}
	if err := onnxcompress.Save(output, small); err != nil {
		return err
	}
	rep := hingeReport{Model: path, Output: output, Data: c.String("train-data"), Seconds: time.Since(start).Seconds(), Result: res}
	if p := c.String("report"); p != "" {
		if err := writeJSONFile(p, rep); err != nil {
			return err
		}
		svg := strings.TrimSuffix(p, filepath.Ext(p)) + ".svg"
		if err := writeFileAtomic(svg, []byte(hingePlot(rep).SVG())); err != nil {
			return err
		}
	}
	return printResult(c, rep, rep.printTable)
}

// hingePlot draws accuracy against the MAC ratio: the models compressed at
// each ratio before fine-tuning, and the fine-tuning epochs at the target.
func hingePlot(rep hingeReport) htmlreport.CurvePlot {
	plot := htmlreport.CurvePlot{
		Title:  fmt.Sprintf("%s: hinge to %.3g of the MACs", filepath.Base(rep.Model), rep.Result.Target),
		XLabel: "MACs (fraction of the original)", YLabel: "top-1 accuracy (test split)", Reference: math.NaN(),
	}
	before := htmlreport.CurveSeries{Name: "not fine-tuned"}
	tuned := htmlreport.CurveSeries{Name: "fine-tuned"}
	for _, p := range rep.Result.Curve {
		if p.Test == nil {
			continue
		}
		pt := htmlreport.CurvePoint{X: p.MACsRatio, Y: *p.Test, Label: p.Stage}
		switch p.Stage {
		case "original":
			plot.Reference, plot.ReferenceLabel = *p.Test, "original"
			before.Points = append(before.Points, pt)
		case "searched", "compressed":
			before.Points = append(before.Points, pt)
		case "finetune":
			pt.Label = fmt.Sprintf("fine-tuning epoch %d", p.Epoch)
			tuned.Points = append(tuned.Points, pt)
		}
	}
	plot.Series = []htmlreport.CurveSeries{before, tuned}
	return plot
}

func (r hingeReport) printTable(w io.Writer) error {
	res := r.Result
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tgroups\tkept\tzero after search\twhy rows\t")
	for _, l := range res.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%s\t\n", l.Layer, l.Groups, l.Kept, l.Total, l.Zero, l.Coupled)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nMACs %d → %d (ratio %.4f, target %.4f%s), params %d → %d; threshold %.4g after %d evaluations\n",
		res.MACsBefore, res.MACsAfter, res.Ratio, res.Target, map[bool]string{false: ", NOT met"}[res.Met],
		res.ParamsBefore, res.ParamsAfter, res.Threshold, res.Evaluations)
	for _, p := range res.Curve {
		if p.Test != nil {
			fmt.Fprintf(w, "  %-10s epoch %d  MACs %.3f  test top-1 %.2f%%\n", p.Stage, p.Epoch, p.MACsRatio, 100**p.Test)
		}
	}
	if res.Interrupted {
		fmt.Fprintln(w, "interrupted: wrote the last good model")
	}
	fmt.Fprintf(w, "search %.0f s, threshold %.1f s, fine-tuning %.0f s; wrote %s\n", res.SearchTime, res.SelectTime, res.FineTuneTime, r.Output)
	return nil
}
