package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/urfave/cli/v2"
)

func compressCommand() *cli.Command {
	return &cli.Command{
		Name:      "compress",
		Usage:     "replace heavy layers by smaller equivalents and write the compressed model",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress compress model.onnx -o small.onnx --method tucker --ratio 0.5
   onnxcompress compress model.onnx -o small.onnx --method svd --rank 16 --layers '/fc*'
   onnxcompress compress model.onnx -o small.onnx --method svd --energy 0.95 --write-plan plan.json
   onnxcompress compress model.onnx -o small.onnx --plan plan.json --report report.json

Methods: ` + strings.Join(onnxcompress.MethodNames(), ", ") + `, and auto (the global budget picks a method per layer;
needs --ratio or --macs-ratio).`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the compressed model to `FILE`", Required: true},
			&cli.StringFlag{Name: "method", Usage: "compression `METHOD` for every selected layer"},
			&cli.Float64Flag{Name: "ratio", Usage: "keep this fraction of each selected layer's parameters"},
			&cli.IntFlag{Name: "rank", Usage: "fixed rank for every selected layer"},
			&cli.Float64Flag{Name: "energy", Usage: "keep the smallest rank holding this share of the weight's energy"},
			&cli.Float64Flag{Name: "macs-ratio", Usage: "keep this fraction of the selected layers' multiply-adds (global budget)"},
			&cli.StringFlag{Name: "allocation", Value: "global", Usage: "how --ratio is spent: global (one budget, spent where it removes most error) or uniform (same ratio per layer)"},
			&cli.IntFlag{Name: "rank-multiple", Value: onnxcompress.DefaultRankMultiple, Usage: "the global budget picks ranks below `N` or multiples of it, which run faster in ONNX Runtime (16 suits AVX-512 and AVX2, 8 AVX2 only; 1: any rank)"},
			&cli.StringFlag{Name: "plan", Usage: "per-layer methods and settings from `FILE` (JSON, as --write-plan writes)"},
			&cli.StringFlag{Name: "write-plan", Usage: "write the plan the tool chose to `FILE`"},
			&cli.StringSliceFlag{Name: "layers", Usage: "only layers whose node name matches `GLOB` (repeatable)"},
			&cli.StringSliceFlag{Name: "skip", Usage: "never touch layers whose node name matches `GLOB` (repeatable)"},
			&cli.StringSliceFlag{Name: "ops", Usage: "only these op types (Conv, Gemm, MatMul; repeatable)"},
			&cli.Int64Flag{Name: "min-params", Usage: "skip layers whose weight has fewer elements"},
			&cli.BoolFlag{Name: "fold-bn", Usage: "fold BatchNormalization into the preceding Conv before decomposing"},
			&cli.StringSliceFlag{Name: "shape", Usage: "input shape `[NAME=]D1,D2,...` for MACs and probes; unknown dims default to 1"},
			&cli.StringFlag{Name: "report", Usage: "write the report as JSON to `FILE`"},
			&cli.BoolFlag{Name: "sparse", Usage: "store mostly-zero weights (--method sparse) as sparse_initializer where that is smaller; ONNX Runtime reads them, the ONNX checker's full check rejects them as Conv/Gemm inputs"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON instead of a table"},
			&cli.IntFlag{Name: "probe", Value: 1, Usage: "measure output error on `N` random input batches in this tool's runtime (0: don't)"},
			&cli.StringFlag{Name: "calib", Usage: "calibration `DATA` (as for eval): activation ranges for quant; the global budget prices svd by output error on it"},
			&cli.IntFlag{Name: "calib-samples", Value: 256, Usage: "use the first `N` calibration samples"},
			&cli.Float64Flag{Name: "calib-percentile", Usage: "clip activation ranges to the (100-P)..P percentiles (P in (50,100); 0: min/max)"},
			&cli.StringFlag{Name: "split", Value: "train", Usage: "IDX split of --calib: train or test"},
			&cli.Float64Flag{Name: "scale", Usage: "calibration data: multiply raw values first (default 1/255 for 8-bit data)"},
			&cli.StringFlag{Name: "mean", Usage: "calibration data: per-channel mean `M[,M,M]`"},
			&cli.StringFlag{Name: "std", Usage: "calibration data: per-channel std `S[,S,S]`"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed for randomized solvers and probes"},
			quietFlag(),
		}, append(lcsFlags(), hingeFlags()...)...),
		Action: runCompress,
	}
}

// compressResult is the report as the command writes it.
type compressResult struct {
	Model       string               `json:"model"`
	Output      string               `json:"output"`
	Method      string               `json:"method,omitempty"`
	Target      string               `json:"target,omitempty"`
	OutputError *float64             `json:"output_error,omitempty"`
	Report      *onnxcompress.Report `json:"report"`
}

func runCompress(c *cli.Context) error {
	if c.String("method") == "lcs" {
		return runLCSCompress(c)
	}
	if c.String("method") == "hinge" && c.String("train-data") != "" {
		return runHingeCompress(c)
	}
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	opts, err := compressOptions(c)
	if err != nil {
		return err
	}
	m, err := onnxcompress.Load(path)
	if err != nil {
		return err
	}
	limitMemoryFor(m)
	if opts.InputShapes, err = onnxcompress.ParseInputShapes(c.StringSlice("shape")); err != nil {
		return fmt.Errorf("--%w", err)
	}
	if c.String("calib") != "" {
		d, err := openData(c, c.String("calib"), m)
		if err != nil {
			return err
		}
		if opts.Calibration, err = onnxcompress.CalibrationBatches(m, d, c.Int("calib-samples"), 64); err != nil {
			return usageError{withPath(path, err)}
		}
		opts.CalibPercentile = c.Float64("calib-percentile")
	}
	bar := newProgress(c, "compress")
	opts.Progress = func(done, total int, layer string) { bar.update(done, total, layer) }
	done, err := onnxcompress.Compress(c.Context, m, onnxcompress.CompressOptions{Options: opts, Probes: c.Int("probe")})
	bar.clear()
	if err != nil {
		return withPath(path, err)
	}
	rep := done.Report
	res := compressResult{Model: path, Output: c.String("output"), Method: opts.Method, Report: rep, OutputError: done.OutputError}
	if opts.Plan == nil {
		res.Target = opts.Target.String()
	}
	var saveOpts []onnx.Option
	if c.Bool("sparse") {
		saveOpts = append(saveOpts, onnx.SparseWhenSmaller())
	}
	if err := onnxcompress.Save(c.String("output"), m, saveOpts...); err != nil {
		return err
	}
	if p := c.String("write-plan"); p != "" {
		if err := writeJSONFile(p, done.Plan()); err != nil {
			return err
		}
	}
	if p := c.String("report"); p != "" {
		if err := writeJSONFile(p, res); err != nil {
			return err
		}
	}
	return printResult(c, res, res.printTable)
}

func compressOptions(c *cli.Context) (onnxcompress.Options, error) {
	opts := onnxcompress.Options{
		Method:        c.String("method"),
		Layers:        c.StringSlice("layers"),
		Skip:          c.StringSlice("skip"),
		Ops:           c.StringSlice("ops"),
		MinParams:     c.Int64("min-params"),
		FoldBatchNorm: c.Bool("fold-bn"),
		Allocation:    c.String("allocation"),
		RankMultiple:  c.Int("rank-multiple"),
		Seed:          c.Uint64("seed"),
	}
	if a := opts.Allocation; a != "global" && a != "uniform" {
		return opts, badInput("--allocation %q: want global or uniform", a)
	}
	if opts.RankMultiple < 1 {
		return opts, badInput("--rank-multiple %d: want 1 or more (1 offers every rank)", opts.RankMultiple)
	}
	set := 0
	for _, f := range []string{"ratio", "rank", "energy", "macs-ratio"} {
		if c.IsSet(f) {
			set++
		}
	}
	if p := c.String("plan"); p != "" {
		if set > 0 || opts.Method != "" {
			return opts, badInput("--plan gives every layer's method and settings: drop --method/--ratio/--rank/--energy/--macs-ratio")
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return opts, usageError{err}
		}
		if err := json.Unmarshal(data, &opts.Plan); err != nil {
			return opts, badInput("%s: not a plan (a JSON list of {layer, method, ...}): %v", p, err)
		}
		if opts.Plan == nil {
			opts.Plan = []onnxcompress.LayerPlan{}
		}
		return opts, nil
	}
	if opts.Method == "" {
		return opts, badInput("compress needs --method (one of %s, auto) or --plan", strings.Join(onnxcompress.MethodNames(), ", "))
	}
	if set != 1 {
		return opts, badInput("give exactly one of --ratio, --rank, --energy, --macs-ratio")
	}
	switch {
	case c.IsSet("ratio"):
		r := c.Float64("ratio")
		if !(r > 0 && r <= 1) {
			return opts, badInput("--ratio %g: must be in (0, 1]", r)
		}
		opts.Target.Ratio = r
	case c.IsSet("macs-ratio"):
		r := c.Float64("macs-ratio")
		if !(r > 0 && r <= 1) {
			return opts, badInput("--macs-ratio %g: must be in (0, 1]", r)
		}
		opts.Target.MACsRatio = r
	case c.IsSet("rank"):
		if c.Int("rank") < 1 {
			return opts, badInput("--rank %d: must be at least 1", c.Int("rank"))
		}
		opts.Target.Rank = c.Int("rank")
	default:
		e := c.Float64("energy")
		if !(e > 0 && e <= 1) {
			return opts, badInput("--energy %g: must be in (0, 1]", e)
		}
		opts.Target.Energy = e
	}
	return opts, nil
}

// writeJSONFile writes v atomically: a temp file beside path, then rename.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

func (r compressResult) printTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tmethod\tsettings\tparams\tMACs\tweight err\toutput err\t")
	for _, l := range r.Report.Layers {
		if l.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\tskipped: %s\t%d\t\t\t\t\n", l.Layer, l.Method, l.Skipped, l.ParamsBefore)
			continue
		}
		outErr := "-"
		if l.OutputError != nil {
			outErr = fmt.Sprintf("%.4f", *l.OutputError)
		}
		settings := onnxcompress.LayerPlan{Form: l.Form, Ranks: l.Ranks, Chain: l.Chain, Keep: l.Keep, Bits: l.Bits}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d → %d\t%d → %d\t%.4f\t%s\t\n", l.Layer, l.Method, settings.Describe(),
			l.ParamsBefore, l.ParamsAfter, l.MACsBefore, l.MACsAfter, l.WeightError, outErr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rep := r.Report
	fmt.Fprintf(w, "\nselected layers: params %d → %d (%.1f%%), MACs %d → %d (%.1f%%)\n",
		rep.SelectedParamsBefore, rep.SelectedParamsAfter, 100*share(rep.SelectedParamsAfter, rep.SelectedParamsBefore),
		rep.SelectedMACsBefore, rep.SelectedMACsAfter, 100*share(rep.SelectedMACsAfter, rep.SelectedMACsBefore))
	fmt.Fprintf(w, "whole model:     params %d → %d (%.1f%%), MACs %d → %d (%.1f%%)\n",
		rep.Before.Params, rep.After.Params, 100*share(rep.After.Params, rep.Before.Params),
		rep.Before.MACs, rep.After.MACs, 100*share(rep.After.MACs, rep.Before.MACs))
	if r.OutputError != nil {
		fmt.Fprintf(w, "output relative L2 error on random probes: %.4g\n", *r.OutputError)
	}
	fmt.Fprintf(w, "wrote %s\n", r.Output)
	return nil
}
