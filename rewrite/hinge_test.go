package rewrite

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/solvers"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// With every group kept, both forms compute the layer exactly: "auto"
// prunes where the channels allow it (keeping all filters) and decomposes
// elsewhere; "decompose" splits every layer at full rank.
func TestHingeNothingRemovedIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "hinge", variants: func(l *Layer) map[string]LayerPlan {
		if (hingeMethod{}).Check(l) != nil {
			return nil
		}
		full := min(l.Out(), l.In())
		return map[string]LayerPlan{
			"auto":      {Ranks: []int{full, l.Out()}},
			"decompose": {Form: hingeDecompose, Ranks: []int{full}},
		}
	}})
}

// selectedCost sums the parameters of every weighted layer of m (all layers
// are selected in these tests).
func modelParams(m *graph.Model) int64 {
	_, tot := graph.ModelCost(m)
	return tot.Params
}

func TestHingeRatioHonoured(t *testing.T) {
	for _, name := range []string{"lenet5", "resnet_basic"} {
		c := mustCase(t, name)
		m := c.Build(1)
		before := modelParams(m)
		rep, err := Compress(m, Options{Method: "hinge", Target: Target{Ratio: 0.25}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := graph.VerifyModel(m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := float64(modelParams(m)) / float64(before)
		if got > 0.25+0.02 {
			t.Errorf("%s: kept %.3f of the parameters, want ≤ 0.25 (±0.02)", name, got)
		}
		if got < 0.25-0.10 {
			t.Errorf("%s: kept only %.3f of the parameters: the budget is wasted", name, got)
		}
		if len(rep.Rewritten()) == 0 {
			t.Fatalf("%s: nothing rewritten", name)
		}
		t.Logf("%s: kept %.3f of %d parameters", name, got, before)
	}
}

// A plain --ratio with the default (global) allocation is still spent layer
// by layer, pruning where the channels allow it (users rely on that plan).
func TestHingeRatioPrunesUnderDefaultAllocation(t *testing.T) {
	m := mustCase(t, "lenet5").Build(1)
	before := outputChannels(t, m, "conv1")
	if _, err := Compress(m, Options{Method: "hinge", Target: Target{Ratio: 0.5}, Allocation: "global"}); err != nil {
		t.Fatal(err)
	}
	if after := outputChannels(t, m, "conv1"); after >= before {
		t.Fatalf("conv1 keeps %d of its %d output channels: nothing pruned", after, before)
	}
}

// outputChannels is the first dimension of the weight of the Conv named
// node or, after a rewrite, of the first Conv emitted for it.
func outputChannels(t *testing.T, m *graph.Model, node string) int64 {
	t.Helper()
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Conv" && (n.Name == node || strings.HasPrefix(n.Name, node+"/")) {
			w, ok := graph.ConstTensor(m.Graph, graph.NewIndex(m.Graph), n.Inputs[1])
			if !ok {
				t.Fatalf("%s: weight is not constant", node)
			}
			return w.Dims[0]
		}
	}
	t.Fatalf("no Conv named %s", node)
	return 0
}

// In a ResNet the convs whose channels reach a residual Add are decomposed,
// the others pruned; every Add still adds tensors of one shape, and the
// model runs in ONNX Runtime and passes the checker.
func TestHingeResNetKeepsResidualsIntact(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	c := mustCase(t, "resnet_basic")
	orig := c.Build(1)
	if err := graph.InferShapes(orig, nil); err != nil {
		t.Fatal(err)
	}
	idx := graph.NewIndex(orig.Graph)
	coupled := map[string]bool{}
	for _, l := range FindLayers(orig.Graph) {
		f := hingeTrace(orig.Graph, idx, l)
		if strings.Contains(f.blocked, "residual coupling") {
			coupled[l.Node.Name] = true
		}
	}
	if len(coupled) < 4 {
		t.Fatalf("resnet_basic: %d convs feed a residual Add, want ≥ 4 (stem, two conv2, downsample): %v", len(coupled), coupled)
	}
	m := c.Build(1)
	// A ratio spent layer by layer plans each layer's form.
	rep, err := Compress(m, Options{Method: "hinge", Target: Target{Ratio: 0.25}, Allocation: "uniform"})
	if err != nil {
		t.Fatal(err)
	}
	pruned := 0
	for _, row := range rep.Rewritten() {
		switch {
		case coupled[row.Layer] && len(row.NewNodes) != 2:
			t.Errorf("%s feeds a residual Add but became %v, not a two-conv decomposition", row.Layer, row.NewNodes)
		case !coupled[row.Layer] && row.Op == "Conv":
			pruned++
			if len(row.NewNodes) != 1 {
				t.Errorf("%s could be pruned but became %v", row.Layer, row.NewNodes)
			}
		}
	}
	if pruned == 0 {
		t.Error("no conv was pruned")
	}
	adds := 0
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Add" {
			continue
		}
		adds++
		a, _ := featureShape(n.Inputs[0])
		b, _ := featureShape(n.Inputs[1])
		if a == nil || !equalInts(a, b) {
			t.Errorf("Add %s adds %v and %v", n.Label(), a, b)
		}
	}
	if adds != 2 {
		t.Errorf("%d residual Adds left, want 2", adds)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "hinge.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	if err := reference.CheckModel(path); err != nil {
		t.Fatalf("checker: %v", err)
	}
	out, err := reference.RunORT(path, c.RandomInputs(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	logits := out["logits"]
	if logits == nil || !equalInts(logits.Dims, []int64{2, 10}) {
		t.Fatalf("ORT logits %v", logits)
	}
	vals, _ := logits.Float32s()
	for _, v := range vals {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("ORT logits not finite: %v", vals)
		}
	}
}

