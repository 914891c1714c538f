package finetune

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// lcsMLP is x[N,8] → fc1(16) → Relu → fc2(12) → Relu → fc3(4) with
// weights drawn from seed.
func lcsMLP(seed uint64) *graph.Model {
	rng := rand.New(rand.NewPCG(seed, 3))
	g := &graph.Graph{Name: "lcs-mlp"}
	b := graph.NewBuilder(g)
	w := func(name string, dims ...int64) *graph.Value {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.4)
		}
		return b.Const(name, graph.NewFloat32(name, dims, v))
	}
	x := b.Input("x", graph.Float32, graph.Shape{{Param: "N"}, {Value: 8}})
	h := b.Op("Gemm", "fc1", []*graph.Value{x, w("fc1.w", 16, 8), w("fc1.b", 16)}, graph.IntAttr("transB", 1))
	h = b.Op("Relu", "relu1", []*graph.Value{h})
	h = b.Op("Gemm", "fc2", []*graph.Value{h, w("fc2.w", 16, 12), w("fc2.b", 12)})
	h = b.Op("Relu", "relu2", []*graph.Value{h})
	out := b.Node("Gemm", "fc3", []*graph.Value{h, w("fc3.w", 4, 12), w("fc3.b", 4)}, 1, graph.IntAttr("transB", 1))
	out.Outputs[0].Name = "logits"
	b.Output(out.Outputs[0])
	return &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
}

// lcsData labels random inputs by a fixed random linear map.
func lcsData(n int) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float32, n*8)
	y := make([]int64, n)
	for i := 0; i < n; i++ {
		best := math.Inf(-1)
		for c := 0; c < 4; c++ {
			s := 0.0
			for k := 0; k < 8; k++ {
				if c == 0 {
					x[i*8+k] = float32(rng.NormFloat64())
				}
				s += float64(x[i*8+k]) * math.Sin(float64(3*c+k))
			}
			if s > best {
				best, y[i] = s, int64(c)
			}
		}
	}
	d, err := dataset.FromTensors(graph.NewFloat32("x", []int64{int64(n), 8}, x), graph.NewInt64("y", []int64{int64(n)}, y), dataset.Options{Scale: 1})
	if err != nil {
		panic(err)
	}
	return d
}

