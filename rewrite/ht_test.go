package rewrite

import (
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// At the T and S unfoldings' ranks the HT (spatial side exact) is the
// layer's own linear map.
func TestHTFullRankIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "ht", variants: func(l *Layer) map[string]LayerPlan {
		if (htMethod{}).Check(l) != nil {
			return nil
		}
		return map[string]LayerPlan{"conv": {Ranks: clampHTRanks(htShape(l), []int{1 << 30, 1 << 30})}}
	}})
}

func TestHTRatioHonoured(t *testing.T) { checkRatioHonoured(t, "ht") }

func TestHTDeterministic(t *testing.T) { checkDeterministic(t, "ht", Target{Ratio: 0.3}) }

// The planned ratio keeps the Tucker-2-shaped parameter count, per group,
// within the budget, and one more leaf rank would break it or be useless.
func TestHTPlanFitsBudget(t *testing.T) {
	planned := 0
	for _, name := range []string{"resnet_basic", "edge_conv_groups", "edge_conv1d"} {
		for _, l := range FindLayers(mustCase(t, name).Build(1).Graph) {
			if (htMethod{}).Check(l) != nil {
				continue
			}
			p, err := htMethod{}.Plan(l, Target{Ratio: 0.4})
			if err != nil {
				t.Logf("%s %s: %v", name, l.Node.Name, err)
				continue
			}
			shape := htShape(l)
			got, err := solvers.FactorParams(solvers.Tucker2Conv, shape, p.Ranks)
			if err != nil {
				t.Fatal(err)
			}
			if budget := ratioBudget(l, 0.4) / float64(l.Groups()); float64(got) > budget {
				t.Errorf("%s %s ranks %v: %d params per group > budget %.0f", name, l.Node.Name, p.Ranks, got, budget)
			}
			planned++
		}
	}
	if planned < 5 {
		t.Fatalf("only %d layers planned", planned)
	}
}

// With an energy target τ the weight error stays within √(1−τ), and the
// reported error shrinks as the leaf ranks grow.
func TestHTErrorBoundAndMonotone(t *testing.T) {
	for _, name := range []string{"lenet5", "edge_conv_groups", "edge_conv1d"} {
		for _, l := range FindLayers(mustCase(t, name).Build(2).Graph) {
			if (htMethod{}).Check(l) != nil {
				continue
			}
			for _, tau := range []float64{0.5, 0.9, 0.99} {
				p, err := htMethod{}.Plan(l, Target{Energy: tau})
				if err != nil {
					t.Fatal(err)
				}
				hf, err := factorHT(l, p.Ranks, 0)
				if err != nil {
					t.Fatal(err)
				}
				if eps, _ := energyEpsilon(tau); hf.relErr > eps+1e-9 {
					t.Errorf("%s %s energy %g ranks %v: error %g > ε %g", name, l.Node.Name, tau, p.Ranks, hf.relErr, eps)
				}
			}
			prev := 2.0
			full := clampHTRanks(htShape(l), []int{1 << 30, 1 << 30})
			for r := 1; r <= max(full[0], full[1]); r++ {
				hf, err := factorHT(l, clampHTRanks(htShape(l), []int{r, r}), 0)
				if err != nil {
					t.Fatal(err)
				}
				if hf.relErr > prev+1e-12 {
					t.Errorf("%s %s rank %d: error %g grew from %g", name, l.Node.Name, r, hf.relErr, prev)
				}
				prev = hf.relErr
			}
			if prev > 1e-12 {
				t.Errorf("%s %s: error %g at full ranks", name, l.Node.Name, prev)
			}
		}
	}
}

func TestHTRefusesFCAndDepthwise(t *testing.T) {
	checkRefusal(t, "ht", func() *graph.Model { return testmodels.MLP(1) }, "fc1", "transfer tensors")
	checkRefusal(t, "ht", func() *graph.Model { return testmodels.MobileNetV2(1) }, "block1.depthwise", "depthwise")
}
