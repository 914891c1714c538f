package runtime

import (
	"github.com/onnxcompress/onnxcompress/graph"
)

// Backward of QuantizeLinear and DequantizeLinear, so that quantized models
// can be fine-tuned: the integer codes stay fixed (or, for activations, are
// recomputed each step) and the float scales learn.
//
// DequantizeLinear y = (q − z)·s is linear in s: ∂y/∂s = q − z exactly. The
// codes q are integers; when they come from a QuantizeLinear of a trained
// value, the straight-through estimator passes ∂y/∂q = s back to it.
//
// QuantizeLinear q = clamp(round(x/s) + z) has zero derivative almost
// everywhere, so it takes the straight-through estimator with the clamp
// (Bengio et al. 2013): round counts as the identity, so the gradient
// passes where x/s + z lies within the code range and not outside it. Inside, ∂q/∂x = 1/s and ∂q/∂s = −x/s². A
// QuantizeLinear → DequantizeLinear pair sharing s then gets exactly the
// learned-step-size gradient of LSQ (Esser et al. 2020): ∂y/∂x = 1 inside
// and 0 outside, ∂y/∂s = round(x/s) − x/s inside and the saturated code
// minus z outside. The zero point is an integer and gets no gradient.

func init() {
	registerBackward(compileQuantGrad(false), "DequantizeLinear")
	registerBackward(compileQuantGrad(true), "QuantizeLinear")
}

func compileQuantGrad(quantize bool) gradCompileFunc {
	return func(n *graph.Node, _ int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
		axisAttr := n.AttrInt("axis", 1)
		grad := dequantizeGrad
		if quantize {
			grad = quantizeGrad
		}
		return &gradOp{keepIn: []int{0, 1, 2}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			qp, err := newQuantParams(axisAttr, in)
			if err != nil {
				return err
			}
			if len(dx) > 2 && dx[2] != nil {
				c.allocZero(dx[2], graph.Float32, in[2].Shape...)
			}
			return grad(c, qp, in[0], dy[0], dx)
		}}, nil
	}
}

func dequantizeGrad(c *execContext, qp quantParams, q, dy *Tensor, dx []*Tensor) error {
	if dx[0] != nil {
		c.alloc(dx[0], graph.Float32, q.Shape...)
		for i, g := range dy.F32 {
			s, _ := qp.at(i)
			dx[0].F32[i] = g * float32(s)
		}
	}
	if dx[1] != nil {
		ds := make([]float64, qp.scale.Len())
		for i, g := range dy.F32 {
			_, z := qp.at(i)
			ds[qp.channel(i)] += float64(g) * (q.at(i) - z)
		}
		writeParamGrad(c, dx[1], qp.scale.Shape, ds)
	}
	return nil
}

func quantizeGrad(c *execContext, qp quantParams, x, dq *Tensor, dx []*Tensor) error {
	_, lo, hi, err := qp.codeRange()
	if err != nil {
		return err
	}
	if dx[0] != nil {
		c.alloc(dx[0], graph.Float32, x.Shape...)
	}
	var ds []float64
	if dx[1] != nil {
		ds = make([]float64, qp.scale.Len())
	}
	for i, v := range x.F32 {
		s, z := qp.at(i)
		// Round counts as the identity: the unrounded code decides whether
		// the clamp lets the gradient through.
		g := 0.0
		if u := float64(v/float32(s)) + z; u >= lo && u <= hi {
			g = float64(dq.F32[i])
		}
		if dx[0] != nil {
			dx[0].F32[i] = float32(g / s)
		}
		if ds != nil {
			ds[qp.channel(i)] -= g * float64(v) / (s * s)
		}
	}
	if ds != nil {
		writeParamGrad(c, dx[1], qp.scale.Shape, ds)
	}
	return nil
}

// writeParamGrad stores per-parameter sums accumulated in float64.
func writeParamGrad(c *execContext, dst *Tensor, shape []int, sums []float64) {
	c.alloc(dst, graph.Float32, shape...)
	for k, v := range sums {
		dst.F32[k] = float32(v)
	}
}
