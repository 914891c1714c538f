package main

import (
	"bytes"
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
   onnxcompress demo --ratio 0.25 --steps 300 --methods svd,tucker,debut -o /tmp/demo
   onnxcompress demo --methods svd,quant --json -q`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "onnxcompress-demo", Usage: "write models and reports to `DIR`"},
			&cli.StringFlag{Name: "data", Value: "/usr/share/datasets/fashion-mnist", Usage: "Fashion-MNIST IDX folder (Debian dataset-fashion-mnist)"},
			&cli.Float64Flag{Name: "ratio", Value: 0.5, Usage: "keep this fraction of the parameters (quant: of the weight bytes)"},
			&cli.IntFlag{Name: "steps", Value: 150, Usage: "fine-tuning steps (batch 64, distillation from the original)"},
			&cli.IntFlag{Name: "eval-limit", Value: 2000, Usage: "evaluate on the first `N` test images (0: all 10,000)"},
			&cli.StringFlag{Name: "methods", Usage: "comma-separated methods (default: all)"},
			jsonFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the table (with --json: only the JSON)"},
		},
		Action: runDemo,
	}
}

// demoRow is one method's line of the demo table (and of --json).
type demoRow struct {
	Method string `json:"method"`
	Params int64  `json:"params"`
	MACs   int64  `json:"macs"`
	// Before and After are top-1 accuracy before and after fine-tuning;
	// After is absent when the model could not be fine-tuned (int8
	// weights: the runtime does not train through DequantizeLinear).
	Before  float64  `json:"top1_compressed"`
	After   *float64 `json:"top1_finetuned,omitempty"`
	ORT     string   `json:"ort_checked"`
	Model   string   `json:"model,omitempty"`
	Report  string   `json:"report,omitempty"`
	Trouble string   `json:"trouble,omitempty"`
	Seconds float64  `json:"seconds"`
}

// demoResult is the whole demo table.
type demoResult struct {
	Ratio    float64   `json:"ratio"`
	Steps    int       `json:"steps"`
	Samples  int       `json:"test_samples"`
	Params   int64     `json:"params"`
	MACs     int64     `json:"macs"`
	Accuracy float64   `json:"top1"`
	Output   string    `json:"output"`
	Methods  []demoRow `json:"methods"`
}

// demoData is what every method of the demo shares.
type demoData struct {
	origPath    string
	inputName   string
	teacher     *onnxcompress.Model
	train, test *onnxcompress.Dataset
	evalOpts    onnxcompress.EvalOptions
	out         string
}

func runDemo(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
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
	teacher, err := onnxcompress.Load(origPath)
	if err != nil {
		return err
	}
	norm := onnxcompress.DataOptions{Mean: []float32{info.Mean}, Std: []float32{info.Std}}
	train, test, err := onnxcompress.OpenSplits(c.String("data"), teacher, norm)
	if err == nil && test == nil {
		err = fmt.Errorf("%s: no test split", c.String("data"))
	}
	if err != nil {
		return usageError{fmt.Errorf("demo needs Fashion-MNIST (apt-get install dataset-fashion-mnist): %w", err)}
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
	data := demoData{origPath: origPath, inputName: info.InputName, teacher: teacher, train: train, test: test,
		evalOpts: onnxcompress.EvalOptions{Limit: c.Int("eval-limit")}, out: out}
	base, err := onnxcompress.Evaluate(ctx, teacher, test, data.evalOpts)
	if err != nil {
		return err
	}
	origCost, err := onnxcompress.Inspect(teacher, nil)
	if err != nil {
		return err
	}
	logf("bundled LeNet-5 (%s): %d params, %d MACs, top-1 %.2f%% on %d test images",
		origPath, origCost.Params, origCost.MACs, 100*base.Accuracy, base.Samples)
	res := demoResult{Ratio: c.Float64("ratio"), Steps: c.Int("steps"), Samples: base.Samples, Params: origCost.Params,
		MACs: origCost.MACs, Accuracy: base.Accuracy, Output: out, Methods: []demoRow{}}
	for _, method := range methods {
		if ctx.Err() != nil {
			break
		}
		row := demoMethod(ctx, data, method, res.Ratio, res.Steps)
		logf("%-7s params %6d  top-1 %.2f%% → %s  ORT %s  (%.1f s)%s", row.Method, row.Params,
			100*row.Before, row.finetuned(), row.ORT, row.Seconds, troubleText(row))
		res.Methods = append(res.Methods, row)
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, res)
	}
	return res.printTable(c.App.Writer)
}

// finetuned is the fine-tuned accuracy as the table shows it.
func (r demoRow) finetuned() string {
	if r.After == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100**r.After)
}

func troubleText(r demoRow) string {
	if r.Trouble == "" {
		return ""
	}
	return "  [" + r.Trouble + "]"
}

// demoMethod compresses, fine-tunes, evaluates, checks and diffs one method.
func demoMethod(ctx context.Context, data demoData, method string, ratio float64, steps int) (row demoRow) {
	start := time.Now()
	row = demoRow{Method: method, ORT: "-"}
	defer func() { row.Seconds = time.Since(start).Seconds() }()
	student, err := onnxcompress.Clone(data.teacher)
	if err != nil {
		row.Trouble = err.Error()
		return row
	}
	_, err = onnxcompress.Compress(ctx, student, onnxcompress.CompressOptions{Options: onnxcompress.Options{
		Method: method, Target: onnxcompress.Target{Ratio: ratio}, Seed: 1}})
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
	before, err := onnxcompress.Evaluate(ctx, student, data.test, data.evalOpts)
	if err != nil {
		row.Trouble = "eval: " + err.Error()
		return row
	}
	row.Before = before.Accuracy
	if steps > 0 {
		_, err := onnxcompress.Finetune(ctx, student, data.teacher, data.train, nil, onnxcompress.FinetuneOptions{
			MaxSteps: steps, Batch: 64, LR: 1e-3, Optimizer: "adam", Seed: 1,
			Distillation: onnxcompress.Distillation{Temperature: 4, Alpha: 0.7}, EvalLimit: 1000})
		if err != nil {
			row.Trouble = "fine-tune: " + err.Error()
		} else if after, err := onnxcompress.Evaluate(ctx, student, data.test, data.evalOpts); err == nil {
			row.After = &after.Accuracy
		}
	}
	row.Model = filepath.Join(data.out, "lenet5."+method+".onnx")
	if err := onnxcompress.Save(row.Model, student); err != nil {
		row.Trouble = err.Error()
		return row
	}
	row.ORT = ortAgrees(row.Model, student, data)
	report := filepath.Join(data.out, "lenet5."+method+".html")
	if err := writeDiffHTML(ctx, data.origPath, row.Model, report); err != nil {
		row.Trouble = "diff: " + err.Error()
	} else {
		row.Report = report
	}
	return row
}

// writeDiffHTML diffs the two files (one random probe) into an HTML page.
func writeDiffHTML(ctx context.Context, pathA, pathB, page string) error {
	a, err := onnxcompress.Load(pathA)
	if err != nil {
		return err
	}
	b, err := onnxcompress.Load(pathB)
	if err != nil {
		return err
	}
	doc, err := onnxcompress.Diff(ctx, a, b, onnxcompress.DiffOptions{NameA: pathA, NameB: pathB, Probes: 1, Seed: 1,
		Tol: onnxcompress.DefaultDiffTol, RequireNumeric: true})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := onnxcompress.RenderDiffHTML(&buf, doc); err != nil {
		return err
	}
	return writeFileAtomic(page, buf.Bytes())
}

// ortAgrees runs the written file in ONNX Runtime and this project's runtime
// on 256 test images: "yes" when the outputs agree to 1e-4 relative L2.
func ortAgrees(path string, m *onnxcompress.Model, data demoData) string {
	if err := reference.ORTAvailable(); err != nil {
		return "n/a"
	}
	idx := make([]int, min(256, data.test.N))
	for i := range idx {
		idx[i] = i
	}
	x, err := data.test.BatchTensor(data.inputName, idx)
	if err != nil {
		return "error"
	}
	inputs := map[string]*onnxcompress.Tensor{data.inputName: x}
	ort, err := reference.RunORT(path, inputs, 1)
	if err != nil {
		return "no: " + err.Error()
	}
	ours, err := onnxcompress.RunOnce(m, inputs)
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

func (r demoResult) printTable(w io.Writer) error {
	fmt.Fprintf(w, "onnxcompress demo: bundled Fashion-MNIST LeNet-5, ratio %g, %d fine-tuning steps (KD), top-1 on %d test images\n\n",
		r.Ratio, r.Steps, r.Samples)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "method\tparams\tMACs\ttop-1 compressed\ttop-1 fine-tuned\tORT-checked\tseconds\t")
	fmt.Fprintf(tw, "original\t%d\t%d\t%.2f%%\t\t\t\t\n", r.Params, r.MACs, 100*r.Accuracy)
	for _, m := range r.Methods {
		if m.Model == "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%.1f\t%s\n", m.Method, m.Seconds, m.Trouble)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d (%.0f%%)\t%d (%.0f%%)\t%.2f%%\t%s\t%s\t%.1f\t\n", m.Method,
			m.Params, 100*float64(m.Params)/float64(r.Params), m.MACs, 100*float64(m.MACs)/float64(r.MACs),
			100*m.Before, m.finetuned(), m.ORT, m.Seconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range r.Methods {
		if m.Model != "" && m.Trouble != "" {
			fmt.Fprintf(w, "%s: %s\n", m.Method, m.Trouble)
		}
	}
	fmt.Fprintf(w, "\nmodels and HTML diff reports (one per method) are in %s/\n", r.Output)
	return nil
}
