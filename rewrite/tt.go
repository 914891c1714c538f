package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// ttMethod replaces a layer by a tensor train (lowrank.md §3.5).
//
// A Conv kernel block (T, S, k…) is seen as the tensor (S, k_1…k_n, T), with
// modes of size 1 left out, and TT-SVD gives one core per mode. Each core is
// a plain Conv: S gives a 1×1 S→r_1, each kernel axis a (k×1)-style conv along
// that axis with its stride, padding and dilation, T the last 1×1 →T with the
// bias. A 2-D conv is four convs, a Conv1D three, a 1×1 conv two. Groups are
// decomposed one by one with the same ranks and every factor has group=g.
//
// A Gemm or MatMul weight (out×in) becomes a TT-matrix (Novikov et al.
// 2015): out and in are split into d balanced factors (form "d2", "d3" or
// "d4") and the input runs through d two-operand contractions
// (Reshape/Transpose/MatMul), then Gemm's β·C is added.
//
// Ranks are the d−1 internal bonds r_1…r_{d−1}. With a fixed rank every bond
// is that rank, clamped where the train is already exact; with an energy τ
// each SVD step keeps what δ-truncation with ε = √(1−τ) keeps; with a ratio
// the largest uniform rank whose parameters fit the budget, and for FC the
// tensorization order with the lowest weight error.
type ttMethod struct{}

func (ttMethod) Name() string { return "tt" }

func (ttMethod) Check(l *Layer) error {
	if l.Kind != ConvLayer {
		return checkFCTensorizable(l)
	}
	if l.IsDepthwise() {
		return errNotFor(l, "depthwise conv has one input channel per group: nothing to factor")
	}
	if len(convModes(l)) < 2 {
		return errNotFor(l, "the kernel block has fewer than two modes larger than 1: nothing to factor")
	}
	return nil
}

// clampTTRanks limits each bond to what TT-SVD can produce: r_k ≤ r_{k−1}·n_k
// and r_k ≤ Π_{l>k} n_l. At these limits the train is exact.
func clampTTRanks(shape, ranks []int) []int {
	out := make([]int, len(shape)-1)
	prev := 1
	for k := range out {
		right := 1
		for _, n := range shape[k+1:] {
			right = min(right*n, math.MaxInt32)
		}
		out[k] = min(ranks[k], prev*shape[k], right)
		prev = out[k]
	}
	return out
}

