package rewrite

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/solvers"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// Every test model quantised to int8 weights stays within 2e-2 relative L2
// of the original in ONNX Runtime on random inputs, and passes the checker.
func TestQuantOutputsCloseInORT(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	dir := t.TempDir()
	type job struct {
		name      string
		orig, out string
		inputs    map[string]*graph.Tensor
	}
	var jobs []job
	for _, c := range testmodels.All() {
		orig := filepath.Join(dir, c.Name+".onnx")
		if err := onnx.Write(orig, c.Build(7)); err != nil {
			t.Fatal(err)
		}
		m := c.Build(7)
		rep, err := Compress(m, Options{Method: "quant", Target: Target{Ratio: 0.25}})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if len(rep.Rewritten()) == 0 {
			continue
		}
		out := filepath.Join(dir, c.Name+".quant.onnx")
		if err := onnx.Write(out, m); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{c.Name, orig, out, c.RandomInputs(3)})
	}
	if len(jobs) < 15 {
		t.Fatalf("only %d test models quantised", len(jobs))
	}
	var files []string
	var ort []reference.ORTJob
	for _, j := range jobs {
		files = append(files, j.out)
		ort = append(ort, reference.ORTJob{Model: j.orig, Inputs: j.inputs}, reference.ORTJob{Model: j.out, Inputs: j.inputs})
	}
	errs, err := reference.CheckModels(files...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("%s: checker: %v", jobs[i].name, e)
		}
	}
	res, err := reference.RunORTBatch(ort, 1)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, j := range jobs {
		want, got := res[2*i], res[2*i+1]
		if want.Err != nil || got.Err != nil {
			t.Errorf("%s: ORT: %v / %v", j.name, want.Err, got.Err)
			continue
		}
		for name, w := range want.Outputs {
			wf, _ := w.Float32s()
			gf, _ := got.Outputs[name].Float32s()
			e := reference.RelL2(gf, wf)
			worst = max(worst, e)
			t.Logf("%s %s %.3g", j.name, name, e)
			if !(e <= 2e-2) {
				t.Errorf("%s: output %s relative L2 %.3g > 2e-2", j.name, name, e)
			}
		}
	}
	t.Logf("%d models, worst output relative L2 %.3g", len(jobs), worst)
}

// dequantizeQDQ evaluates a DequantizeLinear of constants with ONNX
// semantics, (q − zero_point)·scale in float32, per axis when axis is set.
func dequantizeQDQ(t *testing.T, n *graph.Node) ([]float32, []int64) {
	t.Helper()
	q, s, z := n.Inputs[0].Const, n.Inputs[1].Const, n.Inputs[2].Const
	if q == nil || s == nil || z == nil || q.DType != graph.Int8 || z.DType != graph.Int8 {
		t.Fatalf("%s: inputs are not int8/float32/int8 constants", n.Name)
	}
	scales, _ := s.Float32s()
	inner, channels := 1, 1
	if a := n.Attr("axis"); a != nil {
		axis := int(a.I)
		channels = int(q.Dims[axis])
		for _, d := range q.Dims[axis+1:] {
			inner *= int(d)
		}
	}
	if len(scales) != channels || len(z.Raw) != channels {
		t.Fatalf("%s: %d scales, %d zero points for %d channels", n.Name, len(scales), len(z.Raw), channels)
	}
	out := make([]float32, len(q.Raw))
	for i, b := range q.Raw {
		ch := (i / inner) % channels
		out[i] = float32(int32(int8(b))-int32(int8(z.Raw[ch]))) * scales[ch]
	}
	return out, q.Dims
}

