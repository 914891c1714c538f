package finetune

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// Hinge's search stage (hinge.md A.5, A.9, A.10): proximal-gradient
// training of the sparsity-inducing matrices A that rewrite.HingeAttach put
// after each layer. Every optimizer step is followed by the group
// soft-threshold (ℓ2,1) or half-threshold (ℓ2,1/2) of every A with
// τ_l = η·λ_eff·s_l, where η is the step's learning rate, s_l the layer's
// mean initial group norm (layer balancing, computed once) and λ_eff the
// regularisation λ annealed as the matrices get sparser.

// HingeMatrix names one A for the proximal step.
type HingeMatrix struct {
	// Weight is the 1×1 Conv weight Â [n, k, 1…], Â[j, i] = A[i, j].
	Weight string
	// Bias is that Conv's bias ("" when none). A column group includes its
	// bias entry, so a zero group is an identically zero channel.
	Bias   string
	Groups solvers.HingeGroups
}

// HingeOptions configure the proximal step. Zero values take the defaults
// in brackets.
type HingeOptions struct {
	Lambda      float64 // regularisation λ [2e-4, the scripts' value]
	Regularizer solvers.HingeRegularizer
	// NoLayerBalancing uses s_l = 1 for every layer.
	NoLayerBalancing bool
	// Anneal is the factor a: λ_eff is λ, λ/a or λ/a² as the penalty P
	// (Σ over layers of Σ_g ‖a_g‖/s_l) falls below AnnealHigh·P₀ and
	// AnnealLow·P₀, P₀ its value at the start [2; negative: off]. The
	// official scripts give t₁/t₂ as absolute values tuned per network;
	// fractions of P₀ carry over to networks nobody tuned them for.
	Anneal                float64
	AnnealHigh, AnnealLow float64 // [0.8, 0.6]
}

func (o HingeOptions) withDefaults() HingeOptions {
	if o.Lambda == 0 {
		o.Lambda = 2e-4
	}
	if o.Anneal == 0 {
		o.Anneal = 2
	}
	if o.AnnealHigh == 0 {
		o.AnnealHigh = 0.8
	}
	if o.AnnealLow == 0 {
		o.AnnealLow = 0.6
	}
	return o
}

// HingeProx applies the proximal step; use its AfterStep as
// Options.AfterStep.
type HingeProx struct {
	mats     []HingeMatrix
	opts     HingeOptions
	shapes   [][2]int // n, k of each Â
	scales   []float64
	penalty0 float64
	// Last is the state after the latest step: the parameters as they were
	// left (by name), the penalty P and the effective λ.
	last      map[string][]float32
	norms     [][]float64
	Penalty   float64
	LambdaEff float64
	Steps     int
}

// GroupNorms are each matrix's group norms after the latest step (at the
// start: the initial ones), bias included in column groups.
func (p *HingeProx) GroupNorms() [][]float64 { return p.norms }