func lcsSubspaceOf(t *testing.T, m *graph.Model, mode, sub string) *LCSSubspace {
	t.Helper()
	tensors, err := LCSLayout(m, mode, sub)
	if err != nil {
		t.Fatal(err)
	}
	o, err := lcsDefaults(LCSOptions{Mode: mode, Subspace: sub, Tensors: tensors, Options: Options{Seed: 3}, InitNoise: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newLCSSubspace(m, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func roleOf(ts []LCSTensor, name string) LCSTensor {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return LCSTensor{}
}

func TestLCSLayoutRoles(t *testing.T) {
	m := lcsMLP(1)
	un, err := LCSLayout(m, LCSUnstructured, LCSLine)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range un {
		wantTopK := r.Name == "fc2.w"
		wantLine := r.Name == "fc1.w" || r.Name == "fc2.w" || r.Name == "fc3.w"
		if r.TopK != wantTopK || r.Line != wantLine || r.Quantize || r.WidthChannels != 0 {
			t.Errorf("unstructured line role of %s: %+v", r.Name, r)
		}
	}
	st, err := LCSLayout(m, LCSStructured, LCSPoint)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{"fc1.w": {0, 16}, "fc1.b": {0, 16}, "fc2.w": {1, 12}, "fc2.b": {0, 12}}
	for _, r := range st {
		w, ok := want[r.Name]
		if ok != (r.WidthChannels > 0) || ok && (r.WidthAxis != w[0] || r.WidthChannels != w[1]) || r.Line {
			t.Errorf("structured role of %s: %+v", r.Name, r)
		}
	}
	if _, err := LCSLayout(m, "diagonal", LCSPoint); err == nil {
		t.Error("unknown mode accepted")
	}
}

// C.2.1: the line's ends are the endpoints bit-exactly, and it is affine.
func TestLCSLineEndpoints(t *testing.T) {
	s := lcsSubspaceOf(t, lcsMLP(2), LCSQuantized, LCSLine)
	for _, tn := range s.Tensors {
		if !tn.Line {
			continue
		}
		n := len(s.End1[tn.Name])
		at := func(a float64) []float32 {
			v := make([]float32, n)
			s.interpolate(tn, a, v)
			return v
		}
		if !slices.Equal(at(0), s.End0[tn.Name]) || !slices.Equal(at(1), s.End1[tn.Name]) {
			t.Errorf("%s: ω(0), ω(1) are not the endpoints", tn.Name)
		}
		if slices.Equal(s.End0[tn.Name], s.End1[tn.Name]) {
			t.Errorf("%s: endpoints start equal", tn.Name)
		}
		q1, q2, q3 := at(0.25), at(0.5), at(0.75)
		for i := range q1 {
			if d := math.Abs(float64(q3[i]-q1[i]) - 2*float64(q2[i]-q1[i])); d > 1e-5 {
				t.Fatalf("%s[%d]: not affine in α (off by %g)", tn.Name, i, d)
			}
		}
	}
}

// C.2.2 and C.2.3: TopK counts, order, untouched first/last layers, dense
// at k = 1, and nesting for a point.
func TestLCSTopKMasks(t *testing.T) {
	m := lcsMLP(3)
	s := lcsSubspaceOf(t, m, LCSUnstructured, LCSPoint)
	grid, _ := LCSGrid(LCSUnstructured)
	var prev []float32
	for _, k := range grid {
		w, err := s.Weights(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"fc1.w", "fc1.b", "fc3.w", "fc2.b"} {
			if !slices.Equal(w[name], s.End1[name]) {
				t.Errorf("k=%g: %s changed", k, name)
			}
		}
		got, orig := w["fc2.w"], s.End1["fc2.w"]
		zeros := 0
		minKept, maxDropped := math.Inf(1), 0.0
		for i, v := range got {
			if v == 0 {
				zeros++
				maxDropped = math.Max(maxDropped, math.Abs(float64(orig[i])))
			} else {
				if v != orig[i] {
					t.Fatalf("k=%g: kept entry %d changed", k, i)
				}
				minKept = math.Min(minKept, math.Abs(float64(v)))
			}
		}
		if want := int((1 - k) * float64(len(orig))); zeros != want {
			t.Errorf("k=%g: %d zeros, want %d", k, zeros, want)
		}
		if zeros > 0 && zeros < len(orig) && minKept < maxDropped {
			t.Errorf("k=%g: kept |w| %g below dropped %g", k, minKept, maxDropped)
		}
		for i := range prev {
			if prev[i] != 0 && got[i] == 0 {
				t.Fatalf("k=%g: entry %d kept at a smaller k but dropped here", k, i)
			}
		}
		prev = got
	}
	if !slices.Equal(prev, s.End1["fc2.w"]) {
		t.Error("k = 1 is not the dense weight")
	}
}

// C.2.4: channel counts, full width unchanged, the classifier's outputs
// never narrowed.
func TestLCSWidthMasks(t *testing.T) {
	for _, c := range []struct {
		c    int
		w    float64
		want int
	}{{10, 0.25, 2}, {6, 0.25, 2}, {14, 0.25, 4}, {1, 0.25, 1}, {16, 1, 16}, {12, 0.625, 8}} {
		if got := LCSWidthChannels(c.c, c.w); got != c.want {
			t.Errorf("LCSWidthChannels(%d, %g) = %d, want %d", c.c, c.w, got, c.want)
		}
	}
	s := lcsSubspaceOf(t, lcsMLP(4), LCSStructured, LCSPoint)
	grid, _ := LCSGrid(LCSStructured)
	for _, w := range grid {
		got, err := s.Weights(w)
		if err != nil {
			t.Fatal(err)
		}
		k1, k2 := LCSWidthChannels(16, w), LCSWidthChannels(12, w)
		for i := 0; i < 16; i++ {
			for j := 0; j < 8; j++ {
				if v := got["fc1.w"][i*8+j]; (i < k1) != (v != 0) && v != s.End1["fc1.w"][i*8+j] {
					t.Fatalf("w=%g: fc1.w[%d,%d] = %g", w, i, j, v)
				}
			}
			for j := 0; j < 12; j++ {
				if v := got["fc2.w"][i*12+j]; (j < k2) != (v != 0) {
					t.Fatalf("w=%g: fc2.w[%d,%d] = %g with %d of 12 outputs kept", w, i, j, v, k2)
				}
			}
		}
		if !slices.Equal(got["fc3.w"], s.End1["fc3.w"]) || !slices.Equal(got["fc3.b"], s.End1["fc3.b"]) {
			t.Errorf("w=%g: the classifier changed", w)
		}
		if w == 1 {
			for name, v := range got {
				if !slices.Equal(v, s.End1[name]) {
					t.Errorf("w=1: %s changed", name)
				}
			}
		}
	}
}

// C.2.5 and C.2.6.
func TestLCSBitsAndQuantizer(t *testing.T) {
	for k := 1; k <= 6; k++ {
		if b := LCSBits(float64(k) / 6); b != 2+k {
			t.Errorf("LCSBits(%d/6) = %d, want %d", k, b, 2+k)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	w := make([]float32, 500)
	for i := range w {
		w[i] = float32(rng.NormFloat64()) + 0.3
	}
	w[17] = 0
	for b := 3; b <= 8; b++ {
		a, err := LCSQuantizer(w, b)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[float64]bool{}
		for i, v := range w {
			q := a.QuantizeByReciprocal(float64(v))
			x := a.Dequantize(q)
			seen[x] = true
			if x != float64(float32(q-a.ZeroPoint)*a.Scale) {
				t.Fatal("output off the grid")
			}
			if d := q - a.Quantize(float64(v)); d < -1 || d > 1 {
				t.Fatalf("b=%d: entry %d: reciprocal code %d vs QuantizeLinear %d", b, i, q, a.Quantize(float64(v)))
			}
		}
		if len(seen) > 1<<b {
			t.Errorf("b=%d: %d distinct values", b, len(seen))
		}
		if a.Dequantize(a.QuantizeByReciprocal(0)) != 0 {
			t.Errorf("b=%d: 0 does not map to 0", b)
		}
	}
	a, err := LCSQuantizer(make([]float32, 5), 4)
	if err != nil || a.Dequantize(a.QuantizeByReciprocal(0)) != 0 {
		t.Errorf("all-zero tensor: %v", err)
	}
}

// C.2.8, and the regulariser's gradient against central differences.
func TestLCSRegulariser(t *testing.T) {
	s := lcsSubspaceOf(t, lcsMLP(5), LCSUnstructured, LCSLine)
	c := s.LCSCos2()
	if !(c >= 0 && c <= 1) {
		t.Fatalf("cos² = %g", c)
	}
	sw := s.clone()
	sw.End0, sw.End1 = map[string][]float32{}, map[string][]float32{}
	for k := range s.End0 {
		sw.End0[k], sw.End1[k] = s.End1[k], s.End0[k]
	}
	for k, v := range s.End1 {
		if _, line := s.End0[k]; !line {
			sw.End1[k] = v
		}
	}
	if d := math.Abs(sw.LCSCos2() - c); d > 1e-12 {
		t.Errorf("not symmetric: %g vs %g", sw.LCSCos2(), c)
	}
	par := s.clone()
	for k, v := range par.End0 {
		for i := range v {
			v[i] = -2.5 * par.End1[k][i]
		}
	}
	if d := math.Abs(par.LCSCos2() - 1); d > 1e-6 {
		t.Errorf("ω₀ = c·ω₁ gives %g, want 1", par.LCSCos2())
	}
	g0, g1 := map[string][]float32{}, map[string][]float32{}
	for k, v := range s.End0 {
		g0[k], g1[k] = make([]float32, len(v)), make([]float32, len(v))
	}
	s.addCos2Grad(1, g0, g1)
	for _, probe := range []struct {
		end  map[string][]float32
		grad map[string][]float32
	}{{s.End0, g0}, {s.End1, g1}} {
		v := probe.end["fc2.w"]
		for _, i := range []int{0, 7, 100} {
			orig := v[i]
			const h = 1e-2
			v[i] = orig + h
			up := s.LCSCos2()
			v[i] = orig - h
			down := s.LCSCos2()
			v[i] = orig
			fd := (up - down) / (2 * h)
			if d := math.Abs(fd - float64(probe.grad["fc2.w"][i])); d > 1e-4*math.Max(1, math.Abs(fd)) {
				t.Errorf("∂cos²/∂w[%d]: analytic %g, differences %g", i, probe.grad["fc2.w"][i], fd)
			}
		}
	}
}

// A line's gradient splits as (1 − α)·g and α·g; masked entries get none.
func TestLCSPassGradientSplit(t *testing.T) {
	m := lcsMLP(6)
	s := lcsSubspaceOf(t, m, LCSUnstructured, LCSLine)
	names := make([]string, len(s.Tensors))
	for i, tn := range s.Tensors {
		names[i] = tn.Name
	}
	tape, err := runtime.NewTape(m, runtime.TrainOptions{Trainable: names})
	if err != nil {
		t.Fatal(err)
	}
	data := lcsData(8)
	x, _ := data.BatchTensor("x", []int{0, 1, 2, 3, 4, 5, 6, 7})
	xs, _ := x.Float32s()
	input := runtime.NewFloat32Tensor([]int{8, 8}, xs)
	teacher := runtime.NewFloat32Tensor([]int{8, 4}, make([]float32, 32))
	g0, g1 := map[string][]float32{}, map[string][]float32{}
	for _, tn := range s.Tensors {
		g1[tn.Name] = make([]float32, len(s.End1[tn.Name]))
		if w0, ok := s.End0[tn.Name]; ok {
			g0[tn.Name] = make([]float32, len(w0))
		}
	}
	d := lcsDraw{alpha: 0.3, keep: 0.4, width: 1}
	if _, err := s.lcsPass(tape, d, "x", "logits", input, teacher, data.Labels[:8], Distillation{Temperature: 2, Alpha: 0.5}, g0, g1); err != nil {
		t.Fatal(err)
	}
	g := tape.Grad("fc2.w").F32
	w := tape.Param("fc2.w").F32
	masked := 0
	for i := range g {
		want1, want0 := 0.3*float64(g[i]), 0.7*float64(g[i])
		if w[i] == 0 {
			want1, want0 = 0, 0
			masked++
		}
		if math.Abs(float64(g1["fc2.w"][i])-want1) > 1e-7 || math.Abs(float64(g0["fc2.w"][i])-want0) > 1e-7 {
			t.Fatalf("fc2.w[%d]: gradients %g, %g from g = %g", i, g0["fc2.w"][i], g1["fc2.w"][i], g[i])
		}
	}
	if masked != int(0.6*float64(len(g))) {
		t.Errorf("%d entries masked, want %d", masked, int(0.6*float64(len(g))))
	}
}

func TestRunLCSModes(t *testing.T) {
	data := lcsData(240)
	for _, c := range []struct{ mode, sub string }{
		{LCSUnstructured, LCSPoint}, {LCSUnstructured, LCSLine}, {LCSStructured, LCSPoint},
		{LCSStructured, LCSLine}, {LCSQuantized, LCSPoint}, {LCSQuantized, LCSLine},
	} {
		student, teacher := lcsMLP(8), lcsMLP(8)
		tensors, err := LCSLayout(student, c.mode, c.sub)
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunLCS(context.Background(), student, teacher, data, nil, LCSOptions{
			Options: Options{Epochs: 2, Batch: 32, LR: 1e-2, Seed: 1, Distillation: Distillation{Alpha: 0.5}, Holdout: 0.2},
			Mode:    c.mode, Subspace: c.sub, Tensors: tensors, WarmupFraction: 0.5})
		if err != nil {
			t.Fatalf("%s %s: %v", c.mode, c.sub, err)
		}
		if res.Steps != 12 || len(res.Epochs) != 3 || res.Subspace == nil {
			t.Fatalf("%s %s: %d steps, %d evaluations", c.mode, c.sub, res.Steps, len(res.Epochs))
		}
		if (len(res.Subspace.End0) > 0) != (c.sub == LCSLine && c.mode != LCSStructured) { // the MLP has no norms
			t.Errorf("%s %s: %d second endpoints", c.mode, c.sub, len(res.Subspace.End0))
		}
		for _, e := range res.Epochs[1:] {
			if math.IsNaN(e.Loss) || len(e.Scores) != 3 {
				t.Errorf("%s %s: epoch %+v", c.mode, c.sub, e)
			}
		}
		// The student holds the best ω₁.
		for _, v := range student.Graph.Initializers {
			got, _ := v.Const.Float32s()
			if !slices.Equal(got, res.Subspace.End1[v.Name]) {
				t.Errorf("%s %s: student's %s is not the kept ω₁", c.mode, c.sub, v.Name)
			}
		}
	}
}

func TestRunLCSCancelledKeepsStart(t *testing.T) {
	student, teacher := lcsMLP(9), lcsMLP(9)
	orig, _ := student.Graph.Initializers[0].Const.Float32s()
	orig = slices.Clone(orig)
	tensors, _ := LCSLayout(student, LCSUnstructured, LCSPoint)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := RunLCS(ctx, student, teacher, lcsData(100), nil, LCSOptions{Options: Options{Batch: 10, Seed: 1},
		Mode: LCSUnstructured, Tensors: tensors})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := student.Graph.Initializers[0].Const.Float32s()
	if !res.Interrupted || res.Steps != 0 || !slices.Equal(got, orig) {
		t.Errorf("interrupted %v after %d steps; weights kept: %v", res.Interrupted, res.Steps, slices.Equal(got, orig))
	}
}

func TestRunLCSRejects(t *testing.T) {
	m := lcsMLP(1)
	tensors, _ := LCSLayout(m, LCSUnstructured, LCSPoint)
	for _, o := range []LCSOptions{
		{Mode: "diagonal", Tensors: tensors},
		{Mode: LCSUnstructured, Subspace: "plane", Tensors: tensors},
		{Mode: LCSUnstructured, Tensors: tensors, EvalLevels: []float64{2}},
		{Mode: LCSQuantized, Tensors: tensors, EvalLevels: []float64{4.5}},
		{Mode: LCSUnstructured},
	} {
		if _, err := RunLCS(context.Background(), lcsMLP(1), lcsMLP(1), lcsData(50), nil, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// Same data, options and seed give bit-identical subspaces.
func TestRunLCSDeterministic(t *testing.T) {
	run := func() *LCSSubspace {
		student, teacher := lcsMLP(10), lcsMLP(10)
		tensors, _ := LCSLayout(student, LCSUnstructured, LCSLine)
		res, err := RunLCS(context.Background(), student, teacher, lcsData(200), nil, LCSOptions{
			Options: Options{Epochs: 2, Batch: 25, LR: 1e-2, Seed: 4, Threads: 2}, Mode: LCSUnstructured, Subspace: LCSLine,
			Tensors: tensors, WarmupFraction: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		return res.Subspace
	}
	a, b := run(), run()
	for name, w := range a.End1 {
		if !slices.Equal(w, b.End1[name]) || !slices.Equal(a.End0[name], b.End0[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

// Sampling rules and warm-up of lcs.md B.3 (total 100 steps, warm-up 80).
func TestLCSSampling(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := lcsMLP(11)
	// Unstructured LCS+P: dense through the warm-up, then k ~ U(0.025, 1).
	p := lcsSubspaceOf(t, m, LCSUnstructured, LCSPoint)
	for step := 0; step < 100; step++ {
		d := p.sample(rng, step, 100, 0.8)
		if len(d) != 1 || d[0].alpha != 1 || (step < 80) != (d[0].keep == 1) || d[0].keep < lcsMinKeep {
			t.Fatalf("point step %d: %+v", step, d)
		}
	}
	// Unstructured LCS+L: half the draws at an end; k anneals from 1 to α.
	l := lcsSubspaceOf(t, m, LCSUnstructured, LCSLine)
	ends := 0
	for step := 0; step < 2000; step++ {
		d := l.sample(rng, step%100, 100, 0.8)[0]
		if d.alpha == lcsMinKeep || d.alpha == 1 {
			ends++
		}
		want := d.alpha + (1-d.alpha)*math.Max(0, 1-float64(step%100)/80)
		if math.Abs(d.keep-want) > 1e-12 || d.alpha < lcsMinKeep || d.alpha > 1 {
			t.Fatalf("line step %d: α %g keep %g, want keep %g", step%100, d.alpha, d.keep, want)
		}
	}
	if ends < 900 || ends > 1100 {
		t.Errorf("%d of 2000 draws at an end, want about half", ends)
	}
	// Structured: the sandwich rule, widths 0.25 and 1 plus two random.
	s := lcsSubspaceOf(t, m, LCSStructured, LCSLine)
	d := s.sample(rng, 3, 100, 0.8)
	if len(d) != 4 || d[0].width != lcsMinWidth || d[1].width != 1 || d[2].width < lcsMinWidth || d[3].width > 1 {
		t.Errorf("sandwich: %+v", d)
	}
	// Quantized LCS+P: 8 bits in warm-up, then each layer its own width.
	q := lcsSubspaceOf(t, m, LCSQuantized, LCSPoint)
	differ := false
	for step := 0; step < 100; step++ {
		bits := q.sample(rng, step, 100, 0.8)[0].bits
		if len(bits) != 1 { // only fc2 is quantized in the three-layer MLP
			t.Fatalf("step %d: bits %v", step, bits)
		}
		for _, b := range bits {
			if step < 80 && b != 8 || b < 3 || b > 8 {
				t.Fatalf("step %d: %d bits", step, b)
			}
			differ = differ || b != 8
		}
	}
	if !differ {
		t.Error("no random bit width after the warm-up")
	}
	// Quantized LCS+L: α ∈ {1/6, …, 1} and b = 2 + 6α from step 0.
	ql := lcsSubspaceOf(t, m, LCSQuantized, LCSLine)
	for step := 0; step < 50; step++ {
		d := ql.sample(rng, step, 100, 0.8)[0]
		k := math.Round(d.alpha * 6)
		if k < 1 || k > 6 || d.alpha != k/6 || d.bits["fc2.w"] != 2+int(k) {
			t.Fatalf("step %d: α %g bits %v", step, d.alpha, d.bits)
		}
	}
}

// Activation ranges: the first batch is copied (widened to include 0), then
// an EMA with momentum 0.1; the quantizer's values follow B.5.
func TestLCSActivationRange(t *testing.T) {
	a := LCSActivation{Layer: "l", InvScale: "i", Scale: "s", Zero: "z", QMin: "lo", QMax: "hi", Gate: "g"}
	off, _ := a.values(4)
	if off["g"][0] != 0 {
		t.Error("an unobserved quantizer is on")
	}
	a.observe([]float32{0.5, 2, 1})
	if a.Lo != 0 || a.Hi != 2 || !a.Seen {
		t.Fatalf("first batch: [%g, %g]", a.Lo, a.Hi)
	}
	a.observe([]float32{-1, 4})
	if math.Abs(float64(a.Lo)+0.1) > 1e-6 || math.Abs(float64(a.Hi)-2.2) > 1e-6 {
		t.Errorf("EMA: [%g, %g], want [-0.1, 2.2]", a.Lo, a.Hi)
	}
	v, err := a.values(4)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := solvers.AffineFromRange(float64(a.Lo), float64(a.Hi), solvers.QuantScheme{Bits: 4, Signed: true})
	if v["g"][0] != 1 || v["s"][0] != q.Scale || v["z"][0] != float32(q.ZeroPoint) || v["lo"][0] != -8 || v["hi"][0] != 7 ||
		v["i"][0] != float32(1/float64(q.Scale)) {
		t.Errorf("4-bit quantizer %v, affine %+v", v, q)
	}
}
