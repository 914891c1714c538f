// Command solvers-bench times onnxcompress's low-rank solvers against numpy
// (LAPACK via /usr/bin/python3) on the same seeded matrices and prints a
// markdown table. Run it through bench/solvers/run.sh from the repository root.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// result is one side's figures for one operation.
type result struct {
	Seconds float64 `json:"seconds"`
	Error   float64 `json:"error"`
}

type operation struct {
	key     string // ref.py's name for it
	name    string
	prepare func() error                            // generates the input and writes it for ref.py
	run     func() (func() (float64, error), error) // factorizes; the closure measures the relative error
	reps    int
}

func main() {
	dir := flag.String("dir", "", "scratch folder for the matrices (default: a temporary folder)")
	python := flag.String("python", "/usr/bin/python3", "python with numpy")
	only := flag.String("only", "", "run just this operation: svd, rsvd, tucker or cp")
	flag.Parse()
	if err := run(*dir, *python, *only); err != nil {
		fmt.Fprintln(os.Stderr, "solvers-bench:", err)
		os.Exit(1)
	}
}

func run(dir, python, only string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "solvers-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	const rsvdRank, rsvdOversample, rsvdPower, rsvdSeed = 256, 10, 2, 1
	// Each input has its own seeded generator, so running one operation alone
	// (-only) sees the same matrix as the full run.
	rng := func(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(2026, stream)) }
	var (
		svdIn, rsvdIn  *mat.Dense
		tuckerIn, cpIn *solvers.Tensor
		cpInit         []*mat.Dense
		write          = func(name string, data []float64) error { return writeF64(filepath.Join(dir, name+".f64"), data) }
	)
	ops := []operation{
		{key: "svd", name: "truncated SVD 512×4608 r=64", reps: 3, prepare: func() error {
			svdIn = decayingMatrix(rng(1), 512, 4608, 512, 64)
			return write("svd", svdIn.RawMatrix().Data)
		}, run: func() (func() (float64, error), error) {
			var s solvers.SVD
			err := s.Factorize(svdIn, 64)
			return func() (float64, error) { return relErrMatrix(svdIn, s.Reconstruct()), nil }, err
		}},
		{key: "rsvd", name: "randomized SVD 4096×25088 r=256 (p=10, q=2)", reps: 3, prepare: func() error {
			rsvdIn = decayingMatrix(rng(2), 4096, 25088, 512, 40)
			if err := write("rsvd", rsvdIn.RawMatrix().Data); err != nil {
				return err
			}
			// The same Gaussian test matrix FactorizeRandomized draws, so both
			// sides project onto the same subspace and their errors are comparable.
			return write("rsvd_omega_t", omegaT(rsvdSeed, rsvdRank+rsvdOversample, 25088))
		}, run: func() (func() (float64, error), error) {
			var s solvers.SVD
			err := s.FactorizeRandomized(rsvdIn, rsvdRank, solvers.RandomizedOptions{Oversample: rsvdOversample, PowerIters: rsvdPower, Seed: rsvdSeed})
			return func() (float64, error) { return relErrMatrix(rsvdIn, s.Reconstruct()), nil }, err
		}},
		{key: "tucker", name: "Tucker-2 512×512×3×3 r=128/128 (HOSVD + 10 HOOI)", reps: 3, prepare: func() error {
			tuckerIn = decayingKernel(rng(3), 512, 512, 3, 3, 64)
			return write("tucker", tuckerIn.Data)
		}, run: func() (func() (float64, error), error) {
			var tk solvers.Tucker2
			err := tk.Factorize(tuckerIn, solvers.Tucker2Options{RankOut: 128, RankIn: 128, MaxIter: 10, Tol: -1})
			return func() (float64, error) { return solvers.RelativeError(tuckerIn, tk.Reconstruct()) }, err
		}},
		{key: "cp", name: "CP-ALS 256×256×3×3 R=64, 20 sweeps (same start)", reps: 3, prepare: func() error {
			cpIn = decayingKernel(rng(4), 256, 256, 3, 3, 32)
			var err error
			if cpInit, err = cpStart(rng(5), cpIn, 64); err != nil {
				return err
			}
			for n, f := range cpInit {
				if err := write(fmt.Sprintf("cp_init%d", n), f.RawMatrix().Data); err != nil {
					return err
				}
			}
			return write("cp", cpIn.Data)
		}, run: func() (func() (float64, error), error) {
			var c solvers.CP
			err := c.Factorize(cpIn, solvers.CPOptions{Rank: 64, MaxIter: 20, Tol: -1, Init: cpInit})
			return func() (float64, error) { return solvers.RelativeError(cpIn, c.Reconstruct()) }, err
		}},
	}
	if only != "" {
		var kept []operation
		for _, op := range ops {
			if op.key == only {
				kept = append(kept, op)
			}
		}
		if kept == nil {
			return fmt.Errorf("no operation %q", only)
		}
		ops = kept
	}
	// Ours and numpy alternate per operation so both see similar machine load.
	ours := make([]result, len(ops))
	ref := make([]result, len(ops))
	for i, op := range ops {
		fmt.Fprintf(os.Stderr, "generating %s…\n", op.key)
		if err := op.prepare(); err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		// Ours and numpy alternate repetition by repetition, and each side keeps
		// its best time, so both see similar machine load.
		ours[i] = result{Seconds: math.Inf(1)}
		ref[i] = result{Seconds: math.Inf(1)}
		var measure func() (float64, error)
		for r := 0; r < op.reps; r++ {
			start := time.Now()
			var err error
			measure, err = op.run()
			if err != nil {
				return fmt.Errorf("%s: %w", op.name, err)
			}
			ours[i].Seconds = math.Min(ours[i].Seconds, time.Since(start).Seconds())
			fmt.Fprintf(os.Stderr, "  ours  %s: %.3f s\n", op.key, time.Since(start).Seconds())

			cmd := exec.Command(python, "bench/solvers/ref.py", dir, op.key, "1")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("numpy reference for %s: %w", op.key, err)
			}
			var one result
			if err := json.Unmarshal(out.Bytes(), &one); err != nil {
				return fmt.Errorf("numpy reference output for %s: %w", op.key, err)
			}
			ref[i] = result{Seconds: math.Min(ref[i].Seconds, one.Seconds), Error: one.Error}
			fmt.Fprintf(os.Stderr, "  numpy %s: %.3f s\n", op.key, one.Seconds)
		}
		e, err := measure()
		if err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		ours[i].Error = e
	}
	fmt.Printf("backend: %s, GOMAXPROCS-visible CPUs: %d, OPENBLAS_CORETYPE=%s\n\n", solvers.Backend(), numCPU(), os.Getenv("OPENBLAS_CORETYPE"))
	fmt.Println("| op | ours s | numpy s | ratio | our error | numpy error |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for i, op := range ops {
		fmt.Printf("| %s | %.3f | %.3f | %.2f | %.6e | %.6e |\n", op.name, ours[i].Seconds, ref[i].Seconds, ours[i].Seconds/ref[i].Seconds, ours[i].Error, ref[i].Error)
	}
	return nil
}

