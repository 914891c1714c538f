package rewrite

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/solvers"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// denseDeButChain is the one-factor chain (m, n, m, n, 1): the matrix itself.
func denseDeButChain(l *Layer) string {
	m, n := l.Out(), l.In()
	return formatDeButChain(solvers.DeButChain{{P: m, Q: n, R: m, S: n, T: 1}})
}

// A one-factor chain is the weight itself, so every form reproduces every
// test model; this checks the plumbing (recipe B axes, Gemm alpha/beta and
// transA, N-D MatMul, the patch Slices under pads, strides, dilations).
func TestDeButDenseChainIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "debut", variants: func(l *Layer) map[string]LayerPlan {
		out := map[string]LayerPlan{}
		// Planned layers must pass Check, which Compress runs once shapes
		// are inferred (MatMul input ranks are known only then).
		if err := (debutMethod{}).Check(l); err != nil && !(l.Kind == MatMulLayer && debutInputRank(l) == 0 && debutSizeError(l) == nil) {
			return out
		}
		for _, f := range debutForms(l) {
			name := f
			if name == "" {
				name = "fc"
			}
			out[name] = LayerPlan{Form: f, Chain: denseDeButChain(l)}
		}
		return out
	}})
}

// randomDeBut draws the factors of a canonical chain and returns them with
// their dense product.
func randomDeBut(t *testing.T, rng *rand.Rand, r, s []int) (solvers.DeButChain, []float64) {
	t.Helper()
	chain, err := solvers.CanonicalDeButChain(r, s)
	if err != nil {
		t.Fatal(err)
	}
	var ws []solvers.DeButWeights
	for _, f := range chain {
		w := make([]float64, f.Params())
		for i := range w {
			w[i] = 0.5 + rng.Float64() // away from 0: every path matters
			if rng.IntN(2) == 0 {
				w[i] = -w[i]
			}
		}
		ws = append(ws, solvers.DeButWeights{Factor: f, W: w})
	}
	d, err := solvers.DensifyDeButChain(ws)
	if err != nil {
		t.Fatal(err)
	}
	return chain, d.RawMatrix().Data
}

func float32s(v []float64, scale float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x * scale)
	}
	return out
}

