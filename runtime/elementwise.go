package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Binary arithmetic with numpy broadcasting: Add, Sub, Mul, Div, Pow, and the
// variadic Max, Min, Sum, Mean.

type binOp int

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
	opPow
	opMax
	opMin
	opMod
)

func init() {
	for op, code := range map[string]binOp{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv, "Pow": opPow} {
		registerForward(compileBinary(code), op)
	}
	registerFused(compileAddAct, "Add")
	registerForward(compileMod, "Mod")
	registerForward(simple(prelu), "PRelu")
	registerForward(compileVariadic(opMax, false), "Max")
	registerForward(compileVariadic(opMin, false), "Min")
	registerForward(compileVariadic(opAdd, false), "Sum")
	registerForward(compileVariadic(opAdd, true), "Mean")
}

func compileBinary(op binOp) compileFunc {
	return func(n *graph.Node, _ int64) (kernelFunc, error) {
		if len(n.Inputs) != 2 {
			return nil, fmt.Errorf("want 2 inputs, got %d", len(n.Inputs))
		}
		return func(c *execContext, in, out []*Tensor) error {
			return elementwiseBinary(c, op, in[0], in[1], out[0])
		}, nil
	}
}

// compileAddAct is Add followed by a fused activation (ResNet's residual
// Add + Relu).
func compileAddAct(n *graph.Node, opset int64, act activation) (kernelFunc, error) {
	if len(n.Inputs) != 2 {
		return nil, fmt.Errorf("want 2 inputs, got %d", len(n.Inputs))
	}
	return func(c *execContext, in, out []*Tensor) error {
		if err := elementwiseBinary(c, opAdd, in[0], in[1], out[0]); err != nil {
			return err
		}
		if out[0].DType != graph.Float32 {
			return fmt.Errorf("fused activation on %s", out[0].DType)
		}
		act.apply(out[0].F32, 0)
		return nil
	}, nil
}

func compileMod(n *graph.Node, _ int64) (kernelFunc, error) {
	fmod := n.AttrInt("fmod", 0) != 0
	return func(c *execContext, in, out []*Tensor) error {
		a, b := in[0], in[1]
		if a.DType == graph.Float32 && !fmod {
			return fmt.Errorf("Mod on floats needs fmod=1")
		}
		if a.DType == graph.Float32 {
			return elementwiseBinary(c, opMod, a, b, out[0])
		}
		if a.DType != graph.Int64 || b.DType != graph.Int64 {
			return fmt.Errorf("Mod of %s and %s is %w", a.DType, b.DType, ErrUnsupported)
		}
		return broadcastInt64(c, a, b, out[0], func(x, y int64) int64 {
			if y == 0 {
				return 0
			}
			r := x % y
			if !fmod && r != 0 && (r < 0) != (y < 0) {
				r += y
			}
			return r
		})
	}, nil
}

// elementwiseBinary computes out = a op b, broadcasting.
func elementwiseBinary(c *execContext, op binOp, a, b, out *Tensor) error {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	if op == opPow && a.DType == graph.Float32 && b.DType != graph.Float32 {
		b = asFloat32(b)
	}
	if op == opPow && a.DType == graph.Int64 && b.DType == graph.Float32 {
		// Integer base, real exponent: computed in float64 and truncated.
		c.alloc(out, graph.Int64, shape...)
		o := out.I64
		broadcastRuns(shape, [][]int{a.Shape, b.Shape}, func(off int, offs, st []int, n int) {
			for i := 0; i < n; i++ {
				o[off+i] = int64(math.Pow(float64(a.I64[offs[0]+i*st[0]]), float64(b.F32[offs[1]+i*st[1]])))
			}
		})
		return nil
	}
	if a.DType != b.DType {
		return fmt.Errorf("operand dtypes differ: %s and %s", a.DType, b.DType)
	}
	switch a.DType {
	case graph.Float32:
		c.alloc(out, graph.Float32, shape...)
		binaryF32(c, op, out.F32, shape, a.F32, a.Shape, b.F32, b.Shape)
		return nil
	case graph.Int64:
		f := int64Op(op)
		if f == nil {
			return fmt.Errorf("op not defined on int64")
		}
		return broadcastInt64(c, a, b, out, f)
	}
	return fmt.Errorf("dtype %s is %w", a.DType, ErrUnsupported)
}

// binaryF32 is the float32 hot path; out may alias a when shapes match.
func binaryF32(c *execContext, op binOp, out []float32, shape []int, a []float32, aShape []int, b []float32, bShape []int) {
	if sameShape(aShape, shape) && sameShape(bShape, shape) {
		n := len(out)
		chunks := n/16384 + 1
		c.parallel(chunks, func(lo, hi int) {
			s, e := lo*n/chunks, hi*n/chunks
			f32Run(op, out[s:e], a[s:e], 1, b[s:e], 1)
		})
		return
	}
	broadcastRuns(shape, [][]int{aShape, bShape}, func(o int, offs, st []int, n int) {
		f32Run(op, out[o:o+n], a[offs[0]:], st[0], b[offs[1]:], st[1])
	})
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// f32Run applies op over one run; sa and sb are 0 (broadcast) or 1.
func f32Run(op binOp, out, a []float32, sa int, b []float32, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(out)], b[:len(out)]
		switch op {
		case opAdd:
			for i := range out {
				out[i] = a[i] + b[i]
			}
		case opSub:
			for i := range out {
				out[i] = a[i] - b[i]
			}
		case opMul:
			for i := range out {
				out[i] = a[i] * b[i]
			}
		case opDiv:
			for i := range out {
				out[i] = a[i] / b[i]
			}
		default:
			for i := range out {
				out[i] = f32Scalar(op, a[i], b[i])
			}
		}
	case sa == 1 && sb == 0:
		a = a[:len(out)]
		y := b[0]
		switch op {
		case opAdd:
			for i := range out {
				out[i] = a[i] + y
			}
		case opMul:
			for i := range out {
				out[i] = a[i] * y
			}
		default:
			for i := range out {
				out[i] = f32Scalar(op, a[i], y)
			}
		}
	default:
		for i := range out {
			out[i] = f32Scalar(op, a[i*sa], b[i*sb])
		}
	}
}

