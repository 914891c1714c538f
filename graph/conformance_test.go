package graph_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
)

const testDataDir = "/usr/share/libonnx-testdata/data"

// TestInferShapesConformance runs VerifyModel and InferShapes on the ONNX
// backend tests (node, pytorch-converted, pytorch-operator, simple) with the
// output types erased, and compares with the declared ones: where we infer a
// dimension it must equal the declared one, and valid models must not be
// rejected.
func TestInferShapesConformance(t *testing.T) {
	var dirs []string
	for _, set := range []string{"node", "pytorch-converted", "pytorch-operator", "simple"} {
		found, _ := filepath.Glob(filepath.Join(testDataDir, set, "*", "model.onnx"))
		dirs = append(dirs, found...)
	}
	if len(dirs) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("libonnx-testdata is required under CI: no models in %s", testDataDir)
		}
		t.Skipf("libonnx-testdata not installed (%s)", testDataDir)
	}
	sort.Strings(dirs)
	var checked, full, partial, none, readFailures int
	for _, path := range dirs {
		name := filepath.Base(filepath.Dir(filepath.Dir(path))) + "/" + filepath.Base(filepath.Dir(path))
		m, err := onnx.Read(path)
		if err != nil {
			readFailures++
			continue // the codec's own tests cover what it cannot read
		}
		if err := graph.VerifyModel(m); err != nil {
			t.Errorf("%s: VerifyModel: %v", name, err)
		}
		declared := make([]*graph.ValueType, len(m.Graph.Outputs))
		for i, v := range m.Graph.Outputs {
			declared[i] = v.Type
			v.Type = nil
		}
		if err := graph.InferShapes(m, nil); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for i, v := range m.Graph.Outputs {
			d := declared[i]
			if d == nil || !d.HasShape {
				continue
			}
			checked++
			got := v.Type
			if got == nil || !got.HasShape {
				none++
				if os.Getenv("GRAPH_CONFORMANCE_DEBUG") != "" {
					t.Logf("none: %s %s", name, v.Name)
				}
				continue
			}
			if len(got.Shape) != len(d.Shape) {
				t.Errorf("%s: output %s: inferred %v, declared %v", name, v.Name, got.Shape, d.Shape)
				continue
			}
			if got.Elem != graph.Undefined && d.Elem != got.Elem {
				t.Errorf("%s: output %s: inferred %s, declared %s", name, v.Name, got.Elem, d.Elem)
			}
			known := true
			for j, x := range got.Shape {
				y := d.Shape[j]
				if x.Known() && y.Known() && x.Value != y.Value {
					t.Errorf("%s: output %s: inferred %v, declared %v", name, v.Name, got.Shape, d.Shape)
					break
				}
				if y.Known() && !x.Known() {
					known = false
				}
			}
			if !known && os.Getenv("GRAPH_CONFORMANCE_DEBUG") != "" {
				t.Logf("partial: %s %v vs %v", name, got.Shape, d.Shape)
			}
			if known {
				full++
			} else {
				partial++
			}
		}
	}
	// A floor on coverage, so that a change that silently stops inferring
	// (rather than inferring wrongly) fails too.
	if full < 600 {
		t.Errorf("only %d outputs fully inferred", full)
	}
	t.Logf("%d models, %d unreadable; %d outputs with declared shapes: %d fully inferred, %d partly, %d not at all", len(dirs), readFailures, checked, full, partial, none)
}

