package graph_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
)

const nodeTestDir = "/usr/share/libonnx-testdata/data/node"

// TestInferShapesConformance runs InferShapes on the ONNX backend node tests
// with the output types erased and compares with the declared ones: where we
// infer a dimension it must equal the declared one, and valid models must
// not be rejected.
func TestInferShapesConformance(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(nodeTestDir, "*", "model.onnx"))
	if err != nil || len(dirs) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("libonnx-testdata is required under CI: no models in %s", nodeTestDir)
		}
		t.Skipf("libonnx-testdata not installed (%s)", nodeTestDir)
	}
	sort.Strings(dirs)
	var checked, full, partial, none, readFailures int
	for _, path := range dirs {
		name := filepath.Base(filepath.Dir(path))
		m, err := onnx.Read(path)
		if err != nil {
			readFailures++
			continue // the codec's own tests cover what it cannot read
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
