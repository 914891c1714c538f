package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/onnxcompress/onnxcompress"
	"github.com/urfave/cli/v2"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "top-1 accuracy and cross-entropy loss on a labelled set",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress eval testmodels/fmnist/lenet5.onnx --data /usr/share/datasets/fashion-mnist --mean 0.286 --std 0.353
   onnxcompress eval small.onnx --data test.npz --limit 1000 --json`,
		Flags: append(dataFlags(),
			&cli.IntFlag{Name: "batch", Value: 256, Usage: "samples per run"},
			&cli.IntFlag{Name: "limit", Usage: "evaluate only the first `N` samples"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
			jsonFlag(),
			quietFlag(),
		),
		Action: runEval,
	}
}

// evalResult is eval's output: the API's result plus what was evaluated.
type evalResult struct {
	Model string `json:"model"`
	Data  string `json:"data"`
	onnxcompress.EvalResult
}

func runEval(c *cli.Context) error {
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	m, err := onnxcompress.Load(path)
	if err != nil {
		return err
	}
	d, err := openData(c, c.String("data"), m)
	if err != nil {
		return err
	}
	bar := newProgress(c, "eval")
	res, err := onnxcompress.Evaluate(c.Context, m, d, onnxcompress.EvalOptions{
		Batch: c.Int("batch"), Limit: c.Int("limit"), Threads: c.Int("threads"), Progress: bar.counter})
	bar.clear()
	if err != nil {
		// A model this runtime cannot run, or data that does not fit it.
		return usageError{withPath(path, err)}
	}
	out := evalResult{path, d.Path, res}
	return printResult(c, out, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s on %s: top-1 %.2f%% (%d/%d), loss %.4f\n",
			path, d.Path, 100*res.Accuracy, res.Correct, res.Samples, res.Loss)
		return err
	})
}

func dataFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "labelled data: IDX folder, .npz with x and y, or image folder", Required: true},
		&cli.StringFlag{Name: "split", Value: "test", Usage: "IDX split: train or test"},
		&cli.Float64Flag{Name: "scale", Usage: "multiply raw values first (default 1/255 for 8-bit data)"},
		&cli.StringFlag{Name: "mean", Usage: "per-channel mean `M[,M,M]` subtracted after scaling"},
		&cli.StringFlag{Name: "std", Usage: "per-channel std `S[,S,S]` divided by after the mean"},
	}
}

// dataOptions reads --split, --scale, --mean and --std.
func dataOptions(c *cli.Context) (onnxcompress.DataOptions, error) {
	opts := onnxcompress.DataOptions{Split: c.String("split"), Scale: float32(c.Float64("scale"))}
	var err error
	if opts.Mean, err = floatList("--mean", c.String("mean")); err != nil {
		return opts, err
	}
	opts.Std, err = floatList("--std", c.String("std"))
	return opts, err
}

// openData opens the data at path for m as the data flags say.
func openData(c *cli.Context, path string, m *onnxcompress.Model) (*onnxcompress.Dataset, error) {
	opts, err := dataOptions(c)
	if err != nil {
		return nil, err
	}
	return onnxcompress.OpenData(path, m, opts)
}

func floatList(flag, s string) ([]float32, error) {
	if s == "" {
		return nil, nil
	}
	var out []float32
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, badInput("%s %q: %q is not a number", flag, s, p)
		}
		out = append(out, float32(v))
	}
	return out, nil
}
