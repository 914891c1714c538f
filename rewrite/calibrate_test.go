package rewrite

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

func TestActivationRangePercentiles(t *testing.T) {
	x := make([]float32, 101)
	for i := range x {
		x[i] = float32(i) // 0..100: the p-th percentile is p
	}
	lo, hi, err := activationRange(x, 0)
	if err != nil || lo != 0 || hi != 100 {
		t.Fatalf("min/max: %g %g %v", lo, hi, err)
	}
	lo, hi, err = activationRange(x, 99)
	if err != nil || math.Abs(lo-1) > 1e-12 || math.Abs(hi-99) > 1e-12 {
		t.Fatalf("99th percentiles: %g %g %v", lo, hi, err)
	}
	if _, _, err := activationRange(x, 30); err == nil {
		t.Fatal("percentile 30 accepted")
	}
}

// With calibration data quant quantises each layer's input activation
// (static QDQ) and the model still computes nearly the same thing in ONNX
// Runtime on inputs like the calibration data.
func TestQuantWithCalibrationIsStaticQDQ(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	c := mustCase(t, "lenet5")
	var calib []map[string]*runtime.Tensor
	for seed := uint64(0); seed < 4; seed++ {
		for name, gt := range c.RandomInputs(100 + seed) {
			rt, err := runtime.FromGraph(gt)
			if err != nil {
				t.Fatal(err)
			}
			calib = append(calib, map[string]*runtime.Tensor{name: rt})
		}
	}
	m := c.Build(1)
	rep, err := Compress(m, Options{Method: "quant", Target: Target{Ratio: 0.25}, Calibration: calib})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Verify(m.Graph); err != nil {
		t.Fatal(err)
	}
	q := 0
	for _, n := range m.Graph.Nodes {
		if n.OpType == "QuantizeLinear" {
			q++
		}
	}
	if rewritten := len(rep.Rewritten()); rewritten == 0 || q != rewritten {
		t.Fatalf("%d QuantizeLinear nodes for %d quantised layers", q, rewritten)
	}
	dir := t.TempDir()
	orig, small := filepath.Join(dir, "orig.onnx"), filepath.Join(dir, "q.onnx")
	if err := onnx.Write(orig, c.Build(1)); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Write(small, m); err != nil {
		t.Fatal(err)
	}
	if err := reference.CheckModel(small); err != nil {
		t.Fatal(err)
	}
	in := c.RandomInputs(7)
	res, err := reference.RunORTBatch([]reference.ORTJob{{Model: orig, Inputs: in}, {Model: small, Inputs: in}}, 1)
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("ORT: %v %v %v", err, res[0].Err, res[1].Err)
	}
	for name, w := range res[0].Outputs {
		wf, _ := w.Float32s()
		gf, _ := res[1].Outputs[name].Float32s()
		if e := reference.RelL2(gf, wf); e > 0.05 {
			t.Errorf("output %s: relative L2 %.4f after static int8 QDQ", name, e)
		}
	}
}

