package main

import (
	"fmt"
	"io"

	"github.com/onnxcompress/onnxcompress"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "median latency and throughput of this tool's runtime on random inputs",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress bench model.onnx --shape 1,3,224,224 --iters 20 --threads 1
   onnxcompress bench model.onnx --shape input=32,3,224,224 --json`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "shape", Usage: "input shape `[NAME=]D1,D2,...`; unknown dims default to 1"},
			&cli.IntFlag{Name: "iters", Value: 20, Usage: "timed runs after warm-up"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
			jsonFlag(),
			quietFlag(),
		},
		Action: runBench,
	}
}

// benchResult is bench's output: the API's result plus the file name.
type benchResult struct {
	Model string `json:"model"`
	*onnxcompress.BenchResult
}

func runBench(c *cli.Context) error {
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	if c.Int("iters") < 1 {
		return badInput("--iters %d: must be at least 1", c.Int("iters"))
	}
	m, err := onnxcompress.Load(path)
	if err != nil {
		return err
	}
	shapes, err := onnxcompress.ParseInputShapes(c.StringSlice("shape"))
	if err != nil {
		return fmt.Errorf("--%w", err)
	}
	bar := newProgress(c, "bench")
	res, err := onnxcompress.Bench(c.Context, m, onnxcompress.BenchOptions{
		RunOptions: onnxcompress.RunOptions{Threads: c.Int("threads")}, InputShapes: shapes,
		Iters: c.Int("iters"), Seed: 1, Progress: bar.counter})
	bar.clear()
	if err != nil {
		return usageError{withPath(path, err)}
	}
	out := benchResult{path, res}
	return printResult(c, out, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s: median %.3f ms over %d runs, %.1f items/s (backend %s)\n",
			path, 1000*res.MedianSeconds, res.Iters, res.ItemsPerSec, res.Backend)
		return err
	})
}
