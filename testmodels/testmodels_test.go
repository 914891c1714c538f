package testmodels

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
)

const testSeed = 7

// writeAll writes every case built with testSeed into dir.
func writeAll(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	for _, c := range All() {
		p := filepath.Join(dir, c.Name+".onnx")
		if err := onnx.Write(p, c.Build(testSeed)); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestRegistryNamesAreUniqueAndFound(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range All() {
		if seen[c.Name] {
			t.Errorf("duplicate case %s", c.Name)
		}
		seen[c.Name] = true
		if got, ok := Lookup(c.Name); !ok || got.Name != c.Name {
			t.Errorf("Lookup(%q) = %v, %v", c.Name, got.Name, ok)
		}
		m := c.Build(testSeed)
		if m.Graph.Name != c.Name {
			t.Errorf("case %s builds graph %q", c.Name, m.Graph.Name)
		}
		if m.OpsetVersion("") != Opset || m.IRVersion != IRVersion {
			t.Errorf("%s: opset %d IR %d", c.Name, m.OpsetVersion(""), m.IRVersion)
		}
		for _, in := range m.Graph.Inputs {
			if _, ok := c.InputShapes[in.Name]; !ok || in.Type == nil {
				t.Errorf("%s: input %q lacks a run shape or a type", c.Name, in.Name)
			}
		}
		for _, out := range m.Graph.Outputs {
			if _, ok := c.OutputShape(out); !ok {
				t.Errorf("%s: output %q has no declared shape", c.Name, out.Name)
			}
		}
	}
	if _, ok := Lookup("no such model"); ok {
		t.Error("Lookup found a missing model")
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	for _, c := range All() {
		a, err := onnx.Encode(c.Build(testSeed))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		b, err := onnx.Encode(c.Build(testSeed))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds with seed %d encode differently", c.Name, testSeed)
		}
		other, err := onnx.Encode(c.Build(testSeed + 1))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, other) {
			t.Errorf("%s: seeds %d and %d give the same model", c.Name, testSeed, testSeed+1)
		}
	}
}

func TestModelsPassVerifier(t *testing.T) {
	for _, c := range All() {
		m := c.Build(testSeed)
		if err := graph.VerifyModel(m); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
		if err := graph.InferShapes(m, nil); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

func TestModelsPassONNXChecker(t *testing.T) {
	reference.Require(t, reference.Checker)
	paths := writeAll(t, t.TempDir())
	errs, err := reference.CheckModels(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Error(e)
		}
	}
}

// TestCheckerCatchesBrokenBuild guards the checker test above: a model that
// lost an initializer must be rejected.
func TestCheckerCatchesBrokenBuild(t *testing.T) {
	reference.Require(t, reference.Checker)
	m := LeNet5(testSeed)
	m.Graph.Initializers = m.Graph.Initializers[1:]
	p := filepath.Join(t.TempDir(), "broken.onnx")
	if err := onnx.Write(p, m); err != nil {
		t.Fatal(err)
	}
	if err := reference.CheckModel(p); err == nil {
		t.Error("checker accepted LeNet-5 without its first weight")
	}
}

func TestModelsRunInORT(t *testing.T) {
	reference.Require(t, reference.ORT)
	cases := All()
	paths := writeAll(t, t.TempDir())
	jobs := make([]reference.ORTJob, len(cases))
	for i, c := range cases {
		jobs[i] = reference.ORTJob{Model: paths[i], Inputs: c.RandomInputs(1)}
	}
	results, err := reference.RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if results[i].Err != nil {
			t.Errorf("%s: %v", c.Name, results[i].Err)
			continue
		}
		for _, out := range c.Build(testSeed).Graph.Outputs {
			got := results[i].Outputs[out.Name]
			want, _ := c.OutputShape(out)
			if got == nil {
				t.Errorf("%s: no output %q", c.Name, out.Name)
				continue
			}
			if !slices.Equal(got.Dims, want) {
				t.Errorf("%s: output %q has shape %v, declared %v", c.Name, out.Name, got.Dims, want)
				continue
			}
			vals, err := got.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			var sq float64
			for _, v := range vals {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: output %q holds %v", c.Name, out.Name, v)
				}
				sq += float64(v) * float64(v)
			}
			// Weights are He-scaled, so outputs must be neither vanishing nor exploding.
			if rms := math.Sqrt(sq / float64(len(vals))); rms < 1e-2 || rms > 1e2 {
				t.Errorf("%s: output %q has RMS %g, not O(1)", c.Name, out.Name, rms)
			}
		}
	}
}
