package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// QuantizeLinear and DequantizeLinear, per tensor or per axis (opset 13).

func init() {
	registerForward(compileQuant(true), "QuantizeLinear")
	registerForward(compileQuant(false), "DequantizeLinear")
}

func compileQuant(quantize bool) compileFunc {
	return func(n *graph.Node, _ int64) (kernelFunc, error) {
		axisAttr := n.AttrInt("axis", 1)
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			qp, err := newQuantParams(axisAttr, in)
			if err != nil {
				return err
			}
			if !quantize {
				if x.DType != graph.Int8 && x.DType != graph.Uint8 {
					return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
				}
				c.alloc(out[0], graph.Float32, x.Shape...)
				for i := range out[0].F32 {
					s, z := qp.at(i)
					out[0].F32[i] = float32((x.at(i) - z) * s)
				}
				return nil
			}
			if x.DType != graph.Float32 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			to, lo, hi, err := qp.codeRange()
			if err != nil {
				return err
			}
			c.alloc(out[0], to, x.Shape...)
			for i, v := range x.F32 {
				s, z := qp.at(i)
				q := math.Max(lo, math.Min(hi, quantCode(v, s, z)))
				if to == graph.Int8 {
					out[0].I8[i] = int8(q)
				} else {
					out[0].U8[i] = uint8(q)
				}
			}
			return nil
		}, nil
	}
}

// quantParams are a Quantize/DequantizeLinear node's scale and zero point,
// per tensor or per axis.
type quantParams struct {
	scale, zp  *Tensor // zp nil when the input is omitted
	inner, dim int     // element i uses parameter (i / inner) % dim
}

// newQuantParams reads in[1] (scale) and in[2] (zero point) for in[0].
func newQuantParams(axisAttr int64, in []*Tensor) (quantParams, error) {
	x, scale := in[0], in[1]
	qp := quantParams{scale: scale, inner: 1, dim: 1}
	if len(in) > 2 {
		qp.zp = in[2]
	}
	if scale.DType != graph.Float32 {
		return qp, fmt.Errorf("scale dtype %s is %w", scale.DType, ErrUnsupported)
	}
	if scale.Len() > 1 {
		axis, err := normAxis(axisAttr, len(x.Shape))
		if err != nil {
			return qp, err
		}
		qp.dim, qp.inner = x.Shape[axis], shapeSize(x.Shape[axis+1:])
		if scale.Len() != qp.dim {
			return qp, fmt.Errorf("scale %v for axis of size %d", scale.Shape, qp.dim)
		}
	}
	if qp.zp != nil && qp.zp.Len() != scale.Len() {
		return qp, fmt.Errorf("zero point %v and scale %v differ", qp.zp.Shape, scale.Shape)
	}
	return qp, nil
}

// channel is the parameter index of element i.
func (qp quantParams) channel(i int) int { return (i / qp.inner) % qp.dim }

// at gives element i's scale and zero point.
func (qp quantParams) at(i int) (scale, zero float64) {
	k := qp.channel(i)
	if qp.zp != nil {
		zero = qp.zp.at(k)
	}
	return float64(qp.scale.F32[k]), zero
}

// codeRange is QuantizeLinear's output dtype (the zero point's, uint8
// without one) and its saturation bounds.
func (qp quantParams) codeRange() (to graph.DType, lo, hi float64, err error) {
	to = graph.Uint8
	if qp.zp != nil {
		to = qp.zp.DType
	}
	switch to {
	case graph.Int8:
		return to, -128, 127, nil
	case graph.Uint8:
		return to, 0, 255, nil
	}
	return to, 0, 0, fmt.Errorf("zero point dtype %s is %w", to, ErrUnsupported)
}

// quantCode is x's code before saturation: x/scale divided in float32, as
// ONNX Runtime does, rounded half to even, plus the zero point.
func quantCode(x float32, scale, zero float64) float64 {
	return math.RoundToEven(float64(x/float32(scale))) + zero
}
