package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/testmodels"
	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "the whole pipeline on the bundled Fashion-MNIST LeNet-5: compress with each method, fine-tune, evaluate, check in ONNX Runtime",
		Description: `Examples:
   onnxcompress demo
   onnxcompress demo --ratio 0.25 --steps 300 --methods svd,tucker,debut -o /tmp/demo`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "onnxcompress-demo", Usage: "write models and reports to `DIR`"},
			&cli.StringFlag{Name: "data", Value: "/usr/share/datasets/fashion-mnist", Usage: "Fashion-MNIST IDX folder (Debian dataset-fashion-mnist)"},
			&cli.Float64Flag{Name: "ratio", Value: 0.5, Usage: "keep this fraction of the parameters (quant: of the weight bytes)"},
			&cli.IntFlag{Name: "steps", Value: 150, Usage: "fine-tuning steps (batch 64, distillation from the original)"},
			&cli.IntFlag{Name: "eval-limit", Value: 2000, Usage: "evaluate on the first `N` test images (0: all 10,000)"},
			&cli.StringFlag{Name: "methods", Usage: "comma-separated methods (default: all)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the table"},
		},
		Action: runDemo,
	}
}

type demoRow struct {
	Method                   string
	Params, MACs             int64
	Before, After            float64
	ORT                      string
	Model, Report, Trouble   string
	Seconds                  float64
	CompressErr, FinetuneErr string
}

func runDemo(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out := c.String("output")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	info, err := testmodels.BundledLeNetInfo()
	if err != nil {
		return err
	}
	origPath, err := testmodels.BundledLeNetPath()
	if err != nil {
		return err
	}
	norm := dataset.Options{Mean: []float32{info.Mean}, Std: []float32{info.Std}}
	trainOpts, testOpts := norm, norm
	trainOpts.Split, testOpts.Split = "train", "test"
	train, err := dataset.Open(c.String("data"), trainOpts)
	if err != nil {
		return usageError{fmt.Errorf("demo needs Fashion-MNIST (apt-get install dataset-fashion-mnist): %w", err)}
	}
	test, err := dataset.Open(c.String("data"), testOpts)
	if err != nil {
		return usageError{err}
	}
	methods := onnxcompress.MethodNames()
	if m := c.String("methods"); m != "" {
		methods = strings.Split(m, ",")
	}
	logf := func(format string, args ...any) {
		if !c.Bool("quiet") {
			fmt.Fprintf(c.App.ErrWriter, format+"\n", args...)
		}
	}
	teacher, err := onnxcompress.Load(origPath)
	if err != nil {
		return err
	}
	evalOpts := finetune.EvalOptions{Limit: c.Int("eval-limit")}
	base, err := onnxcompress.Evaluate(ctx, teacher, test, evalOpts)
	if err != nil {
		return err
	}
	origCost, err := onnxcompress.Inspect(teacher, nil)
	if err != nil {
		return err
	}
	logf("bundled LeNet-5 (%s): %d params, %d MACs, top-1 %.2f%% on %d test images",
		origPath, origCost.Params, origCost.MACs, 100*base.Accuracy, base.Samples)
	var rows []demoRow
	for _, method := range methods {
		if ctx.Err() != nil {
			break
		}
		row := demoMethod(ctx, c, method, origPath, teacher, train, test, evalOpts, out)
		logf("%-7s params %6d  top-1 %.2f%% → %.2f%%  ORT %s  (%.1f s)%s", row.Method, row.Params,
			100*row.Before, 100*row.After, row.ORT, row.Seconds, troubleText(row))
		rows = append(rows, row)
	}
	return printDemo(c.App.Writer, origCost, base, rows, out, c.Float64("ratio"), c.Int("steps"))
}

func troubleText(r demoRow) string {
	if r.Trouble == "" {
		return ""
	}
	return "  [" + r.Trouble + "]"
}

