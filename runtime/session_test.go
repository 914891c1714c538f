package runtime

import (
	"errors"
	"math/rand/v2"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func model13(g *graph.Graph) *graph.Model {
	return &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
}

func TestNewSessionNamesUnsupportedNode(t *testing.T) {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(2))
	y := b.Op("Relu", "ok", []*graph.Value{x})
	b.Output(b.Op("NonMaxSuppression", "nms_7", []*graph.Value{y}))
	_, err := NewSession(model13(g), Options{})
	if err == nil || !strings.Contains(err.Error(), "nms_7") || !strings.Contains(err.Error(), "NonMaxSuppression") || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("want an ErrUnsupported naming node nms_7 and its op, got %v", err)
	}
	n := &graph.Node{Name: "custom", OpType: "Relu", Domain: "com.example", Inputs: []*graph.Value{x}, Outputs: []*graph.Value{{Name: "z"}}}
	g.Nodes = []*graph.Node{n}
	g.Outputs = []*graph.Value{n.Outputs[0]}
	if _, err := NewSession(model13(g), Options{}); err == nil || !strings.Contains(err.Error(), "com.example") {
		t.Fatalf("custom domain accepted: %v", err)
	}
}

func TestRunChecksInputs(t *testing.T) {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.Shape{{Param: "N"}, {Value: 3}})
	b.Output(b.Op("Relu", "r", []*graph.Value{x}))
	s, err := NewSession(model13(g), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   map[string]*Tensor
		want string
	}{
		{"missing", map[string]*Tensor{}, "not given"},
		{"unknown", map[string]*Tensor{"x": NewFloat32Tensor([]int{1, 3}, make([]float32, 3)), "q": NewFloat32Tensor([]int{1}, []float32{0})}, "not a graph input"},
		{"shape", map[string]*Tensor{"x": NewFloat32Tensor([]int{2, 4}, make([]float32, 8))}, "declares"},
		{"dtype", map[string]*Tensor{"x": NewInt64Tensor([]int{1, 3}, make([]int64, 3))}, "declares"},
		{"short data", map[string]*Tensor{"x": NewFloat32Tensor([]int{2, 3}, make([]float32, 5))}, "elements"},
	} {
		if _, err := s.Run(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.want)
		}
	}
	// The symbolic batch takes any size.
	for _, n := range []int{1, 5} {
		out, err := s.Run(map[string]*Tensor{"x": NewFloat32Tensor([]int{n, 3}, make([]float32, 3*n))})
		if err != nil || out[s.OutputNames()[0]].Shape[0] != n {
			t.Fatalf("batch %d: %v", n, err)
		}
	}
}

func TestRunErrorNamesNode(t *testing.T) {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(2, 3))
	shape := b.Const("shape", graph.NewInt64("", []int64{1}, []int64{7}))
	b.Output(b.Op("Reshape", "bad_reshape", []*graph.Value{x, shape}))
	s, err := NewSession(model13(g), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(map[string]*Tensor{"x": NewFloat32Tensor([]int{2, 3}, make([]float32, 6))})
	if err == nil || !strings.Contains(err.Error(), "bad_reshape") {
		t.Fatalf("want error naming bad_reshape, got %v", err)
	}
}

// chainModel is x → (Relu, Neg)×depth: every intermediate is as big as x.
func chainModel(size, depth int) *graph.Model {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	v := b.Input("x", graph.Float32, graph.KnownShape(int64(size)))
	for i := 0; i < depth; i++ {
		v = b.Op("Neg", "neg", []*graph.Value{b.Op("Relu", "relu", []*graph.Value{v})})
	}
	b.Output(b.Op("ReduceSum", "sum", []*graph.Value{v}, graph.IntAttr("keepdims", 0)))
	return model13(g)
}

