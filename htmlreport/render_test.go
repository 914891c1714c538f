package htmlreport

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func sampleDocument() *Document {
	werr := 0.25
	agree := 0.5
	d := &graph.ModelDiff{
		Changes: []graph.NodeChange{
			{Kind: graph.Unchanged, Match: graph.ByName, Old: []graph.NodeRef{{Name: "relu", Op: "Relu"}}, New: []graph.NodeRef{{Name: "relu", Op: "Relu"}}},
			{Kind: graph.Replaced, Match: graph.ByProvenance, Method: "svd", Settings: "ranks [4]", WeightError: &werr,
				Old:          []graph.NodeRef{{Name: "<script>alert(1)</script>", Op: "Gemm", Outputs: []graph.ValueRef{{Name: "y", Shape: "[1,10]"}}}},
				New:          []graph.NodeRef{{Name: "g/0", Op: "Gemm"}, {Name: "g/1", Op: "Gemm"}},
				ParamsBefore: 1000, ParamsAfter: 300, MACsBefore: 1000, MACsAfter: 300},
			{Kind: graph.Added, New: []graph.NodeRef{{Name: "extra", Op: "Sigmoid"}}},
		},
		GraphChanges: []graph.GraphChange{{What: "opset ai.onnx", Old: "13", New: "17"}},
		Before:       graph.CostTotals{Layers: 1, Params: 1000, MACs: 1000},
		After:        graph.CostTotals{Layers: 2, Params: 300, MACs: 300},
	}
	return &Document{Schema: SchemaVersion, A: "a.onnx", B: "b.onnx", Structure: d, ParamsRatio: 0.3, MACsRatio: 0.3,
		Numeric: &Numeric{Source: "probe", Probes: 1, Samples: 1, Tol: 1e-4, RelL2: Metric(math.Inf(1)), Top1Agreement: &agree,
			Outputs: []OutputComparison{{A: "y", B: "y", RelL2: Metric(math.Inf(1)), MaxAbs: 2}}},
		LayerErrors: []LayerError{{Change: 1, A: "y", B: "y", RelL2: 0.125, MaxAbs: 1}}}
}

func TestRenderDrawsChartsTableAndRegions(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, sampleDocument()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<svg"); n != 4 { // params, MACs, error, one region
		t.Errorf("%d svg elements, want 4", n)
	}
	if strings.Contains(page, "<script>") {
		t.Error("a node name reached the page unescaped")
	}
	for _, want := range []string{`id="changes"`, "&lt;script&gt;", "opset ai.onnx", "1000 → 300 (30.0%)", "0.125", "svd ranks [4]"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(strings.ReplaceAll(page, "http://www.w3.org/2000/svg", ""), "http") != 0 {
		t.Error("the page refers to the network")
	}
	if err := Render(&buf, &Document{}); err == nil {
		t.Error("a document without a diff rendered")
	}
}

func TestMetricJSONWritesNonFiniteAsNull(t *testing.T) {
	b, err := json.Marshal(sampleDocument().Numeric)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"rel_l2":null`) || !strings.Contains(string(b), `"max_abs":2`) {
		t.Fatalf("JSON %s", b)
	}
	var back Numeric
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(float64(back.RelL2), 1) || back.Outputs[0].MaxAbs != 2 {
		t.Fatalf("read back %+v", back)
	}
}