// decayingMatrix is G·diag(exp(−i/decay))·H/√k plus 1e-3 noise, G (m×k) and
// H (k×n) Gaussian: a spectrum that decays like trained FC and conv weights.
func decayingMatrix(rng *rand.Rand, m, n, k int, decay float64) *mat.Dense {
	g := gaussian(rng, m, k)
	h := gaussian(rng, k, n)
	for i := 0; i < m; i++ {
		row := g.RawRowView(i)
		for j := range row {
			row[j] *= math.Exp(-float64(j)/decay) / math.Sqrt(float64(k))
		}
	}
	ht, _ := solvers.NewTensor([]int{k, n}, h.RawMatrix().Data)
	prod, _ := ht.ModeProduct(0, g, false) // G·H through the solvers' BLAS
	for i := range prod.Data {
		prod.Data[i] += 1e-3 * rng.NormFloat64()
	}
	return mat.NewDense(m, n, prod.Data)
}

// decayingKernel is a Gaussian T×S×kH×kW tensor whose out and in modes are
// scaled by exp(−i/decay) after random rotations, plus 1e-3 noise.
func decayingKernel(rng *rand.Rand, t, s, kh, kw int, decay float64) *solvers.Tensor {
	x := gaussian(rng, t, s*kh*kw).RawMatrix().Data
	w, _ := solvers.NewTensor([]int{t, s, kh, kw}, x)
	for mode, n := range []int{t, s} {
		m := gaussian(rng, n, n)
		for i := 0; i < n; i++ {
			row := m.RawRowView(i)
			for j := range row {
				row[j] *= math.Exp(-float64(j)/decay) / math.Sqrt(float64(n))
			}
		}
		w, _ = w.ModeProduct(mode, m, false)
	}
	for i := range w.Data {
		w.Data[i] += 1e-3 * rng.NormFloat64()
	}
	return w
}

func gaussian(rng *rand.Rand, r, c int) *mat.Dense {
	d := make([]float64, r*c)
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return mat.NewDense(r, c, d)
}

// cpStart is TensorLy's init='svd' for CP: leading left singular vectors of
// each unfolding, Gaussian columns where the mode is smaller than the rank.
// Both sides start from it, so the comparison times the same ALS iterations.
func cpStart(rng *rand.Rand, x *solvers.Tensor, rank int) ([]*mat.Dense, error) {
	out := make([]*mat.Dense, len(x.Shape))
	for n := range x.Shape {
		unf, err := x.Unfold(n)
		if err != nil {
			return nil, err
		}
		rows, cols := unf.Dims()
		var s solvers.SVD
		if err := s.Factorize(unf, min(rank, rows, cols)); err != nil {
			return nil, err
		}
		f := mat.NewDense(rows, rank, nil)
		u := s.U()
		_, k := u.Dims()
		for i := 0; i < rows; i++ {
			for j := 0; j < rank; j++ {
				if j < k {
					f.Set(i, j, u.At(i, j))
				} else {
					f.Set(i, j, rng.NormFloat64())
				}
			}
		}
		out[n] = f
	}
	return out, nil
}

// omegaT mirrors the draw in solvers.SVD.FactorizeRandomized.
func omegaT(seed uint64, k, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed5eed))
	d := make([]float64, k*n)
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return d
}

func relErrMatrix(a, b *mat.Dense) float64 {
	x := solvers.TensorFromMatrix(a)
	y := solvers.TensorFromMatrix(b)
	e, _ := solvers.RelativeError(x, y)
	return e
}

func writeF64(path string, data []float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func numCPU() int { return runtime.NumCPU() }
