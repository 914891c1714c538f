package rewrite

import (
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

func floatsOf(t *testing.T, g *graph.Graph, name string) []float32 {
	t.Helper()
	for _, v := range g.Initializers {
		if v.Name == name {
			w, err := v.Const.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
	}
	t.Fatalf("no initializer %s", name)
	return nil
}

// Codes become an int8 initializer read through DequantizeLinear, which
// this runtime evaluates to (code − zero)·scale.
func TestLCSStaticCodes(t *testing.T) {
	m := testmodels.LeNet5(1)
	w := m.Graph.Nodes[0].Input(1)
	n := w.Const.Len()
	codes := make([]int32, n)
	for i := range codes {
		codes[i] = int32(i%15) - 7
	}
	if _, err := LCSStatic(m, LCSMember{Codes: map[string]LCSCodes{w.Name: {Codes: codes, Scale: 0.25, ZeroPoint: -1}}}); err != nil {
		t.Fatal(err)
	}
	var dq *graph.Node
	for _, node := range m.Graph.Nodes {
		if node.OpType == "DequantizeLinear" {
			dq = node
		}
	}
	if dq == nil || dq.Input(0).Const.DType != graph.Int8 {
		t.Fatal("no DequantizeLinear of int8 codes")
	}
	x := randomImages(1, 1, 1, 28, 28)
	if out := runOnce(t, m, x); out.Len() != 10 {
		t.Fatalf("output %v", out.Shape)
	}
	for _, v := range m.Graph.Initializers {
		if v.Name == w.Name {
			t.Error("the float weight is still stored")
		}
	}
	bad := testmodels.LeNet5(1)
	bw := bad.Graph.Nodes[0].Input(1)
	for _, c := range []LCSCodes{{Codes: make([]int32, 3), Scale: 1}, {Codes: append(make([]int32, n-1), 300), Scale: 1}} {
		if _, err := LCSStatic(bad, LCSMember{Codes: map[string]LCSCodes{bw.Name: c}}); err == nil {
			t.Error("bad codes accepted")
		}
	}
	if _, err := LCSStatic(testmodels.LeNet5(1), LCSMember{Values: map[string][]float32{"nothing": {1}}}); err == nil {
		t.Error("an unknown initializer accepted")
	}
}

// Narrowing keeps the leading channels and gives the same outputs as the
// zero-masked weights (structured LCS masks weights, biases and the
// InstanceNorm parameters after them); a layer whose channels meet a
// residual Add is only masked, and says why.
func TestLCSStaticWidths(t *testing.T) {
	for _, c := range []struct {
		build    func(uint64) *graph.Model
		channels int
		masked   bool
	}{{testmodels.LeNet5, 1, false}, {testmodels.VGGBN, 3, false}, {testmodels.ResNetBasic, 3, true}} {
		model := func() *graph.Model {
			m := c.build(2)
			if _, err := SwapNorms(m, "instance", 0); err != nil {
				t.Fatal(err)
			}
			return m
		}
		m := model()
		roles, err := finetune.LCSLayout(m, finetune.LCSStructured, finetune.LCSPoint)
		if err != nil {
			t.Fatal(err)
		}
		masked := map[string][]float32{}
		widths := map[string]int{}
		for _, r := range roles {
			if r.WidthChannels == 0 {
				continue
			}
			keep := finetune.LCSWidthChannels(r.WidthChannels, 0.5)
			w := slices.Clone(floatsOf(t, m.Graph, r.Name))
			inner := len(w) / r.WidthChannels
			for _, v := range m.Graph.Initializers {
				if v.Name == r.Name {
					inner = 1
					for _, d := range v.Const.Dims[r.WidthAxis+1:] {
						inner *= int(d)
					}
				}
			}
			for i := range w {
				if (i/inner)%r.WidthChannels >= keep {
					w[i] = 0
				}
			}
			masked[r.Name] = w
			widths[r.Layer] = keep
		}
		ref := model()
		if _, err := LCSStatic(ref, LCSMember{Values: masked}); err != nil {
			t.Fatal(err)
		}
		rep, err := LCSStatic(m, LCSMember{Values: masked, Widths: widths})
		if err != nil {
			t.Fatalf("%s: %v", m.Graph.Name, err)
		}
		side := map[int]int{1: 28, 3: 32}[c.channels]
		x := randomImages(2, 2, c.channels, side, side)
		got, want := runOnce(t, m, x), runOnce(t, ref, x)
		for i := range got.F32 {
			if d := got.F32[i] - want.F32[i]; d > 1e-4 || d < -1e-4 {
				t.Fatalf("%s: output %d: narrowed %g, masked %g", m.Graph.Name, i, got.F32[i], want.F32[i])
			}
		}
		if len(rep.Narrowed)+len(rep.Masked) != len(widths) || len(rep.Narrowed) == 0 || (len(rep.Masked) > 0) != c.masked {
			t.Errorf("%s: narrowed %v, masked %v of %d", m.Graph.Name, rep.Narrowed, rep.Masked, len(widths))
		}
	}
}

func TestLCSAdaptiveRejects(t *testing.T) {
	if _, err := LCSAdaptive([]*graph.Model{testmodels.LeNet5(1)}); err == nil {
		t.Error("one member accepted")
	}
	if _, err := LCSAdaptive([]*graph.Model{testmodels.LeNet5(1), testmodels.MLP(1)}); err == nil {
		t.Error("members with different inputs accepted")
	}
}

// An activation quantizer that is off (gate 0) leaves the outputs exactly
// as they were.
func TestLCSActivationQuantOffIsIdentity(t *testing.T) {
	m := testmodels.LeNet5(3)
	x := randomImages(4, 2, 1, 28, 28)
	want := runOnce(t, m, x)
	nodes, err := LCSActivationQuant(m, []string{"conv2", "fc1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Gate == "" {
		t.Fatalf("%+v", nodes)
	}
	got := runOnce(t, m, x)
	if !slices.Equal(got.F32, want.F32) {
		t.Error("outputs changed")
	}
	if _, err := LCSActivationQuant(m, []string{"no such layer"}); err == nil {
		t.Error("an unknown layer accepted")
	}
}
