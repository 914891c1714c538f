package runtime

import (
	"github.com/onnxcompress/onnxcompress/graph"
)

// ReduceSum and ReduceMean backward: every input element receives the
// gradient of the output element it was summed into (divided by the count
// for the mean).

func init() {
	registerBackward(compileReduceGrad("ReduceSum", false), "ReduceSum")
	registerBackward(compileReduceGrad("ReduceMean", true), "ReduceMean")
}

func compileReduceGrad(op string, mean bool) gradCompileFunc {
	return func(n *graph.Node, opset int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
		keep := n.AttrInt("keepdims", 1) != 0
		noopEmpty := n.AttrInt("noop_with_empty_axes", 0) != 0
		attrAxes := n.AttrInts("axes", nil)
		axesFromInput := opset >= 18 || op == "ReduceSum" && opset >= 13
		return &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			x := in[0]
			axes := attrAxes
			if axesFromInput {
				var err error
				if axes, err = intsInput(in, 1, "axes"); err != nil {
					return err
				}
			}
			c.alloc(dx[0], graph.Float32, x.Shape...)
			if len(axes) == 0 && noopEmpty {
				copy(dx[0].F32, dy[0].F32)
				return nil
			}
			red, shape, err := reducedShape(x.Shape, axes, keep)
			if err != nil {
				return err
			}
			outStrides := make([]int, len(x.Shape))
			acc := 1
			for i := len(x.Shape) - 1; i >= 0; i-- {
				if !red[i] {
					outStrides[i] = acc
					acc *= x.Shape[i]
				}
			}
			idx := c.tempI64(x.Len())
			stridedIndex(idx, x.Shape, outStrides, 0)
			scale := float32(1)
			if nOut := shapeSize(shape); mean && nOut > 0 {
				scale = float32(nOut) / float32(x.Len())
			}
			d := dy[0].F32
			for e, o := range idx {
				dx[0].F32[e] = d[o] * scale
			}
			return nil
		}}, nil
	}
}
