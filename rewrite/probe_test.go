package rewrite

import (
	"math"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// probeInputs draws one random probe at the case's input shapes.
func probeInputs(t *testing.T, c testmodels.Case, m *graph.Model) map[string]*runtime.Tensor {
	t.Helper()
	shapes := map[string]graph.Shape{}
	for name, dims := range c.InputShapes {
		shapes[name] = graph.KnownShape(dims...)
	}
	in, err := RandomProbe(m, shapes, 7)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// Running a graph segment by segment gives bit for bit what one session
// gives, at every watched value and every output.
func TestSegmentedRunMatchesOneSession(t *testing.T) {
	defer func(n int) { minSegmentBytes = n }(minSegmentBytes)
	minSegmentBytes = 1
	for _, name := range []string{"resnet_basic", "resnet_bottleneck", "mobilenet_v2", "vgg_bn", "transformer"} {
		c := testCase(t, name)
		m := c.Build(1)
		var watch []string
		keep := map[string]bool{}
		for _, v := range m.Graph.Outputs {
			keep[v.Name] = true
		}
		for _, n := range m.Graph.Nodes {
			if n.OpType == "Conv" || n.OpType == "MatMul" || n.OpType == "Add" {
				watch = append(watch, n.Outputs[0].Name)
				keep[n.Outputs[0].Name] = true
			}
		}
		consts := map[string]*graph.Value{}
		for _, v := range m.Graph.Initializers {
			consts[v.Name] = v
		}
		if n := len(segmentsByWeight(m.Graph.Nodes, consts)); n < 3 {
			t.Fatalf("%s: %d segments, want several", name, n)
		}
		in := probeInputs(t, c, m)
		want, err := runSession(m, keep, in, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runWatching(m, watch, in, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(keep) {
			t.Errorf("%s: %d values, want %d", name, len(got), len(keep))
		}
		for v := range keep {
			w, g := want[v], got[v]
			if w == nil || g == nil || !equalShape(w.Shape, g.Shape) {
				t.Errorf("%s: value %q missing or of another shape", name, v)
				continue
			}
			for i := range w.F32 {
				if math.Float32bits(w.F32[i]) != math.Float32bits(g.F32[i]) {
					t.Errorf("%s: value %q differs at %d: %g vs %g", name, v, i, g.F32[i], w.F32[i])
					break
				}
			}
		}
	}
}

// A reference recorded before compressing measures what comparing against
// a kept copy of the original measures.
func TestRecordedReferenceMatchesKeptOriginal(t *testing.T) {
	defer func(n int) { minSegmentBytes = n }(minSegmentBytes)
	minSegmentBytes = 1
	c := testCase(t, "resnet_basic")
	orig, m := c.Build(1), c.Build(1)
	in := probeInputs(t, c, m)
	ref, err := RecordReference(m, Options{}, in, 1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compress(m, Options{Method: "tucker", Target: Target{Ratio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rewritten()) == 0 {
		t.Fatal("nothing rewritten")
	}
	got, err := ref.MeasureOutputErrors(m, rep, 1)
	if err != nil {
		t.Fatal(err)
	}
	perLayer := map[string]float64{}
	for _, l := range rep.Rewritten() {
		if l.OutputError == nil {
			t.Fatalf("layer %s has no output error", l.Layer)
		}
		perLayer[l.Layer] = *l.OutputError
	}
	want, err := MeasureOutputErrors(orig, m, rep, in, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got == 0 {
		t.Errorf("worst output error %g from the recorded reference, %g from the kept original", got, want)
	}
	for _, l := range rep.Rewritten() {
		if *l.OutputError != perLayer[l.Layer] {
			t.Errorf("layer %s: output error %g recorded, %g kept", l.Layer, perLayer[l.Layer], *l.OutputError)
		}
	}
}

func testCase(t *testing.T, name string) testmodels.Case {
	t.Helper()
	for _, c := range testmodels.All() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no test model %q", name)
	return testmodels.Case{}
}
