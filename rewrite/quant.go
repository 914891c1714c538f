package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// quantMethod is weight-only int8 QDQ (lowrank.md §3.10, lcs.md B.5/B.7):
// the weight is stored as an int8 initializer, symmetric (zero point 0),
// one scale per output channel, and a DequantizeLinear feeds the layer's
// own op, which is re-emitted unchanged otherwise. The codes and scales are
// solvers.QuantizeChannels' (QuantizeLinear semantics: round half to even
// of x/scale, saturated), so DequantizeLinear in any runtime gives exactly
// solvers' quantise→dequantise weight.
//
// Per-channel DequantizeLinear (the axis attribute) needs opset ≥ 13; below
// that one scale covers the whole weight, and below opset 10 there is no
// DequantizeLinear at all. With calibration data (Options.Calibration) the
// layer's input activation is quantised too: QuantizeLinear →
// DequantizeLinear with a uint8 scale and zero point from its calibrated
// range; without, activations stay float (weight-only).
//
// Here --ratio counts weight bytes: int8 keeps 1/4 of float32, so any ratio
// ≥ 0.25 gives 8 bits and a smaller one cannot be met. The scales (4 bytes
// per output channel) and zero points (1 byte) come on top; the bias stays
// float. The element count does not change (quantMethod is a paramKeeper).
// A weight shared by several layers gets one set of codes and one
// DequantizeLinear.
type quantMethod struct{}

func (quantMethod) Name() string { return "quant" }

func (quantMethod) keepsParamCount() bool { return true }

// quantBits is the only width emitted: int8 is what QuantizeLinear and
// DequantizeLinear hold at every opset below 21.
const quantBits = 8

func (quantMethod) Check(l *Layer) error {
	if l.Weight.DType != graph.Float32 {
		return errNotFor(l, "weight is %s: DequantizeLinear gives float32 below opset 19", l.Weight.DType)
	}
	return nil
}

func (quantMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	if t.Rank > 0 || t.Energy > 0 {
		return LayerPlan{}, fmt.Errorf("quant keeps a share of weight bytes: give --ratio (0.25 or more for int8)")
	}
	// A hair of slack so that 0.25 given as a rounded decimal still counts.
	if t.Ratio < float64(quantBits)/32*(1-1e-9) {
		return LayerPlan{}, fmt.Errorf("int8 keeps 1/4 of the float32 weight bytes; ratio %g asks for less", t.Ratio)
	}
	return LayerPlan{Bits: quantBits}, nil
}

// quantAxis is the output-channel axis of the stored weight.
func quantAxis(l *Layer) int {
	switch {
	case l.Kind == ConvLayer:
		return 0
	case l.Kind == GemmLayer && l.Gemm.TransB:
		return 0
	}
	return 1 // Gemm B (K, N) and MatMul (K, N)
}

