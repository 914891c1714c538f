package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/onnxcompress/onnxcompress"
	"github.com/urfave/cli/v2"
)

func approxCommand() *cli.Command {
	return &cli.Command{
		Name:  "approx",
		Usage: "approximate one array (a weight as .npy) by a factorization; write the factors as .npz",
		Description: `Examples:
   onnxcompress approx --matrix w.npy --method svd --rank 16 -o factors.npz
   onnxcompress approx --matrix kernel.npy --method tucker --ratio 0.3
   onnxcompress approx --matrix w.npy --method debut --sup 512,512,1024 --sub ... --iters 20`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "matrix", Usage: "the array `FILE.npy` (matrix, or conv kernel T,S,kH,kW)", Required: true},
			&cli.StringFlag{Name: "method", Usage: "svd, tucker, cp, tt, tr, ht or debut", Required: true},
			&cli.IntFlag{Name: "rank", Usage: "rank (every internal rank for tt/tr/ht)"},
			&cli.Float64Flag{Name: "ratio", Usage: "keep this fraction of the array's elements as factor parameters"},
			&cli.StringFlag{Name: "sup", Usage: "DeBut chain: superscripts (debut.md §1.3)"},
			&cli.StringFlag{Name: "sub", Usage: "DeBut chain: subscripts"},
			&cli.IntFlag{Name: "iters", Usage: "iterations of the iterative solvers (cp, tr, debut, tucker's HOOI)"},
			&cli.Uint64Flag{Name: "seed", Value: 1},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the factors to `FILE.npz`"},
			jsonFlag(),
			quietFlag(),
		},
		Action: func(c *cli.Context) error {
			x, err := onnxcompress.ReadNPY(c.String("matrix"))
			if err != nil {
				return err
			}
			res, err := onnxcompress.Approximate(x, onnxcompress.ApproxOptions{
				Method: c.String("method"), Rank: c.Int("rank"), Ratio: c.Float64("ratio"),
				Sup: c.String("sup"), Sub: c.String("sub"), Iters: c.Int("iters"), Seed: c.Uint64("seed")})
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", c.String("matrix"), err)}
			}
			if out := c.String("output"); out != "" {
				if err := res.WriteNPZ(out); err != nil {
					return err
				}
			}
			summary := struct {
				Errors   []float64 `json:"errors"`
				RelError float64   `json:"rel_error"`
				Params   int       `json:"params"`
				Elements int       `json:"elements"`
			}{res.Errors, res.RelError, res.Params, x.Len()}
			return printResult(c, summary, func(w io.Writer) error {
				for i, e := range res.Errors {
					fmt.Fprintf(w, "iteration %d: relative error %.6f\n", i+1, e)
				}
				_, err := fmt.Fprintf(w, "%s: relative error %.6f with %d parameters (%.2f%% of %d)\n", c.String("method"),
					res.RelError, res.Params, 100*float64(res.Params)/float64(x.Len()), x.Len())
				return err
			})
		},
	}
}

func chainCommand() *cli.Command {
	return &cli.Command{
		Name:  "chain",
		Usage: "check a DeBut chain: validity, density (bipolar test), params, LC, MACs, shape",
		Description: `Examples:
   onnxcompress chain --sup 512,512,1024,1024 --sub 2,2,256,2,4,128,2,2,64`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sup", Required: true, Usage: "superscripts (debut.md §1.3)"},
			&cli.StringFlag{Name: "sub", Required: true, Usage: "subscripts"},
			jsonFlag(),
			quietFlag(),
		},
		Action: func(c *cli.Context) error {
			info, err := onnxcompress.DescribeChain(c.String("sup"), c.String("sub"))
			if err != nil {
				return usageError{err}
			}
			err = printResult(c, info, func(w io.Writer) error {
				fmt.Fprintf(w, "chain   %s\n", info.Chain)
				if !info.Valid {
					fmt.Fprintf(w, "invalid: %s\n", info.Invalid)
					return nil
				}
				fmt.Fprintf(w, "matrix  %d×%d, %d factors, sizes %s\n", info.Rows, info.Cols, info.Factors, joinInts(info.Sizes))
				fmt.Fprintf(w, "shape   %s, canonical %v, dense (bipolar test) %v\n", info.Shape, info.Canonical, info.Dense)
				_, err := fmt.Fprintf(w, "params  %d (LC %.2f%%), MACs per vector %d\n", info.Params, 100*info.LC, info.MACs)
				return err
			})
			if err != nil {
				return err
			}
			if !info.Valid {
				return cli.Exit("", exitBadInput)
			}
			return nil
		},
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, "←")
}
