package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// trMethod replaces a layer by a tensor ring (lowrank.md §3.6): cores G_k of
// shape (r_k, n_k, r_{k+1}) with r_d = r_0, W = Tr(G_0[i_0]·…·G_{d−1}[i_{d−1}]),
// over the same tensors as tt (the conv block as (S, k…, T) without unit
// modes; an FC weight tensorized into d balanced mode pairs, forms "d2"…).
//
// The ring index a (size r_0) needs no trace op:
//   - Conv: it rides as a conv group. The first conv makes channels (a, r_1)
//     from core 0; each middle conv has group=r_0 (core k repeated for every
//     a, r_k→r_{k+1} per group, carrying its axis' window); the last conv reads
//     (a, r_{d−1}) channels and sums a and r_{d−1} into T, with the bias. With
//     layer groups every conv's group count is multiplied by g. The repeated
//     middle cores are paid for: r_0·Σ_middle r_k n_k r_{k+1} parameters.
//   - FC: a is an extra axis of the activation: the first contraction
//     produces (a, i_0, r_1), middle ones carry a along, and the last sums a
//     together with r_{d−1} and j_{d−1}, so no core is repeated.
//
// Ranks are [r_0, r_1, …, r_{d−1}] (r_0 the ring rank). TR-SVD splits the
// first unfolding's rank as r_0·r_1, so it is exact when r_0·r_1 equals that
// unfolding's rank and later bonds are full; truncated rings are refined by a
// few TR-ALS sweeps (which never increase the error). With a fixed rank all
// ranks are that rank (clamped); with an energy τ, TR-SVD's δ-truncation at
// ε = √(1−τ); with a ratio the best of r_0 = 1…4 with the largest uniform
// other ranks that fit the budget, by TR-SVD weight error (ALS refines only
// the chosen ring, to keep planning fast).
type trMethod struct{}

const (
	// trMaxRing bounds the ring ranks a ratio plan tries: every conv middle
	// core is repeated r_0 times, so large rings rarely pay.
	trMaxRing = 4
	// trALSSweeps refine a truncated TR-SVD.
	trALSSweeps = 3
)

func (trMethod) Name() string { return "tr" }

func (trMethod) Check(l *Layer) error { return (ttMethod{}).Check(l) }

// trFirstUnfolding is the rank limit of TR-SVD's first step: min(n_0, Π rest).
func trFirstUnfolding(shape []int) int {
	rest := 1
	for _, n := range shape[1:] {
		rest = min(rest*n, math.MaxInt32)
	}
	return min(shape[0], rest)
}

// clampTRRanks limits ranks to what TR-SVD can produce: r_0·r_1 ≤ the first
// unfolding's rank, then r_k ≤ r_{k−1}·n_{k−1} and r_k ≤ (Π_{l≥k} n_l)·r_0.
func clampTRRanks(shape, ranks []int) []int {
	m := trFirstUnfolding(shape)
	out := make([]int, len(shape))
	out[0] = min(ranks[0], m)
	out[1] = min(ranks[1], max(1, m/out[0]))
	for k := 2; k < len(shape); k++ {
		right := out[0]
		for _, n := range shape[k:] {
			right = min(right*n, math.MaxInt32)
		}
		out[k] = min(ranks[k], out[k-1]*shape[k-1], right)
	}
	return out
}

// trExactRanks are ranks at which TR-SVD is exact with a real ring: r_0 the
// smallest divisor above 1 of the first unfolding's rank (1 when it is 1).
func trExactRanks(shape []int) []int {
	m := trFirstUnfolding(shape)
	r0 := m
	for p := 2; p*p <= m; p++ {
		if m%p == 0 {
			r0 = p
			break
		}
	}
	ranks := uniformRanks(len(shape), math.MaxInt32)
	ranks[0], ranks[1] = r0, m/r0
	return clampTRRanks(shape, ranks)
}

// trParams counts one group's parameters as emitted: Σ r_k·n_k·r_{k+1}, with
// the middle cores repeated r_0 times for a conv.
func trParams(conv bool, shape, ranks []int) int64 {
	d := len(shape)
	var p int64
	for k, n := range shape {
		c := int64(ranks[k]) * int64(n) * int64(ranks[(k+1)%d])
		if conv && k > 0 && k < d-1 {
			c *= int64(ranks[0])
		}
		p += c
	}
	return p
}