// demoMethod compresses, fine-tunes, evaluates and checks one method.
func demoMethod(ctx context.Context, c *cli.Context, method, origPath string, teacher *graph.Model,
	train, test *dataset.Dataset, evalOpts finetune.EvalOptions, out string) (row demoRow) {
	start := time.Now()
	row = demoRow{Method: method, ORT: "-"}
	defer func() { row.Seconds = time.Since(start).Seconds() }()
	student, err := onnxcompress.Load(origPath)
	if err != nil {
		row.Trouble = err.Error()
		return row
	}
	_, err = onnxcompress.Compress(ctx, student, onnxcompress.CompressOptions{Options: onnxcompress.Options{
		Method: method, Target: onnxcompress.Target{Ratio: c.Float64("ratio")}, Seed: 1}})
	if err != nil {
		row.Trouble = "compress: " + err.Error()
		return row
	}
	cost, err := onnxcompress.Inspect(student, nil)
	if err != nil {
		row.Trouble = err.Error()
		return row
	}
	row.Params, row.MACs = cost.Params, cost.MACs
	before, err := onnxcompress.Evaluate(ctx, student, test, evalOpts)
	if err != nil {
		row.Trouble = "eval: " + err.Error()
		return row
	}
	row.Before, row.After = before.Accuracy, before.Accuracy
	if steps := c.Int("steps"); steps > 0 {
		_, err := finetune.Run(ctx, student, teacher, train, nil, finetune.Options{
			MaxSteps: steps, Batch: 64, LR: 1e-3, Optimizer: "adam", Seed: 1,
			Distillation: finetune.Distillation{Temperature: 4, Alpha: 0.7}, EvalLimit: 1000})
		if err != nil {
			row.Trouble = "fine-tune: " + err.Error()
		} else if after, err := onnxcompress.Evaluate(ctx, student, test, evalOpts); err == nil {
			row.After = after.Accuracy
		}
	}
	row.Model = filepath.Join(out, "lenet5."+method+".onnx")
	if err := onnxcompress.Save(row.Model, student); err != nil {
		row.Trouble = err.Error()
		return row
	}
	row.ORT = ortAgrees(row.Model, student, test)
	row.Report = filepath.Join(out, "lenet5."+method+".html")
	diff := newApp()
	diff.Writer, diff.ErrWriter = io.Discard, io.Discard
	diff.ExitErrHandler = func(*cli.Context, error) {}
	// diff exits 1 when the models differ, which they do: only a missing
	// page is trouble.
	_ = diff.Run([]string{"onnxcompress", "diff", "--html", row.Report, "--probe", "1", origPath, row.Model})
	if _, err := os.Stat(row.Report); err != nil {
		row.Report = ""
	}
	return row
}

// ortAgrees runs the written file in ONNX Runtime and this project's runtime
// on 256 test images: "yes" when the outputs agree to 1e-4 relative L2.
func ortAgrees(path string, m *graph.Model, test *dataset.Dataset) string {
	if err := reference.ORTAvailable(); err != nil {
		return "n/a"
	}
	idx := make([]int, min(256, test.N))
	for i := range idx {
		idx[i] = i
	}
	name := graph.RealInputs(m.Graph)[0].Name
	x, err := test.BatchTensor(name, idx)
	if err != nil {
		return "error"
	}
	ort, err := reference.RunORT(path, map[string]*graph.Tensor{name: x}, 1)
	if err != nil {
		return "no: " + err.Error()
	}
	ours, err := onnxcompress.RunOnce(m, map[string]*graph.Tensor{name: x})
	if err != nil {
		return "no: " + err.Error()
	}
	for k, want := range ort {
		w, _ := want.Float32s()
		g, _ := ours[k].Float32s()
		if e := reference.RelL2(g, w); !(e <= 1e-4) {
			return fmt.Sprintf("no (rel. L2 %.2g)", e)
		}
	}
	return "yes"
}

func printDemo(w io.Writer, orig *onnxcompress.InspectReport, base finetune.EvalResult, rows []demoRow, out string, ratio float64, steps int) error {
	fmt.Fprintf(w, "onnxcompress demo: bundled Fashion-MNIST LeNet-5, ratio %g, %d fine-tuning steps (KD), top-1 on %d test images\n\n",
		ratio, steps, base.Samples)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "method\tparams\tMACs\ttop-1 compressed\ttop-1 fine-tuned\tORT-checked\tseconds\t")
	fmt.Fprintf(tw, "original\t%d\t%d\t%.2f%%\t\t\t\t\n", orig.Params, orig.MACs, 100*base.Accuracy)
	for _, r := range rows {
		if r.Model == "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%.1f\t%s\n", r.Method, r.Seconds, r.Trouble)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d (%.0f%%)\t%d (%.0f%%)\t%.2f%%\t%.2f%%\t%s\t%.1f\t\n", r.Method,
			r.Params, 100*float64(r.Params)/float64(orig.Params), r.MACs, 100*float64(r.MACs)/float64(orig.MACs),
			100*r.Before, 100*r.After, r.ORT, r.Seconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nmodels and HTML diff reports (one per method) are in %s/\n", out)
	return nil
}
