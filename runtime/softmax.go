package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Softmax, LogSoftmax and Hardmax. Before opset 13 the input is flattened to
// 2-D at axis (default 1) and normalised over the whole trailing block; from
// 13 the op normalises along the one axis (default -1).

func init() {
	registerForward(compileSoftmax(softmaxPlain), "Softmax")
	registerForward(compileSoftmax(softmaxLog), "LogSoftmax")
	registerForward(compileSoftmax(softmaxHard), "Hardmax")
}

type softmaxKind int

const (
	softmaxPlain softmaxKind = iota
	softmaxLog
	softmaxHard
)

func compileSoftmax(kind softmaxKind) compileFunc {
	return func(n *graph.Node, opset int64) (kernelFunc, error) {
		def := int64(1)
		if opset >= 13 {
			def = -1
		}
		axisAttr := n.AttrInt("axis", def)
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			if x.DType != graph.Float32 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			r := len(x.Shape)
			if r == 0 {
				return fmt.Errorf("softmax of a scalar")
			}
			axis, err := normAxis(axisAttr, r)
			if err != nil {
				return err
			}
			outer, dim, inner := shapeSize(x.Shape[:axis]), shapeSize(x.Shape[axis:]), 1
			if opset >= 13 {
				dim, inner = x.Shape[axis], shapeSize(x.Shape[axis+1:])
			}
			c.alloc(out[0], graph.Float32, x.Shape...)
			c.parallel(outer*inner, func(lo, hi int) {
				for row := lo; row < hi; row++ {
					o, i := row/inner, row%inner
					base := o*dim*inner + i
					softmaxLine(kind, x.F32, out[0].F32, base, inner, dim)
				}
			})
			return nil
		}, nil
	}
}

// softmaxLine normalises the dim elements at base, base+stride, ….
func softmaxLine(kind softmaxKind, x, y []float32, base, stride, dim int) {
	m := float32(math.Inf(-1))
	arg := 0
	for k := 0; k < dim; k++ {
		if v := x[base+k*stride]; v > m {
			m, arg = v, k
		}
	}
	if kind == softmaxHard {
		for k := 0; k < dim; k++ {
			y[base+k*stride] = 0
		}
		y[base+arg*stride] = 1
		return
	}
	var sum float64
	for k := 0; k < dim; k++ {
		e := math.Exp(float64(x[base+k*stride] - m))
		sum += e
		if kind == softmaxPlain {
			y[base+k*stride] = float32(e)
		}
	}
	if kind == softmaxLog {
		ls := math.Log(sum)
		for k := 0; k < dim; k++ {
			y[base+k*stride] = float32(float64(x[base+k*stride]-m) - ls)
		}
		return
	}
	inv := 1 / sum
	for k := 0; k < dim; k++ {
		y[base+k*stride] = float32(float64(y[base+k*stride]) * inv)
	}
}