// exactDeButModel has layers whose weights ARE products of known canonical
// chains, in the orientation each form fits: a Gemm with alpha, beta and a
// bias, a Gemm with transA, a MatMul on a 3-D input, a strided Conv in the
// (c,kh,kw) flattening ("conv" form, input factor of whole channels) and a
// dilated, padded Conv in the (kh,kw,c) flattening ("patches" form).
func exactDeButModel(t *testing.T, opset int64) (*graph.Model, []LayerPlan, map[string]*graph.Tensor) {
	rng := rand.New(rand.NewPCG(11, 12))
	g := &graph.Graph{Name: "debut_exact"}
	m := &graph.Model{IRVersion: testmodels.IRVersion, Opsets: []graph.OpsetImport{{Version: opset}}, Graph: g}
	b := graph.NewBuilder(g)
	batch := graph.Shape{{Param: "N"}}
	var plans []LayerPlan
	plan := func(layer, form string, c solvers.DeButChain) {
		plans = append(plans, LayerPlan{Layer: layer, Method: "debut", Form: form, Chain: formatDeButChain(c)})
	}
	normal := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}

	x := b.Input("x", graph.Float32, append(batch, graph.KnownShape(12)...))
	// The spec's toy chain 8←(2,2,4)8←(2,3,2)12←(2,2,1)12; W = alpha·B.
	c1, w1 := randomDeBut(t, rng, []int{2, 2, 2}, []int{2, 3, 2})
	h := b.Op("Gemm", "fc1", []*graph.Value{x, b.Const("fc1.w", graph.NewFloat32("", []int64{8, 12}, float32s(w1, 2))),
		b.Const("fc1.b", graph.NewFloat32("", []int64{8}, normal(8)))},
		graph.FloatAttr("alpha", 0.5), graph.FloatAttr("beta", 2), graph.IntAttr("transB", 1))
	plan("fc1", "", c1)
	h = b.Op("Relu", "relu1", []*graph.Value{h})
	// transA: the Gemm reads (features, N); B stored (in, out).
	ht := b.Op("Transpose", "to_features_first", []*graph.Value{h}, graph.IntsAttr("perm", 1, 0))
	c2, w2 := randomDeBut(t, rng, []int{2, 2, 2}, []int{2, 2, 2})
	h = b.Op("Gemm", "fc2", []*graph.Value{ht, b.Const("fc2.w", graph.NewFloat32("", []int64{8, 8}, float32s(transposeRowMajor(w2, 8, 8), 1))),
		b.Const("fc2.b", graph.NewFloat32("", []int64{1, 8}, normal(8)))}, graph.IntAttr("transA", 1))
	plan("fc2", "", c2)
	h = b.Op("Reshape", "split", []*graph.Value{h, b.Const("split.shape", graph.NewInt64("", []int64{3}, []int64{0, 2, 4}))})
	c3, w3 := randomDeBut(t, rng, []int{3, 2}, []int{2, 2})
	fcOut := b.Op("MatMul", "mm", []*graph.Value{h, b.Const("mm.w", graph.NewFloat32("", []int64{4, 6}, float32s(transposeRowMajor(w3, 6, 4), 1)))})
	plan("mm", "", c3)
	fcOut.Type = &graph.ValueType{Elem: graph.Float32, HasShape: true, Shape: append(batch, graph.KnownShape(2, 6)...)}
	b.Output(fcOut)

	img := b.Input("img", graph.Float32, append(batch, graph.KnownShape(4, 7, 7)...))
	// 8×36 in (c,kh,kw) order; the input factor's 4 blocks of 2×9 are one
	// channel each: a 4-group 3×3 conv.
	c4, w4 := randomDeBut(t, rng, []int{2, 2, 2}, []int{2, 2, 9})
	y := b.Op("Conv", "conv1", []*graph.Value{img, b.Const("conv1.w", graph.NewFloat32("", []int64{8, 4, 3, 3}, float32s(w4, 1))),
		b.Const("conv1.b", graph.NewFloat32("", []int64{8}, normal(8)))},
		graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1))
	plan("conv1", debutConvForm, c4)
	// 4×72 in (kh,kw,c) order, dilation 2, asymmetric pads.
	c5, w5 := randomDeBut(t, rng, []int{2, 2}, []int{8, 9})
	k5 := make([]float32, 4*8*9)
	for o := 0; o < 4; o++ {
		for c := 0; c < 8; c++ {
			for tap := 0; tap < 9; tap++ {
				k5[o*72+c*9+tap] = float32(w5[o*72+tap*8+c])
			}
		}
	}
	y = b.Op("Conv", "conv2", []*graph.Value{y, b.Const("conv2.w", graph.NewFloat32("", []int64{4, 8, 3, 3}, k5)),
		b.Const("conv2.b", graph.NewFloat32("", []int64{4}, normal(4)))},
		graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("dilations", 2, 2), graph.IntsAttr("pads", 2, 1, 3, 2))
	if opset >= 10 { // strided Slice
		plan("conv2", debutPatchesForm, c5)
	}
	y.Type = &graph.ValueType{Elem: graph.Float32, HasShape: true, Shape: append(batch, graph.KnownShape(4, 5, 3)...)}
	b.Output(y)

	inputs := map[string]*graph.Tensor{
		"x":   graph.NewFloat32("x", []int64{3, 12}, normal(3*12)),
		"img": graph.NewFloat32("img", []int64{3, 4, 7, 7}, normal(3*4*49)),
	}
	return m, plans, inputs
}

// compareInORT runs both files in ONNX Runtime (after the ONNX checker) and
// returns each output's relative L2 error.
func compareInORT(t *testing.T, orig, comp *graph.Model, inputs map[string]*graph.Tensor) map[string]float64 {
	t.Helper()
	reference.Require(t, reference.ORT, reference.Checker)
	dir := t.TempDir()
	a, c := filepath.Join(dir, "orig.onnx"), filepath.Join(dir, "comp.onnx")
	if err := onnx.Write(a, orig); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Write(c, comp); err != nil {
		t.Fatal(err)
	}
	errs, err := reference.CheckModels(a, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("ONNX checker on model %d: %v", i, e)
		}
	}
	res, err := reference.RunORTBatch([]reference.ORTJob{{Model: a, Inputs: inputs}, {Model: c, Inputs: inputs}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("ORT: %v / %v", res[0].Err, res[1].Err)
	}
	out := map[string]float64{}
	for name, w := range res[0].Outputs {
		g := res[1].Outputs[name]
		if g == nil {
			t.Fatalf("output %s missing", name)
		}
		wf, _ := w.Float32s()
		gf, _ := g.Float32s()
		out[name] = reference.RelL2(gf, wf)
	}
	return out
}

