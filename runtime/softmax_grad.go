package runtime

import (
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Softmax backward dx = y·(dy − Σ dy·y), LogSoftmax dx = dy − exp(y)·Σ dy,
// over the same lines as the forward (one axis from opset 13, the flattened
// trailing block before).

func init() {
	registerBackward(compileSoftmaxGrad(false), "Softmax")
	registerBackward(compileSoftmaxGrad(true), "LogSoftmax")
}

func compileSoftmaxGrad(logarithmic bool) gradCompileFunc {
	return func(n *graph.Node, opset int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
		def := int64(1)
		if opset >= 13 {
			def = -1
		}
		axisAttr := n.AttrInt("axis", def)
		return &gradOp{keepOut: true, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			y := out[0]
			axis, err := normAxis(axisAttr, len(y.Shape))
			if err != nil {
				return err
			}
			outer, dim, inner := shapeSize(y.Shape[:axis]), shapeSize(y.Shape[axis:]), 1
			if opset >= 13 {
				dim, inner = y.Shape[axis], shapeSize(y.Shape[axis+1:])
			}
			c.alloc(dx[0], graph.Float32, y.Shape...)
			yv, d, g := y.F32, dy[0].F32, dx[0].F32
			c.parallel(outer*inner, func(lo, hi int) {
				for row := lo; row < hi; row++ {
					base := row/inner*dim*inner + row%inner
					var s float64
					for k := 0; k < dim; k++ {
						i := base + k*inner
						if logarithmic {
							s += float64(d[i])
						} else {
							s += float64(d[i]) * float64(yv[i])
						}
					}
					for k := 0; k < dim; k++ {
						i := base + k*inner
						if logarithmic {
							g[i] = d[i] - float32(math.Exp(float64(yv[i]))*s)
						} else {
							g[i] = yv[i] * (d[i] - float32(s))
						}
					}
				}
			})
			return nil
		}}, nil
	}
}
