package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Add, Sub, Mul, Div, Pow backward with broadcasting: each operand's gradient is
// the output gradient times the partial derivative, summed over the axes the
// operand was broadcast along.

func init() {
	for op, code := range map[string]binOp{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv, "Pow": opPow} {
		registerBackward(compileBinaryGrad(code), op)
	}
}

func compileBinaryGrad(op binOp) gradCompileFunc {
	return func(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
		g := &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			return binaryGrad(c, op, in[0], in[1], dy[0], dx[0], dx[1])
		}}
		switch op {
		case opMul, opDiv, opPow:
			g.keepIn = []int{0, 1}
		}
		return g, nil
	}
}

func binaryGrad(c *execContext, op binOp, a, b, dy, da, db *Tensor) error {
	if op == opPow && b.DType != graph.Float32 && db == nil && a.DType == graph.Float32 {
		b = asFloat32(b) // an integer exponent
	}
	if a.DType != graph.Float32 || b.DType != graph.Float32 {
		return fmt.Errorf("gradient of %s and %s operands is %w", a.DType, b.DType, ErrUnsupported)
	}
	shape := dy.Shape
	if (op == opAdd || op == opSub || op == opMul) && sameShape(a.Shape, shape) && sameShape(b.Shape, shape) {
		// No broadcast (residual sums): one pass, nothing to accumulate.
		sameShapeBinaryGrad(c, op, a, b, dy, da, db)
		return nil
	}
	var ga, gb []float32
	if da != nil {
		c.allocZero(da, graph.Float32, a.Shape...)
		ga = da.F32
	}
	if db != nil {
		c.allocZero(db, graph.Float32, b.Shape...)
		gb = db.F32
	}
	d := dy.F32
	broadcastRuns(shape, [][]int{a.Shape, b.Shape}, func(o int, offs, st []int, n int) {
		for i := 0; i < n; i++ {
			g := d[o+i]
			ia, ib := offs[0]+i*st[0], offs[1]+i*st[1]
			var pa, pb float32
			switch op {
			case opAdd:
				pa, pb = g, g
			case opSub:
				pa, pb = g, -g
			case opMul:
				pa, pb = g*b.F32[ib], g*a.F32[ia]
			case opDiv:
				y := b.F32[ib]
				pa = g / y
				pb = -pa * a.F32[ia] / y
			case opPow:
				x, e := float64(a.F32[ia]), float64(b.F32[ib])
				pa = g * float32(e*math.Pow(x, e-1))
				if gb != nil {
					// Only where the base is positive is the power
					// differentiable in the exponent.
					if x > 0 {
						pb = g * float32(math.Pow(x, e)*math.Log(x))
					}
				}
			}
			if ga != nil {
				ga[ia] += pa
			}
			if gb != nil {
				gb[ib] += pb
			}
		}
	})
	return nil
}

// sameShapeBinaryGrad is binaryGrad of Add, Sub or Mul on operands shaped
// like the output.
func sameShapeBinaryGrad(c *execContext, op binOp, a, b, dy, da, db *Tensor) {
	d := dy.F32
	if da != nil {
		c.alloc(da, graph.Float32, a.Shape...)
		if op == opMul {
			for i, v := range b.F32[:len(d)] {
				da.F32[i] = d[i] * v
			}
		} else {
			copy(da.F32, d)
		}
	}
	if db != nil {
		c.alloc(db, graph.Float32, b.Shape...)
		switch op {
		case opAdd:
			copy(db.F32, d)
		case opSub:
			for i, v := range d {
				db.F32[i] = -v
			}
		case opMul:
			for i, v := range a.F32[:len(d)] {
				db.F32[i] = d[i] * v
			}
		}
	}
}
