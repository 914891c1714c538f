package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/onnxcompress/onnxcompress"
	"github.com/urfave/cli/v2"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "per-layer op, weight shape, params, MACs and share of the total",
		ArgsUsage: "MODEL",
		Description: `Examples:
   onnxcompress inspect model.onnx
   onnxcompress inspect model.onnx --shape 1,3,224,224 --json
   onnxcompress inspect model.onnx --shape input=8,3,224,224`,
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.StringSliceFlag{Name: "shape", Usage: "input shape `[NAME=]D1,D2,...`; unknown dims default to 1"},
			quietFlag(),
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
			shapes, err := onnxcompress.ParseInputShapes(c.StringSlice("shape"))
			if err != nil {
				return fmt.Errorf("--%w", err)
			}
			api, err := onnxcompress.Inspect(m, shapes)
			if err != nil {
				return usageError{withPath(path, err)}
			}
			rep := inspectReport{Model: path, InspectReport: api}
			return printResult(c, rep, rep.printTable)
		},
	}
}

func oneModelArg(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", badInput("%s: expected one MODEL argument, got %d", c.Command.Name, c.NArg())
	}
	path := c.Args().First()
	if _, err := os.Stat(path); err != nil {
		return "", usageError{err}
	}
	return path, nil
}

// inspectReport is inspect's output: the API's report plus the file name.
type inspectReport struct {
	Model string `json:"model"`
	*onnxcompress.InspectReport
}

func (r inspectReport) printTable(w io.Writer) error {
	fmt.Fprintf(w, "%s  IR %d  opsets %v", r.Model, r.IRVersion, r.Opsets)
	if r.Producer != "" {
		fmt.Fprintf(w, "  producer %s", r.Producer)
	}
	fmt.Fprintf(w, "\ninputs %v\n\n", r.InputShapes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\top\tweight\tparams\tMACs\tparams %\tMACs %\t")
	for _, l := range r.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.2f\t%.2f\t\n", l.Name, l.Op, dimsString(l.WeightShape),
			l.Params, l.MACs, 100*l.ParamShare, 100*l.MACShare)
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t100.00\t100.00\t\n", r.Params, r.MACs)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.UniqueParams != r.Params {
		fmt.Fprintf(w, "unique stored parameters (shared weights counted once): %d\n", r.UniqueParams)
	}
	return nil
}

func share(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

func dimsString(d []int64) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(s, "×")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
