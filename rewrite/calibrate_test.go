package rewrite

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
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
