package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Constant, ConstantOfShape, Range and Cast. Constant nodes and everything
// computed from constants only are folded once by NewSession.

func init() {
	registerForward(compileConstant, "Constant")
	registerForward(compileConstantOfShape, "ConstantOfShape")
	registerForward(simple(rangeOp), "Range")
	registerForward(compileCast, "Cast")
}

func compileConstant(n *graph.Node, _ int64) (kernelFunc, error) {
	var t *Tensor
	var err error
	for _, a := range n.Attrs {
		switch a.Name {
		case "value":
			t, err = FromGraph(a.T)
		case "value_float":
			t = &Tensor{DType: graph.Float32, Shape: []int{}, F32: []float32{a.F}}
		case "value_floats":
			t = NewFloat32Tensor([]int{len(a.Floats)}, append([]float32(nil), a.Floats...))
		case "value_int":
			t = &Tensor{DType: graph.Int64, Shape: []int{}, I64: []int64{a.I}}
		case "value_ints":
			t = NewInt64Tensor([]int{len(a.Ints)}, append([]int64(nil), a.Ints...))
		default:
			return nil, fmt.Errorf("attribute %q is %w", a.Name, ErrUnsupported)
		}
	}
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("no value attribute")
	}
	return func(c *execContext, in, out []*Tensor) error {
		copyTensor(c, out[0], t, t.Shape)
		return nil
	}, nil
}

func compileConstantOfShape(n *graph.Node, _ int64) (kernelFunc, error) {
	fill := &Tensor{DType: graph.Float32, Shape: []int{1}, F32: []float32{0}}
	if a := n.Attr("value"); a != nil && a.T != nil {
		var err error
		if fill, err = FromGraph(a.T); err != nil {
			return nil, err
		}
		if fill.Len() != 1 {
			return nil, fmt.Errorf("value must hold one element")
		}
	}
	return func(c *execContext, in, out []*Tensor) error {
		dims, err := in[0].ints("shape")
		if err != nil {
			return err
		}
		shape := make([]int, len(dims))
		for i, d := range dims {
			if d < 0 {
				return fmt.Errorf("negative dimension in %v", dims)
			}
			shape[i] = int(d)
		}
		idx := c.tempI64(shapeSize(shape))
		clear(idx)
		takeIndexed(c, out[0], fill, shape, idx, 0)
		return nil
	}, nil
}

func rangeOp(c *execContext, in, out []*Tensor) error {
	start, limit, delta := in[0], in[1], in[2]
	if start.Len() != 1 || limit.Len() != 1 || delta.Len() != 1 {
		return fmt.Errorf("start, limit and delta must be scalars")
	}
	s, l, d := start.at(0), limit.at(0), delta.at(0)
	if d == 0 {
		return fmt.Errorf("delta is 0")
	}
	n := int(max(0, math.Ceil((l-s)/d)))
	switch start.DType {
	case graph.Float32:
		c.alloc(out[0], graph.Float32, n)
		fs, fd := start.F32[0], delta.F32[0]
		for i := range out[0].F32 {
			out[0].F32[i] = fs + float32(i)*fd
		}
	case graph.Int64:
		c.alloc(out[0], graph.Int64, n)
		for i := range out[0].I64 {
			out[0].I64[i] = start.I64[0] + int64(i)*delta.I64[0]
		}
	default:
		return fmt.Errorf("dtype %s is %w", start.DType, ErrUnsupported)
	}
	return nil
}

func compileCast(n *graph.Node, _ int64) (kernelFunc, error) {
	to := graph.DType(n.AttrInt("to", 0))
	// Narrower integers are computed as int64, as FromGraph stores their
	// constants (shape paths of Paddle2ONNX exports cast through int32);
	// the cast still wraps values to the target width.
	wrap, narrowing := func(v int64) int64 { return v }, true
	switch to {
	case graph.Int32:
		to, wrap = graph.Int64, func(v int64) int64 { return int64(int32(v)) }
	case graph.Int16:
		to, wrap = graph.Int64, func(v int64) int64 { return int64(int16(v)) }
	case graph.Uint16:
		to, wrap = graph.Int64, func(v int64) int64 { return int64(uint16(v)) }
	case graph.Uint32:
		to, wrap = graph.Int64, func(v int64) int64 { return int64(uint32(v)) }
	default:
		narrowing = false
	}
	if !supportedDType(to) {
		return nil, fmt.Errorf("cast to %s is %w", to, ErrUnsupported)
	}
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		if x.DType == to && !narrowing {
			copyTensor(c, out[0], x, x.Shape)
			return nil
		}
		c.alloc(out[0], to, x.Shape...)
		o := out[0]
		for i := 0; i < x.Len(); i++ {
			v := x.at(i)
			switch to {
			case graph.Float32:
				o.F32[i] = float32(v)
			case graph.Int64:
				o.I64[i] = wrap(int64(v))
			case graph.Bool:
				o.U8[i] = boolByte(v != 0)
			case graph.Uint8:
				o.U8[i] = uint8(int64(v))
			case graph.Int8:
				o.I8[i] = int8(int64(v))
			}
		}
		return nil
	}, nil
}