// With calibration data the global budget prices each svd setting by its
// output error on that data instead of its weight error. On the bundled
// Fashion-MNIST LeNet with real images the allocation changes and, within
// the same budget, the summed squared layer output errors it minimises are
// smaller on held-out test images than those of the data-free allocation.
// (The model's end-to-end output error is logged, not required to drop:
// layer errors are weighed alike, whatever their effect downstream.)
func TestCalibratedBudgetLowersLayerOutputErrors(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	norm := dataset.Options{Scale: 1.0 / 255, Mean: []float32{0.286}, Std: []float32{0.353}}
	train, err := dataset.Open(reference.FashionMNISTDir, norm)
	if err != nil {
		t.Fatal(err)
	}
	norm.Split = "test"
	test, err := dataset.Open(reference.FashionMNISTDir, norm)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(d *dataset.Dataset, from, n int) map[string]*runtime.Tensor {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = from + i
		}
		gt, err := d.BatchTensor("input", idx)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := runtime.FromGraph(gt)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]*runtime.Tensor{"input": rt}
	}
	calib := []map[string]*runtime.Tensor{batch(train, 0, 128), batch(train, 128, 128)}
	heldOut := []map[string]*runtime.Tensor{batch(test, 0, 256), batch(test, 256, 256)}
	load := func() *graph.Model {
		m, err := onnx.Decode(testmodels.BundledLeNetONNX(), "")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Every svd setting of every layer, priced on the held-out images.
	s := &state{model: load(), opts: Options{Method: "svd", Calibration: heldOut}, method: svdMethod{}, plans: map[*Layer]LayerPlan{}, report: &Report{}}
	for _, p := range []pass{{"save-declared-types", saveDeclaredTypes}, {"infer-shapes", inferShapes}, {"select-layers", selectLayers}, {"calibrate", calibrate}} {
		if err := p.run(s); err != nil {
			t.Fatal(err)
		}
	}
	heldOutErr := map[string]float64{}
	for _, l := range s.layers {
		cands, err := svdMethod{}.Candidates(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cands {
			heldOutErr[l.Node.Label()+"|"+c.Plan.Describe()] = c.Err
		}
	}
	const ratio = 0.25
	compress := func(calib []map[string]*runtime.Tensor) (kept, objective, modelErr float64, plan string) {
		m := load()
		// Every rank on offer: this compares the two pricings, not the grid.
		rep, err := Compress(m, Options{Method: "svd", Target: Target{Ratio: ratio}, Calibration: calib, RankMultiple: 1})
		if err != nil {
			t.Fatal(err)
		}
		if modelErr, err = MeasureOutputErrors(load(), m, rep, heldOut[0], 1); err != nil {
			t.Fatal(err)
		}
		for _, l := range rep.Rewritten() {
			p := LayerPlan{Form: l.Form, Ranks: l.Ranks}
			e, ok := heldOutErr[l.Layer+"|"+p.Describe()]
			if !ok {
				t.Fatalf("%s %s: not an output-priced svd setting", l.Layer, p.Describe())
			}
			objective += e * e
			plan += fmt.Sprintf("%s %s; ", l.Layer, p.Describe())
		}
		return float64(rep.SelectedParamsAfter) / float64(rep.SelectedParamsBefore), objective, modelErr, plan
	}
	keptFree, objFree, modelFree, planFree := compress(nil)
	keptCal, objCal, modelCal, planCal := compress(calib)
	t.Logf("data-free: kept %.3f, held-out Σ layer err² %.4f, model output error %.4f: %s", keptFree, objFree, modelFree, planFree)
	t.Logf("calibrated: kept %.3f, held-out Σ layer err² %.4f, model output error %.4f: %s", keptCal, objCal, modelCal, planCal)
	if keptCal > ratio+0.02 || keptCal < ratio-0.10 {
		t.Errorf("calibrated allocation kept %.3f of the parameters at ratio %g", keptCal, ratio)
	}
	if planCal == planFree {
		t.Error("calibration data did not change the allocation")
	}
	if objCal >= objFree {
		t.Errorf("held-out Σ layer output err² %.4f with calibration, %.4f without: calibration did not help", objCal, objFree)
	}
}

// The sampled inputs are the layer's im2col patches: W·patch + bias is the
// Conv's output at that position in this project's runtime, for strides,
// dilations, groups, SAME and asymmetric padding, and Conv1D.
func TestConvPatchesReproduceTheConv(t *testing.T) {
	for _, name := range []string{"edge_conv_strides", "edge_conv_dilation", "edge_conv_groups", "edge_conv_same_lower",
		"edge_conv_same_upper", "edge_conv_asym_pads", "edge_conv1d", "lenet5"} {
		c := mustCase(t, name)
		m := c.Build(2)
		checked := 0
		inputs := map[string]*runtime.Tensor{}
		for in, gt := range c.RandomInputs(3) {
			rt, err := runtime.FromGraph(gt)
			if err != nil {
				t.Fatal(err)
			}
			inputs[in] = rt
		}
		for _, l := range FindLayers(m.Graph) {
			if l.Kind != ConvLayer {
				continue
			}
			out, err := runWatching(m, []string{l.Input.Name, l.Output.Name}, inputs, 1)
			if err != nil {
				t.Fatal(err)
			}
			x, y := out[l.Input.Name], out[l.Output.Name]
			win, err := l.convWindow(x.Shape)
			if err != nil {
				t.Fatalf("%s %s: %v", name, l.Node.Name, err)
			}
			if win.positions*y.Shape[1] != len(y.F32) {
				t.Fatalf("%s %s: %d positions for an output of shape %v", name, l.Node.Name, win.positions, y.Shape)
			}
			var bias []float64
			if l.BiasConst != nil {
				bias, _ = l.BiasConst.Float64s()
			}
			ms, err := l.groupMatrices()
			if err != nil {
				t.Fatal(err)
			}
			spatial := len(y.F32) / (y.Shape[0] * y.Shape[1])
			worst := 0.0
			for p := 0; p < win.positions; p++ {
				batch, at := p/spatial, p%spatial
				for g, w := range ms {
					patch := win.patch(x, p, g, nil)
					for o := 0; o < l.Out(); o++ {
						ch := g*l.Out() + o
						sum := 0.0
						for i, v := range patch {
							sum += w[o*l.In()+i] * v
						}
						if bias != nil {
							sum += bias[ch]
						}
						got := float64(y.F32[(batch*y.Shape[1]+ch)*spatial+at])
						worst = math.Max(worst, math.Abs(sum-got)/(1+math.Abs(got)))
						checked++
					}
				}
			}
			if worst > 1e-4 {
				t.Errorf("%s %s: W·patch differs from the Conv output by %.3g", name, l.Node.Name, worst)
			}
		}
		if checked == 0 {
			t.Errorf("%s: no conv output checked", name)
		}
	}
}
