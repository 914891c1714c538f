package onnxcompress

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// ApproxOptions say how Approximate factors one array.
type ApproxOptions struct {
	// Method is svd, tucker, cp, tt, tr, ht or debut.
	Method string
	// Rank fixes the rank (every internal rank for tt/tr/ht; both Tucker-2
	// ranks); Ratio instead keeps that fraction of the array's elements as
	// factor parameters (not for ht).
	Rank  int
	Ratio float64
	// Sup and Sub give a DeBut chain (debut.md §1.3); without them a chain
	// is designed for Ratio.
	Sup, Sub string
	// Iters caps the iterations of the iterative solvers (cp, tr, debut,
	// tucker's HOOI); 0 takes each solver's default.
	Iters int
	Seed  uint64
}

// ApproxResult is the factorization: named factors, the relative error after
// each iteration (one entry for direct methods), and the parameter count.
type ApproxResult struct {
	Factors  []*graph.Tensor
	Errors   []float64
	RelError float64
	Params   int
}

// Approximate factors x (float data of any dtype, solved in float64).
func Approximate(x *graph.Tensor, opts ApproxOptions) (*ApproxResult, error) {
	data, err := x.Float64s()
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(x.Dims))
	for i, d := range x.Dims {
		shape[i] = int(d)
	}
	t, err := solvers.NewTensor(shape, data)
	if err != nil {
		return nil, err
	}
	if opts.Rank < 0 || opts.Ratio < 0 || (opts.Rank == 0 && opts.Ratio == 0 && opts.Method != "debut") {
		return nil, fmt.Errorf("approx: give a positive rank or ratio")
	}
	rankFor := func(m solvers.Method) (int, error) {
		if opts.Rank > 0 {
			return opts.Rank, nil
		}
		r, err := solvers.RankForRatio(m, shape, opts.Ratio)
		if err != nil {
			return 0, err
		}
		return r[0], nil
	}
	res := &ApproxResult{}
	switch opts.Method {
	case "svd":
		if len(shape) != 2 {
			return nil, fmt.Errorf("approx svd: want a matrix, got dims %v", shape)
		}
		r, err := rankFor(solvers.SVDMatrix)
		if err != nil {
			return nil, err
		}
		var s solvers.SVD
		if err := s.Factorize(mat.NewDense(shape[0], shape[1], data), r); err != nil {
			return nil, err
		}
		q, p := s.Split()
		res.Factors = []*graph.Tensor{denseTensor("Q", q), denseTensor("P", p)}
		res.RelError = s.RelError()
		res.Errors = []float64{res.RelError}
	case "tucker":
		if len(shape) < 3 {
			return nil, fmt.Errorf("approx tucker: want a conv kernel (T, S, k...), got dims %v", shape)
		}
		var ranks [2]int
		if opts.Rank > 0 {
			ranks = [2]int{opts.Rank, opts.Rank}
		} else {
			r, err := solvers.RankForRatio(solvers.Tucker2Conv, shape, opts.Ratio)
			if err != nil {
				return nil, err
			}
			ranks = [2]int{r[0], r[1]}
		}
		var tk solvers.Tucker2
		if err := tk.Factorize(t, solvers.Tucker2Options{RankOut: ranks[0], RankIn: ranks[1], MaxIter: opts.Iters}); err != nil {
			return nil, err
		}
		res.Factors = []*graph.Tensor{tensorOf("core", tk.Core()), denseTensor("u_out", tk.UOut()), denseTensor("u_in", tk.UIn())}
		res.Errors = tk.Errors()
	case "cp":
		m := solvers.CP3
		if len(shape) == 4 {
			m = solvers.CP4
		}
		r := opts.Rank
		if r == 0 {
			if len(shape) != 4 {
				return nil, fmt.Errorf("approx cp: --ratio needs a 4-way kernel; give --rank")
			}
			if r, err = rankFor(m); err != nil {
				return nil, err
			}
		}
		var c solvers.CP
		if err := c.Factorize(t, solvers.CPOptions{Rank: r, MaxIter: opts.Iters, Seed: opts.Seed}); err != nil {
			return nil, err
		}
		res.Factors = append(res.Factors, graph.NewFloat64Tensor("weights", []int64{int64(r)}, c.Weights()))
		for n := range shape {
			res.Factors = append(res.Factors, denseTensor(fmt.Sprintf("factor%d", n), c.Factor(n)))
		}
		res.Errors = c.SweepErrors()
	case "tt":
		r, err := rankFor(solvers.TTUniform)
		if err != nil {
			return nil, err
		}
		var tt solvers.TT
		if err := tt.Factorize(t, solvers.TTOptions{MaxRank: r}); err != nil {
			return nil, err
		}
		for i, core := range tt.Cores() {
			res.Factors = append(res.Factors, tensorOf(fmt.Sprintf("core%d", i), core))
		}
		res.RelError = tt.RelError()
		res.Errors = []float64{res.RelError}
	case "tr":
		r, err := rankFor(solvers.TRUniform)
		if err != nil {
			return nil, err
		}
		var tr solvers.TR
		if err := tr.FactorizeALS(t, solvers.TROptions{MaxRank: r, MaxIter: opts.Iters}); err != nil {
			return nil, err
		}
		for i, core := range tr.Cores() {
			res.Factors = append(res.Factors, tensorOf(fmt.Sprintf("core%d", i), core))
		}
		res.Errors = tr.Errors()
	case "ht":
		if opts.Rank == 0 {
			return nil, fmt.Errorf("approx ht: give --rank (ratio planning is per layer in compress)")
		}
		var h solvers.HT
		if err := h.Factorize(t, solvers.HTOptions{MaxRank: opts.Rank}); err != nil {
			return nil, err
		}
		for mode := range shape {
			u, err := h.LeafBasis(mode)
			if err != nil {
				return nil, err
			}
			res.Factors = append(res.Factors, denseTensor(fmt.Sprintf("leaf%d", mode), u))
		}
		res.RelError = h.RelError()
		res.Errors = []float64{res.RelError}
		res.Params = h.Params()
	case "debut":
		return approxDeBut(data, shape, opts)
	default:
		return nil, fmt.Errorf("approx: unknown method %q (svd, tucker, cp, tt, tr, ht, debut)", opts.Method)
	}
	if len(res.Errors) > 0 {
		res.RelError = res.Errors[len(res.Errors)-1]
	}
	if res.Params == 0 {
		for _, f := range res.Factors {
			res.Params += f.Len()
		}
	}
	return res, nil
}

