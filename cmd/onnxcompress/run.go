package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a model once on .npy inputs and write its outputs as .npy",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress run model.onnx --input input=x.npy -o out/`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "input", Usage: "graph input `NAME=FILE.npy` (repeatable)", Required: true},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: ".", Usage: "write outputs to `DIR` as NAME.npy"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
		},
		Action: func(c *cli.Context) error {
			path, err := oneModelArg(c)
			if err != nil {
				return err
			}
			m, err := onnxcompress.Load(path)
			if err != nil {
				return err
			}
			inputs := map[string]*runtime.Tensor{}
			for _, f := range c.StringSlice("input") {
				name, file, ok := strings.Cut(f, "=")
				if !ok {
					return badInput("--input %q: want NAME=FILE.npy", f)
				}
				gt, err := dataset.ReadNPY(file)
				if err != nil {
					return usageError{err}
				}
				rt, err := runtime.FromGraph(gt)
				if err != nil {
					return usageError{fmt.Errorf("%s: %w", file, err)}
				}
				inputs[name] = rt
			}
			s, err := runtime.NewSession(m, runtime.Options{Threads: c.Int("threads")})
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			out, err := s.Run(inputs)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			dir := c.String("output")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, name := range s.OutputNames() {
				gt, err := out[name].ToGraph(name)
				if err != nil {
					return err
				}
				file := filepath.Join(dir, safeFileName(name)+".npy")
				if err := dataset.WriteNPY(file, gt); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s %v %s → %s\n", name, out[name].Shape, out[name].DType, file)
			}
			return nil
		},
	}
}

// safeFileName keeps value names usable as file names.
func safeFileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
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

func openData(c *cli.Context, shape []int64) (*dataset.Dataset, error) {
	return openDataShaped(c, c.String("data"), shape)
}

// openDataAt opens path for a model with these inputs (one image input).
func openDataAt(c *cli.Context, path string, inputs []*graph.Value) (*dataset.Dataset, error) {
	var shape []int64
	if len(inputs) == 1 && inputs[0].Type != nil {
		shape, _ = concreteTail(inputs[0].Type.Shape)
	}
	return openDataShaped(c, path, shape)
}

func openDataShaped(c *cli.Context, path string, shape []int64) (*dataset.Dataset, error) {
	opts := dataset.Options{Split: c.String("split"), Scale: float32(c.Float64("scale"))}
	var err error
	if opts.Mean, err = floatList("--mean", c.String("mean")); err != nil {
		return nil, err
	}
	if opts.Std, err = floatList("--std", c.String("std")); err != nil {
		return nil, err
	}
	if len(shape) == 4 {
		opts.Channels, opts.Height, opts.Width = int(shape[1]), int(shape[2]), int(shape[3])
	}
	d, err := dataset.Open(path, opts)
	if err != nil {
		return nil, usageError{err}
	}
	return d, nil
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

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "top-1 accuracy and cross-entropy loss on a labelled set",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress eval testmodels/fmnist/lenet5.onnx --data /usr/share/datasets/fashion-mnist --mean 0.286 --std 0.353`,
		Flags: append(dataFlags(),
			&cli.IntFlag{Name: "batch", Value: 256, Usage: "samples per run"},
			&cli.IntFlag{Name: "limit", Usage: "evaluate only the first `N` samples"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		),
		Action: func(c *cli.Context) error {
			path, err := oneModelArg(c)
			if err != nil {
				return err
			}
			m, err := onnxcompress.Load(path)
			if err != nil {
				return err
			}
			ins := graph.RealInputs(m.Graph)
			var shape []int64
			if len(ins) == 1 && ins[0].Type != nil {
				shape, _ = concreteTail(ins[0].Type.Shape)
			}
			d, err := openData(c, shape)
			if err != nil {
				return err
			}
			res, err := finetune.Evaluate(context.Background(), m, d, finetune.EvalOptions{
				Batch: c.Int("batch"), Limit: c.Int("limit"), Threads: c.Int("threads")})
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, struct {
					Model string `json:"model"`
					Data  string `json:"data"`
					finetune.EvalResult
				}{path, d.Path, res})
			}
			fmt.Fprintf(c.App.Writer, "%s on %s: top-1 %.2f%% (%d/%d), loss %.4f\n",
				path, d.Path, 100*res.Accuracy, res.Correct, res.Samples, res.Loss)
			return nil
		},
	}
}

// concreteTail returns the shape with an unknown batch dimension as 1.
func concreteTail(s graph.Shape) ([]int64, bool) {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = 1
		if d.Known() {
			out[i] = d.Value
		} else if i > 0 {
			return nil, false
		}
	}
	return out, true
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "median latency and throughput of this tool's runtime on random inputs",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress bench model.onnx --shape 1,3,224,224 --iters 20 --threads 1`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "shape", Usage: "input shape `[NAME=]D1,D2,...`; unknown dims default to 1"},
			&cli.IntFlag{Name: "iters", Value: 20, Usage: "timed runs after warm-up"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			path, err := oneModelArg(c)
			if err != nil {
				return err
			}
			iters := c.Int("iters")
			if iters < 1 {
				return badInput("--iters %d: must be at least 1", iters)
			}
			m, err := onnxcompress.Load(path)
			if err != nil {
				return err
			}
			shapes, err := inputShapes(m, c.StringSlice("shape"))
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			inputs, err := rewrite.RandomProbe(m, shapes, 1)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			s, err := runtime.NewSession(m, runtime.Options{Threads: c.Int("threads")})
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", path, err)}
			}
			for i := 0; i < 3; i++ {
				if _, err := s.Run(inputs); err != nil {
					return usageError{fmt.Errorf("%s: %w", path, err)}
				}
			}
			times := make([]float64, iters)
			for i := range times {
				start := time.Now()
				if _, err := s.Run(inputs); err != nil {
					return err
				}
				times[i] = time.Since(start).Seconds()
			}
			sort.Float64s(times)
			median := times[len(times)/2]
			batch := int64(1)
			for _, sh := range shapes {
				if len(sh) > 0 {
					batch = sh[0].Value
				}
			}
			res := struct {
				Model         string  `json:"model"`
				Backend       string  `json:"backend"`
				Threads       int     `json:"threads"`
				Iters         int     `json:"iters"`
				MedianSeconds float64 `json:"median_seconds"`
				ItemsPerSec   float64 `json:"items_per_second"`
			}{path, s.BackendName(), c.Int("threads"), iters, median, float64(batch) / median}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, res)
			}
			fmt.Fprintf(c.App.Writer, "%s: median %.3f ms over %d runs, %.1f items/s (backend %s)\n",
				path, 1000*median, iters, res.ItemsPerSec, res.Backend)
			return nil
		},
	}
}
