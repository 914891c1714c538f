package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnxcompress/onnxcompress"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a model once on .npy inputs and write its outputs as .npy",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress run model.onnx --input input=x.npy -o out/
   onnxcompress run model.onnx --input input=x.npy -o out/ --json`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "input", Usage: "graph input `NAME=FILE.npy` (repeatable)", Required: true},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: ".", Usage: "write outputs to `DIR` as NAME.npy"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
			jsonFlag(),
			quietFlag(),
		},
		Action: runRun,
	}
}

// writtenOutput is one line of run's table.
type writtenOutput struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
	DType string  `json:"dtype"`
	File  string  `json:"file"`
}

func runRun(c *cli.Context) error {
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	m, err := onnxcompress.Load(path)
	if err != nil {
		return err
	}
	inputs := map[string]*onnxcompress.Tensor{}
	for _, f := range c.StringSlice("input") {
		name, file, ok := strings.Cut(f, "=")
		if !ok {
			return badInput("--input %q: want NAME=FILE.npy", f)
		}
		if inputs[name], err = onnxcompress.ReadNPY(file); err != nil {
			return err
		}
	}
	outs, err := onnxcompress.Run(c.Context, m, inputs, onnxcompress.RunOptions{Threads: c.Int("threads")})
	if err != nil {
		// The model or the inputs do not fit this runtime: bad input.
		return usageError{withPath(path, err)}
	}
	dir := c.String("output")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	written := []writtenOutput{}
	for _, t := range outs {
		file := filepath.Join(dir, safeFileName(t.Name)+".npy")
		if err := onnxcompress.WriteNPY(file, t); err != nil {
			return err
		}
		written = append(written, writtenOutput{Name: t.Name, Shape: t.Dims, DType: t.DType.String(), File: file})
	}
	return printResult(c, written, func(w io.Writer) error {
		for _, o := range written {
			fmt.Fprintf(w, "%s %v %s → %s\n", o.Name, o.Shape, o.DType, o.File)
		}
		return nil
	})
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
