package rewrite

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/solvers"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// At full ranks every Tucker form is the same linear map as the layer.
func TestTuckerFullRankIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "tucker", variants: func(l *Layer) map[string]LayerPlan {
		out := map[string]LayerPlan{}
		if (tuckerMethod{}).Check(l) != nil {
			return out
		}
		b := blockShape(l)
		for _, f := range tuckerForms {
			out[f] = LayerPlan{Form: f, Ranks: b.fullRanks(f)}
		}
		return out
	}})
}

// ratioModels are the models whose selected layers must keep at most the
// asked share of parameters: the lenet5 and resnet_basic test models and the
// bundled Fashion-MNIST LeNet.
func ratioModels(t *testing.T) map[string]func() *graph.Model {
	t.Helper()
	return map[string]func() *graph.Model{
		"lenet5":       func() *graph.Model { return mustCase(t, "lenet5").Build(1) },
		"resnet_basic": func() *graph.Model { return mustCase(t, "resnet_basic").Build(1) },
		"fmnist/lenet5.onnx": func() *graph.Model {
			m, err := onnx.Decode(testmodels.BundledLeNetONNX(), "")
			if err != nil {
				t.Fatal(err)
			}
			return m
		},
	}
}

// checkRatioHonoured compresses each ratio model at ratio 0.25 and requires
// the selected layers (rewritten or left whole by the global budget) to keep
// 0.25 ± 0.02 of their parameters: at most the upper bound, and not
// wastefully below it.
func checkRatioHonoured(t *testing.T, method string) {
	for _, name := range []string{"lenet5", "resnet_basic", "fmnist/lenet5.onnx"} {
		m := ratioModels(t)[name]()
		rep, err := Compress(m, Options{Method: method, Target: Target{Ratio: 0.25}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := graph.Verify(m.Graph); err != nil {
			t.Fatal(err)
		}
		var before, after int64
		for _, l := range rep.Layers {
			if l.Skipped == "" || l.Skipped == keptByBudget {
				before += l.ParamsBefore
				after += l.ParamsAfter
			}
		}
		if len(rep.Rewritten()) == 0 {
			t.Fatalf("%s: nothing rewritten; report %+v", name, rep.Layers)
		}
		if before != rep.SelectedParamsBefore || after != rep.SelectedParamsAfter {
			t.Errorf("%s: report totals %d → %d, rows sum to %d → %d", name, rep.SelectedParamsBefore, rep.SelectedParamsAfter, before, after)
		}
		got := float64(after) / float64(before)
		if got > 0.25+0.02 {
			t.Errorf("%s: kept %.3f of the selected layers' params, want ≤ 0.25 (±0.02)", name, got)
		}
		if got < 0.25-0.10 {
			t.Errorf("%s: kept only %.3f of the selected layers' params: planning wastes the budget", name, got)
		}
		t.Logf("%s: %s at ratio 0.25 keeps %d of %d params (%.3f), %d layers rewritten", name, method, after, before, got, len(rep.Rewritten()))
	}
}

func TestTuckerRatioHonoured(t *testing.T) { checkRatioHonoured(t, "tucker") }

// checkDeterministic compresses a model twice with the same seed and requires
// byte-identical encodings.
func checkDeterministic(t *testing.T, method string, target Target) {
	var enc [2][]byte
	for i := range enc {
		m := mustCase(t, "resnet_basic").Build(3)
		rep, err := Compress(m, Options{Method: method, Target: target, Seed: 11})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rewritten()) == 0 {
			t.Fatalf("%s rewrote nothing", method)
		}
		if enc[i], err = onnx.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(enc[0], enc[1]) {
		t.Fatalf("%s: two runs with the same seed encode differently", method)
	}
}

func TestTuckerDeterministic(t *testing.T) { checkDeterministic(t, "tucker", Target{Ratio: 0.3}) }

// checkRefusals: a depthwise conv and a Gemm are skipped with a reason when
// selected by a pattern, and refused with a UsageError naming them when
// named explicitly.
func checkRefusals(t *testing.T, method string) {
	m := testmodels.MobileNetV2(1)
	var dw, fc string
	for _, l := range FindLayers(m.Graph) {
		if l.IsDepthwise() && dw == "" {
			dw = l.Node.Name
		}
		if l.Kind != ConvLayer && fc == "" {
			fc = l.Node.Name
		}
	}
	if dw == "" || fc == "" {
		t.Fatalf("MobileNetV2 test model lacks a depthwise conv (%q) or a Gemm/MatMul (%q)", dw, fc)
	}
	for _, name := range []string{dw, fc} {
		_, err := Compress(testmodels.MobileNetV2(1), Options{Method: method, Target: Target{Ratio: 0.5}, Layers: []string{name}})
		var usage *UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s on %s: want a UsageError naming it, got %v", method, name, err)
		}
	}
	rep, err := Compress(m, Options{Method: method, Target: Target{Ratio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, l := range rep.Layers {
		skipped[l.Layer] = l.Skipped
	}
	if !strings.Contains(skipped[dw], "depthwise") {
		t.Errorf("depthwise %s: skip reason %q", dw, skipped[dw])
	}
	if !strings.Contains(skipped[fc], "svd") {
		t.Errorf("%s: skip reason %q does not point to svd", fc, skipped[fc])
	}
	if len(rep.Rewritten()) == 0 {
		t.Errorf("%s rewrote no conv of MobileNetV2", method)
	}
}

func TestTuckerRefusesDepthwiseAndGemm(t *testing.T) { checkRefusals(t, "tucker") }

// unfoldingTails returns the relative Eckart–Young error of keeping rank r of
// mode's unfolding, pooled over groups as squared tails.
func unfoldingTail(t *testing.T, l *Layer, mode, r int) (tail, all float64) {
	blocks, err := groupTensors(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range blocks {
		u, err := w.Unfold(mode)
		if err != nil {
			t.Fatal(err)
		}
		rows, cols := u.Dims()
		var s solvers.SVD
		if err := s.Factorize(u, min(rows, cols)); err != nil {
			t.Fatal(err)
		}
		for i, v := range s.AllValues() {
			all += v * v
			if i >= r {
				tail += v * v
			}
		}
	}
	return tail, all
}

// The realised weight error sits where the maths puts it: Tucker-1 is exactly
// the Eckart–Young tail of its unfolding; Tucker-2 is at least the larger of
// the two unfoldings' tails and at most their root sum of squares (the HOSVD
// bound, which HOOI only improves).
func TestTuckerErrorBounds(t *testing.T) {
	m := mustCase(t, "resnet_basic").Build(2)
	var l *Layer
	for _, c := range FindLayers(m.Graph) {
		if c.Kind == ConvLayer && c.Weight.Dims[1] >= 16 && c.Conv.Kernel[0] == 3 {
			l = c
			break
		}
	}
	if l == nil {
		t.Fatal("resnet_basic has no 3×3 conv with ≥16 input channels")
	}
	b := blockShape(l)
	rOut, rIn := b.t/3, b.s/2
	tail0, all := unfoldingTail(t, l, 0, rOut)
	tail1, _ := unfoldingTail(t, l, 1, rIn)
	for _, c := range []struct {
		form     string
		ranks    []int
		low, top float64
	}{
		{tucker1Out, []int{rOut}, math.Sqrt(tail0 / all), math.Sqrt(tail0 / all)},
		{tucker1In, []int{rIn}, math.Sqrt(tail1 / all), math.Sqrt(tail1 / all)},
		{tucker2, []int{rOut, rIn}, math.Sqrt(max(tail0, tail1) / all), math.Sqrt((tail0 + tail1) / all)},
	} {
		rep, err := Compress(mustCase(t, "resnet_basic").Build(2), Options{Plan: []LayerPlan{{Layer: l.Node.Name, Method: "tucker", Form: c.form, Ranks: c.ranks}}})
		if err != nil {
			t.Fatal(err)
		}
		got := rep.Rewritten()[0].WeightError
		if got < c.low-1e-9 || got > c.top+1e-9 {
			t.Errorf("%s %v: weight error %.6g outside [%.6g, %.6g]", c.form, c.ranks, got, c.low, c.top)
		}
		if c.form == tucker2 && !(got < c.top-1e-6) {
			t.Errorf("tucker2: HOOI error %.6g does not improve on the HOSVD bound %.6g", got, c.top)
		}
	}
	// HOOI sweeps never raise the error, and stop at a fixed point.
	tf, err := factorTucker(l, tucker2, []int{rOut, rIn})
	if err != nil {
		t.Fatal(err)
	}
	errs := tf.t2[0].Errors()
	for i := 1; i < len(errs); i++ {
		if errs[i] > errs[i-1]+1e-12 {
			t.Errorf("HOOI sweep %d raised the error %.9g → %.9g", i, errs[i-1], errs[i])
		}
	}
}

// A thin input side is not worth factoring: the RGB / grey first conv takes
// a Tucker-1 on its output side at a fixed rank, a wide conv takes Tucker-2.
func TestTuckerPlanPicksFormForShape(t *testing.T) {
	layers := FindLayers(mustCase(t, "lenet5").Build(1).Graph)
	first := layers[0]
	if first.Kind != ConvLayer || first.Weight.Dims[1] != 1 {
		t.Fatalf("lenet5's first layer is not a 1-channel conv: %v", first.Weight.Dims)
	}
	p, err := tuckerMethod{}.Plan(first, Target{Rank: 4})
	if err != nil {
		t.Fatal(err)
	}
	if p.Form != tucker1Out || len(p.Ranks) != 1 || p.Ranks[0] != 4 {
		t.Errorf("first conv at rank 4: plan %+v, want tucker1-out [4]", p)
	}
	var wide *Layer
	for _, l := range FindLayers(mustCase(t, "resnet_basic").Build(1).Graph) {
		if l.Kind == ConvLayer && l.Weight.Dims[1] >= 32 && l.Conv.Kernel[0] == 3 {
			wide = l
		}
	}
	if wide == nil {
		t.Fatal("resnet_basic has no 3×3 conv with ≥32 input channels")
	}
	if p, err = (tuckerMethod{}).Plan(wide, Target{Rank: 8}); err != nil {
		t.Fatal(err)
	}
	if p.Form != tucker2 || len(p.Ranks) != 2 || p.Ranks[0] != 8 || p.Ranks[1] != 8 {
		t.Errorf("wide conv at rank 8: plan %+v, want tucker2 [8 8]", p)
	}
}

// A plan asking for more rank than a form can use is an error naming the
// limit, not a silent clamp.
func TestTuckerRejectsImpossibleRanks(t *testing.T) {
	m := testmodels.EdgeConvNoBias(1)
	name := FindLayers(m.Graph)[0].Node.Name
	_, err := Compress(m, Options{Plan: []LayerPlan{{Layer: name, Method: "tucker", Form: tucker2, Ranks: []int{99, 2}}}})
	if err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("want an error about the rank limit, got %v", err)
	}
	_, err = Compress(testmodels.EdgeConvNoBias(1), Options{Plan: []LayerPlan{{Layer: name, Method: "tucker", Form: "tucker3"}}})
	if err == nil || !strings.Contains(err.Error(), "no form") {
		t.Fatalf("want an error about the form, got %v", err)
	}
}

// The HOSVD table gives, for every rank pair, the error the solver's own
// truncated HOSVD reaches at that pair (groups pooled).
func TestTuckerHOSVDTableMatchesSolver(t *testing.T) {
	for _, c := range []struct {
		model string
		conv  int
	}{{"edge_conv_groups", 0}, {"resnet_basic", 1}} {
		l := FindLayers(mustCase(t, c.model).Build(3).Graph)[c.conv]
		h, err := hosvdEnergyOf(l)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := groupTensors(l)
		if err != nil {
			t.Fatal(err)
		}
		b := blockShape(l)
		full := b.fullRanks(tucker2)
		for _, r := range [][]int{{1, 1}, {2, full[1]}, {full[0], 2}, {(full[0] + 1) / 2, (full[1] + 1) / 2}, full} {
			r = b.clampRanks(tucker2, r)
			errs := make([]float64, len(blocks))
			for g, w := range blocks {
				var tk solvers.Tucker2
				if err := tk.Factorize(w, solvers.Tucker2Options{RankOut: r[0], RankIn: r[1], HOSVDOnly: true}); err != nil {
					t.Fatal(err)
				}
				errs[g] = tk.Errors()[0]
			}
			want := pooledError(blocks, errs)
			if got := h.relError(r[0], r[1]); math.Abs(got-want) > 1e-7 {
				t.Errorf("%s ranks %v: table error %.9g, solver HOSVD %.9g", c.model, r, got, want)
			}
		}
	}
}

// Searching rank pairs never does worse than the fixed R_in/R_out = S/T rule
// of lowrank.md §3.11 in the same budget.
func TestTuckerRatioPlanBeatsProportionalRanks(t *testing.T) {
	for name, build := range ratioModels(t) {
		if name == "lenet5" {
			continue
		}
		for _, l := range FindLayers(build().Graph) {
			if (tuckerMethod{}).Check(l) != nil {
				continue
			}
			b := blockShape(l)
			budget := ratioBudget(l, 0.25) / float64(l.Groups())
			var proportional []int
			for r := b.fullRanks(tucker2)[0]; r >= 1 && proportional == nil; r-- {
				rIn := int(math.Round(float64(r) * float64(b.s) / float64(b.t)))
				if ranks := b.clampRanks(tucker2, []int{r, max(rIn, 1)}); float64(b.params(tucker2, ranks)) <= budget {
					proportional = ranks
				}
			}
			if proportional == nil {
				continue
			}
			ref, err := factorTucker(l, tucker2, proportional)
			if err != nil {
				t.Fatal(err)
			}
			p, err := tuckerMethod{}.Plan(l, Target{Ratio: 0.25})
			if err != nil {
				t.Fatal(err)
			}
			got, err := factorTucker(l, p.Form, p.Ranks)
			if err != nil {
				t.Fatal(err)
			}
			if got.relErr > ref.relErr+1e-9 {
				t.Errorf("%s %s: plan %s %v error %.5f, proportional tucker2 %v error %.5f", name, l.Node.Name, p.Form, p.Ranks, got.relErr, proportional, ref.relErr)
			}
			if float64(b.params(p.Form, p.Ranks)) > budget {
				t.Errorf("%s %s: plan %s %v exceeds the budget %.0f", name, l.Node.Name, p.Form, p.Ranks, budget)
			}
		}
	}
}

// An energy target keeps share τ of each factored unfolding's energy, so the
// weight error is at most √(1−τ) per factored side (√(2(1−τ)) for Tucker-2).
func TestTuckerEnergyTarget(t *testing.T) {
	const tau = 0.95
	m := mustCase(t, "resnet_basic").Build(2)
	layers := map[string]*Layer{}
	for _, l := range FindLayers(m.Graph) {
		layers[l.Node.Label()] = l
	}
	rep, err := Compress(m, Options{Method: "tucker", Target: Target{Energy: tau}, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rewritten()) == 0 {
		t.Fatal("nothing rewritten")
	}
	for _, row := range rep.Rewritten() {
		l := layers[row.Layer]
		sides := map[string][]int{tucker2: {0, 1}, tucker1Out: {0}, tucker1In: {1}}[row.Form]
		for i, mode := range sides {
			tail, all := unfoldingTail(t, l, mode, row.Ranks[i])
			if tail > (1-tau)*all*(1+1e-9) {
				t.Errorf("%s %s %v: mode %d keeps %.4f of its energy, want ≥ %g", row.Layer, row.Form, row.Ranks, mode, 1-tail/all, tau)
			}
		}
		if bound := math.Sqrt(float64(len(sides)) * (1 - tau)); row.WeightError > bound+1e-9 {
			t.Errorf("%s %s %v: weight error %.4f above %.4f", row.Layer, row.Form, row.Ranks, row.WeightError, bound)
		}
	}
}

// The global budget's prices are honest: a Tucker-1 candidate's error is the
// one Apply realises, a Tucker-2 candidate's (truncated HOSVD) is never below
// it, and parameters and MACs are the emitted nodes' as the report counts them.
func TestTuckerCandidatesPriceApply(t *testing.T) {
	for _, model := range []string{"edge_conv_groups", "lenet5", "edge_conv_strides"} {
		m := mustCase(t, model).Build(2)
		shapes, err := graph.ConcreteInputShapes(m.Graph, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := graph.InferShapes(m, shapes); err != nil {
			t.Fatal(err)
		}
		l := FindLayers(m.Graph)[0]
		list, err := tuckerMethod{}.Candidates(l)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, c := range list {
			if seen[c.Plan.Form] && i%5 != 0 {
				continue // every form once, then a sample
			}
			seen[c.Plan.Form] = true
			rep, err := Compress(mustCase(t, model).Build(2), Options{Force: true,
				Plan: []LayerPlan{{Layer: l.Node.Name, Method: "tucker", Form: c.Plan.Form, Ranks: c.Plan.Ranks}}})
			if err != nil {
				t.Fatal(err)
			}
			row := rep.Rewritten()[0]
			if row.ParamsAfter != c.Params || row.MACsAfter != c.MACs {
				t.Errorf("%s %s %v: priced %d params / %d MACs, emitted %d / %d", model, c.Plan.Form, c.Plan.Ranks, c.Params, c.MACs, row.ParamsAfter, row.MACsAfter)
			}
			if c.Plan.Form == tucker2 && row.WeightError > c.Err+1e-9 ||
				c.Plan.Form != tucker2 && math.Abs(row.WeightError-c.Err) > 1e-7 {
				t.Errorf("%s %s %v: priced error %.6g, realised %.6g", model, c.Plan.Form, c.Plan.Ranks, c.Err, row.WeightError)
			}
		}
		// Candidates keeps only settings on the params or MACs hull, so a
		// form may be missing (a tucker2 never pays on lenet5's 1-channel
		// input), but not every form.
		if len(seen) == 0 {
			t.Errorf("%s: no candidates", model)
		}
	}
}

// Priced MACs let the global budget keep a MAC target with tucker.
func TestTuckerMACsRatioHonoured(t *testing.T) {
	m := mustCase(t, "resnet_basic").Build(1)
	rep, err := Compress(m, Options{Method: "tucker", Target: Target{MACsRatio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	before, after := rep.SelectedMACsBefore, rep.SelectedMACsAfter
	if len(rep.Rewritten()) == 0 || before == 0 || float64(after) > 0.5*float64(before) {
		t.Fatalf("MACs %d → %d over %d rewritten layers, want ≤ half", before, after, len(rep.Rewritten()))
	}
	if float64(after) < 0.4*float64(before) {
		t.Errorf("MACs %d → %d: the budget is far from spent", before, after)
	}
}

// measureInOurRuntime compresses a copy of orig by plan and returns the worst
// output relative L2 error in this project's runtime.
func measureInOurRuntime(t *testing.T, build func() *graph.Model, plan []LayerPlan, shapes map[string][]int64) float64 {
	t.Helper()
	orig, m := build(), build()
	rep, err := Compress(m, Options{Plan: plan, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	concrete := map[string]graph.Shape{}
	for name, dims := range shapes {
		concrete[name] = graph.KnownShape(dims...)
	}
	probe, err := RandomProbe(orig, concrete, 3)
	if err != nil {
		t.Fatal(err)
	}
	worst, err := MeasureOutputErrors(orig, m, rep, probe, 1)
	if err != nil {
		t.Fatal(err)
	}
	return worst
}

// Exactness holds in this project's runtime too: Tucker-2 at full ranks on
// every test model with a conv it can take.
func TestTuckerFullRankIsExactInOurRuntime(t *testing.T) {
	checked := 0
	for _, c := range testmodels.All() {
		var plan []LayerPlan
		for _, l := range FindLayers(c.Build(7).Graph) {
			if (tuckerMethod{}).Check(l) == nil {
				plan = append(plan, LayerPlan{Layer: l.Node.Name, Method: "tucker", Form: tucker2, Ranks: blockShape(l).fullRanks(tucker2)})
			}
		}
		if plan == nil {
			continue
		}
		build := func() *graph.Model { return c.Build(7) }
		if e := measureInOurRuntime(t, build, plan, c.InputShapes); !(e <= 1e-5) {
			t.Errorf("%s: output relative L2 %.3g > 1e-5", c.Name, e)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d test models had a conv for tucker", checked)
	}
}