// pruneNet has every channel path the pruning form edits: BN after a conv,
// a Concat that places the second branch at an offset, pooling, a 1×1 conv
// consumer, and Flatten → Gemm (a block of features per channel).
//
//	input → convA(3→6) → BN → Relu ─┐
//	input → convB(3→4) → Relu ──────┴→ Concat[B, A] → MaxPool → convC(10→5) → Relu → Flatten → fc(80→10)
func pruneNet(seed uint64) *graph.Model {
	g := &graph.Graph{Name: "prune_net"}
	m := &graph.Model{IRVersion: testmodels.IRVersion, Opsets: []graph.OpsetImport{{Version: testmodels.Opset}}, Graph: g}
	b := graph.NewBuilder(g)
	rng := rand.New(rand.NewPCG(seed, 1))
	tensor := func(dims ...int64) *graph.Tensor {
		n, _ := graph.NumElements(dims)
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.5)
		}
		return graph.NewFloat32("", dims, d)
	}
	positive := func(n int64) *graph.Tensor {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(0.5 + rng.Float64())
		}
		return graph.NewFloat32("", []int64{n}, d)
	}
	x := b.Input("input", graph.Float32, graph.Shape{{Param: "N"}, {Value: 3}, {Value: 8}, {Value: 8}})
	conv := func(name string, in *graph.Value, cin, cout, k int64) *graph.Value {
		pad := (k - 1) / 2
		return b.Op("Conv", name, []*graph.Value{in, b.Const(name+".weight", tensor(cout, cin, k, k)), b.Const(name+".bias", tensor(cout))},
			graph.IntsAttr("kernel_shape", k, k), graph.IntsAttr("pads", pad, pad, pad, pad))
	}
	a := conv("convA", x, 3, 6, 3)
	a = b.Op("BatchNormalization", "bnA", []*graph.Value{a, b.Const("bnA.scale", positive(6)), b.Const("bnA.bias", tensor(6)),
		b.Const("bnA.mean", tensor(6)), b.Const("bnA.var", positive(6))})
	a = b.Op("Relu", "reluA", []*graph.Value{a})
	bb := b.Op("Relu", "reluB", []*graph.Value{conv("convB", x, 3, 4, 3)})
	y := b.Op("Concat", "cat", []*graph.Value{bb, a}, graph.IntAttr("axis", 1))
	y = b.Op("MaxPool", "pool", []*graph.Value{y}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2))
	y = b.Op("Relu", "reluC", []*graph.Value{conv("convC", y, 10, 5, 1)})
	y = b.Op("Flatten", "flat", []*graph.Value{y}, graph.IntAttr("axis", 1))
	y = b.Op("Gemm", "fc", []*graph.Value{y, b.Const("fc.weight", tensor(10, 80)), b.Const("fc.bias", tensor(10))}, graph.IntAttr("transB", 1))
	y.Type = &graph.ValueType{Elem: graph.Float32, HasShape: true, Shape: graph.Shape{{Param: "N"}, {Value: 10}}}
	b.Output(y)
	return m
}

// smallestFilters returns the count output channels of a Conv weight with
// the smallest L2 norms.
func smallestFilters(t *testing.T, w *graph.Tensor, count int) []int {
	vals, err := w.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	n := int(w.Dims[0])
	per := len(vals) / n
	norms := make([]float64, n)
	order := make([]int, n)
	for o := 0; o < n; o++ {
		order[o] = o
		for _, v := range vals[o*per : (o+1)*per] {
			norms[o] += v * v
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return norms[order[i]] < norms[order[j]] })
	return order[:count]
}

// zeroInputs zeroes the weight entries of a consumer that read the given
// input features (axis 1 of a Conv weight or of a transB Gemm weight).
func zeroInputs(t *testing.T, w *graph.Tensor, features []int) {
	vals, _ := w.Float32s()
	out, in := int(w.Dims[0]), int(w.Dims[1])
	per := len(vals) / (out * in)
	for o := 0; o < out; o++ {
		for _, f := range features {
			for k := 0; k < per; k++ {
				vals[(o*in+f)*per+k] = 0
			}
		}
	}
	*w = *graph.NewFloat32(w.Name, w.Dims, vals)
}

// Pruning filters whose channels nothing reads (their consumer weights are
// zero) changes nothing: if any BN, Concat offset, pool or Flatten block
// were sliced at the wrong place, the outputs would differ.
func TestHingePruneIsExactWhenRemovedChannelsAreUnread(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	m := pruneNet(3)
	consts := initializers(m)
	dropA := smallestFilters(t, consts["convA.weight"], 2)
	dropB := smallestFilters(t, consts["convB.weight"], 1)
	dropC := smallestFilters(t, consts["convC.weight"], 2)
	var catFeatures []int
	catFeatures = append(catFeatures, dropB...) // convB sits at channels 0..3
	for _, j := range dropA {
		catFeatures = append(catFeatures, 4+j) // convA at 4..9
	}
	zeroInputs(t, consts["convC.weight"], catFeatures)
	zeroInputs(t, consts["fc.weight"], featureBlocks(dropC, 16))
	plan := []LayerPlan{
		{Layer: "convA", Method: "hinge", Form: hingePrune, Ranks: []int{0, 4}},
		{Layer: "convB", Method: "hinge", Form: hingePrune, Ranks: []int{0, 3}},
		{Layer: "convC", Method: "hinge", Form: hingePrune, Ranks: []int{0, 3}},
	}
	pruned := compareCompressedInORT(t, m, plan, map[string]*graph.Tensor{"input": randomInput(5, 2, 3, 8, 8)})
	// Every consumer and the BN now see the narrower tensors.
	idx := graph.NewIndex(pruned.Graph)
	want := map[string][]int64{"bnA": {4}, "convC": {5, 7, 1, 1}, "fc": {10, 48}}
	for _, n := range pruned.Graph.Nodes {
		w, ok := want[n.Name]
		if !ok {
			continue
		}
		got, _ := graph.ConstTensor(pruned.Graph, idx, n.Input(1))
		if got == nil || !equalInts(got.Dims, w) {
			t.Errorf("%s: input 1 is %v, want dims %v", n.Name, got, w)
		}
		if !strings.Contains(n.DocString, "hinge pruned") {
			t.Errorf("%s: no provenance in doc_string %q", n.Name, n.DocString)
		}
	}
}

