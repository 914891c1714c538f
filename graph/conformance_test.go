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
	if full < 850 {
		t.Errorf("only %d outputs fully inferred", full)
	}
	t.Logf("%d models, %d unreadable; %d outputs with declared shapes: %d fully inferred, %d partly, %d not at all", len(dirs), readFailures, checked, full, partial, none)
}

// TestTorchvisionModels exports torchvision CNNs once (opset 13, batch 1,
// BN folded into the convs by the exporter) and checks:
//   - ResNet-18's ModelCost against the published figures: 11,684,712
//     conv+FC parameters and 1,814,073,344 MACs at 1×3×224×224;
//   - on ResNet-18 and four CNNs that exercise Concat branches, channel
//     shuffles (Reshape/Transpose), ceil-mode pooling, hard-swish and
//     squeeze-excite blocks: with every inferred type erased, InferShapes
//     agrees with onnx's inference value by value.
func TestTorchvisionModels(t *testing.T) {
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
	models := []string{"resnet18", "squeezenet1_0", "shufflenet_v2_x0_5", "mobilenet_v3_small", "googlenet"}
	args := append([]string{"testdata/torchvision_shapes.py", dir}, models...)
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	t.Run("resnet18_cost", func(t *testing.T) {
		m, err := onnx.Read(filepath.Join(dir, "resnet18.onnx"))
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
	})
	for _, name := range models {
		t.Run(name+"_shapes", func(t *testing.T) {
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

// TestInferShapesAgainstOnnxRuntime builds cases where onnx 1.12's inference
// is silent or predates the current operator text, writes them with the
// codec, runs them in ONNX Runtime (the deployment runtime) and compares the
// output shapes it produces with InferShapes.
func TestInferShapesAgainstOnnxRuntime(t *testing.T) {
	ortDir := filepath.Join("..", "node_modules", "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil || !dirExists(ortDir) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and %s are required under CI", ortDir)
		}
		t.Skip("node or onnxruntime-node not available")
	}
	type ortCase struct {
		name  string
		build func(b *graph.Builder) *graph.Value
	}
	f32 := func(dims ...int64) *graph.Tensor {
		n, _ := graph.NumElements(dims)
		return graph.NewFloat32("", dims, make([]float32, n))
	}
	in := func(b *graph.Builder, dims ...int64) *graph.Value {
		return b.Input("x", graph.Float32, graph.KnownShape(dims...))
	}
	cases := []ortCase{
		{"maxpool_ceil_last_window_in_padding", func(b *graph.Builder) *graph.Value {
			return b.Op("MaxPool", "p", []*graph.Value{in(b, 1, 1, 6, 6)}, graph.IntsAttr("kernel_shape", 1, 1), graph.IntsAttr("strides", 4, 4), graph.IntAttr("ceil_mode", 1))
		}},
		{"avgpool_ceil_pads", func(b *graph.Builder) *graph.Value {
			return b.Op("AveragePool", "p", []*graph.Value{in(b, 1, 2, 5, 7)}, graph.IntsAttr("kernel_shape", 2, 3), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1), graph.IntAttr("ceil_mode", 1))
		}},
		{"maxpool_ceil_dilated", func(b *graph.Builder) *graph.Value {
			return b.Op("MaxPool", "p", []*graph.Value{in(b, 1, 2, 10, 11)}, graph.IntsAttr("kernel_shape", 3, 2), graph.IntsAttr("strides", 3, 2), graph.IntsAttr("dilations", 2, 3), graph.IntAttr("ceil_mode", 1))
		}},
		// ORT rejects dilations with SAME padding; onnx's inference covers those.
		{"conv_same_lower_strided", func(b *graph.Builder) *graph.Value {
			return b.Op("Conv", "c", []*graph.Value{in(b, 1, 2, 11, 8), b.Const("w", f32(3, 2, 4, 2))}, graph.StringAttr("auto_pad", "SAME_LOWER"), graph.IntsAttr("strides", 3, 2))
		}},
		{"convtranspose_same_upper", func(b *graph.Builder) *graph.Value {
			return b.Op("ConvTranspose", "c", []*graph.Value{in(b, 1, 2, 5, 6), b.Const("w", f32(2, 3, 3, 4))}, graph.StringAttr("auto_pad", "SAME_UPPER"), graph.IntsAttr("strides", 2, 3))
		}},
		{"convtranspose_pads_outpad_dil", func(b *graph.Builder) *graph.Value {
			return b.Op("ConvTranspose", "c", []*graph.Value{in(b, 1, 4, 5, 6), b.Const("w", f32(4, 1, 3, 3))}, graph.IntAttr("group", 2), graph.IntsAttr("strides", 3, 2), graph.IntsAttr("pads", 1, 0, 2, 1), graph.IntsAttr("output_padding", 2, 1), graph.IntsAttr("dilations", 1, 2))
		}},
		{"einsum_implicit_ellipsis", func(b *graph.Builder) *graph.Value {
			return b.Op("Einsum", "e", []*graph.Value{in(b, 2, 3, 4), b.Const("k", f32(4, 5))}, graph.StringAttr("equation", "...j,jk"))
		}},
		{"einsum_factor_chain", func(b *graph.Builder) *graph.Value {
			return b.Op("Einsum", "e", []*graph.Value{in(b, 1, 8, 5, 6), b.Const("k", f32(3, 8))}, graph.StringAttr("equation", "nchw,rc->nrhw"))
		}},
		{"resize_scales_odd", func(b *graph.Builder) *graph.Value {
			empty := b.Const("roi", graph.NewFloat32("", []int64{0}, nil))
			scales := b.Const("scales", graph.NewFloat32("", []int64{4}, []float32{1, 1, 1.5, 0.6}))
			return b.Op("Resize", "r", []*graph.Value{in(b, 1, 2, 7, 9), empty, scales}, graph.StringAttr("mode", "nearest"))
		}},
		{"slice_negative_steps_clamped", func(b *graph.Builder) *graph.Value {
			i64 := func(v ...int64) *graph.Value {
				return b.Const("s", graph.NewInt64("", []int64{int64(len(v))}, v))
			}
			return b.Op("Slice", "s", []*graph.Value{in(b, 9, 10, 11), i64(100, -2, 3), i64(-100, 1, 1<<40), i64(0, 2, 1), i64(-2, -3, 4)})
		}},
	}
	dir := t.TempDir()
	var paths []string
	var models []*graph.Model
	for _, c := range cases {
		g := &graph.Graph{Name: c.name}
		b := graph.NewBuilder(g)
		b.Output(c.build(b))
		m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 17}}, Graph: g, ProducerName: "graph test"}
		p := filepath.Join(dir, c.name+".onnx")
		if err := onnx.Write(p, m); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		paths = append(paths, p)
		models = append(models, m)
	}
	out, err := exec.Command("node", append([]string{"testdata/ort_shapes.js"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	var res []struct {
		Outputs [][]int64 `json:"outputs"`
		Error   string    `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("onnxruntime output %q: %v", out, err)
	}
	for i, c := range cases {
		if res[i].Error != "" {
			t.Errorf("%s: onnxruntime: %s", c.name, res[i].Error)
			continue
		}
		m := models[i]
		if err := graph.InferShapes(m, nil); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got := m.Graph.Outputs[0].Type
		want := graph.KnownShape(res[i].Outputs[0]...)
		if got == nil || got.Shape.String() != want.String() {
			t.Errorf("%s: inferred %v, onnxruntime produced %v", c.name, got, want)
		}
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
