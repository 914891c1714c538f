package onnx

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// onnxPython loads a model with the reference onnx package (python3-onnx),
// runs its checker and prints every initializer as float64s.
const onnxPython = `
import json, sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
print(json.dumps({t.name: numpy_helper.to_array(t).astype("float64").ravel().tolist() for t in m.graph.initializer}))
`

func referenceInitializers(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import onnx").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("/usr/bin/python3 with python3-onnx is needed: %v", err)
		}
		t.Skipf("no /usr/bin/python3 with python3-onnx: %v", err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", onnxPython, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("onnx reference loader: %v\n%s", err, stderr)
	}
	var got map[string][]float64
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestReferenceLoaderReadsWhatWeWrite writes new tensors of every numeric
// dtype, some inline and some external, and has the onnx package check the
// model and read them back.
func TestReferenceLoaderReadsWhatWeWrite(t *testing.T) {
	g := &graph.Graph{Name: "dtypes"}
	b := graph.NewBuilder(g)
	want := map[string][]float64{}
	dtypes := []graph.DType{graph.Float32, graph.Float16, graph.Float64, graph.Int8, graph.Int16, graph.Int32,
		graph.Int64, graph.Uint8, graph.Uint16, graph.Uint32, graph.Uint64, graph.Bool}
	for i, dt := range dtypes {
		n := 8 + 100*(i%2) // every other tensor is large enough to go external
		raw := make([]byte, n*dt.Size())
		for j := range raw {
			raw[j] = byte(j*7 + i)
		}
		if dt == graph.Bool {
			for j := range raw {
				raw[j] &= 1
			}
		}
		if dt == graph.Float16 {
			for j := 1; j < len(raw); j += 2 {
				raw[j] &= 0x3f // keep the values finite
			}
		}
		tensor := &graph.Tensor{DType: dt, Dims: []int64{int64(n)}, Raw: raw}
		v := b.Const("w_"+dt.String(), tensor)
		vals, err := tensor.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		want[v.Name] = vals
	}
	x := b.Input("x", graph.Float32, graph.KnownShape(1))
	y := b.Op("Identity", "id", []*graph.Value{x})
	y.Type = x.Type
	b.Output(y)
	m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
	dir := t.TempDir()
	path := filepath.Join(dir, "dtypes.onnx")
	if err := Write(path, m, ExternalThreshold(200)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".data"); err != nil {
		t.Fatal("no tensor went external:", err)
	}
	got := referenceInitializers(t, path)
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Errorf("%s: reference read %d values, want %d", name, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, g[i], w[i])
				break
			}
		}
	}
}
