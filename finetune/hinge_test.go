package finetune

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// hingeModel holds two matrices as initializers: a column-grouped Â of
// 6×4 with a bias and a row-grouped Â of 5×3 without, at different scales.
func hingeModel(seed uint64) (*graph.Model, []HingeMatrix) {
	rng := rand.New(rand.NewPCG(seed, 1))
	draw := func(n int, scale float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * scale)
		}
		return out
	}
	g := &graph.Graph{}
	for _, t := range []*graph.Tensor{
		graph.NewFloat32("a1", []int64{6, 4, 1, 1}, draw(24, 1)),
		graph.NewFloat32("b1", []int64{6}, draw(6, 0.5)),
		graph.NewFloat32("a2", []int64{5, 3, 1, 1}, draw(15, 10)),
	} {
		g.Initializers = append(g.Initializers, &graph.Value{Name: t.Name, Const: t})
	}
	return &graph.Model{Graph: g}, []HingeMatrix{
		{Weight: "a1", Bias: "b1", Groups: solvers.HingeColumns},
		{Weight: "a2", Groups: solvers.HingeRows},
	}
}

func hingeParams(m *graph.Model) []Param {
	var out []Param
	for _, v := range m.Graph.Initializers {
		data, _ := v.Const.Float32s()
		out = append(out, Param{Name: v.Name, Value: data, Grad: make([]float32, len(data))})
	}
	return out
}

// hingeGroupVectors lists each group's entries (column groups with their
// bias entry).
func hingeGroupVectors(p []Param, m HingeMatrix, n, k int) [][]float64 {
	byName := map[string][]float32{}
	for _, q := range p {
		byName[q.Name] = q.Value
	}
	w, b := byName[m.Weight], byName[m.Bias]
	var out [][]float64
	if m.Groups == solvers.HingeRows {
		for r := 0; r < k; r++ {
			var g []float64
			for j := 0; j < n; j++ {
				g = append(g, float64(w[j*k+r]))
			}
			out = append(out, g)
		}
		return out
	}
	for j := 0; j < n; j++ {
		var g []float64
		for _, v := range w[j*k : (j+1)*k] {
			g = append(g, float64(v))
		}
		if b != nil {
			g = append(g, float64(b[j]))
		}
		out = append(out, g)
	}
	return out
}

