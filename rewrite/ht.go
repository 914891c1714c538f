package rewrite

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// htMethod replaces a Conv by a hierarchical Tucker decomposition of its
// kernel (lowrank.md §3.7): HT-SVD over the dimension tree {{T,S},{kH,kW}}
// with the channel leaves truncated and the spatial subtree kept exact. The
// spatial side is tiny, so it is reconstructed into a dense core and the ONNX
// form is Tucker-2-shaped: 1×1 S→R_in (U_inᵀ), the original window
// R_in→R_out (core = B_TS · B_root · spatial basis), 1×1 R_out→T (U_out, bias),
// each with group=g for grouped convs. Kernels of other spatial ranks are
// viewed as 2-D windows (k,1) or (k_1, k_2·k_3…), which leaves the core's
// layout unchanged.
//
// Ranks are [R_out, R_in], the T and S leaf ranks. With a fixed rank both are
// that rank (clamped to the unfoldings' ranks, where the tree is exact); with
// an energy τ, HT-SVD's δ-truncation at ε = √(1−τ) picks the leaf ranks; with
// a ratio, the Tucker-2 parameter formula with R_in/R_out ≈ S/T.
//
// Gemm and MatMul are refused: the FC form (leaf MatMuls, then one
// two-operand contraction per transfer tensor) needs every node's transfer
// tensor, and solvers.HT exposes only leaf bases and the conv Tucker-2 form.
type htMethod struct{}

func (htMethod) Name() string { return "ht" }

func (htMethod) Check(l *Layer) error {
	if l.Kind != ConvLayer {
		return errNotFor(l, "ht is implemented for Conv only: the %s form needs the HT transfer tensors, which solvers.HT does not expose", l.Kind)
	}
	if l.IsDepthwise() {
		return errNotFor(l, "depthwise conv has one input channel per group: nothing to factor")
	}
	return nil
}

// htShape is a group's kernel as the 4-way (T, S, k_a, k_b) the conv tree
// needs: the first kernel axis, then the others merged (1 for Conv1D).
func htShape(l *Layer) []int {
	d := l.Weight.Dims
	ka, kb := int(d[2]), 1
	for _, k := range d[3:] {
		kb *= int(k)
	}
	return []int{l.Out(), int(d[1]), ka, kb}
}

// clampHTRanks limits [R_out, R_in] to the ranks of the T and S unfoldings.
func clampHTRanks(shape, ranks []int) []int {
	t, s, k := shape[0], shape[1], shape[2]*shape[3]
	return []int{min(ranks[0], t, s*k), min(ranks[1], s, t*k)}
}

// htFactors are every group's Tucker-2-shaped factors of the HT.
type htFactors struct {
	ranks           []int
	uIn, core, uOut [][]float64 // per group: R_in×S, (R_out, R_in, k…), T×R_out
	relErr          float64
}

// factorHT runs HT-SVD on every group's kernel with the leaf ranks capped at
// ranks (nil: δ-truncation at epsilon picks them).
func factorHT(l *Layer, ranks []int, epsilon float64) (*htFactors, error) {
	blocks, err := groupTensors(l)
	if err != nil {
		return nil, err
	}
	shape := htShape(l)
	hf := &htFactors{ranks: ranks}
	errs := make([]float64, len(blocks))
	type parts struct{ core, uOut, uIn *solvers.Tensor }
	all := make([]parts, len(blocks))
	var found [][]int
	for g, b := range blocks {
		x, err := b.Reshape(shape...)
		if err != nil {
			return nil, err
		}
		tree := solvers.ConvDimTree(0, 0)
		if ranks != nil {
			tree = solvers.ConvDimTree(ranks[0], ranks[1])
		}
		var h solvers.HT
		if err := h.Factorize(x, solvers.HTOptions{Tree: tree, Epsilon: epsilon}); err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		core, uOut, uIn, err := h.Tucker2Form()
		if err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		errs[g] = h.RelError()
		all[g] = parts{core, solvers.TensorFromMatrix(uOut), solvers.TensorFromMatrix(uIn)}
		found = append(found, []int{core.Shape[0], core.Shape[1]})
	}
	if ranks == nil {
		hf.ranks = maxRanks(found)
	}
	rOut, rIn := hf.ranks[0], hf.ranks[1]
	for g, p := range all {
		core, err := padTensor(p.core, []int{rOut, rIn, shape[2], shape[3]})
		if err != nil {
			return nil, err
		}
		uOut, err := padTensor(p.uOut, []int{shape[0], rOut})
		if err != nil {
			return nil, err
		}
		uIn, err := padTensor(p.uIn, []int{shape[1], rIn})
		if err != nil {
			return nil, err
		}
		uInT, err := permutedData(uIn, 1, 0)
		if err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		hf.uIn = append(hf.uIn, uInT)
		hf.core = append(hf.core, core.Data)
		hf.uOut = append(hf.uOut, uOut.Data)
	}
	hf.relErr = pooledError(blocks, errs)
	return hf, nil
}

func (m htMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	shape := htShape(l)
	var ranks []int
	switch {
	case t.Rank > 0:
		ranks = []int{t.Rank, t.Rank}
	case t.Energy > 0:
		eps, err := energyEpsilon(t.Energy)
		if err != nil {
			return LayerPlan{}, err
		}
		hf, err := factorHT(l, nil, eps)
		if err != nil {
			return LayerPlan{}, err
		}
		ranks = hf.ranks
	default:
		r, err := solvers.RankForRatio(solvers.Tucker2Conv, shape, groupRatio(l, t.Ratio))
		if err != nil {
			return LayerPlan{}, fmt.Errorf("ratio %g leaves no room for rank-1 HT leaves: %w", t.Ratio, err)
		}
		ranks = r
	}
	return LayerPlan{Ranks: clampHTRanks(shape, ranks)}, nil
}

func (m htMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	if p.Form != "" {
		return nil, 0, fmt.Errorf("ht has no form %q", p.Form)
	}
	shape := htShape(l)
	clamp := func(r []int) []int { return clampHTRanks(shape, r) }
	if err := checkPlannedRanks("ht", p, 2, clamp); err != nil {
		return nil, 0, err
	}
	hf, err := factorHT(l, p.Ranks, 0)
	if err != nil {
		return nil, 0, err
	}
	rOut, rIn := hf.ranks[0], hf.ranks[1]
	all := make([]int, len(l.Conv.Kernel))
	for ax := range all {
		all[ax] = ax
	}
	out, err := emitConvChain(e, l, []convFactor{
		{suffix: "U_in", out: rIn, in: shape[1], groups: 1, blocks: hf.uIn},
		{suffix: "core", out: rOut, in: rIn, groups: 1, carries: all, blocks: hf.core},
		{suffix: "U_out", out: shape[0], in: rOut, groups: 1, blocks: hf.uOut},
	})
	return out, hf.relErr, err
}

// Candidates prices every leaf-rank pair for the global budget. With the
// {T,S} node and the spatial subtree exact, HT-SVD's approximation is the
// truncated HOSVD of the channel modes, so one full HOSVD table gives every
// pair's error (TestHTCandidatesPriceApply checks it), and the emitted form
// is Tucker-2-shaped, so are its costs.
func (m htMethod) Candidates(l *Layer) ([]Candidate, error) {
	h, err := hosvdEnergyOf(l)
	if err != nil {
		return nil, err
	}
	shape := htShape(l)
	return hullCandidates(h.tucker2Settings(l, "", func(rOut, rIn int) bool {
		ranks := clampHTRanks(shape, []int{rOut, rIn})
		return ranks[0] == rOut && ranks[1] == rIn
	})), nil
}