// When the weight is a product of the chain's factors, ALS recovers it and
// the rewritten model computes the original outputs in ONNX Runtime.
func TestDeButExactChainFitInORT(t *testing.T) {
	// Opset 10 pads with Pad's attribute; 9 also slices shapes by attribute
	// and has no strided Slice for patches.
	for _, opset := range []int64{testmodels.Opset, 10, 9} {
		orig, plans, inputs := exactDeButModel(t, opset)
		comp, _, _ := exactDeButModel(t, opset)
		rep, err := Compress(comp, Options{Plan: plans})
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		if got := len(rep.Rewritten()); got != len(plans) {
			t.Fatalf("opset %d: %d of %d layers rewritten: %+v", opset, got, len(plans), rep.Layers)
		}
		for _, row := range rep.Rewritten() {
			if row.WeightError > 1e-6 {
				t.Errorf("opset %d: %s: ALS weight error %.3g on an exact chain", opset, row.Layer, row.WeightError)
			}
			if row.ParamsAfter >= row.ParamsBefore {
				t.Errorf("opset %d: %s: %d → %d params", opset, row.Layer, row.ParamsBefore, row.ParamsAfter)
			}
		}
		for _, n := range comp.Graph.Nodes {
			if n.OpType == "Conv" && strings.HasPrefix(n.Name, "conv1/") && n.AttrInt("group", 1) != 4 {
				t.Errorf("opset %d: conv1's input factor is %s with group %d, want a 4-group conv", opset, n.Name, n.AttrInt("group", 1))
			}
		}
		for name, e := range compareInORT(t, orig, comp, inputs) {
			if !(e <= 1e-5) {
				t.Errorf("opset %d: output %s: relative L2 %.3g > 1e-5", opset, name, e)
			}
		}
	}
}

// keptParams counts, honestly, the float constants the rewritten layers'
// new nodes read (the factor weights, and the bias an Add carries), plus
// the parameters of the selected layers left as they were.
func keptParams(t *testing.T, m *graph.Model, rep *Report) (kept, before int64) {
	t.Helper()
	g := m.Graph
	idx := graph.NewIndex(g)
	byName := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		byName[n.Name] = n
	}
	for _, row := range rep.Layers {
		if row.Skipped != "" && row.Skipped != keptByBudget {
			continue
		}
		before += row.ParamsBefore
		if row.Skipped != "" {
			kept += row.ParamsBefore
			continue
		}
		seen := map[*graph.Value]bool{}
		for _, name := range row.NewNodes {
			n := byName[name]
			if n == nil {
				t.Fatalf("%s: new node %s not in the graph", row.Layer, name)
			}
			for _, v := range n.Inputs {
				if tt, ok := graph.ConstTensor(g, idx, v); ok && tt.DType.IsFloat() && !seen[v] {
					seen[v] = true
					kept += int64(tt.Len())
				}
			}
		}
	}
	return kept, before
}

func checkDeButRatio(t *testing.T, name string, m *graph.Model) {
	t.Helper()
	rep, err := Compress(m, Options{Method: "debut", Target: Target{Ratio: 0.25}})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	kept, before := keptParams(t, m, rep)
	if before == 0 {
		t.Fatalf("%s: nothing rewritten: %+v", name, rep.Layers)
	}
	got := float64(kept) / float64(before)
	if got > 0.25+0.02 {
		t.Errorf("%s: kept %.3f of the rewritten layers' params, want ≤ 0.25 (±0.02)", name, got)
	}
	if got < 0.25-0.10 {
		t.Errorf("%s: kept only %.3f: planning wastes the budget", name, got)
	}
	for _, row := range rep.Layers {
		if row.Skipped != "" {
			t.Logf("%s: %s skipped: %s", name, row.Layer, row.Skipped)
		} else {
			t.Logf("%s: %s %s %s: %d → %d params, weight error %.3f", name, row.Layer, row.Form, row.Chain, row.ParamsBefore, row.ParamsAfter, row.WeightError)
		}
	}
	t.Logf("%s: kept %d of %d params (%.3f)", name, kept, before, got)
}