// trFactors is a layer's rings, one per group, padded to the planned ranks.
type trFactors struct {
	cores  [][]*solvers.Tensor // [group][mode] (r_k, n_k, r_{k+1})
	ranks  []int
	relErr float64
}

// factorTR runs TR-SVD on every group's tensor with the ranks capped (nil:
// δ-truncation at epsilon alone), then, when refine is set and the ring is
// truncated, TR-ALS sweeps.
func factorTR(l *Layer, form string, ranks []int, epsilon float64, refine bool) (*trFactors, error) {
	tensors, err := networkTensors(l, form)
	if err != nil {
		return nil, err
	}
	tf := &trFactors{ranks: ranks}
	errs := make([]float64, len(tensors))
	var found [][]int
	exact := ranks != nil && trIsExact(tensors[0].Shape, ranks)
	for g, x := range tensors {
		var tr solvers.TR
		opts := solvers.TROptions{Ranks: ranks, Epsilon: epsilon, MaxIter: trALSSweeps}
		if !refine || ranks == nil || exact {
			err = tr.Factorize(x, opts)
		} else {
			err = tr.FactorizeALS(x, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		errs[g] = tr.RelError()
		tf.cores = append(tf.cores, tr.Cores())
		found = append(found, tr.Ranks())
	}
	if ranks == nil {
		tf.ranks = maxRanks(found)
	}
	d := len(tf.ranks)
	for g, cores := range tf.cores {
		for k, c := range cores {
			if cores[k], err = padTensor(c, []int{tf.ranks[k], c.Shape[1], tf.ranks[(k+1)%d]}); err != nil {
				return nil, fmt.Errorf("%s group %d core %d: %w", l.Node.Label(), g, k, err)
			}
		}
	}
	tf.relErr = pooledError(tensors, errs)
	return tf, nil
}

// trIsExact reports ranks at which TR-SVD keeps everything: r_0·r_1 is the
// first unfolding's rank limit and every later bond is full.
func trIsExact(shape, ranks []int) bool {
	if ranks[0]*ranks[1] < trFirstUnfolding(shape) {
		return false
	}
	full := uniformRanks(len(shape), math.MaxInt32)
	full[0], full[1] = ranks[0], ranks[1]
	return equalIntSlices(clampTRRanks(shape, full), ranks)
}

func (m trMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	conv := l.Kind == ConvLayer
	var best *LayerPlan
	var bestParams int64
	bestErr := math.Inf(1)
	budget := ratioBudget(l, t.Ratio) / float64(l.Groups())
	for _, form := range networkForms(l) {
		shape, err := networkShape(l, form)
		if err != nil {
			return LayerPlan{}, err
		}
		var candidates [][]int
		switch {
		case t.Rank > 0:
			candidates = [][]int{clampTRRanks(shape, uniformRanks(len(shape), t.Rank))}
		case t.Energy > 0:
			eps, err := energyEpsilon(t.Energy)
			if err != nil {
				return LayerPlan{}, err
			}
			tf, err := factorTR(l, form, nil, eps, false)
			if err != nil {
				return LayerPlan{}, err
			}
			candidates = [][]int{clampTRRanks(shape, tf.ranks)}
		default:
			for r0 := 1; r0 <= min(trMaxRing, trFirstUnfolding(shape)); r0++ {
				if ranks := trRatioRanks(conv, shape, r0, budget); ranks != nil {
					candidates = append(candidates, ranks)
				}
			}
		}
		for _, ranks := range candidates {
			params := trParams(conv, shape, ranks)
			if t.Rank > 0 || t.Energy > 0 {
				if best == nil || params < bestParams {
					best, bestParams = &LayerPlan{Form: form, Ranks: ranks}, params
				}
				continue
			}
			tf, err := factorTR(l, form, ranks, 0, false)
			if err != nil {
				return LayerPlan{}, err
			}
			if tf.relErr < bestErr {
				best, bestErr = &LayerPlan{Form: form, Ranks: ranks}, tf.relErr
			}
		}
	}
	if best == nil {
		return LayerPlan{}, fmt.Errorf("ratio %g leaves no room for a rank-1 tensor ring", t.Ratio)
	}
	return *best, nil
}

// trRatioRanks are the largest uniform ranks r_1…r_{d−1} = r with ring rank
// r0 whose parameters fit budget, or nil when r = 1 does not fit.
func trRatioRanks(conv bool, shape []int, r0 int, budget float64) []int {
	ranksOf := func(r int) []int {
		ranks := uniformRanks(len(shape), r)
		ranks[0] = r0
		return clampTRRanks(shape, ranks)
	}
	var best []int
	limit := 1
	for _, n := range shape {
		limit = min(limit*n, math.MaxInt32)
	}
	for r := 1; r <= limit; r++ {
		ranks := ranksOf(r)
		if ranks[0] != r0 || float64(trParams(conv, shape, ranks)) > budget {
			break
		}
		if best != nil && equalIntSlices(best, ranks) {
			break // clamped: more rank changes nothing
		}
		best = ranks
	}
	return best
}

func (m trMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	if l.Kind == ConvLayer && p.Form != "" {
		return nil, 0, fmt.Errorf("tr has no form %q for a Conv", p.Form)
	}
	shape, err := networkShape(l, p.Form)
	if err != nil {
		return nil, 0, err
	}
	clamp := func(r []int) []int { return clampTRRanks(shape, r) }
	if err := checkPlannedRanks("tr", p, len(shape), clamp); err != nil {
		return nil, 0, err
	}
	tf, err := factorTR(l, p.Form, p.Ranks, 0, true)
	if err != nil {
		return nil, 0, err
	}
	var out *graph.Value
	if l.Kind == ConvLayer {
		out, err = emitTRConv(e, l, tf)
	} else {
		out, err = emitTRMatrix(e, l, p.Form, tf)
	}
	return out, tf.relErr, err
}

// emitTRConv: the ring as convs, the ring index a as a group (see trMethod).
func emitTRConv(e *Emitter, l *Layer, tf *trFactors) (*graph.Value, error) {
	modes := convModes(l)
	carries := assignAxes(l, modes)
	d := len(modes)
	r0 := tf.ranks[0]
	factors := make([]convFactor, d)
	for k, md := range modes {
		f := convFactor{suffix: fmt.Sprintf("G%d", k), groups: 1, carries: carries[k]}
		for _, cores := range tf.cores {
			c := cores[k]
			rl, n, rr := c.Shape[0], c.Shape[1], c.Shape[2]
			var data []float64
			var err error
			switch {
			case k == 0: // W[(a, r_1), s or window] = G_0(a, ·, r_1)
				f.out, f.in = rl*rr, 1
				if md.role == inChannelMode {
					f.in = n
				}
				data, err = permutedData(c, 0, 2, 1)
			case k < d-1: // per a: W[r_{k+1}, r_k, window] = G_k(r_k, ·, r_{k+1})
				f.out, f.in, f.groups = r0*rr, rl, r0
				var one []float64
				if one, err = permutedData(c, 2, 0, 1); err == nil {
					for a := 0; a < r0; a++ {
						data = append(data, one...)
					}
				}
			case md.role == outChannelMode: // W[t, (a, r_{d−1})] = G(r_{d−1}, t, a)
				f.out, f.in = n, rr*rl
				data, err = permutedData(c, 1, 2, 0)
			default: // T = 1: W[0, (a, r_{d−1}), window] = G(r_{d−1}, ·, a)
				f.out, f.in = 1, rr*rl
				data, err = permutedData(c, 2, 0, 1)
			}
			if err != nil {
				return nil, err
			}
			f.blocks = append(f.blocks, data)
		}
		factors[k] = f
	}
	return emitConvChain(e, l, factors)
}

// emitTRMatrix: the first contraction produces (ring, i_0, a_1), the middle
// ones (i_k, a_{k+1}) and the last sums (ring, a_{d−1}, j_{d−1}).
func emitTRMatrix(e *Emitter, l *Layer, form string, tf *trFactors) (*graph.Value, error) {
	d, err := fcOrder(l, form)
	if err != nil {
		return nil, err
	}
	outModes, inModes, _ := fcTensorization(l, d)
	ring := tensorAxis{"ring", tf.ranks[0]}
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
		iAxis := tensorAxis{out[k], outModes[k]}
		next := tensorAxis{fmt.Sprintf("a%d", k+1), c.Shape[2]}
		var s contraction
		switch {
		case k == 0:
			s.contract = []string{in[k].name}
			s.produce = []tensorAxis{ring, iAxis, next}
			s.matrix, err = permutedData(core, 2, 0, 1, 3)
		case k < d-1:
			s.contract = []string{fmt.Sprintf("a%d", k), in[k].name}
			s.produce = []tensorAxis{iAxis, next}
			s.matrix, err = permutedData(core, 0, 2, 1, 3)
		default:
			s.contract = []string{ring.name, fmt.Sprintf("a%d", k), in[k].name}
			s.produce = []tensorAxis{iAxis}
			s.matrix, err = permutedData(core, 3, 0, 2, 1)
		}
		if err != nil {
			return nil, err
		}
		steps[k] = s
	}
	return fcChain(e, l, in, steps, out)
}

// Candidates prices, within each of networkFractions of the layer's
// parameters (and, for FC, each tensorization order), the largest uniform
// ranks beside every ring rank r_0 = 1…trMaxRing, by the TR-SVD error; the
// TR-ALS sweeps Apply adds only lower it.
func (m trMethod) Candidates(l *Layer) ([]Candidate, error) {
	conv := l.Kind == ConvLayer
	return networkCandidates(l, func(form string, shape []int, budget float64) [][]int {
		var sets [][]int
		for r0 := 1; r0 <= min(trMaxRing, trFirstUnfolding(shape)); r0++ {
			if ranks := trRatioRanks(conv, shape, r0, budget); ranks != nil {
				sets = append(sets, ranks)
			}
		}
		return sets
	}, func(form string, shape, ranks []int) (int64, int64, float64, error) {
		tf, err := factorTR(l, form, ranks, 0, false)
		if err != nil {
			return 0, 0, 0, err
		}
		return trParams(conv, shape, ranks), trMACs(l, form, shape, ranks), tf.relErr, nil
	})
}

// trMACs prices a ring at the layer's inferred shapes (0 when unknown),
// following emitTRConv and emitTRMatrix.
func trMACs(l *Layer, form string, shape, ranks []int) int64 {
	d := len(shape)
	r0 := ranks[0]
	bond := func(k int) int { return ranks[k%d] }
	if l.Kind == ConvLayer {
		modes := convModes(l)
		carries := assignAxes(l, modes)
		factors := make([]convFactor, d)
		for k, md := range modes {
			rl, n, rr := bond(k), md.size, bond(k+1)
			f := convFactor{groups: 1, carries: carries[k]}
			switch {
			case k == 0:
				f.out, f.in = rl*rr, 1
				if md.role == inChannelMode {
					f.in = n
				}
			case k < d-1:
				f.out, f.in, f.groups = r0*rr, rl, r0
			case md.role == outChannelMode:
				f.out, f.in = n, rr*rl
			default:
				f.out, f.in = 1, rr*rl
			}
			factors[k] = f
		}
		return convChainMACs(l, factors)
	}
	order, err := fcOrder(l, form)
	if err != nil {
		return 0
	}
	outModes, inModes, _ := fcTensorization(l, order)
	steps := make([][3]int, d)
	for k := 0; k < d; k++ {
		switch {
		case k == 0:
			steps[k] = [3]int{inModes[0], r0 * outModes[0] * bond(1), product(inModes[1:])}
		case k < d-1:
			steps[k] = [3]int{bond(k) * inModes[k], outModes[k] * bond(k+1), r0 * product(outModes[:k]) * product(inModes[k+1:])}
		default:
			steps[k] = [3]int{r0 * bond(k) * inModes[k], outModes[k], product(outModes[:k])}
		}
	}
	return fcChainMACs(l, steps)
}
