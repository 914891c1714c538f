// Command debut-bench times DeBut ALS on a seeded N(0,1) matrix and writes the
// matrix and the initial factors so a reference implementation can start from
// exactly the same point.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/onnxcompress/onnxcompress/solvers"
)

func main() {
	sup := flag.String("sup", "512 512 512 1024 1024 1024 1024 1024 1024 1024 1024 2048 2048 2048 2048 2048 2048 2048", "--sup of the chain")
	sub := flag.String("sub", "2 2 256 2 4 128 2 2 64 2 2 32 2 2 16 2 4 8 2 2 4 2 2 2 2 2 1", "--sub of the chain")
	iters := flag.Int("iters", 20, "ALS iterations (2 = one sweep)")
	seed := flag.Uint64("seed", 1, "seed of the matrix and the U[0,1) initialization")
	dump := flag.String("dump", "", "folder to write F.bin and init_K.bin (float64 little-endian) into")
	flag.Parse()
	if err := run(*sup, *sub, *iters, *seed, *dump); err != nil {
		fmt.Fprintln(os.Stderr, "debut-bench:", err)
		os.Exit(1)
	}
}

func run(sup, sub string, iters int, seed uint64, dump string) error {
	chain, err := solvers.ParseDeButSupSub(sup, sub)
	if err != nil {
		return err
	}
	m, n := chain.Rows(), chain.Cols()
	rng := rand.New(rand.NewPCG(seed, 0x6d6174726978))
	f := mat.NewDense(m, n, nil)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			f.Set(i, j, rng.NormFloat64())
		}
	}
	init := make([]solvers.DeButWeights, len(chain))
	for k, fac := range chain {
		w := make([]float64, fac.Params())
		for i := range w {
			w[i] = rng.Float64()
		}
		init[k] = solvers.DeButWeights{Factor: fac, W: w}
	}
	if dump != "" {
		if err := writeFloats(filepath.Join(dump, "F.bin"), f.RawMatrix().Data); err != nil {
			return err
		}
		for k, w := range init {
			if err := writeFloats(filepath.Join(dump, fmt.Sprintf("init_%d.bin", k)), w.W); err != nil {
				return err
			}
		}
	}
	var d solvers.DeBut
	start := time.Now()
	if err := d.Fit(f, chain, &solvers.DeButOptions{Iterations: iters, Tol: -1, Init: init}); err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()
	errs := d.Errors()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"impl":           "go",
		"chain":          chain.String(),
		"params":         chain.Params(),
		"lc":             chain.LC(),
		"iterations":     len(errs),
		"seconds":        elapsed,
		"sec_per_iter":   elapsed / float64(len(errs)),
		"initial_error":  d.InitialError(),
		"errors":         errs,
		"final_error":    errs[len(errs)-1],
		"max_abs_factor": maxAbs(d.Factors()),
	})
}

func maxAbs(ws []solvers.DeButWeights) float64 {
	out := 0.0
	for _, w := range ws {
		for _, v := range w.W {
			out = math.Max(out, math.Abs(v))
		}
	}
	return out
}

func writeFloats(path string, values []float64) error {
	buf := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
	}
	return os.WriteFile(path, buf, 0o644)
}