func TestDeButRatioHonoured(t *testing.T) {
	for _, c := range []testmodels.Case{mustCase(t, "lenet5"), mustCase(t, "resnet_basic")} {
		checkDeButRatio(t, c.Name, c.Build(1))
	}
	m, err := onnx.Decode(testmodels.BundledLeNetONNX(), "")
	if err != nil {
		t.Fatal(err)
	}
	checkDeButRatio(t, "fmnist/lenet5.onnx", m)
}

func TestDeButDeterministic(t *testing.T) {
	var files [][]byte
	for i := 0; i < 2; i++ {
		m := testmodels.LeNet5(3)
		if _, err := Compress(m, Options{Method: "debut", Target: Target{Ratio: 0.25}, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		b, err := onnx.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two runs with the same seed wrote different bytes")
	}
}

// A grouped conv cannot take a chain: skipped with the reason, refused
// when named. So is a weight whose prime sizes leave no chain smaller than
// the matrix.
func TestDeButSkipsAndRefuses(t *testing.T) {
	rep, err := Compress(testmodels.EdgeConvGroups(1), Options{Method: "debut", Target: Target{Ratio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 1 || !strings.Contains(rep.Layers[0].Skipped, "group") {
		t.Fatalf("grouped conv not skipped with a reason: %+v", rep.Layers)
	}
	_, err = Compress(testmodels.EdgeConvGroups(1), Options{Method: "debut", Target: Target{Ratio: 0.5}, Layers: []string{"conv"}})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "conv") {
		t.Fatalf("want a UsageError naming conv, got %v", err)
	}

	g := &graph.Graph{Name: "primes"}
	m := &graph.Model{IRVersion: testmodels.IRVersion, Opsets: []graph.OpsetImport{{Version: testmodels.Opset}}, Graph: g}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.Shape{{Param: "N"}, {Value: 11}})
	y := b.Op("Gemm", "fc", []*graph.Value{x, b.Const("fc.w", graph.NewFloat32("", []int64{13, 11}, make([]float32, 143)))}, graph.IntAttr("transB", 1))
	y.Type = &graph.ValueType{Elem: graph.Float32, HasShape: true, Shape: graph.Shape{{Param: "N"}, {Value: 13}}}
	b.Output(y)
	l := FindLayers(g)[0]
	if err := (debutMethod{}).Check(l); err == nil || !strings.Contains(err.Error(), "13×11") {
		t.Fatalf("13×11 weight: want a reason naming the sizes, got %v", err)
	}
	_, err = Compress(m, Options{Method: "debut", Target: Target{Ratio: 0.5}, Layers: []string{"fc"}})
	if !errors.As(err, &usage) {
		t.Fatalf("13×11 weight named explicitly: want a UsageError, got %v", err)
	}
}

func TestDeButChainNotation(t *testing.T) {
	chain, err := solvers.ParseDeButChainLine("256 400 16 25 1 256 256 2 2 16 128 256 1 2 32 128 128 2 2 32 128 128 2 2 64")
	if err != nil {
		t.Fatal(err)
	}
	text := formatDeButChain(chain)
	if !strings.HasPrefix(text, "--sup 128 128 128 128 128 256 ") || !strings.Contains(text, " --sub 2 2 64 2 2 32 1 2 32 ") {
		t.Fatalf("LeNet FC1 chain written as %q", text)
	}
	back, err := parseDeButChain(text)
	if err != nil || back.String() != chain.String() {
		t.Fatalf("round trip gave %v, %v", back, err)
	}
	for _, bad := range []string{"", "--sup 4 6", "4 6 --sub 4 6 1", "--sup 4 6 --sub 4 6", "--sup 4 x --sub 4 6 1"} {
		if _, err := parseDeButChain(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// A dense but non-canonical chain has no ALS fit: Apply refuses it.
	m := testmodels.MLP(1)
	plan := []LayerPlan{{Layer: "fc3", Method: "debut", Chain: "--sup 10 10 10 64 --sub 10 10 1 10 64 1"}}
	if _, err := Compress(m, Options{Plan: plan}); err == nil || !strings.Contains(err.Error(), "canonical") {
		t.Fatalf("non-canonical chain: %v", err)
	}
}

// benchDeButModel is one layer on a fixed batch: a Gemm (in → out) or a
// 3×3 Conv (in → out channels on side×side), with random weights.
func benchDeButModel(conv bool, batch, in, out, side int64) (*graph.Model, map[string]*graph.Tensor) {
	rng := rand.New(rand.NewPCG(3, 4))
	normal := func(n int64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	g := &graph.Graph{Name: "debut_bench"}
	m := &graph.Model{IRVersion: testmodels.IRVersion, Opsets: []graph.OpsetImport{{Version: testmodels.Opset}}, Graph: g}
	b := graph.NewBuilder(g)
	var dims, outDims []int64
	var y *graph.Value
	if conv {
		dims, outDims = []int64{batch, in, side, side}, []int64{batch, out, side, side}
		x := b.Input("x", graph.Float32, graph.KnownShape(dims...))
		y = b.Op("Conv", "layer", []*graph.Value{x, b.Const("w", graph.NewFloat32("", []int64{out, in, 3, 3}, normal(out*in*9))),
			b.Const("b", graph.NewFloat32("", []int64{out}, normal(out)))}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1))
	} else {
		dims, outDims = []int64{batch, in}, []int64{batch, out}
		x := b.Input("x", graph.Float32, graph.KnownShape(dims...))
		y = b.Op("Gemm", "layer", []*graph.Value{x, b.Const("w", graph.NewFloat32("", []int64{out, in}, normal(out*in))),
			b.Const("b", graph.NewFloat32("", []int64{out}, normal(out)))}, graph.IntAttr("transB", 1))
	}
	y.Type = &graph.ValueType{Elem: graph.Float32, HasShape: true, Shape: graph.KnownShape(outDims...)}
	b.Output(y)
	return m, map[string]*graph.Tensor{"x": graph.NewFloat32("x", dims, normal(product64(dims)))}
}

func product64(d []int64) int64 {
	p := int64(1)
	for _, v := range d {
		p *= v
	}
	return p
}

// BenchmarkDeButInORT times one layer in ONNX Runtime (one thread, median
// of 30 runs): dense, and as a DeBut chain in each form.
func BenchmarkDeButInORT(b *testing.B) {
	reference.Require(b, reference.ORT)
	vgg, err := solvers.ParseDeButChainLine("4096 4608 8 9 1 4096 4096 2 2 8 4096 4096 2 2 16 4096 4096 2 2 32 2048 4096 2 4 64 1024 2048 2 4 128 512 1024 2 4 256")
	if err != nil {
		b.Fatal(err)
	}
	type layer struct {
		name              string
		conv              bool
		batch, in, out, s int64
		chain             string // empty: planned for ratio 0.25
	}
	layers := []layer{
		{name: "gemm512x4608_vggchain", batch: 64, in: 4608, out: 512, chain: formatDeButChain(vgg)},
		{name: "gemm120x400", batch: 64, in: 400, out: 120},
		{name: "conv64x64x3x3_32px", conv: true, batch: 8, in: 64, out: 64, s: 32},
	}
	dir := b.TempDir()
	for _, ly := range layers {
		orig, inputs := benchDeButModel(ly.conv, ly.batch, ly.in, ly.out, ly.s)
		run := func(name string, m *graph.Model) {
			b.Run(ly.name+"/"+name, func(b *testing.B) {
				path := filepath.Join(dir, ly.name+"_"+name+".onnx")
				if err := onnx.Write(path, m); err != nil {
					b.Fatal(err)
				}
				sec, err := reference.BenchORT(path, inputs, 1, 30)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(sec*1e3, "ms/run")
			})
		}
		run("dense", orig)
		forms := []string{""}
		if ly.conv {
			forms = []string{debutConvForm, debutPatchesForm}
		}
		for _, form := range forms {
			m, _ := benchDeButModel(ly.conv, ly.batch, ly.in, ly.out, ly.s)
			chain := ly.chain
			if chain == "" {
				p, err := (debutMethod{}).Plan(FindLayers(m.Graph)[0], Target{Ratio: 0.25})
				if err != nil {
					b.Fatal(err)
				}
				chain = p.Chain
			}
			plan := []LayerPlan{{Layer: "layer", Method: "debut", Form: form, Chain: chain}}
			if _, err := Compress(m, Options{Plan: plan, Force: true}); err != nil {
				b.Fatal(err)
			}
			run("debut"+strings.TrimSuffix("_"+form, "_"), m)
		}
	}
}