func approxDeBut(data []float64, shape []int, opts ApproxOptions) (*ApproxResult, error) {
	if len(shape) != 2 {
		return nil, fmt.Errorf("approx debut: want a matrix, got dims %v", shape)
	}
	var chain solvers.DeButChain
	var err error
	switch {
	case opts.Sup != "" || opts.Sub != "":
		chain, err = solvers.ParseDeButSupSub(opts.Sup, opts.Sub)
	case opts.Ratio > 0:
		var chains []solvers.DeButChain
		if chains, err = solvers.DesignDeButChains(shape[0], shape[1], opts.Ratio, 1); err == nil {
			if len(chains) == 0 {
				err = fmt.Errorf("approx debut: no chain for %d×%d at ratio %g", shape[0], shape[1], opts.Ratio)
			} else {
				chain = chains[0]
			}
		}
	default:
		err = fmt.Errorf("approx debut: give --sup/--sub or --ratio")
	}
	if err != nil {
		return nil, err
	}
	if chain.Rows() != shape[0] || chain.Cols() != shape[1] {
		return nil, fmt.Errorf("approx debut: chain %s is %d×%d, the matrix %d×%d", chain, chain.Rows(), chain.Cols(), shape[0], shape[1])
	}
	var d solvers.DeBut
	if err := d.Fit(mat.NewDense(shape[0], shape[1], data), chain, &solvers.DeButOptions{Iterations: opts.Iters, Seed: opts.Seed}); err != nil {
		return nil, err
	}
	res := &ApproxResult{Errors: d.Errors(), Params: chain.Params()}
	for i, w := range d.Factors() {
		res.Factors = append(res.Factors, graph.NewFloat64Tensor(fmt.Sprintf("factor%d", i), []int64{int64(len(w.W))}, w.W))
	}
	if len(res.Errors) > 0 {
		res.RelError = res.Errors[len(res.Errors)-1]
	}
	return res, nil
}

func denseTensor(name string, m *mat.Dense) *graph.Tensor {
	r, c := m.Dims()
	data := make([]float64, 0, r*c)
	for i := 0; i < r; i++ {
		data = append(data, m.RawRowView(i)...)
	}
	return graph.NewFloat64Tensor(name, []int64{int64(r), int64(c)}, data)
}

func tensorOf(name string, t *solvers.Tensor) *graph.Tensor {
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	return graph.NewFloat64Tensor(name, dims, t.Data)
}

// ChainInfo describes a DeBut chain (the `chain` command).
type ChainInfo struct {
	Chain     string  `json:"chain"`
	Rows      int     `json:"rows"`
	Cols      int     `json:"cols"`
	Factors   int     `json:"factors"`
	Valid     bool    `json:"valid"`
	Invalid   string  `json:"invalid,omitempty"`
	Canonical bool    `json:"canonical"`
	Dense     bool    `json:"dense"` // the bipolar test: can the chain reach any dense matrix
	Params    int     `json:"params"`
	MACs      int     `json:"macs_per_vector"`
	LC        float64 `json:"lc"` // compression: 1 − params/(rows·cols)
	Shape     string  `json:"shape"`
	Sizes     []int   `json:"sizes"`
}

// DescribeChain parses a chain in --sup/--sub notation and checks it.
func DescribeChain(sup, sub string) (*ChainInfo, error) {
	c, err := solvers.ParseDeButSupSub(sup, sub)
	if err != nil {
		return nil, err
	}
	info := &ChainInfo{Chain: c.String(), Factors: len(c), Valid: true, Sizes: c.Sizes(), Shape: fmt.Sprint(c.Shape())}
	if err := c.Validate(); err != nil {
		info.Valid, info.Invalid = false, err.Error()
		return info, nil
	}
	info.Rows, info.Cols = c.Rows(), c.Cols()
	info.Canonical = c.IsCanonical()
	if info.Dense, err = c.IsDense(); err != nil {
		return nil, err
	}
	info.Params, info.MACs, info.LC = c.Params(), c.MACs(), c.LC()
	return info, nil
}