func (quantMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	if p.Bits != 0 && p.Bits != quantBits {
		return nil, 0, fmt.Errorf("quant emits %d-bit weights, the plan asks for %d", quantBits, p.Bits)
	}
	if e.Opset() < 10 {
		return nil, 0, fmt.Errorf("DequantizeLinear needs opset ≥ 10, the model imports %d", e.Opset())
	}
	w, err := l.Weight.Float64s()
	if err != nil {
		return nil, 0, err
	}
	shape := make([]int, len(l.Weight.Dims))
	for i, d := range l.Weight.Dims {
		shape[i] = int(d)
	}
	scheme := solvers.QuantScheme{Bits: quantBits, Signed: true, Symmetric: true}
	perChannel := e.Opset() >= 13
	axis := quantAxis(l)
	doc := fmt.Sprintf("onnxcompress quant: int8 codes of %s, per tensor", l.Node.Input(1).Name)
	if perChannel {
		doc = fmt.Sprintf("onnxcompress quant: int8 codes of %s, per channel along axis %d", l.Node.Input(1).Name, axis)
	}
	var codes []int32
	var params []solvers.Affine
	if perChannel {
		codes, params, err = solvers.QuantizeChannels(w, shape, axis, scheme, solvers.QuantRange{})
	} else {
		var a solvers.Affine
		codes, a, err = solvers.QuantizeTensor(w, scheme, solvers.QuantRange{})
		params = []solvers.Affine{a}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", l.Node.Label(), err)
	}
	relErr, err := quantError(w, codes, shape, axis, params, perChannel)
	if err != nil {
		return nil, 0, err
	}
	if lo, hi, ok := e.ActivationRange(l.Input); ok {
		// Static QDQ: uint8 asymmetric activations from the calibrated range
		// (ONNX Runtime's CPU convention: u8 activations, s8 weights).
		xq, err := quantizeActivation(e, l.Input, lo, hi)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", l.Node.Label(), err)
		}
		withInput := *l
		withInput.Input = xq
		l = &withInput
	}
	if dq := emittedDequantize(e.b.G, doc); dq != nil {
		return emitWithWeight(e, l, dq), relErr, nil
	}
	raw := make([]byte, len(codes))
	for i, q := range codes {
		raw[i] = byte(int8(q))
	}
	scales := make([]float32, len(params))
	for i, a := range params {
		scales[i] = a.Scale
	}
	var paramDims []int64 // a scalar scale for per-tensor quantisation
	if perChannel {
		paramDims = []int64{int64(len(params))}
	}
	q := e.Tensor("Wq", &graph.Tensor{DType: graph.Int8, Dims: append([]int64(nil), l.Weight.Dims...), Raw: raw, DocString: doc})
	scale := e.Tensor("scale", graph.NewFloat32("", paramDims, scales))
	zero := e.Tensor("zero_point", &graph.Tensor{DType: graph.Int8, Dims: paramDims, Raw: make([]byte, len(params))})
	var attrs []*graph.Attr
	if perChannel {
		attrs = append(attrs, graph.IntAttr("axis", int64(axis)))
	}
	dq := e.Op("DequantizeLinear", "dq", []*graph.Value{q, scale, zero}, attrs...)
	return emitWithWeight(e, l, dq), relErr, nil
}

// quantError is ‖W − Ŵ‖/‖W‖ for the dequantised weight Ŵ.
func quantError(w []float64, codes []int32, shape []int, axis int, params []solvers.Affine, perChannel bool) (float64, error) {
	deq := solvers.DequantizeTensor(codes, params[0])
	if perChannel {
		var err error
		if deq, err = solvers.DequantizeChannels(codes, shape, axis, params); err != nil {
			return 0, err
		}
	}
	var all, diff float64
	for i, v := range w {
		all += v * v
		diff += (v - deq[i]) * (v - deq[i])
	}
	if all == 0 {
		return 0, nil
	}
	return math.Sqrt(diff / all), nil
}

// emittedDequantize finds the DequantizeLinear an earlier rewrite of this
// run made for the same stored weight (shared by several layers), so the
// int8 codes are stored once.
func emittedDequantize(g *graph.Graph, doc string) *graph.Value {
	codes := emittedConst(g, doc)
	if codes == nil {
		return nil
	}
	for _, n := range g.Nodes {
		if n.OpType == "DequantizeLinear" && n.Input(0) == codes {
			return n.Outputs[0]
		}
	}
	return nil
}

// quantizeActivation emits QuantizeLinear → DequantizeLinear of x with a
// per-tensor uint8 affine map covering [lo, hi] (and 0, so zero padding
// stays exact).
func quantizeActivation(e *Emitter, x *graph.Value, lo, hi float64) (*graph.Value, error) {
	a, err := solvers.AffineFromRange(lo, hi, solvers.QuantScheme{Bits: quantBits})
	if err != nil {
		return nil, err
	}
	scale := e.Tensor("x_scale", graph.NewFloat32("", nil, []float32{a.Scale}))
	zero := e.Tensor("x_zero_point", &graph.Tensor{DType: graph.Uint8, Raw: []byte{byte(a.ZeroPoint)}})
	q := e.Op("QuantizeLinear", "xq", []*graph.Value{x, scale, zero})
	return e.Op("DequantizeLinear", "xdq", []*graph.Value{q, scale, zero}), nil
}