func norm2(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// C.1 invariants 3 and 12 on the training step itself: with layer
// balancing each layer's threshold is lr·λ·s_l with s_l its mean initial
// group norm; groups at or below it become exactly zero, the others shrink
// by exactly τ_l and keep their direction; λ = 0 changes nothing.
func TestHingeProxStepBalancesLayers(t *testing.T) {
	m, mats := hingeModel(3)
	dims := [][2]int{{6, 4}, {5, 3}}
	lambda, lr := 2.0, 0.5
	prox, err := NewHingeProx(m, mats, HingeOptions{Lambda: lambda, Anneal: -1})
	if err != nil {
		t.Fatal(err)
	}
	before := hingeParams(m)
	scales := prox.Scales()
	for i, a := range mats {
		norms := []float64{}
		for _, g := range hingeGroupVectors(before, a, dims[i][0], dims[i][1]) {
			norms = append(norms, norm2(g))
		}
		if s := mean(norms); math.Abs(scales[i]-s) > 1e-6*s {
			t.Errorf("matrix %d: scale %g, mean group norm %g", i, scales[i], s)
		}
	}
	if r := scales[1] / scales[0]; r < 5 {
		t.Fatalf("test matrices too alike in scale (ratio %g)", r)
	}
	after := hingeParams(m)
	if err := prox.AfterStep(0, after, lr); err != nil {
		t.Fatal(err)
	}
	zeros, shrunk := 0, 0
	for i, a := range mats {
		tau := lr * lambda * scales[i]
		gb := hingeGroupVectors(before, a, dims[i][0], dims[i][1])
		ga := hingeGroupVectors(after, a, dims[i][0], dims[i][1])
		for g := range gb {
			nb, na := norm2(gb[g]), norm2(ga[g])
			if nb <= tau {
				zeros++
				for _, v := range ga[g] {
					if v != 0 {
						t.Fatalf("matrix %d group %d: norm %g ≤ τ %g but not zeroed", i, g, nb, tau)
					}
				}
				continue
			}
			shrunk++
			if math.Abs((nb-na)-tau) > 1e-5*nb {
				t.Errorf("matrix %d group %d: shrank by %g, τ = %g", i, g, nb-na, tau)
			}
			dot := 0.0
			for e := range gb[g] {
				dot += gb[g][e] * ga[g][e]
			}
			if c := dot / (nb * na); math.Abs(c-1) > 1e-6 {
				t.Errorf("matrix %d group %d: direction changed (cos %g)", i, g, c)
			}
		}
	}
	if zeros == 0 || shrunk == 0 {
		t.Fatalf("test exercises %d zeroed and %d shrunk groups; want both", zeros, shrunk)
	}
	// Zero groups stay zero on the next step.
	again := hingeParams(m)
	for i := range again {
		copy(again[i].Value, after[i].Value)
	}
	if err := prox.AfterStep(1, again, lr); err != nil {
		t.Fatal(err)
	}
	for i, a := range mats {
		for g, v := range hingeGroupVectors(after, a, dims[i][0], dims[i][1]) {
			if norm2(v) == 0 && norm2(hingeGroupVectors(again, a, dims[i][0], dims[i][1])[g]) != 0 {
				t.Errorf("matrix %d group %d: a zero group came back", i, g)
			}
		}
	}

	m0, _ := hingeModel(3)
	p0, err := NewHingeProx(m0, mats, HingeOptions{Lambda: 0, Anneal: -1})
	if err != nil {
		t.Fatal(err)
	}
	p0.opts.Lambda = 0 // withDefaults turns 0 into the default; τ = 0 is the identity
	id := hingeParams(m0)
	if err := p0.AfterStep(0, id, lr); err != nil {
		t.Fatal(err)
	}
	for i, q := range id {
		for e, v := range q.Value {
			if v != before[i].Value[e] {
				t.Fatalf("λ = 0 changed %s[%d]", q.Name, e)
			}
		}
	}
}

// A.10: λ_eff halves once the penalty falls below AnnealHigh·P₀ and
// quarters below AnnealLow·P₀.
func TestHingeProxAnneals(t *testing.T) {
	m, mats := hingeModel(4)
	prox, err := NewHingeProx(m, mats, HingeOptions{Lambda: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	p := hingeParams(m)
	seen := map[float64]bool{}
	for step := 0; step < 200 && prox.Penalty > 0; step++ {
		if err := prox.AfterStep(step, p, 1); err != nil {
			t.Fatal(err)
		}
		frac := prox.Penalty / prox.penalty0
		seen[prox.LambdaEff] = true
		next := prox.lambdaEff()
		switch {
		case frac > 0.8 && next != 0.02, frac <= 0.8 && frac > 0.6 && next != 0.01, frac <= 0.6 && next != 0.005:
			t.Fatalf("step %d: penalty at %.3f of the start, λ_eff %g", step, frac, next)
		}
	}
	if !seen[0.02] || !seen[0.01] || !seen[0.005] {
		t.Errorf("λ_eff took %v, want all of 0.02, 0.01, 0.005", seen)
	}
}

func TestHingeProxRejectsBadInput(t *testing.T) {
	m, mats := hingeModel(5)
	if _, err := NewHingeProx(m, []HingeMatrix{{Weight: "missing"}}, HingeOptions{}); err == nil {
		t.Error("a missing matrix accepted")
	}
	if _, err := NewHingeProx(m, mats, HingeOptions{Lambda: -1}); err == nil {
		t.Error("negative λ accepted")
	}
	prox, err := NewHingeProx(m, mats, HingeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := prox.AfterStep(0, hingeParams(m)[:1], 0.1); err == nil {
		t.Error("a matrix that is not trained went unnoticed")
	}
}
