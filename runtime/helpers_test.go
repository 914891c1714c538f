package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sort"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// runNode builds a one-node model with graph.Builder, feeds ins as graph
// inputs x0, x1, … (nil for an omitted optional input) and runs it.
func runNode(t *testing.T, op string, opset int64, nOut int, attrs []*graph.Attr, ins ...*Tensor) []*Tensor {
	t.Helper()
	outs, err := tryNode(op, opset, nOut, attrs, ins...)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

func tryNode(op string, opset int64, nOut int, attrs []*graph.Attr, ins ...*Tensor) ([]*Tensor, error) {
	g := &graph.Graph{Name: "unit"}
	b := graph.NewBuilder(g)
	feeds := map[string]*Tensor{}
	var vals []*graph.Value
	for i, in := range ins {
		if in == nil {
			vals = append(vals, nil)
			continue
		}
		shape := make([]int64, len(in.Shape))
		for k, d := range in.Shape {
			shape[k] = int64(d)
		}
		v := b.Input(fmt.Sprintf("x%d", i), in.DType, graph.KnownShape(shape...))
		feeds[v.Name] = in
		vals = append(vals, v)
	}
	n := b.Node(op, op, vals, nOut, attrs...)
	for _, o := range n.Outputs {
		b.Output(o)
	}
	m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: opset}}, Graph: g}
	s, err := NewSession(m, Options{Threads: 2})
	if err != nil {
		return nil, err
	}
	res, err := s.Run(feeds)
	if err != nil {
		return nil, err
	}
	outs := make([]*Tensor, len(n.Outputs))
	for i, o := range n.Outputs {
		outs[i] = res[o.Name]
	}
	return outs, nil
}

func randTensor(rng *rand.Rand, shape ...int) *Tensor {
	return NewFloat32Tensor(shape, randFloats(rng, shapeSize(shape)))
}

func ints64(shape []int, v ...int64) *Tensor { return NewInt64Tensor(shape, v) }

type pyArray struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
	DType string    `json:"dtype"`
}

// pyRef runs code under /usr/bin/python3 with numpy (and torch, when code
// imports it) and the given arrays bound as float32/int64 numpy variables;
// code stores its results in the dict out. Results come back as tensors of
// the dtype numpy produced (float → float32, integer → int64, bool → bool).
func pyRef(t *testing.T, code string, ins map[string]*Tensor) map[string]*Tensor {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %s with numpy is required: %v", py, err)
		}
		t.Skipf("%s with numpy unavailable: %v", py, err)
	}
	arrays := map[string]pyArray{}
	for name, x := range ins {
		dt := "float32"
		if x.DType == graph.Int64 {
			dt = "int64"
		}
		arrays[name] = pyArray{Shape: x.Shape, Data: x.Float64s(), DType: dt}
	}
	payload, _ := json.Marshal(arrays)
	prog := `
import json, sys
import numpy as np
_in = json.load(sys.stdin)
for _k, _v in _in.items():
    globals()[_k] = np.array(_v["data"], dtype=_v["dtype"]).reshape(_v["shape"])
out = {}
` + code + `
_res = {}
for _k, _v in out.items():
    _a = np.asarray(_v)
    _dt = "bool" if _a.dtype == np.bool_ else ("int64" if np.issubdtype(_a.dtype, np.integer) else "float32")
    _res[_k] = {"shape": list(_a.shape), "data": _a.astype(np.float64).ravel().tolist(), "dtype": _dt}
json.dump(_res, sys.stdout)
`
	cmd := exec.Command(py, "-c", prog)
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	outBytes, err := cmd.Output()
	if err != nil {
		if bytes.Contains(stderr.Bytes(), []byte("No module named 'torch'")) {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI: python3-torch is required")
			}
			t.Skip("python3-torch unavailable")
		}
		t.Fatalf("python reference failed: %v\n%s", err, stderr.String())
	}
	var res map[string]pyArray
	if err := json.Unmarshal(outBytes, &res); err != nil {
		t.Fatalf("python reference output: %v", err)
	}
	out := map[string]*Tensor{}
	for name, a := range res {
		x := &Tensor{Shape: a.Shape}
		if x.Shape == nil {
			x.Shape = []int{}
		}
		switch a.DType {
		case "float32":
			x.DType, x.F32 = graph.Float32, make([]float32, len(a.Data))
			for i, v := range a.Data {
				x.F32[i] = float32(v)
			}
		case "int64":
			x.DType, x.I64 = graph.Int64, make([]int64, len(a.Data))
			for i, v := range a.Data {
				x.I64[i] = int64(v)
			}
		case "bool":
			x.DType, x.U8 = graph.Bool, make([]uint8, len(a.Data))
			for i, v := range a.Data {
				x.U8[i] = uint8(v)
			}
		}
		out[name] = x
	}
	return out
}

// expectClose compares against a reference with assert_allclose semantics.
func expectClose(t *testing.T, what string, got, want *Tensor, rtol, atol float64) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: missing tensor (got %v, want %v)", what, got, want)
	}
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("%s: got %s%v, want %s%v", what, got.DType, got.Shape, want.DType, want.Shape)
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range w {
		d := g[i] - w[i]
		if d < 0 {
			d = -d
		}
		a := w[i]
		if a < 0 {
			a = -a
		}
		if d > atol+rtol*a || g[i] != g[i] && w[i] == w[i] {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g[i], w[i])
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