// The weight DequantizeLinear yields is exactly solvers' quantise →
// dequantise of the original, per output channel at opset 13 and per tensor
// at opset 12.
func TestQuantWeightsAreSolversQDQ(t *testing.T) {
	for _, opset := range []int64{13, 12} {
		for _, name := range []string{"lenet5", "edge_gemm_trans", "edge_conv_groups", "transformer"} {
			orig := mustCase(t, name).Build(1)
			origW := map[string]*Layer{}
			for _, l := range FindLayers(orig.Graph) {
				origW[l.Node.Name] = l
			}
			m := mustCase(t, name).Build(1)
			m.Opsets[0].Version = opset
			rep, err := Compress(m, Options{Method: "quant", Target: Target{Ratio: 0.25}})
			if err != nil {
				t.Fatalf("%s opset %d: %v", name, opset, err)
			}
			producer := map[*graph.Value]*graph.Node{}
			for _, n := range m.Graph.Nodes {
				for _, o := range n.Outputs {
					producer[o] = n
				}
			}
			checked := 0
			for _, row := range rep.Rewritten() {
				l := origW[row.Layer]
				var layerNode *graph.Node
				for _, n := range m.Graph.Nodes {
					if len(n.Outputs) == 1 && n.Outputs[0].Name == row.Output {
						layerNode = n
					}
				}
				dq := producer[layerNode.Input(1)]
				if dq == nil || dq.OpType != "DequantizeLinear" {
					t.Fatalf("%s: weight of %s is not a DequantizeLinear", name, row.Layer)
				}
				if (dq.Attr("axis") != nil) != (opset >= 13) {
					t.Errorf("%s opset %d: axis attribute present = %v", name, opset, dq.Attr("axis") != nil)
				}
				got, dims := dequantizeQDQ(t, dq)
				if !equalInts(dims, l.Weight.Dims) {
					t.Fatalf("%s: int8 weight %v, original %v", row.Layer, dims, l.Weight.Dims)
				}
				w, _ := l.Weight.Float64s()
				shape := make([]int, len(dims))
				for i, d := range dims {
					shape[i] = int(d)
				}
				scheme := solvers.QuantScheme{Bits: 8, Signed: true, Symmetric: true}
				var want []float64
				if opset >= 13 {
					q, p, err := solvers.QuantizeChannels(w, shape, outputChannelAxis(l), scheme, solvers.QuantRange{})
					if err != nil {
						t.Fatal(err)
					}
					want, _ = solvers.DequantizeChannels(q, shape, outputChannelAxis(l), p)
				} else {
					q, a, err := solvers.QuantizeTensor(w, scheme, solvers.QuantRange{})
					if err != nil {
						t.Fatal(err)
					}
					want = solvers.DequantizeTensor(q, a)
				}
				for i := range want {
					if float64(got[i]) != want[i] {
						t.Fatalf("%s %s opset %d: entry %d dequantises to %g, solvers give %g", name, row.Layer, opset, i, got[i], want[i])
					}
				}
				if row.WeightError <= 0 || row.WeightError > 2e-2 {
					t.Errorf("%s %s: weight error %g", name, row.Layer, row.WeightError)
				}
				checked++
			}
			if checked == 0 {
				t.Fatalf("%s: no layer quantised", name)
			}
		}
	}
}

// In ONNX Runtime the quantised model computes exactly what the original
// does with its weights replaced by solvers' quantise→dequantise (a float
// "fake-quantised" model): the int8 layout, scales and axis are right, not
// merely close. (MatMul layers are left out: at its "extended" optimisation
// level ONNX Runtime fuses DequantizeLinear → MatMul into a matmul that also
// quantises the activations on the fly, about 1% off; with optimisation
// disabled the transformer matches exactly too.)
func TestQuantMatchesFakeQuantisedInORT(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	dir := t.TempDir()
	var jobs []reference.ORTJob
	var names []string
	for _, name := range []string{"lenet5", "resnet_basic", "mobilenet_v2", "edge_gemm_trans", "edge_conv_groups", "edge_conv1d"} {
		c := mustCase(t, name)
		fake := c.Build(1)
		for _, l := range FindLayers(fake.Graph) {
			fakeQuantise(t, l)
		}
		m := c.Build(1)
		if _, err := Compress(m, Options{Method: "quant", Target: Target{Ratio: 0.25}}); err != nil {
			t.Fatal(err)
		}
		fakePath, quantPath := filepath.Join(dir, name+".fake.onnx"), filepath.Join(dir, name+".quant.onnx")
		if err := onnx.Write(fakePath, fake); err != nil {
			t.Fatal(err)
		}
		if err := onnx.Write(quantPath, m); err != nil {
			t.Fatal(err)
		}
		in := c.RandomInputs(6)
		jobs = append(jobs, reference.ORTJob{Model: fakePath, Inputs: in}, reference.ORTJob{Model: quantPath, Inputs: in})
		names = append(names, name)
	}
	res, err := reference.RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		want, got := res[2*i], res[2*i+1]
		if want.Err != nil || got.Err != nil {
			t.Fatalf("%s: ORT: %v / %v", name, want.Err, got.Err)
		}
		for out, w := range want.Outputs {
			wf, _ := w.Float32s()
			gf, _ := got.Outputs[out].Float32s()
			if e := reference.RelL2(gf, wf); !(e <= 1e-5) {
				t.Errorf("%s: output %s differs from the fake-quantised model by %.3g", name, out, e)
			}
		}
	}
}

// fakeQuantise replaces l's stored weight by solvers' per-channel
// quantise→dequantise of it.
func fakeQuantise(t *testing.T, l *Layer) {
	t.Helper()
	w, err := l.Weight.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	shape := make([]int, len(l.Weight.Dims))
	for i, d := range l.Weight.Dims {
		shape[i] = int(d)
	}
	scheme := solvers.QuantScheme{Bits: 8, Signed: true, Symmetric: true}
	q, p, err := solvers.QuantizeChannels(w, shape, outputChannelAxis(l), scheme, solvers.QuantRange{})
	if err != nil {
		t.Fatal(err)
	}
	deq, err := solvers.DequantizeChannels(q, shape, outputChannelAxis(l), p)
	if err != nil {
		t.Fatal(err)
	}
	f32 := make([]float32, len(deq))
	for i, v := range deq {
		f32[i] = float32(v)
	}
	*l.Weight = *graph.NewFloat32(l.Weight.Name, l.Weight.Dims, f32)
}

