package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Comparisons (Equal, Greater, Less, …) giving bool, the boolean ops, and
// Where, all broadcasting.

func init() {
	cmp := map[string]func(a, b float64) bool{
		"Equal":          func(a, b float64) bool { return a == b },
		"Greater":        func(a, b float64) bool { return a > b },
		"Less":           func(a, b float64) bool { return a < b },
		"GreaterOrEqual": func(a, b float64) bool { return a >= b },
		"LessOrEqual":    func(a, b float64) bool { return a <= b },
	}
	for op, f := range cmp {
		registerForward(simple(compareKernel(f)), op)
	}
	logic := map[string]func(a, b bool) bool{
		"And": func(a, b bool) bool { return a && b },
		"Or":  func(a, b bool) bool { return a || b },
		"Xor": func(a, b bool) bool { return a != b },
	}
	for op, f := range logic {
		registerForward(simple(compareKernel(func(a, b float64) bool { return f(a != 0, b != 0) })), op)
	}
	registerForward(simple(not), "Not")
	registerForward(simple(where), "Where")
}

func compareKernel(f func(a, b float64) bool) kernelFunc {
	return func(c *execContext, in, out []*Tensor) error {
		a, b := in[0], in[1]
		if a.DType != b.DType {
			return fmt.Errorf("operand dtypes differ: %s and %s", a.DType, b.DType)
		}
		shape, err := broadcastShapes(a.Shape, b.Shape)
		if err != nil {
			return err
		}
		c.alloc(out[0], graph.Bool, shape...)
		o := out[0].U8
		broadcastRuns(shape, [][]int{a.Shape, b.Shape}, func(off int, offs, st []int, n int) {
			for i := 0; i < n; i++ {
				o[off+i] = boolByte(f(a.at(offs[0]+i*st[0]), b.at(offs[1]+i*st[1])))
			}
		})
		return nil
	}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func not(c *execContext, in, out []*Tensor) error {
	if in[0].DType != graph.Bool {
		return fmt.Errorf("Not of %s", in[0].DType)
	}
	c.alloc(out[0], graph.Bool, in[0].Shape...)
	for i, v := range in[0].U8 {
		out[0].U8[i] = 1 - v&1
	}
	return nil
}

func where(c *execContext, in, out []*Tensor) error {
	cond, x, y := in[0], in[1], in[2]
	if cond.DType != graph.Bool || x.DType != y.DType {
		return fmt.Errorf("Where(%s, %s, %s)", cond.DType, x.DType, y.DType)
	}
	shape, err := broadcastShapes(cond.Shape, x.Shape, y.Shape)
	if err != nil {
		return err
	}
	n := shapeSize(shape)
	idx := c.tempI64(n)
	// Element i comes from x (index j) or y (index -2-j): one index list
	// over both sources keeps the dtype dispatch in takeIndexed's style.
	broadcastRuns(shape, [][]int{cond.Shape, x.Shape, y.Shape}, func(o int, offs, st []int, k int) {
		for i := 0; i < k; i++ {
			if cond.U8[offs[0]+i*st[0]] != 0 {
				idx[o+i] = int64(offs[1] + i*st[1])
			} else {
				idx[o+i] = int64(-2 - (offs[2] + i*st[2]))
			}
		}
	})
	c.alloc(out[0], x.DType, shape...)
	switch x.DType {
	case graph.Float32:
		pick(out[0].F32, x.F32, y.F32, idx)
	case graph.Int64:
		pick(out[0].I64, x.I64, y.I64, idx)
	case graph.Uint8, graph.Bool:
		pick(out[0].U8, x.U8, y.U8, idx)
	case graph.Int8:
		pick(out[0].I8, x.I8, y.I8, idx)
	}
	return nil
}

func pick[E any](dst, x, y []E, idx []int64) {
	for i, j := range idx {
		if j >= 0 {
			dst[i] = x[j]
		} else {
			dst[i] = y[-2-j]
		}
	}
}