// TestResNet18Cost exports torchvision's ResNet-18 (opset 13, BN folded into
// the convs by the exporter) and checks ModelCost against the published
// figures: 11,684,712 conv+FC parameters and 1,814,073,344 MACs at
// 1×3×224×224.
func TestResNet18Cost(t *testing.T) {
	if testing.Short() {
		t.Skip("exports a model with torch")
	}
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, torchvision").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-torch and torchvision under %s are required under CI: %v", py, err)
		}
		t.Skipf("torch/torchvision not available: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "resnet18.onnx")
	script := `import sys, torch, torchvision
torch.set_num_threads(1)
torch.manual_seed(0)
m = torchvision.models.resnet18().eval()
torch.onnx.export(m, torch.randn(1, 3, 224, 224), sys.argv[1], opset_version=13,
    input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
`
	if out, err := exec.Command(py, "-c", script, path).CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	m, err := onnx.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.VerifyModel(m); err != nil {
		t.Fatal(err)
	}
	layers, tot := graph.ModelCost(m)
	if tot.Layers != 21 || len(layers) != 21 {
		t.Errorf("%d layers, want 20 convs and 1 Gemm", tot.Layers)
	}
	if tot.Params != 11_684_712 || tot.MACs != 1_814_073_344 {
		t.Errorf("params %d, MACs %d; want 11684712 and 1814073344", tot.Params, tot.MACs)
	}
	if tot.UniqueParams > tot.Params {
		t.Errorf("unique params %d exceed params %d", tot.UniqueParams, tot.Params)
	}
	// With the batch fixed at 4 by shape inference, NodeCost scales.
	if err := graph.InferShapes(m, map[string]graph.Shape{"input": graph.KnownShape(4, 3, 224, 224)}); err != nil {
		t.Fatal(err)
	}
	idx := graph.NewIndex(m.Graph)
	var macs int64
	for _, l := range layers {
		macs += graph.NodeCost(m.Graph, idx, l.Node).MACs
	}
	if macs != 4*1_814_073_344 {
		t.Errorf("MACs at batch 4: %d", macs)
	}
}

// TestInferShapesTorchvision exports torchvision CNNs that exercise Concat
// branches, channel shuffles (Reshape/Transpose), ceil-mode pooling,
// hard-swish and squeeze-excite blocks, erases every inferred type, and
// compares InferShapes with onnx's inference value by value.
func TestInferShapesTorchvision(t *testing.T) {
	if testing.Short() {
		t.Skip("exports models with torch")
	}
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, torchvision, onnx").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-torch, torchvision and onnx under %s are required under CI: %v", py, err)
		}
		t.Skipf("torch/torchvision/onnx not available: %v", err)
	}
	dir := t.TempDir()
	models := []string{"squeezenet1_0", "shufflenet_v2_x0_5", "mobilenet_v3_small", "googlenet"}
	args := append([]string{"testdata/torchvision_shapes.py", dir}, models...)
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	for _, name := range models {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Read(filepath.Join(dir, name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want map[string][]*int64
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			g := m.Graph
			for _, n := range g.Nodes {
				for _, v := range n.Outputs {
					if v != nil {
						v.Type = nil
					}
				}
			}
			if err := graph.InferShapes(m, nil); err != nil {
				t.Fatal(err)
			}
			if err := graph.VerifyModel(m); err != nil {
				t.Fatal(err)
			}
			idx := graph.NewIndex(g)
			compared := 0
			for vname, dims := range want {
				v := idx.ValueByName(vname)
				if v == nil {
					t.Errorf("onnx knows value %q, the graph does not", vname)
					continue
				}
				if v.Type == nil || !v.Type.HasShape || len(v.Type.Shape) != len(dims) {
					t.Errorf("%s: inferred %v, onnx %v", vname, v.Type, derefDims(dims))
					continue
				}
				for i, d := range dims {
					got := v.Type.Shape[i]
					if d != nil && (!got.Known() || got.Value != *d) {
						t.Errorf("%s: inferred %v, onnx %v", vname, v.Type.Shape, derefDims(dims))
						break
					}
				}
				compared++
			}
			t.Logf("%d values compared", compared)
			if compared < 20 {
				t.Errorf("only %d values compared", compared)
			}
		})
	}
}

func derefDims(dims []*int64) []any {
	out := make([]any, len(dims))
	for i, d := range dims {
		if d == nil {
			out[i] = "?"
		} else {
			out[i] = *d
		}
	}
	return out
}
