package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Reductions (ReduceSum, ReduceMean, ReduceMax, …) and ArgMax/ArgMin. The
// axes moved from attribute to input in opset 13 for ReduceSum and in 18 for
// the others.

type reduceKind int

const (
	reduceSum reduceKind = iota
	reduceMean
	reduceMax
	reduceMin
	reduceProd
	reduceL1
	reduceL2
	reduceSumSquare
	reduceLogSum
	reduceLogSumExp
)

func init() {
	for op, k := range map[string]reduceKind{
		"ReduceSum": reduceSum, "ReduceMean": reduceMean, "ReduceMax": reduceMax, "ReduceMin": reduceMin,
		"ReduceProd": reduceProd, "ReduceL1": reduceL1, "ReduceL2": reduceL2, "ReduceSumSquare": reduceSumSquare,
		"ReduceLogSum": reduceLogSum, "ReduceLogSumExp": reduceLogSumExp,
	} {
		registerForward(compileReduce(op, k), op)
	}
	registerForward(compileArgReduce(true), "ArgMax")
	registerForward(compileArgReduce(false), "ArgMin")
}

// reducedShape marks the reduced axes (all when axes is empty) and returns
// the output shape.
func reducedShape(shape []int, axes []int64, keepDims bool) ([]bool, []int, error) {
	r := len(shape)
	red := make([]bool, r)
	for _, a := range axes {
		i, err := normAxis(a, r)
		if err != nil {
			return nil, nil, err
		}
		red[i] = true
	}
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	var out []int
	for i, d := range shape {
		switch {
		case !red[i]:
			out = append(out, d)
		case keepDims:
			out = append(out, 1)
		}
	}
	return red, out, nil
}

func compileReduce(op string, kind reduceKind) compileFunc {
	return func(n *graph.Node, opset int64) (kernelFunc, error) {
		keep := n.AttrInt("keepdims", 1) != 0
		noopEmpty := n.AttrInt("noop_with_empty_axes", 0) != 0
		attrAxes := n.AttrInts("axes", nil)
		axesFromInput := opset >= 18 || op == "ReduceSum" && opset >= 13
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			axes := attrAxes
			if axesFromInput {
				var err error
				if axes, err = intsInput(in, 1, "axes"); err != nil {
					return err
				}
			}
			if len(axes) == 0 && noopEmpty {
				copyTensor(c, out[0], x, x.Shape)
				return nil
			}
			if x.DType != graph.Float32 && x.DType != graph.Int64 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			red, shape, err := reducedShape(x.Shape, axes, keep)
			if err != nil {
				return err
			}
			// Output offset of every input element: reduced axes get stride 0.
			outStrides := make([]int, len(x.Shape))
			acc := 1
			for i := len(x.Shape) - 1; i >= 0; i-- {
				if !red[i] {
					outStrides[i] = acc
					acc *= x.Shape[i]
				}
			}
			total := x.Len()
			idx := c.tempI64(total)
			stridedIndex(idx, x.Shape, outStrides, 0)
			nOut := shapeSize(shape)
			count := 1
			if nOut > 0 {
				count = total / nOut
			}
			accum := make([]float64, nOut)
			init := 0.0
			switch kind {
			case reduceMax:
				init = math.Inf(-1)
			case reduceMin:
				init = math.Inf(1)
			case reduceProd:
				init = 1
			}
			for i := range accum {
				accum[i] = init
			}
			for i, o := range idx {
				v := x.at(i)
				a := &accum[o]
				switch kind {
				case reduceSum, reduceMean, reduceLogSum:
					*a += v
				case reduceMax:
					if v > *a || v != v {
						*a = v
					}
				case reduceMin:
					if v < *a || v != v {
						*a = v
					}
				case reduceProd:
					*a *= v
				case reduceL1:
					*a += math.Abs(v)
				case reduceL2, reduceSumSquare:
					*a += v * v
				case reduceLogSumExp:
					*a += math.Exp(v)
				}
			}
			for i := range accum {
				switch kind {
				case reduceMean:
					accum[i] /= float64(count)
				case reduceL2:
					accum[i] = math.Sqrt(accum[i])
				case reduceLogSum, reduceLogSumExp:
					accum[i] = math.Log(accum[i])
				}
			}
			c.alloc(out[0], x.DType, shape...)
			for i, v := range accum {
				if x.DType == graph.Int64 {
					out[0].I64[i] = int64(v)
				} else {
					out[0].F32[i] = float32(v)
				}
			}
			return nil
		}, nil
	}
}

func compileArgReduce(isMax bool) compileFunc {
	return func(n *graph.Node, _ int64) (kernelFunc, error) {
		axisAttr := n.AttrInt("axis", 0)
		keep := n.AttrInt("keepdims", 1) != 0
		last := n.AttrInt("select_last_index", 0) != 0
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			if x.DType != graph.Float32 && x.DType != graph.Int64 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			axis, err := normAxis(axisAttr, len(x.Shape))
			if err != nil {
				return err
			}
			_, shape, _ := reducedShape(x.Shape, []int64{int64(axis)}, keep)
			outer, dim, inner := shapeSize(x.Shape[:axis]), x.Shape[axis], shapeSize(x.Shape[axis+1:])
			c.alloc(out[0], graph.Int64, shape...)
			for o := 0; o < outer; o++ {
				for i := 0; i < inner; i++ {
					best, bi := 0.0, 0
					for k := 0; k < dim; k++ {
						v := x.at((o*dim+k)*inner + i)
						better := k == 0 || (isMax && v > best) || (!isMax && v < best) || (last && v == best)
						if better {
							best, bi = v, k
						}
					}
					out[0].I64[o*inner+i] = int64(bi)
				}
			}
			return nil
		}, nil
	}
}
