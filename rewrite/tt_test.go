package rewrite

import (
	"errors"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// At full bond ranks the train is exact, for conv and for every usable
// tensorization order of FC layers.
func TestTTFullRankIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "tt", variants: func(l *Layer) map[string]LayerPlan {
		out := map[string]LayerPlan{}
		if (ttMethod{}).Check(l) != nil {
			return out
		}
		for _, form := range networkForms(l) {
			shape, err := networkShape(l, form)
			if err != nil {
				t.Fatal(err)
			}
			name := "conv"
			if form != "" {
				name = "fc-" + form
			}
			out[name] = LayerPlan{Form: form, Ranks: clampTTRanks(shape, uniformRanks(len(shape)-1, 1<<30))}
		}
		return out
	}})
}

func TestTTRatioHonoured(t *testing.T) { checkRatioHonoured(t, "tt") }

func TestTTDeterministic(t *testing.T) {
	checkDeterministic(t, "tt", Target{Ratio: 0.3})
	checkDeterministic(t, "tt", Target{Rank: 4})
}

// The reported weight error is the δ-truncation's: within ε = √(1−τ) of
// the weight, and never growing as the rank grows.
func TestTTErrorBoundsAndMonotone(t *testing.T) {
	for _, name := range []string{"lenet5", "mlp"} {
		for _, l := range FindLayers(mustCase(t, name).Build(2).Graph) {
			if (ttMethod{}).Check(l) != nil {
				continue
			}
			for _, tau := range []float64{0.5, 0.9, 0.99} {
				p, err := ttMethod{}.Plan(l, Target{Energy: tau})
				if err != nil {
					t.Fatal(err)
				}
				tf, err := factorTT(l, p.Form, p.Ranks, 0)
				if err != nil {
					t.Fatal(err)
				}
				if eps, _ := energyEpsilon(tau); tf.relErr > eps+1e-12 {
					t.Errorf("%s energy %g: error %g > ε %g", l.Node.Name, tau, tf.relErr, eps)
				}
			}
			prev := 2.0
			for r := 1; r <= 8; r++ {
				p, err := ttMethod{}.Plan(l, Target{Rank: r})
				if err != nil {
					t.Fatal(err)
				}
				shape, _ := networkShape(l, networkForms(l)[0])
				ranks := clampTTRanks(shape, uniformRanks(len(shape)-1, r))
				tf, err := factorTT(l, networkForms(l)[0], ranks, 0)
				if err != nil {
					t.Fatal(err)
				}
				if tf.relErr > prev+1e-12 {
					t.Errorf("%s rank %d: error %g grew from %g", l.Node.Name, r, tf.relErr, prev)
				}
				prev = tf.relErr
				_ = p
			}
		}
	}
}

// The error the rewrite reports is the error of the weight the new graph
// realises: rebuild the weight from the emitted cores and compare.
func TestTTReportedErrorMatchesCores(t *testing.T) {
	m := testmodels.MLP(4)
	l := FindLayers(m.Graph)[0]
	shape, _ := networkShape(l, "d2")
	ranks := clampTTRanks(shape, uniformRanks(1, 3))
	tf, err := factorTT(l, "d2", ranks, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := networkTensors(l, "d2")
	var tt solvers.TT
	if err := tt.Factorize(x[0], solvers.TTOptions{MaxRanks: ranks}); err != nil {
		t.Fatal(err)
	}
	got, err := solvers.RelativeError(x[0], tt.Reconstruct())
	if err != nil {
		t.Fatal(err)
	}
	if d := got - tf.relErr; d > 1e-9 || d < -1e-9 {
		t.Fatalf("reported error %g, reconstruction error %g", tf.relErr, got)
	}
}

// checkRefusal names a layer the method cannot take: a UsageError when named,
// a skip with the reason otherwise.
func checkRefusal(t *testing.T, method string, m func() *graph.Model, layer, reason string) {
	t.Helper()
	_, err := Compress(m(), Options{Method: method, Target: Target{Ratio: 0.5}, Layers: []string{layer}})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), layer) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("%s on %s: want a UsageError naming it with %q, got %v", method, layer, reason, err)
	}
	rep, err := Compress(m(), Options{Method: method, Target: Target{Ratio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Layers {
		if l.Layer == layer {
			if !strings.Contains(l.Skipped, reason) {
				t.Fatalf("%s: skipped %q, want the reason %q", layer, l.Skipped, reason)
			}
			return
		}
	}
	t.Fatalf("%s not in the report", layer)
}

// primeFC is an MLP-like model whose single Gemm maps 12 features to 7.
func primeFC() *graph.Model {
	m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Domain: "", Version: 13}}, Graph: &graph.Graph{Name: "prime"}}
	b := graph.NewBuilder(m.Graph)
	x := b.Input("input", graph.Float32, graph.Shape{{Param: "N"}, {Value: 12}})
	data := make([]float32, 7*12)
	for i := range data {
		data[i] = float32(i%5) - 2
	}
	w := b.Const("fc.weight", graph.NewFloat32("", []int64{7, 12}, data))
	y := b.Op("Gemm", "fc", []*graph.Value{x, w}, graph.IntAttr("transB", 1))
	b.Output(y)
	return m
}

func TestTTRefusesWhatItCannotFactor(t *testing.T) {
	checkRefusal(t, "tt", primeFC, "fc", "does not factor")
	var dw string
	for _, l := range FindLayers(testmodels.MobileNetV2(1).Graph) {
		if l.IsDepthwise() {
			dw = l.Node.Name
			break
		}
	}
	checkRefusal(t, "tt", func() *graph.Model { return testmodels.MobileNetV2(1) }, dw, "depthwise")
}

// Plans with bond ranks the train cannot use, or of the wrong count, are
// errors naming the layer.
func TestTTRejectsImpossibleRanks(t *testing.T) {
	for _, ranks := range [][]int{{2}, {7, 1, 1}, {0, 1, 1}, {1, 1, 1, 1}} {
		m := mustCase(t, "lenet5").Build(1)
		_, err := Compress(m, Options{Plan: []LayerPlan{{Layer: "conv2", Method: "tt", Ranks: ranks}}})
		if err == nil || !strings.Contains(err.Error(), "conv2") {
			t.Errorf("ranks %v: want an error naming conv2, got %v", ranks, err)
		}
	}
}