// The same on LeNet-5: conv → pool → conv, conv → pool → Flatten → Gemm
// (25 features per channel), and Gemm → Gemm.
func TestHingePruneLeNetIsExactWhenRemovedChannelsAreUnread(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	c := mustCase(t, "lenet5")
	m := c.Build(2)
	consts := initializers(m)
	var plan []LayerPlan
	for _, s := range []struct {
		layer, consumer string
		drop, spatial   int
	}{{"conv1", "conv2", 2, 1}, {"conv2", "fc1", 4, 25}, {"fc1", "fc2", 20, 1}, {"fc2", "fc3", 14, 1}} {
		w := consts[s.layer+".weight"]
		drop := smallestFilters(t, w, s.drop)
		zeroInputs(t, consts[s.consumer+".weight"], featureBlocks(drop, s.spatial))
		plan = append(plan, LayerPlan{Layer: s.layer, Method: "hinge", Form: hingePrune, Ranks: []int{0, int(w.Dims[0]) - s.drop}})
	}
	compareCompressedInORT(t, m, plan, c.RandomInputs(4))
}

// MobileNetV2's expand convs reach their project conv through BN, Clip and
// the depthwise conv, which loses the removed channels' filters and groups.
func TestHingePruneMobileNetIsExactWhenRemovedChannelsAreUnread(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	c := mustCase(t, "mobilenet_v2")
	m := c.Build(2)
	consts := initializers(m)
	var plan []LayerPlan
	for _, block := range []string{"block1", "block2", "block3"} {
		w := consts[block+".expand.weight"]
		drop := smallestFilters(t, w, 10)
		zeroInputs(t, consts[block+".project.weight"], drop)
		plan = append(plan, LayerPlan{Layer: block + ".expand", Method: "hinge", Form: hingePrune, Ranks: []int{0, int(w.Dims[0]) - 10}})
	}
	pruned := compareCompressedInORT(t, m, plan, c.RandomInputs(4))
	for _, n := range pruned.Graph.Nodes {
		if strings.HasSuffix(n.Name, ".depthwise") && n.AttrInt("group", 0) != 86 && n.AttrInt("group", 0) != 134 {
			t.Errorf("%s: group %d after pruning 10 of its channels", n.Name, n.AttrInt("group", 0))
		}
	}
}

func initializers(m *graph.Model) map[string]*graph.Tensor {
	out := map[string]*graph.Tensor{}
	for _, v := range m.Graph.Initializers {
		out[v.Name] = v.Const
	}
	return out
}

// featureBlocks lists the features of channels when each spans spatial
// consecutive features.
func featureBlocks(channels []int, spatial int) []int {
	var out []int
	for _, c := range channels {
		for p := 0; p < spatial; p++ {
			out = append(out, c*spatial+p)
		}
	}
	return out
}