func f32Scalar(op binOp, x, y float32) float32 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opPow:
		return float32(math.Pow(float64(x), float64(y)))
	case opMax:
		if x != x || y != y {
			return float32(math.NaN())
		}
		return max(x, y)
	case opMin:
		if x != x || y != y {
			return float32(math.NaN())
		}
		return min(x, y)
	case opMod:
		return float32(math.Mod(float64(x), float64(y)))
	}
	panic("unreachable")
}

func int64Op(op binOp) func(x, y int64) int64 {
	switch op {
	case opAdd:
		return func(x, y int64) int64 { return x + y }
	case opSub:
		return func(x, y int64) int64 { return x - y }
	case opMul:
		return func(x, y int64) int64 { return x * y }
	case opDiv:
		return func(x, y int64) int64 {
			if y == 0 {
				return 0
			}
			return x / y
		}
	case opPow:
		return func(x, y int64) int64 { return int64(math.Pow(float64(x), float64(y))) }
	case opMax:
		return func(x, y int64) int64 { return max(x, y) }
	case opMin:
		return func(x, y int64) int64 { return min(x, y) }
	}
	return nil
}

func broadcastInt64(c *execContext, a, b, out *Tensor, f func(x, y int64) int64) error {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	av, bv := a.I64, b.I64
	c.alloc(out, graph.Int64, shape...)
	o := out.I64
	broadcastRuns(shape, [][]int{a.Shape, b.Shape}, func(off int, offs, st []int, n int) {
		for i := 0; i < n; i++ {
			o[off+i] = f(av[offs[0]+i*st[0]], bv[offs[1]+i*st[1]])
		}
	})
	return nil
}

// asFloat32 converts a numeric tensor to float32 (for mixed-type Pow).
func asFloat32(t *Tensor) *Tensor {
	if t.DType == graph.Float32 {
		return t
	}
	f := make([]float32, t.Len())
	for i := range f {
		f[i] = float32(t.at(i))
	}
	return &Tensor{DType: graph.Float32, Shape: t.Shape, F32: f}
}

// compileVariadic folds Max/Min/Sum/Mean over any number of inputs.
func compileVariadic(op binOp, mean bool) compileFunc {
	return func(n *graph.Node, _ int64) (kernelFunc, error) {
		if len(n.Inputs) == 0 {
			return nil, fmt.Errorf("needs at least one input")
		}
		return func(c *execContext, in, out []*Tensor) error {
			shapes := make([][]int, len(in))
			for i, t := range in {
				shapes[i] = t.Shape
				if t.DType != in[0].DType {
					return fmt.Errorf("operand dtypes differ: %s and %s", in[0].DType, t.DType)
				}
			}
			shape, err := broadcastShapes(shapes...)
			if err != nil {
				return err
			}
			switch in[0].DType {
			case graph.Float32:
				c.alloc(out[0], graph.Float32, shape...)
				o := out[0].F32
				expandInto(o, shape, in[0].F32, in[0].Shape)
				for _, t := range in[1:] {
					binaryF32(c, op, o, shape, o, shape, t.F32, t.Shape)
				}
				if mean {
					inv := float32(len(in))
					for i := range o {
						o[i] /= inv
					}
				}
			case graph.Int64:
				f := int64Op(op)
				acc := in[0]
				for _, t := range in[1:] {
					next := &Tensor{}
					if err := broadcastInt64(c, acc, t, next, f); err != nil {
						return err
					}
					acc = next
				}
				c.alloc(out[0], graph.Int64, shape...)
				expandGeneric(out[0].I64, shape, acc.I64, acc.Shape)
				if mean {
					for i := range out[0].I64 {
						out[0].I64[i] /= int64(len(in))
					}
				}
			default:
				return fmt.Errorf("dtype %s is %w", in[0].DType, ErrUnsupported)
			}
			return nil
		}, nil
	}
}

// expandInto broadcasts src (shape srcShape) into dst (shape shape).
func expandInto(dst []float32, shape []int, src []float32, srcShape []int) {
	expandGeneric(dst, shape, src, srcShape)
}

func expandGeneric[E any](dst []E, shape []int, src []E, srcShape []int) {
	broadcastRuns(shape, [][]int{srcShape}, func(o int, offs, st []int, n int) {
		if st[0] == 1 {
			copy(dst[o:o+n], src[offs[0]:offs[0]+n])
			return
		}
		v := src[offs[0]]
		for i := o; i < o+n; i++ {
			dst[i] = v
		}
	})
}

// prelu is x for x ≥ 0 and slope·x otherwise, slope broadcasting to x.
func prelu(c *execContext, in, out []*Tensor) error {
	x, slope := in[0], in[1]
	if x.DType != graph.Float32 || slope.DType != graph.Float32 {
		return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
	}
	shape, err := broadcastShapes(x.Shape, slope.Shape)
	if err != nil {
		return err
	}
	c.alloc(out[0], graph.Float32, shape...)
	o := out[0].F32
	broadcastRuns(shape, [][]int{x.Shape, slope.Shape}, func(off int, offs, st []int, n int) {
		for i := 0; i < n; i++ {
			v := x.F32[offs[0]+i*st[0]]
			if v < 0 {
				v *= slope.F32[offs[1]+i*st[1]]
			}
			o[off+i] = v
		}
	})
	return nil
}