func uniformRanks(n, r int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// ttParams counts Σ r_{k−1}·n_k·r_k (r_0 = r_d = 1), one group's factors.
func ttParams(shape, ranks []int) int64 {
	var p int64
	for k, n := range shape {
		left, right := 1, 1
		if k > 0 {
			left = ranks[k-1]
		}
		if k < len(ranks) {
			right = ranks[k]
		}
		p += int64(left) * int64(n) * int64(right)
	}
	return p
}

// ttFactors is a layer's trains, one per group, padded to the planned ranks.
type ttFactors struct {
	cores  [][]*solvers.Tensor // [group][mode] (r_{k−1}, n_k, r_k)
	ranks  []int
	relErr float64
}

// factorTT runs TT-SVD on every group's tensor, with the bonds capped at
// ranks (nil: δ-truncation at epsilon alone).
func factorTT(l *Layer, form string, ranks []int, epsilon float64) (*ttFactors, error) {
	tensors, err := networkTensors(l, form)
	if err != nil {
		return nil, err
	}
	tf := &ttFactors{ranks: ranks}
	errs := make([]float64, len(tensors))
	var found [][]int
	for g, x := range tensors {
		var tt solvers.TT
		if err := tt.Factorize(x, solvers.TTOptions{MaxRanks: ranks, Epsilon: epsilon}); err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		errs[g] = tt.RelError()
		tf.cores = append(tf.cores, tt.Cores())
		r := tt.Ranks()
		found = append(found, r[1:len(r)-1])
	}
	if ranks == nil {
		tf.ranks = maxRanks(found)
	}
	for g, cores := range tf.cores {
		for k, c := range cores {
			left, right := 1, 1
			if k > 0 {
				left = tf.ranks[k-1]
			}
			if k < len(tf.ranks) {
				right = tf.ranks[k]
			}
			if cores[k], err = padTensor(c, []int{left, c.Shape[1], right}); err != nil {
				return nil, fmt.Errorf("%s group %d core %d: %w", l.Node.Label(), g, k, err)
			}
		}
	}
	tf.relErr = pooledError(tensors, errs)
	return tf, nil
}

func (m ttMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	type choice struct {
		plan   LayerPlan
		params int64
		err    float64
	}
	var best *choice
	for _, form := range networkForms(l) {
		shape, err := networkShape(l, form)
		if err != nil {
			return LayerPlan{}, err
		}
		c := choice{plan: LayerPlan{Form: form}}
		switch {
		case t.Rank > 0:
			c.plan.Ranks = clampTTRanks(shape, uniformRanks(len(shape)-1, t.Rank))
		case t.Energy > 0:
			eps, err := energyEpsilon(t.Energy)
			if err != nil {
				return LayerPlan{}, err
			}
			tf, err := factorTT(l, form, nil, eps)
			if err != nil {
				return LayerPlan{}, err
			}
			c.plan.Ranks = clampTTRanks(shape, tf.ranks)
		default:
			r, err := solvers.RankForRatio(solvers.TTUniform, shape, groupRatio(l, t.Ratio))
			if err != nil {
				continue
			}
			c.plan.Ranks = clampTTRanks(shape, uniformRanks(len(shape)-1, r[0]))
			tf, err := factorTT(l, form, c.plan.Ranks, 0)
			if err != nil {
				return LayerPlan{}, err
			}
			c.err = tf.relErr
		}
		c.params = ttParams(shape, c.plan.Ranks)
		better := best == nil
		if !better && (t.Rank > 0 || t.Energy > 0) {
			better = c.params < best.params
		} else if !better {
			better = c.err < best.err
		}
		if better {
			best = &c
		}
	}
	if best == nil {
		return LayerPlan{}, fmt.Errorf("ratio %g leaves no room for a rank-1 tensor train", t.Ratio)
	}
	return best.plan, nil
}

// checkPlannedRanks rejects ranks of the wrong count, below 1, or beyond what
// the decomposition can use (clamp returns the usable ones).
func checkPlannedRanks(method string, p LayerPlan, count int, clamp func([]int) []int) error {
	if len(p.Ranks) != count {
		return fmt.Errorf("%s form %q needs %d ranks, plan has %v", method, p.Form, count, p.Ranks)
	}
	for _, r := range p.Ranks {
		if r < 1 {
			return fmt.Errorf("%s ranks %v must be positive", method, p.Ranks)
		}
	}
	if usable := clamp(p.Ranks); !equalIntSlices(usable, p.Ranks) {
		return fmt.Errorf("%s ranks %v exceed what the decomposition can use (at most %v)", method, p.Ranks, usable)
	}
	return nil
}

func (m ttMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	shape, err := networkShape(l, p.Form)
	if err != nil {
		return nil, 0, err
	}
	if l.Kind == ConvLayer && p.Form != "" {
		return nil, 0, fmt.Errorf("tt has no form %q for a Conv", p.Form)
	}
	clamp := func(r []int) []int { return clampTTRanks(shape, r) }
	if err := checkPlannedRanks("tt", p, len(shape)-1, clamp); err != nil {
		return nil, 0, err
	}
	tf, err := cachedTT(l, p.Form, p.Ranks)
	if err != nil {
		return nil, 0, err
	}
	var out *graph.Value
	if l.Kind == ConvLayer {
		out, err = emitTTConv(e, l, tf)
	} else {
		out, err = emitTTMatrix(e, l, p.Form, tf)
	}
	return out, tf.relErr, err
}

// emitTTConv: one Conv per core. Core (r_{k−1}, n, r_k) becomes the weight
// (r_k, r_{k−1}, n) — input channels for S (r_0 = 1), the window for a kernel
// axis — or (n, r_k, r_{k−1}) for T, whose n is the output channels.
func emitTTConv(e *Emitter, l *Layer, tf *ttFactors) (*graph.Value, error) {
	modes := convModes(l)
	carries := assignAxes(l, modes)
	factors := make([]convFactor, len(modes))
	for k, md := range modes {
		f := convFactor{suffix: fmt.Sprintf("G%d", k), groups: 1, carries: carries[k]}
		perm := []int{2, 0, 1}
		for _, cores := range tf.cores {
			c := cores[k]
			rl, n, rr := c.Shape[0], c.Shape[1], c.Shape[2]
			switch md.role {
			case inChannelMode:
				f.out, f.in = rr, rl*n
			case spatialMode:
				f.out, f.in = rr, rl
			default:
				f.out, f.in, perm = n*rr, rl, []int{1, 2, 0}
			}
			data, err := permutedData(c, perm...)
			if err != nil {
				return nil, err
			}
			f.blocks = append(f.blocks, data)
		}
		factors[k] = f
	}
	return emitConvChain(e, l, factors)
}

// emitTTMatrix: contraction k sums (a_{k−1}, j_k) against core k, seen as the
// matrix (r_{k−1}·n_k) × (m_k·r_k), and produces (i_k, a_k).
func emitTTMatrix(e *Emitter, l *Layer, form string, tf *ttFactors) (*graph.Value, error) {
	d, err := fcOrder(l, form)
	if err != nil {
		return nil, err
	}
	outModes, inModes, _ := fcTensorization(l, d)
	in := make([]tensorAxis, d)
	out := make([]string, d)
	steps := make([]contraction, d)
	for k := 0; k < d; k++ {
		in[k] = tensorAxis{fmt.Sprintf("j%d", k), inModes[k]}
		out[k] = fmt.Sprintf("i%d", k)
		c := tf.cores[0][k]
		core, err := c.Reshape(c.Shape[0], outModes[k], inModes[k], c.Shape[2])
		if err != nil {
			return nil, err
		}
		s := contraction{produce: []tensorAxis{{out[k], outModes[k]}}}
		if k > 0 {
			s.contract = append(s.contract, fmt.Sprintf("a%d", k))
		}
		s.contract = append(s.contract, in[k].name)
		if k < d-1 {
			s.produce = append(s.produce, tensorAxis{fmt.Sprintf("a%d", k+1), c.Shape[2]})
		}
		if s.matrix, err = permutedData(core, 0, 2, 1, 3); err != nil {
			return nil, err
		}
		steps[k] = s
	}
	return fcChain(e, l, in, steps, out)
}

// Candidates prices the largest uniform-rank train within each of
// networkFractions of the layer's parameters (and, for FC, each
// tensorization order) by its TT-SVD error; the trains are kept for Apply.
func (m ttMethod) Candidates(l *Layer) ([]Candidate, error) {
	return networkCandidates(l, func(form string, shape []int, budget float64) [][]int {
		r, err := solvers.RankForRatio(solvers.TTUniform, shape, budget/float64(product(shape)))
		if err != nil {
			return nil
		}
		return [][]int{clampTTRanks(shape, uniformRanks(len(shape)-1, r[0]))}
	}, func(form string, shape, ranks []int) (int64, int64, float64, error) {
		tf, err := cachedTT(l, form, ranks)
		if err != nil {
			return 0, 0, 0, err
		}
		return ttParams(shape, ranks), ttMACs(l, form, shape, ranks), tf.relErr, nil
	})
}

// cachedTT is factorTT at planned ranks through the layer's memo.
func cachedTT(l *Layer, form string, ranks []int) (*ttFactors, error) {
	key := memoKey(ttMethod{}.Name(), LayerPlan{Form: form, Ranks: ranks})
	if v, ok := l.recall(key); ok {
		return v.(*ttFactors), nil
	}
	tf, err := factorTT(l, form, ranks, 0)
	if err != nil {
		return nil, err
	}
	l.remember(key, tf)
	return tf, nil
}

// ttMACs prices a train at the layer's inferred shapes (0 when unknown).
func ttMACs(l *Layer, form string, shape, ranks []int) int64 {
	bond := func(k int) int { // r_k with r_0 = r_d = 1
		if k <= 0 || k > len(ranks) {
			return 1
		}
		return ranks[k-1]
	}
	if l.Kind == ConvLayer {
		modes := convModes(l)
		carries := assignAxes(l, modes)
		factors := make([]convFactor, len(modes))
		for k, md := range modes {
			rl, n, rr := bond(k), md.size, bond(k+1)
			f := convFactor{out: rr, in: rl, groups: 1, carries: carries[k]}
			switch md.role {
			case inChannelMode:
				f.in = rl * n
			case outChannelMode:
				f.out = n * rr
			}
			factors[k] = f
		}
		return convChainMACs(l, factors)
	}
	d, err := fcOrder(l, form)
	if err != nil {
		return 0
	}
	outModes, inModes, _ := fcTensorization(l, d)
	steps := make([][3]int, d)
	for k := 0; k < d; k++ {
		rest := product(outModes[:k]) * product(inModes[k+1:])
		steps[k] = [3]int{bond(k) * inModes[k], outModes[k] * bond(k+1), rest}
	}
	return fcChainMACs(l, steps)
}