// compareCompressedInORT compresses m with plan (every layer must be
// rewritten) and checks the result with the ONNX checker and against m in
// ONNX Runtime (≤1e-5 relative L2). It returns the compressed model.
func compareCompressedInORT(t *testing.T, m *graph.Model, plan []LayerPlan, inputs map[string]*graph.Tensor) *graph.Model {
	t.Helper()
	dir := t.TempDir()
	origPath := filepath.Join(dir, "orig.onnx")
	if err := onnx.Write(origPath, m); err != nil {
		t.Fatal(err)
	}
	rep, err := Compress(m, Options{Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Rewritten()); n != len(plan) {
		t.Fatalf("%d layers rewritten, want %d: %+v", n, len(plan), rep.Layers)
	}
	path := filepath.Join(dir, "pruned.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	if err := reference.CheckModel(path); err != nil {
		t.Fatalf("checker: %v", err)
	}
	res, err := reference.RunORTBatch([]reference.ORTJob{{Model: origPath, Inputs: inputs}, {Model: path, Inputs: inputs}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for name, w := range res[0].Outputs {
		wf, _ := w.Float32s()
		gf, _ := res[1].Outputs[name].Float32s()
		if e := reference.RelL2(gf, wf); !(e <= 1e-5) {
			t.Errorf("output %s: relative L2 %.3g > 1e-5", name, e)
		}
	}
	return m
}

func randomInput(seed uint64, dims ...int64) *graph.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	n, _ := graph.NumElements(dims)
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	return graph.NewFloat32("input", dims, d)
}

// An energy target keeps the fewest rows (decomposed) or filters (pruned)
// holding that share of the squared norm; more energy never keeps less.
func TestHingeEnergyPlan(t *testing.T) {
	l := FindLayers(mustCase(t, "lenet5").Build(1).Graph)[1]
	prev := []int{0, 0}
	for _, e := range []float64{0.5, 0.9, 0.99, 1} {
		p, err := hingeMethod{}.Plan(l, Target{Energy: e})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Ranks) != 2 || p.Ranks[0] < prev[0] || p.Ranks[1] < prev[1] || p.Ranks[0] > 16 || p.Ranks[1] > 16 {
			t.Fatalf("energy %g: ranks %v after %v", e, p.Ranks, prev)
		}
		prev = p.Ranks
	}
	if prev[1] != 16 {
		t.Errorf("all the energy keeps %d of 16 filters", prev[1])
	}
	m := mustCase(t, "lenet5").Build(1)
	rep, err := Compress(m, Options{Method: "hinge", Target: Target{Energy: 0.9}})
	if err != nil || len(rep.Rewritten()) == 0 {
		t.Fatalf("energy 0.9: %v, %+v", err, rep)
	}
}

// The decomposed form's weight error is the Eckart–Young tail (the same as
// svd's output form at the same rank) and shrinks as more rows are kept.
func TestHingeDecomposeErrorIsEckartYoung(t *testing.T) {
	l := FindLayers(mustCase(t, "lenet5").Build(1).Graph)[1] // conv2, 16 × 150
	fs, err := factorForm(l, svdForms(l)[0])
	if err != nil {
		t.Fatal(err)
	}
	prev := math.Inf(1)
	for r := 1; r <= 16; r++ {
		m := mustCase(t, "lenet5").Build(1)
		rep, err := Compress(m, Options{Plan: []LayerPlan{{Layer: "conv2", Method: "hinge", Form: hingeDecompose, Ranks: []int{r}}}, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		got := rep.Rewritten()[0].WeightError
		if want := fs.relError(r); math.Abs(got-want) > 1e-9 {
			t.Errorf("rank %d: weight error %g, Eckart–Young %g", r, got, want)
		}
		if got > prev {
			t.Errorf("rank %d: error %g grew from %g", r, got, prev)
		}
		prev = got
	}
	if prev > 1e-9 {
		t.Errorf("full rank leaves error %g", prev)
	}
}

func TestHingeRefusesDepthwiseAndUnprunableWhenNamed(t *testing.T) {
	m := testmodels.MobileNetV2(1)
	var dw string
	for _, l := range FindLayers(m.Graph) {
		if l.IsDepthwise() {
			dw = l.Node.Name
			break
		}
	}
	_, err := Compress(m, Options{Method: "hinge", Target: Target{Ratio: 0.5}, Layers: []string{dw}})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), dw) {
		t.Fatalf("want a UsageError naming %s, got %v", dw, err)
	}
	rep, err := Compress(testmodels.MobileNetV2(1), Options{Method: "hinge", Target: Target{Ratio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	skipped := false
	for _, l := range rep.Layers {
		skipped = skipped || (l.Layer == dw && l.Skipped != "")
	}
	if !skipped {
		t.Fatalf("depthwise %s not reported as skipped", dw)
	}
	// A residual conv asked to take the pruning form is an error naming it.
	_, err = Compress(mustCase(t, "resnet_basic").Build(1), Options{Plan: []LayerPlan{
		{Layer: "layer1.conv2", Method: "hinge", Form: hingePrune, Ranks: []int{0, 8}}}})
	if err == nil || !strings.Contains(err.Error(), "layer1.conv2") || !strings.Contains(err.Error(), "residual") {
		t.Fatalf("pruning a residual conv: %v", err)
	}
}

func TestHingeIsDeterministic(t *testing.T) {
	for _, name := range []string{"lenet5", "resnet_basic"} {
		var enc [2][]byte
		for i := range enc {
			m := mustCase(t, name).Build(4)
			if _, err := Compress(m, Options{Method: "hinge", Target: Target{Ratio: 0.3}, Seed: 9}); err != nil {
				t.Fatal(err)
			}
			b, err := onnx.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			enc[i] = b
		}
		if !bytes.Equal(enc[0], enc[1]) {
			t.Errorf("%s: two runs encode differently", name)
		}
	}
}

// hingeTrainedCases are the architectures the trained form must handle, as
// graphs: plain chains with BatchNorm (VGG), residual basic and bottleneck
// blocks, inverted residuals with depthwise convs (MobileNet) and Concat
// feature reuse (DenseNet).
func hingeTrainedCases(t *testing.T) map[string]*graph.Model {
	out := map[string]*graph.Model{"densenet": testmodels.DenseNet(1)}
	for _, name := range []string{"vgg_bn", "resnet_basic", "resnet_bottleneck", "mobilenet_v2", "lenet5"} {
		out[name] = mustCase(t, name).Build(1)
	}
	return out
}

func cloneModel(t *testing.T, m *graph.Model) *graph.Model {
	t.Helper()
	data, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := onnx.Decode(data, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countOps(m *graph.Model, op string) int {
	n := 0
	for _, nd := range m.Graph.Nodes {
		if nd.OpType == op {
			n++
		}
	}
	return n
}

// C.1 invariants 1, 5, 6 and 7 on whole graphs, checked in ONNX Runtime:
// attaching the matrices preserves the function; zeroing ~40% of every
// layer's groups and compressing (columns pruned through BN, depthwise
// convs, Concat and consumers; rows decomposed) is output-identical to the
// zeroed model; keeping every group merges back to one conv per layer; the
// compressed graph passes the checker with consistent shapes and the
// residual adds intact.
func TestHingeTrainedFormIsExactInORT(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	dir := t.TempDir()
	cases := hingeTrainedCases(t)
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	var jobs []reference.ORTJob
	var paths []string
	write := func(m *graph.Model, file string) string {
		p := filepath.Join(dir, file)
		if err := onnx.Write(p, m); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		return p
	}
	for _, name := range names {
		orig := cases[name]
		shape := []int64{2, 3, 32, 32}
		if name == "lenet5" {
			shape = []int64{2, 1, 28, 28}
		}
		in := map[string]*graph.Tensor{"input": randomInput(7, shape...)}
		origPath := write(orig, name+".onnx")
		m := cloneModel(t, orig)
		sites, err := HingeAttach(m, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(sites) == 0 {
			t.Fatalf("%s: no layer attached", name)
		}
		attachedPath := write(m, name+".attached.onnx")
		for _, s := range sites {
			if (s.Groups == solvers.HingeRows) != (s.Coupled != "") {
				t.Errorf("%s: %s: groups %v, coupling %q", name, s.Layer, s.Groups, s.Coupled)
			}
			// A basic block's second conv feeds the residual Add: only
			// rows; its first conv's channels end in the second: columns.
			if name == "resnet_basic" && strings.HasSuffix(s.Layer, ".conv2") && !strings.Contains(s.Coupled, "residual coupling") {
				t.Errorf("%s: %s is not decomposed for its residual (%q)", name, s.Layer, s.Coupled)
			}
			if name == "resnet_basic" && strings.HasSuffix(s.Layer, ".conv1") && s.Groups != solvers.HingeColumns {
				t.Errorf("%s: %s is not pruned: %s", name, s.Layer, s.Coupled)
			}
		}
		// Keep every group: each pair merges back into one conv.
		merged := cloneModel(t, m)
		all := make([][]int, len(sites))
		norms, err := HingeNorms(merged, sites)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sites {
			all[i] = hingeIota(len(norms[i]))
		}
		if err := HingeCompress(merged, sites, all); err != nil {
			t.Fatalf("%s: keeping all: %v", name, err)
		}
		if got, want := countOps(merged, "Conv"), countOps(orig, "Conv"); got != want {
			t.Errorf("%s: %d convs after merging everything back, want %d", name, got, want)
		}
		mergedPath := write(merged, name+".merged.onnx")

		// Zero the smallest ~40% of every layer's groups, then remove them.
		keep := make([][]int, len(sites))
		for i, s := range sites {
			count := max(1, len(norms[i])*3/5)
			if keep[i], err = solvers.HingeSelectTop(norms[i], count); err != nil {
				t.Fatal(err)
			}
			zeroHingeGroups(t, m, s, keep[i])
		}
		zeroedPath := write(m, name+".zeroed.onnx")
		pruned := cloneModel(t, m)
		if err := HingeCompress(pruned, sites, keep); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := graph.VerifyModel(pruned); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkChannelCounts(t, name, pruned)
		if got, want := countOps(pruned, "Add"), countOps(orig, "Add"); got != want {
			t.Errorf("%s: %d Add nodes after pruning, the original has %d", name, got, want)
		}
		if got, want := countOps(pruned, "Concat"), countOps(orig, "Concat"); got != want {
			t.Errorf("%s: %d Concat nodes after pruning, the original has %d", name, got, want)
		}
		_, before := graph.ModelCost(orig)
		_, after := graph.ModelCost(pruned)
		if after.MACs >= before.MACs {
			t.Errorf("%s: MACs %d → %d after removing 40%% of the groups", name, before.MACs, after.MACs)
		}
		prunedPath := write(pruned, name+".pruned.onnx")
		jobs = append(jobs,
			reference.ORTJob{Model: origPath, Inputs: in}, reference.ORTJob{Model: attachedPath, Inputs: in},
			reference.ORTJob{Model: mergedPath, Inputs: in},
			reference.ORTJob{Model: zeroedPath, Inputs: in}, reference.ORTJob{Model: prunedPath, Inputs: in})
	}
	errs, err := reference.CheckModels(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("checker: %s: %v", paths[i], e)
		}
	}
	res, err := reference.RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		r := res[5*i : 5*i+5]
		for _, x := range r {
			if x.Err != nil {
				t.Fatalf("%s: %v", name, x.Err)
			}
		}
		compare := func(what string, got, want reference.ORTResult) {
			for out, w := range want.Outputs {
				wf, _ := w.Float32s()
				gf, _ := got.Outputs[out].Float32s()
				if e := reference.RelL2(gf, wf); !(e <= 1e-5) {
					t.Errorf("%s: %s: output %s differs by relative L2 %.3g", name, what, out, e)
				}
			}
		}
		compare("attached vs original", r[1], r[0])
		compare("all kept and merged vs original", r[2], r[0])
		compare("compressed vs zeroed", r[4], r[3])
	}
}

func hingeIota(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// zeroHingeGroups sets the groups of site s that keep leaves out to zero in
// m's Â initializer. A removed column leaves its bias as a constant channel,
// which BatchNorm shifts again, so for columns the consumers' weights that
// read the removed channels are zeroed too: then the channels are unread and
// removing them must change nothing.
func zeroHingeGroups(t *testing.T, m *graph.Model, s HingeSite, keep []int) {
	t.Helper()
	if s.Groups == solvers.HingeColumns {
		g := m.Graph
		idx := graph.NewIndex(g)
		node, a, err := hingeSiteMatrix(g, idx, s)
		if err != nil {
			t.Fatal(err)
		}
		_, n := a.Dims()
		flow := traceChannels(g, idx, node)
		if flow.blocked != "" {
			t.Fatalf("%s: columns but %s", s.Layer, flow.blocked)
		}
		kept := map[int]bool{}
		for _, k := range keep {
			kept[k] = true
		}
		var removed []int
		for j := 0; j < n; j++ {
			if !kept[j] {
				removed = append(removed, j)
			}
		}
		for _, c := range flow.consumers {
			w, _ := graph.ConstTensor(g, idx, c.node.Inputs[1])
			if c.node.OpType == "Gemm" && c.node.AttrInt("transB", 0) == 0 {
				t.Fatalf("%s: consumer %s is not a transB Gemm", s.Layer, c.node.Name)
			}
			var channels []int
			for _, j := range removed {
				channels = append(channels, c.offset+j)
			}
			zeroInputs(t, w, featureBlocks(channels, c.spatial))
		}
	}
	for _, v := range m.Graph.Initializers {
		if v.Name != s.Weight {
			continue
		}
		data, err := v.Const.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		n, k := int(v.Const.Dims[0]), int(v.Const.Dims[1])
		kept := map[int]bool{}
		for _, g := range keep {
			kept[g] = true
		}
		for j := 0; j < n; j++ {
			for i := 0; i < k; i++ {
				g := j
				if s.Groups == solvers.HingeRows {
					g = i
				}
				if !kept[g] {
					data[j*k+i] = 0
				}
			}
		}
		v.Const = graph.NewFloat32(v.Name, v.Const.Dims, data)
		return
	}
	t.Fatalf("no initializer %s", s.Weight)
}

// checkChannelCounts is C.1.7: every Conv reads as many channels as its
// input has (times group), every BatchNormalization has one parameter per
// channel, and every Concat's output width is the sum of its inputs'.
func checkChannelCounts(t *testing.T, name string, m *graph.Model) {
	t.Helper()
	c := cloneModel(t, m)
	shapes, err := graph.ConcreteInputShapes(c.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.InferShapes(c, shapes); err != nil {
		t.Fatal(err)
	}
	g := c.Graph
	idx := graph.NewIndex(g)
	for _, n := range g.Nodes {
		ch, ok := channelCount(n.Inputs[0])
		if !ok {
			continue
		}
		switch n.OpType {
		case "Conv":
			w, _ := graph.ConstTensor(g, idx, n.Inputs[1])
			if got := int(w.Dims[1] * n.AttrInt("group", 1)); got != ch {
				t.Errorf("%s: Conv %s reads %d channels of %d", name, n.Name, got, ch)
			}
		case "BatchNormalization":
			for _, p := range n.Inputs[1:] {
				if tt, _ := graph.ConstTensor(g, idx, p); tt.Len() != ch {
					t.Errorf("%s: BatchNormalization %s has %d parameters for %d channels", name, n.Name, tt.Len(), ch)
				}
			}
		case "Concat":
			sum := 0
			for _, v := range n.Inputs {
				w, _ := channelCount(v)
				sum += w
			}
			if out, _ := channelCount(n.Outputs[0]); out != sum {
				t.Errorf("%s: Concat %s outputs %d channels from %d", name, n.Name, out, sum)
			}
		}
	}
}

// The data-free form spends a MAC budget on both its forms: on the bundled
// ResNet-20 at --macs-ratio 0.5 the written model keeps at most half of its
// MACs as inspect counts them (and not far below), the report's totals say
// the same, only convs whose channels reach no residual Add are pruned,
// every Add is intact, and ONNX Runtime runs the file as this project's
// runtime does.
func TestHingeMACBudgetOnResNet20(t *testing.T) {
	m, err := onnx.Decode(testmodels.ResNet20FMNIST.ONNX(), "")
	if err != nil {
		t.Fatal(err)
	}
	orig := cloneModel(t, m)
	if err := graph.InferShapes(orig, nil); err != nil {
		t.Fatal(err)
	}
	idx := graph.NewIndex(orig.Graph)
	prunable := map[string]bool{}
	for _, l := range FindLayers(orig.Graph) {
		prunable[l.Node.Label()] = hingeTrace(orig.Graph, idx, l).blocked == ""
	}
	_, before := graph.ModelCost(orig)
	adds := countOps(m, "Add")
	rep, err := Compress(m, Options{Method: "hinge", Target: Target{MACsRatio: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.VerifyModel(m); err != nil {
		t.Fatal(err)
	}
	_, after := graph.ModelCost(m)
	if r := float64(after.MACs) / float64(before.MACs); r > 0.5 || r < 0.45 {
		t.Errorf("written model keeps %.4f of %d MACs, want ≤ 0.5 (and not far below)", r, before.MACs)
	}
	if rep.After.MACs != after.MACs || rep.SelectedMACsBefore != before.MACs || rep.SelectedMACsAfter != after.MACs {
		t.Errorf("report: whole %d, selected %d → %d; the written model has %d of %d",
			rep.After.MACs, rep.SelectedMACsBefore, rep.SelectedMACsAfter, after.MACs, before.MACs)
	}
	if got := countOps(m, "Add"); got != adds {
		t.Errorf("%d Add nodes, want %d", got, adds)
	}
	forms := map[string]int{}
	for _, l := range rep.Rewritten() {
		forms[l.Form]++
		if l.Method != "hinge" || l.Form == hingePrune && !prunable[l.Layer] {
			t.Errorf("layer %s: %s %s, but its channels cannot be pruned", l.Layer, l.Method, l.Form)
		}
	}
	t.Logf("forms %v, MACs %d → %d", forms, before.MACs, after.MACs)
	checkRunsLikeORT(t, m, randomImages(3, 2, 1, 28, 28))
}

// checkRunsLikeORT writes m, passes it through the ONNX checker and runs it
// in ONNX Runtime and in this project's runtime on x: the two must agree.
func checkRunsLikeORT(t *testing.T, m *graph.Model, x *runtime.Tensor) {
	t.Helper()
	reference.Require(t, reference.ORT, reference.Checker)
	path := filepath.Join(t.TempDir(), "compressed.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	if err := reference.CheckModel(path); err != nil {
		t.Fatalf("checker: %v", err)
	}
	ours := runOnce(t, m, x)
	name := m.Graph.Inputs[0].Name
	xg, err := x.ToGraph(name)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := reference.RunORT(path, map[string]*graph.Tensor{name: xg}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ort, _ := outs[m.Graph.Outputs[0].Name].Float32s()
	if e := reference.RelL2(ours.F32, ort); !(e <= 1e-5) {
		t.Errorf("ONNX Runtime and this runtime differ by %.3g (relative L2)", e)
	}
}

// Wherever pruning is allowed, the budget's plan, once written, meets the
// MAC target, whatever the ratio: pruning chains (LeNet's convs and FCs,
// each reading the last one's channels), a Concat and a Flatten (pruneNet),
// and residual blocks. The report's selected totals are the written
// model's, since every layer is selected.
func TestHingeMACBudgetMetWhenPruning(t *testing.T) {
	builds := map[string]func() *graph.Model{
		"prune_net":    func() *graph.Model { return pruneNet(3) },
		"lenet5":       func() *graph.Model { return mustCase(t, "lenet5").Build(1) },
		"resnet_basic": func() *graph.Model { return mustCase(t, "resnet_basic").Build(1) },
	}
	for _, name := range []string{"prune_net", "lenet5", "resnet_basic"} {
		_, before := graph.ModelCost(builds[name]())
		pruned := 0
		for _, ratio := range []float64{0.2, 0.35, 0.5, 0.8} {
			m := builds[name]()
			rep, err := Compress(m, Options{Method: "hinge", Target: Target{MACsRatio: ratio}, RankMultiple: 1})
			if err != nil {
				t.Fatalf("%s at %g: %v", name, ratio, err)
			}
			if err := graph.VerifyModel(m); err != nil {
				t.Fatalf("%s at %g: %v", name, ratio, err)
			}
			_, after := graph.ModelCost(m)
			if float64(after.MACs) > ratio*float64(before.MACs) {
				t.Errorf("%s at %g: written model has %d of %d MACs", name, ratio, after.MACs, before.MACs)
			}
			if rep.SelectedMACsAfter != after.MACs || rep.SelectedParamsAfter != after.Params {
				t.Errorf("%s at %g: report says %d MACs / %d params, the written model has %d / %d",
					name, ratio, rep.SelectedMACsAfter, rep.SelectedParamsAfter, after.MACs, after.Params)
			}
			for _, l := range rep.Rewritten() {
				if l.Form == hingePrune {
					pruned++
				}
			}
		}
		if pruned == 0 {
			t.Errorf("%s: no ratio pruned any layer", name)
		}
	}
}

// When pruning a layer costs no more weight error than decomposing it (half
// of convA's filters are a thousandth of the rest, so dropping them loses
// as little as the best rank-3 split), pruning wins under a MAC budget: it
// is cheaper on the layer itself and also narrows convC, which reads the
// channels. The plan mixes forms (fc's outputs are the graph's, so it can
// only be decomposed), and the written model runs in ONNX Runtime.
func TestHingeMACBudgetPrunesWhereCheaper(t *testing.T) {
	m := pruneNet(3)
	w := initializers(m)["convA.weight"]
	vals, err := w.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	per := len(vals) / int(w.Dims[0])
	for _, f := range []int{1, 3, 4} {
		for k := f * per; k < (f+1)*per; k++ {
			vals[k] *= 1e-3
		}
	}
	*w = *graph.NewFloat32(w.Name, w.Dims, vals)
	_, before := graph.ModelCost(m)
	rep, err := Compress(m, Options{Method: "hinge", Target: Target{MACsRatio: 0.6}, RankMultiple: 1})
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{}
	for _, l := range rep.Rewritten() {
		forms[l.Layer] = l.Form
		if l.Layer == "convA" && (l.Form != hingePrune || l.Ranks[0] > 3 || l.WeightError > 1e-2) {
			t.Errorf("convA: %s %v, weight error %.3g; want pruned to its 3 large filters", l.Form, l.Ranks, l.WeightError)
		}
	}
	if forms["convA"] != hingePrune {
		t.Errorf("convA not pruned: %v", forms)
	}
	if forms["fc"] != "" && forms["fc"] != hingeDecompose {
		t.Errorf("fc's outputs are the graph's, yet it was %s", forms["fc"])
	}
	_, after := graph.ModelCost(m)
	if float64(after.MACs) > 0.6*float64(before.MACs) {
		t.Errorf("written model has %d of %d MACs", after.MACs, before.MACs)
	}
	t.Logf("forms %v, MACs %d → %d", forms, before.MACs, after.MACs)
	checkRunsLikeORT(t, m, randomImages(4, 2, 3, 8, 8))
}

// The pruning candidates price what the rewrite then writes (as
// TestCandidatesPriceTheRewrittenGraph checks for every method's
// candidates): the layer's own parameters and MACs, its weight error, and,
// since the readers of its channels stay as they are here, exactly what the
// whole model saves besides.
func TestHingePruneCandidatesPriceTheRewrittenGraph(t *testing.T) {
	builds := map[string]func() *graph.Model{
		"prune_net":    func() *graph.Model { return pruneNet(3) },
		"lenet5":       func() *graph.Model { return mustCase(t, "lenet5").Build(2) },
		"resnet_basic": func() *graph.Model { return mustCase(t, "resnet_basic").Build(2) },
	}
	for _, name := range []string{"prune_net", "lenet5", "resnet_basic"} {
		m := builds[name]()
		shapes, err := graph.ConcreteInputShapes(m.Graph, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := graph.InferShapes(m, shapes); err != nil {
			t.Fatal(err)
		}
		_, before := graph.ModelCost(m)
		priced := 0
		for _, l := range FindLayers(m.Graph) {
			l.rankMultiple = 1
			cands, err := (hingeMethod{}).coupledCandidates(m.Graph, l)
			if err != nil {
				t.Fatalf("%s %s: %v", name, l.Node.Name, err)
			}
			var prune []Candidate
			for _, c := range cands {
				if c.Plan.Form == hingePrune {
					prune = append(prune, c)
				}
			}
			if len(prune) == 0 {
				continue
			}
			for _, cand := range []Candidate{prune[0], prune[len(prune)/2]} {
				priced++
				p := cand.Plan
				p.Layer, p.Method = l.Node.Name, "hinge"
				comp := builds[name]()
				rep, err := Compress(comp, Options{Plan: []LayerPlan{p}, InputShapes: shapes, Force: true})
				if err != nil {
					t.Fatalf("%s %s %s: %v", name, l.Node.Name, p.Describe(), err)
				}
				row := rep.Rewritten()[0]
				if row.ParamsAfter != cand.Params || row.MACsAfter != cand.MACs {
					t.Errorf("%s %s %s: priced %d MACs / %d params, graph has %d / %d",
						name, l.Node.Name, p.Describe(), cand.MACs, cand.Params, row.MACsAfter, row.ParamsAfter)
				}
				if math.Abs(row.WeightError-cand.Err) > 1e-7 {
					t.Errorf("%s %s %s: priced error %.9g, realised %.9g", name, l.Node.Name, p.Describe(), cand.Err, row.WeightError)
				}
				_, after := graph.ModelCost(comp)
				wantMACs := before.MACs - (l.Cost.MACs - cand.MACs) - cand.SavedMACs
				wantParams := before.Params - (l.Cost.Params - cand.Params) - cand.SavedParams
				if after.MACs != wantMACs || after.Params != wantParams {
					t.Errorf("%s %s %s: model has %d MACs / %d params, priced %d / %d",
						name, l.Node.Name, p.Describe(), after.MACs, after.Params, wantMACs, wantParams)
				}
			}
		}
		if priced == 0 {
			t.Errorf("%s: no layer offered pruning", name)
		}
	}
}

// C.1.10: after compression a decomposed layer costs (c·k²·m + m·n) MACs
// per output position, a pruned one c·k²·|K|, and the layer reading the
// pruned channels |K|/n of what it cost.
func TestHingeCompressedMACs(t *testing.T) {
	m := mustCase(t, "resnet_basic").Build(1)
	sites, err := HingeAttach(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cost := func(m *graph.Model) map[string]int64 {
		layers, _ := graph.ModelCost(m)
		out := map[string]int64{}
		for _, l := range layers {
			out[l.Node.Name] = l.MACs
		}
		return out
	}
	orig := cost(mustCase(t, "resnet_basic").Build(1))
	norms, err := HingeNorms(m, sites)
	if err != nil {
		t.Fatal(err)
	}
	keep := make([][]int, len(sites))
	var pruned, decomposed *HingeSite
	for i := range sites {
		keep[i] = hingeIota(len(norms[i]))
		s := &sites[i]
		switch {
		case s.Layer == "layer1.conv1":
			keep[i] = keep[i][:5] // 16 → 5 filters
			pruned = s
		case s.Layer == "layer2.conv2":
			keep[i] = keep[i][:6] // rank 6 of 32: cheaper split
			decomposed = s
		}
	}
	if pruned == nil || decomposed == nil || pruned.Groups != solvers.HingeColumns || decomposed.Groups != solvers.HingeRows {
		t.Fatalf("sites %+v", sites)
	}
	if err := HingeCompress(m, sites, keep); err != nil {
		t.Fatal(err)
	}
	got := cost(m)
	// layer1.conv1: 16→16 3×3 at 32×32; layer1.conv2 reads its channels.
	if want := orig["layer1.conv1"] * 5 / 16; got["layer1.conv1"] != want {
		t.Errorf("pruned layer: %d MACs, want %d", got["layer1.conv1"], want)
	}
	if want := orig["layer1.conv2"] * 5 / 16; got["layer1.conv2"] != want {
		t.Errorf("its consumer: %d MACs, want %d", got["layer1.conv2"], want)
	}
	// layer2.conv2: 32→32 3×3 at 16×16 (c·k² = 288, n = 32).
	positions := int64(16 * 16)
	if want := positions * (288*6 + 6*32); got["layer2.conv2"]+got[decomposed.Matrix] != want {
		t.Errorf("decomposed layer: %d + %d MACs, want %d", got["layer2.conv2"], got[decomposed.Matrix], want)
	}
}