// The weight bytes kept are a quarter: int8 codes for float32 weights.
func TestQuantRatioCountsWeightBytes(t *testing.T) {
	m := mustCase(t, "lenet5").Build(1)
	var before int64
	for _, l := range FindLayers(m.Graph) {
		before += int64(len(l.Weight.Raw))
	}
	var biasBytes int64
	for _, l := range FindLayers(m.Graph) {
		if l.BiasConst != nil {
			biasBytes += int64(len(l.BiasConst.Raw))
		}
	}
	rep, err := Compress(m, Options{Method: "quant", Target: Target{Ratio: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	var after, scaleBytes int64
	for _, v := range m.Graph.Initializers {
		switch {
		case v.Const.DType == graph.Int8 && len(v.Const.Dims) >= 2:
			after += int64(len(v.Const.Raw))
		case v.Const.DType == graph.Int8 || strings.Contains(v.Name, "scale"):
			scaleBytes += int64(len(v.Const.Raw))
		}
	}
	if 4*after != before {
		t.Fatalf("int8 weights hold %d bytes, float32 weights held %d", after, before)
	}
	// The report counts the same bytes: weights and biases before; codes,
	// biases, scales and zero points after.
	if rep.SelectedWeightBytesBefore != before+biasBytes || rep.SelectedWeightBytesAfter != after+biasBytes+scaleBytes {
		t.Errorf("report: weight bytes %d → %d, stored %d → %d (+%d scales and zero points)",
			rep.SelectedWeightBytesBefore, rep.SelectedWeightBytesAfter, before+biasBytes, after+biasBytes, scaleBytes)
	}
	// Less than a quarter cannot be had: every layer is skipped, saying why.
	rep, err = Compress(mustCase(t, "lenet5").Build(1), Options{Method: "quant", Target: Target{Ratio: 0.2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rep.Layers {
		if !strings.Contains(row.Skipped, "1/4") {
			t.Errorf("%s at ratio 0.2: %q", row.Layer, row.Skipped)
		}
	}
}

// fp16Conv is one float16 Conv: its weight cannot take an int8 QDQ whose
// DequantizeLinear yields float32.
func fp16Conv() *graph.Model {
	g := &graph.Graph{Name: "fp16"}
	m := &graph.Model{IRVersion: testmodels.IRVersion, Opsets: []graph.OpsetImport{{Version: testmodels.Opset}}, Graph: g}
	b := graph.NewBuilder(g)
	x := b.Input("input", graph.Float16, graph.KnownShape(1, 2, 4, 4))
	w, _ := graph.NewFromFloat64("", graph.Float16, []int64{3, 2, 1, 1}, []float64{1, 2, 3, 4, 5, 6})
	y := b.Op("Conv", "conv", []*graph.Value{x, b.Const("w", w)}, graph.IntsAttr("kernel_shape", 1, 1))
	b.Output(y)
	return m
}

func TestQuantRefusesFloat16WhenNamed(t *testing.T) {
	_, err := Compress(fp16Conv(), Options{Method: "quant", Target: Target{Ratio: 0.25}, Layers: []string{"conv"}})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "conv") {
		t.Fatalf("want a UsageError naming conv, got %v", err)
	}
	rep, err := Compress(fp16Conv(), Options{Method: "quant", Target: Target{Ratio: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 1 || !strings.Contains(rep.Layers[0].Skipped, "float16") {
		t.Fatalf("fp16 conv not skipped with a reason: %+v", rep.Layers)
	}
}

func TestQuantIsDeterministic(t *testing.T) {
	var enc [2][]byte
	for i := range enc {
		m := mustCase(t, "resnet_bottleneck").Build(3)
		if _, err := Compress(m, Options{Method: "quant", Target: Target{Ratio: 0.25}, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		b, err := onnx.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		enc[i] = b
	}
	if !bytes.Equal(enc[0], enc[1]) {
		t.Error("two runs encode differently")
	}
}

// outputChannelAxis is where a weight keeps its output channels: axis 0 of a
// Conv weight (M, C, k…) and of a transB Gemm's B (N, K); axis 1 of (K, N).
func outputChannelAxis(l *Layer) int {
	if l.Node.OpType == "Conv" || l.Node.AttrInt("transB", 0) != 0 {
		return 0
	}
	return 1
}

// A weight two layers share is quantised once: one int8 tensor, one
// DequantizeLinear read by both convs.
func TestQuantSharedWeightStoredOnce(t *testing.T) {
	m := mustCase(t, "edge_shared_weight").Build(1)
	rep, err := Compress(m, Options{Method: "quant", Target: Target{Ratio: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Rewritten()); n != 2 {
		t.Fatalf("%d layers quantised, want 2", n)
	}
	codes, dqs := 0, 0
	for _, v := range m.Graph.Initializers {
		if v.Const.DType == graph.Int8 && len(v.Const.Dims) == 4 {
			codes++
		}
	}
	for _, n := range m.Graph.Nodes {
		if n.OpType == "DequantizeLinear" {
			dqs++
		}
	}
	if codes != 1 || dqs != 1 {
		t.Errorf("%d int8 weights and %d DequantizeLinear for one shared weight", codes, dqs)
	}
}
