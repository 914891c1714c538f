package rewrite

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// At full rank every SVD form is the same linear map as the layer.
func TestSVDFullRankIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "svd", variants: func(l *Layer) map[string]LayerPlan {
		out := map[string]LayerPlan{}
		if (svdMethod{}).Check(l) != nil {
			return out
		}
		for _, f := range svdForms(l) {
			out[f.name] = LayerPlan{Form: f.name, Ranks: []int{f.fullRank()}}
		}
		return out
	}})
}

func TestSVDRatioHonoured(t *testing.T) {
	for _, c := range []testmodels.Case{mustCase(t, "lenet5"), mustCase(t, "resnet_basic"), mustCase(t, "mlp")} {
		m := c.Build(1)
		rep, err := Compress(m, Options{Method: "svd", Target: Target{Ratio: 0.25}})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if err := graph.Verify(m.Graph); err != nil {
			t.Fatal(err)
		}
		var before, after int64
		for _, l := range rep.Layers {
			before += l.ParamsBefore
			after += l.ParamsAfter
		}
		if before == 0 {
			t.Fatalf("%s: nothing selected", c.Name)
		}
		got := float64(after) / float64(before)
		if got > 0.25+0.02 {
			t.Errorf("%s: kept %.3f of selected params, want ≤ 0.25 (±0.02); report %+v", c.Name, got, rep.Layers)
		}
		if got < 0.25-0.10 {
			t.Errorf("%s: kept only %.3f of selected params: planning wastes the budget", c.Name, got)
		}
	}
}

func TestSVDErrorIsEckartYoung(t *testing.T) {
	m := testmodels.MLP(5)
	layers := FindLayers(m.Graph)
	l := layers[0]
	p, err := svdMethod{}.Plan(l, Target{Rank: 3})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := factorForm(l, svdForms(l)[0])
	if err != nil {
		t.Fatal(err)
	}
	sv := fs.svds[0].AllValues()
	var tail, all float64
	for i, s := range sv {
		all += s * s
		if i >= 3 {
			tail += s * s
		}
	}
	rep, err := Compress(m, Options{Plan: []LayerPlan{{Layer: l.Node.Name, Method: "svd", Form: p.Form, Ranks: p.Ranks}}})
	if err != nil {
		t.Fatal(err)
	}
	got := rep.Rewritten()[0].WeightError
	if want := math.Sqrt(tail / all); math.Abs(got-want) > 1e-12 {
		t.Fatalf("weight error %g, want %g", got, want)
	}
}

func TestSVDRefusesDepthwiseWhenNamed(t *testing.T) {
	m := testmodels.MobileNetV2(1)
	var dw string
	for _, l := range FindLayers(m.Graph) {
		if l.IsDepthwise() {
			dw = l.Node.Name
			break
		}
	}
	if dw == "" {
		t.Fatal("MobileNetV2 test model has no depthwise conv")
	}
	_, err := Compress(m, Options{Method: "svd", Target: Target{Ratio: 0.5}, Layers: []string{dw}})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), dw) {
		t.Fatalf("want a UsageError naming %s, got %v", dw, err)
	}
	m = testmodels.MobileNetV2(1)
	rep, err := Compress(m, Options{Method: "svd", Target: Target{Ratio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	skipped := false
	for _, l := range rep.Layers {
		skipped = skipped || (l.Layer == dw && l.Skipped != "")
	}
	if !skipped {
		t.Fatalf("depthwise %s not reported as skipped", dw)
	}
}

func mustCase(t *testing.T, name string) testmodels.Case {
	t.Helper()
	c, ok := testmodels.Lookup(name)
	if !ok {
		t.Fatalf("no test model %s", name)
	}
	return c
}