// Liveness planning: a chain needs two live buffers whatever its depth, and
// a steady-state run allocates no buffers.
func TestBuffersAreRecycled(t *testing.T) {
	const size = 1 << 18
	s, err := NewSession(chainModel(size, 10), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*Tensor{"x": NewFloat32Tensor([]int{size}, make([]float32, size))}
	for i := 0; i < 2; i++ {
		if _, err := s.Run(in); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.pool.f32); n > 3 {
		t.Errorf("pool holds %d float buffers after a run of a 20-node chain, want ≤ 3", n)
	}
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	for i := 0; i < 5; i++ {
		if _, err := s.Run(in); err != nil {
			t.Fatal(err)
		}
	}
	goruntime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / 5
	if perRun > size { // one intermediate is 4·size bytes
		t.Errorf("steady-state run allocated %d bytes, want well under one %d-byte intermediate", perRun, 4*size)
	}
}

func TestOutputsBelongToCaller(t *testing.T) {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(3))
	b.Output(b.Op("Relu", "r", []*graph.Value{x}))
	s, err := NewSession(model13(g), Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Run(map[string]*Tensor{"x": NewFloat32Tensor([]int{3}, []float32{1, 2, 3})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(map[string]*Tensor{"x": NewFloat32Tensor([]int{3}, []float32{7, 8, 9})}); err != nil {
		t.Fatal(err)
	}
	if got := first[s.OutputNames()[0]].F32; got[0] != 1 || got[2] != 3 {
		t.Fatalf("first run's output changed by the second run: %v", got)
	}
}

// A Relu is fused into the Conv before it only when nothing else reads the
// Conv output; results match the unfused graph either way.
func TestConvReluFusionKeepsSharedOutputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	build := func(exposeConv bool) *Session {
		g := &graph.Graph{}
		b := graph.NewBuilder(g)
		x := b.Input("x", graph.Float32, graph.KnownShape(1, 2, 5, 5))
		w := b.Const("w", graph.NewFloat32("", []int64{3, 2, 3, 3}, randFloats(rand.New(rand.NewPCG(1, 1)), 54)))
		conv := b.Op("Conv", "conv", []*graph.Value{x, w}, graph.IntsAttr("pads", 1, 1, 1, 1))
		b.Output(b.Op("Relu", "relu", []*graph.Value{conv}))
		if exposeConv {
			b.Output(conv)
		}
		s, err := NewSession(model13(g), Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fused, shared := build(false), build(true)
	if len(fused.steps) != 1 || len(shared.steps) != 2 {
		t.Fatalf("steps: fused %d (want 1), shared %d (want 2)", len(fused.steps), len(shared.steps))
	}
	in := map[string]*Tensor{"x": randTensor(rng, 1, 2, 5, 5)}
	a, err := fused.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := shared.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	relu, conv := shared.OutputNames()[0], shared.OutputNames()[1]
	expectClose(t, "relu", a[relu], c[relu], 0, 0)
	negative := false
	for _, v := range c[conv].F32 {
		negative = negative || v < 0
	}
	if !negative {
		t.Fatal("shared Conv output lost its negative values: the Relu was fused into it")
	}
}

func TestConstantsFoldAndInitializerInputsDefault(t *testing.T) {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(2))
	bias := b.Const("bias", graph.NewFloat32("", []int64{2}, []float32{10, 20}))
	g.Inputs = append(g.Inputs, bias) // an initializer callers may override
	k := b.Op("Constant", "k", nil, graph.TensorAttr("value", graph.NewFloat32("", []int64{1}, []float32{2})))
	scaled := b.Op("Mul", "scaled", []*graph.Value{bias, k}) // folded at NewSession
	b.Output(b.Op("Add", "y", []*graph.Value{x, scaled}))
	s, err := NewSession(model13(g), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.steps) != 1 {
		t.Fatalf("%d steps left after folding, want 1", len(s.steps))
	}
	out, err := s.Run(map[string]*Tensor{"x": NewFloat32Tensor([]int{2}, []float32{1, 2})})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[s.OutputNames()[0]].F32; got[0] != 21 || got[1] != 42 {
		t.Fatalf("y = %v, want [21 42]", got)
	}
}

func TestBackendSelection(t *testing.T) {
	m := chainModel(4, 1)
	t.Setenv(BLASEnv, "go")
	s, err := NewSession(m, Options{})
	if err != nil || !strings.HasPrefix(s.BackendName(), "cpu/go") {
		t.Fatalf("%s=go: backend %v, %v", BLASEnv, s.BackendName(), err)
	}
	if _, err := NewSession(m, Options{Backend: "tpu"}); err == nil {
		t.Fatal("unknown backend accepted")
	}
	t.Setenv(BLASEnv, "")
	s, err = NewSession(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, obErr := loadOpenBLAS()
	switch want := "cpu/go"; {
	case hasAVX512:
		want = "cpu/go-avx512"
		fallthrough
	case obErr != nil:
		if s.BackendName() != want {
			t.Fatalf("automatic choice: %s, want %s", s.BackendName(), want)
		}
	default:
		if s.BackendName() != "cpu/openblas" {
			t.Fatalf("automatic choice without AVX-512 but with OpenBLAS: %s", s.BackendName())
		}
	}
}

func TestRunIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x, w := randTensor(rng, 2, 4, 9, 9), randTensor(rng, 6, 4, 3, 3)
	a := runNode(t, "Conv", 13, 1, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}, x, w)[0]
	b := runNode(t, "Conv", 13, 1, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}, x, w)[0]
	expectClose(t, "repeat", a, b, 0, 0)
}

// Every fusible producer/activation pair gives what the two nodes give
// unfused (the unfused session exposes the intermediate, which blocks fusion).
func TestFusedActivationsMatchUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x := randTensor(rng, 2, 3, 6, 6)
	for _, tc := range []struct {
		producer, act string
		actAttrs      []*graph.Attr
		clip          bool
	}{
		{"Conv", "LeakyRelu", []*graph.Attr{graph.FloatAttr("alpha", 0.1)}, false},
		{"Conv", "Clip", nil, true},
		{"Gemm", "Relu", nil, false},
		{"Gemm", "Clip", nil, true},
		{"Add", "Relu", nil, false},
	} {
		build := func(expose bool) (*Session, string) {
			g := &graph.Graph{}
			b := graph.NewBuilder(g)
			in := b.Input("x", graph.Float32, graph.KnownShape(2, 3, 6, 6))
			var mid *graph.Value
			switch tc.producer {
			case "Conv":
				w := b.Const("w", graph.NewFloat32("", []int64{4, 3, 3, 3}, randFloats(rand.New(rand.NewPCG(2, 2)), 108)))
				mid = b.Op("Conv", "p", []*graph.Value{in, w}, graph.IntsAttr("pads", 1, 1, 1, 1))
			case "Gemm":
				flat := b.Op("Flatten", "f", []*graph.Value{in})
				w := b.Const("w", graph.NewFloat32("", []int64{108, 5}, randFloats(rand.New(rand.NewPCG(2, 3)), 540)))
				mid = b.Op("Gemm", "p", []*graph.Value{flat, w})
			case "Add":
				mid = b.Op("Add", "p", []*graph.Value{in, b.Op("Neg", "n", []*graph.Value{b.Op("Abs", "a", []*graph.Value{in})})})
			}
			ins := []*graph.Value{mid}
			if tc.clip {
				ins = append(ins, b.Const("lo", graph.NewFloat32("", nil, []float32{-0.5})), b.Const("hi", graph.NewFloat32("", nil, []float32{0.7})))
			}
			out := b.Op(tc.act, "act", ins, tc.actAttrs...)
			b.Output(out)
			if expose {
				b.Output(mid)
			}
			s, err := NewSession(model13(g), Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			return s, out.Name
		}
		fused, name := build(false)
		plain, _ := build(true)
		if len(fused.steps) != len(plain.steps)-1 {
			t.Fatalf("%s+%s: %d steps fused vs %d plain, want one fewer", tc.producer, tc.act, len(fused.steps), len(plain.steps))
		}
		a, err := fused.Run(map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		c, err := plain.Run(map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, tc.producer+"+"+tc.act, a[name], c[name], 0, 0)
	}
}

// ExtraOutputs returns intermediates, which then stay unfused and intact.
func TestExtraOutputs(t *testing.T) {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(1, 1, 3, 3))
	w := b.Const("w", graph.NewFloat32("", []int64{1, 1, 1, 1}, []float32{-1}))
	conv := b.Op("Conv", "conv", []*graph.Value{x, w})
	b.Output(b.Op("Relu", "relu", []*graph.Value{conv}))
	s, err := NewSession(model13(g), Options{ExtraOutputs: []string{conv.Name}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*Tensor{"x": NewFloat32Tensor([]int{1, 1, 3, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9})})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[conv.Name]; got == nil || got.F32[8] != -9 {
		t.Fatalf("conv activation = %v, want -x", got)
	}
	if _, err := NewSession(model13(g), Options{ExtraOutputs: []string{"nope"}}); err == nil {
		t.Fatal("unknown extra output accepted")
	}
}