// NewHingeProx reads the matrices' initial values from m and computes the
// layer-balancing scales s_l.
func NewHingeProx(m *graph.Model, mats []HingeMatrix, opts HingeOptions) (*HingeProx, error) {
	opts = opts.withDefaults()
	if !(opts.Lambda >= 0) || opts.Regularizer != solvers.HingeL21 && opts.Regularizer != solvers.HingeL21Half {
		return nil, badOptions(fmt.Errorf("hinge: λ %g must be ≥ 0 and the regularizer ℓ2,1 or ℓ2,1/2", opts.Lambda))
	}
	if opts.Anneal > 0 && !(opts.AnnealLow > 0 && opts.AnnealLow <= opts.AnnealHigh && opts.AnnealHigh <= 1) {
		return nil, badOptions(fmt.Errorf("hinge: annealing thresholds %g, %g must satisfy 0 < low ≤ high ≤ 1", opts.AnnealLow, opts.AnnealHigh))
	}
	init := map[string][]float32{}
	dims := map[string][]int64{}
	for _, v := range m.Graph.Initializers {
		if v.Const != nil && v.Const.DType == graph.Float32 {
			data, err := v.Const.Float32s()
			if err != nil {
				return nil, err
			}
			init[v.Name], dims[v.Name] = data, v.Const.Dims
		}
	}
	p := &HingeProx{mats: mats, opts: opts, last: map[string][]float32{}, LambdaEff: opts.Lambda}
	for _, a := range mats {
		d, ok := dims[a.Weight]
		if !ok || len(d) < 2 {
			return nil, fmt.Errorf("hinge: no float32 matrix initializer %q", a.Weight)
		}
		n, k := int(d[0]), int(d[1])
		if a.Bias != "" && len(init[a.Bias]) != n {
			return nil, fmt.Errorf("hinge: bias %q of %q is not %d float32 values", a.Bias, a.Weight, n)
		}
		p.shapes = append(p.shapes, [2]int{n, k})
	}
	for i, a := range mats {
		norms := p.groupNorms(i, init[a.Weight], init[a.Bias])
		s := 1.0
		if !opts.NoLayerBalancing {
			s = mean(norms)
			if !(s > 0) {
				s = 1 // an all-zero matrix: nothing to balance
			}
		}
		p.scales = append(p.scales, s)
	}
	p.penalty0 = p.penalty(init)
	p.Penalty = p.penalty0
	return p, nil
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// Scales are the layer-balancing scales s_l, in matrix order.
func (p *HingeProx) Scales() []float64 { return slices.Clone(p.scales) }

// groupNorms is the ℓ2 norm of each group of matrix i (bias included in
// column groups).
func (p *HingeProx) groupNorms(i int, w, bias []float32) []float64 {
	n, k := p.shapes[i][0], p.shapes[i][1]
	if p.mats[i].Groups == solvers.HingeRows {
		out := make([]float64, k)
		for j := 0; j < n; j++ {
			for r := 0; r < k; r++ {
				v := float64(w[j*k+r])
				out[r] += v * v
			}
		}
		for r := range out {
			out[r] = math.Sqrt(out[r])
		}
		return out
	}
	out := make([]float64, n)
	for j := 0; j < n; j++ {
		s := 0.0
		for _, v := range w[j*k : (j+1)*k] {
			s += float64(v) * float64(v)
		}
		if bias != nil {
			s += float64(bias[j]) * float64(bias[j])
		}
		out[j] = math.Sqrt(s)
	}
	return out
}

// penalty is Σ_l Σ_g ‖a_g‖/s_l; it also records the norms.
func (p *HingeProx) penalty(values map[string][]float32) float64 {
	total := 0.0
	p.norms = make([][]float64, len(p.mats))
	for i, a := range p.mats {
		p.norms[i] = p.groupNorms(i, values[a.Weight], values[a.Bias])
		for _, v := range p.norms[i] {
			total += v / p.scales[i]
		}
	}
	return total
}

// lambdaEff anneals λ by the current penalty (A.10).
func (p *HingeProx) lambdaEff() float64 {
	o := p.opts
	if o.Anneal <= 0 || p.penalty0 == 0 {
		return o.Lambda
	}
	switch {
	case p.Penalty > o.AnnealHigh*p.penalty0:
		return o.Lambda
	case p.Penalty > o.AnnealLow*p.penalty0:
		return o.Lambda / o.Anneal
	}
	return o.Lambda / (o.Anneal * o.Anneal)
}

// AfterStep shrinks every group of every A by its proximal map, in place.
func (p *HingeProx) AfterStep(step int, params []Param, lr float64) error {
	byName := map[string][]float32{}
	for _, q := range params {
		byName[q.Name] = q.Value
	}
	p.LambdaEff = p.lambdaEff()
	for i, a := range p.mats {
		w, ok := byName[a.Weight]
		if !ok {
			return fmt.Errorf("hinge: matrix %s is not being trained", a.Weight)
		}
		bias := byName[a.Bias]
		if a.Bias != "" && bias == nil {
			return fmt.Errorf("hinge: bias %s is not being trained", a.Bias)
		}
		tau := lr * p.LambdaEff * p.scales[i]
		n, k := p.shapes[i][0], p.shapes[i][1]
		for g, norm := range p.groupNorms(i, w, bias) {
			scale := float32(solvers.HingeProxScale(norm, tau, p.opts.Regularizer))
			if scale == 1 {
				continue
			}
			if a.Groups == solvers.HingeRows {
				for j := 0; j < n; j++ {
					w[j*k+g] *= scale
				}
				continue
			}
			for r := 0; r < k; r++ {
				w[g*k+r] *= scale
			}
			if bias != nil {
				bias[g] *= scale
			}
		}
	}
	for _, q := range params {
		p.last[q.Name] = append(p.last[q.Name][:0], q.Value...)
	}
	p.Penalty = p.penalty(byName)
	p.Steps++
	return nil
}

// HingeSearch runs Hinge's search stage on student, a model with the
// matrices attached (prox made by NewHingeProx from it): proximal-gradient training of the matrices (and their
// biases: Train "factors" unless opts says otherwise) by distillation from
// teacher. Unlike Run, the student keeps the weights of the last step, not
// the best-scoring ones: the search wants the sparsest matrices, and the
// fine-tuning after compression restores the accuracy. opts.AfterStep, if
// set, runs after the proximal step.
func HingeSearch(ctx context.Context, student, teacher *graph.Model, train, test *dataset.Dataset, opts Options,
	prox *HingeProx) (*Result, error) {
	if opts.Train == "" {
		opts.Train = "factors"
	}
	then := opts.AfterStep
	opts.AfterStep = func(step int, params []Param, lr float64) error {
		if err := prox.AfterStep(step, params, lr); err != nil {
			return err
		}
		if then != nil {
			return then(step, params, lr)
		}
		return nil
	}
	res, err := Run(ctx, student, teacher, train, test, opts)
	if err != nil {
		return nil, err
	}
	if prox.Steps > 0 {
		if err := setInitializers(student, prox.last); err != nil {
			return nil, err
		}
	}
	return res, nil
}
