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
			x, scale := in[0], in[1]
			var zp *Tensor
			if len(in) > 2 {
				zp = in[2]
			}
			if scale.DType != graph.Float32 {
				return fmt.Errorf("scale dtype %s is %w", scale.DType, ErrUnsupported)
			}
			// Per-axis: element i uses parameter (i / inner) % dim.
			inner, dim := 1, 1
			if scale.Len() > 1 {
				axis, err := normAxis(axisAttr, len(x.Shape))
				if err != nil {
					return err
				}
				dim, inner = x.Shape[axis], shapeSize(x.Shape[axis+1:])
				if scale.Len() != dim {
					return fmt.Errorf("scale %v for axis of size %d", scale.Shape, dim)
				}
			}
			if zp != nil && zp.Len() != scale.Len() {
				return fmt.Errorf("zero point %v and scale %v differ", zp.Shape, scale.Shape)
			}
			param := func(i int) (float64, float64) {
				k := (i / inner) % dim
				z := 0.0
				if zp != nil {
					z = zp.at(k)
				}
				return float64(scale.F32[k]), z
			}
			if !quantize {
				if x.DType != graph.Int8 && x.DType != graph.Uint8 {
					return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
				}
				c.alloc(out[0], graph.Float32, x.Shape...)
				for i := range out[0].F32 {
					s, z := param(i)
					out[0].F32[i] = float32((x.at(i) - z) * s)
				}
				return nil
			}
			if x.DType != graph.Float32 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			to := graph.Uint8
			if zp != nil {
				to = zp.DType
			}
			lo, hi := 0.0, 255.0
			switch to {
			case graph.Int8:
				lo, hi = -128, 127
			case graph.Uint8:
			default:
				return fmt.Errorf("zero point dtype %s is %w", to, ErrUnsupported)
			}
			c.alloc(out[0], to, x.Shape...)
			for i, v := range x.F32 {
				s, z := param(i)
				q := math.RoundToEven(float64(v/float32(s))) + z // divided in float32, as ONNX Runtime does
				q = math.Max(lo, math.Min(hi, q))
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
