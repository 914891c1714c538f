package rewrite

import (
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// At ranks where TR-SVD keeps everything — with a real ring, r_0 > 1 where
// the first unfolding allows — the ring is the layer's own linear map.
func TestTRFullRankIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "tr", variants: func(l *Layer) map[string]LayerPlan {
		out := map[string]LayerPlan{}
		if (trMethod{}).Check(l) != nil {
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
			out[name] = LayerPlan{Form: form, Ranks: trExactRanks(shape)}
		}
		return out
	}})
}

func TestTRRatioHonoured(t *testing.T) { checkRatioHonoured(t, "tr") }

func TestTRDeterministic(t *testing.T) { checkDeterministic(t, "tr", Target{Rank: 4}) }

// The exactness variants must really close a ring: r_0 > 1, carried as a
// conv group in the middle convs and as an activation axis for FC.
func TestTRExactRanksCloseARing(t *testing.T) {
	m := mustCase(t, "lenet5").Build(1)
	var plan []LayerPlan
	for _, l := range FindLayers(m.Graph) {
		if l.Node.Name != "conv2" && l.Node.Name != "fc1" {
			continue
		}
		form := networkForms(l)[0]
		shape, _ := networkShape(l, form)
		ranks := trExactRanks(shape)
		if ranks[0] < 2 {
			t.Fatalf("%s %v: exact ranks %v have no ring", l.Node.Name, shape, ranks)
		}
		plan = append(plan, LayerPlan{Layer: l.Node.Name, Method: "tr", Form: form, Ranks: ranks})
	}
	rep, err := Compress(m, Options{Plan: plan, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rewritten()) != 2 {
		t.Fatalf("rewrote %d layers, want 2", len(rep.Rewritten()))
	}
	ringGroups := false
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Conv" && n.AttrInt("group", 1) == int64(plan[0].Ranks[0]) {
			ringGroups = true
		}
	}
	if !ringGroups {
		t.Errorf("no conv carries the ring rank %d as its group", plan[0].Ranks[0])
	}
	for _, l := range rep.Rewritten() {
		if l.WeightError > 1e-12 {
			t.Errorf("%s: weight error %g at exact ranks", l.Layer, l.WeightError)
		}
	}
}

// With an energy target τ the ring's weight error stays within √(1−τ).
func TestTREnergyBound(t *testing.T) {
	for _, name := range []string{"lenet5", "edge_conv_groups"} {
		for _, l := range FindLayers(mustCase(t, name).Build(2).Graph) {
			if (trMethod{}).Check(l) != nil {
				continue
			}
			for _, tau := range []float64{0.5, 0.9, 0.99} {
				p, err := trMethod{}.Plan(l, Target{Energy: tau})
				if err != nil {
					t.Fatal(err)
				}
				tf, err := factorTR(l, p.Form, p.Ranks, 0, true)
				if err != nil {
					t.Fatal(err)
				}
				if eps, _ := energyEpsilon(tau); tf.relErr > eps+1e-9 {
					t.Errorf("%s %s energy %g ranks %v: error %g > ε %g", name, l.Node.Name, tau, p.Ranks, tf.relErr, eps)
				}
			}
		}
	}
}

func TestTRRefusesWhatItCannotFactor(t *testing.T) {
	checkRefusal(t, "tr", primeFC, "fc", "does not factor")
	checkRefusal(t, "tr", func() *graph.Model { return testmodels.MobileNetV2(1) }, "block1.depthwise", "depthwise")
}

// Plans with ranks the ring cannot use, or of the wrong count, are errors.
func TestTRRejectsImpossibleRanks(t *testing.T) {
	for _, ranks := range [][]int{{2, 3}, {7, 1, 1, 1}, {0, 1, 1, 1}} {
		m := mustCase(t, "lenet5").Build(1)
		_, err := Compress(m, Options{Plan: []LayerPlan{{Layer: "conv2", Method: "tr", Ranks: ranks}}})
		if err == nil || !strings.Contains(err.Error(), "conv2") {
			t.Errorf("ranks %v: want an error naming conv2, got %v", ranks, err)
		}
	}
}
