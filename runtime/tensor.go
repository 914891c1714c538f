package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Tensor is a dense row-major runtime value. Exactly one data slice matches
// DType: F32 for float32, I64 for int64, U8 for uint8 and bool (0 or 1), I8 for
// int8. Other ONNX dtypes are converted at the model boundary or rejected.
type Tensor struct {
	DType graph.DType
	Shape []int
	F32   []float32
	I64   []int64
	U8    []uint8
	I8    []int8
}

// supportedDType reports whether the runtime computes in dtype d.
func supportedDType(d graph.DType) bool {
	switch d {
	case graph.Float32, graph.Int64, graph.Uint8, graph.Bool, graph.Int8:
		return true
	}
	return false
}

// NewFloat32Tensor wraps data (not copied) as a float32 tensor of shape.
func NewFloat32Tensor(shape []int, data []float32) *Tensor {
	return &Tensor{DType: graph.Float32, Shape: append([]int(nil), shape...), F32: data}
}

// NewInt64Tensor wraps data (not copied) as an int64 tensor of shape.
func NewInt64Tensor(shape []int, data []int64) *Tensor {
	return &Tensor{DType: graph.Int64, Shape: append([]int(nil), shape...), I64: data}
}

// Len is the number of elements the shape describes.
func (t *Tensor) Len() int { return shapeSize(t.Shape) }

func shapeSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// dataLen is the length of the slice that holds t's data.
func (t *Tensor) dataLen() int {
	switch t.DType {
	case graph.Float32:
		return len(t.F32)
	case graph.Int64:
		return len(t.I64)
	case graph.Uint8, graph.Bool:
		return len(t.U8)
	case graph.Int8:
		return len(t.I8)
	}
	return -1
}

// check verifies that the data slice matches the shape and dtype.
func (t *Tensor) check(name string) error {
	if !supportedDType(t.DType) {
		return fmt.Errorf("tensor %q: dtype %s is not supported by the runtime", name, t.DType)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dimension in shape %v", name, t.Shape)
		}
	}
	if n := t.dataLen(); n != t.Len() {
		return fmt.Errorf("tensor %q: %d elements of data for shape %v", name, n, t.Shape)
	}
	return nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int(nil), t.Shape...)}
	c.F32 = append([]float32(nil), t.F32...)
	c.I64 = append([]int64(nil), t.I64...)
	c.U8 = append([]uint8(nil), t.U8...)
	c.I8 = append([]int8(nil), t.I8...)
	return c
}

// FromGraph converts a constant to a runtime tensor. Float16, bfloat16 and
// float64 become float32 (the runtime computes in float32); int32, int16 and
// unsigned integers other than uint8 become int64.
func FromGraph(g *graph.Tensor) (*Tensor, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	shape := make([]int, len(g.Dims))
	for i, d := range g.Dims {
		shape[i] = int(d)
	}
	t := &Tensor{Shape: shape}
	switch g.DType {
	case graph.Float32, graph.Float16, graph.BFloat16, graph.Float64:
		f, err := g.Float32s()
		if err != nil {
			return nil, err
		}
		t.DType, t.F32 = graph.Float32, f
	case graph.Int64, graph.Int32, graph.Int16, graph.Uint16, graph.Uint32, graph.Uint64:
		v, err := g.Int64s()
		if err != nil {
			return nil, err
		}
		t.DType, t.I64 = graph.Int64, v
	case graph.Uint8, graph.Bool:
		t.DType = g.DType
		t.U8 = append([]uint8(nil), g.Raw...)
		if g.DType == graph.Bool {
			for i := range t.U8 {
				t.U8[i] &= 1
			}
		}
	case graph.Int8:
		t.DType = graph.Int8
		t.I8 = make([]int8, len(g.Raw))
		for i, b := range g.Raw {
			t.I8[i] = int8(b)
		}
	default:
		return nil, fmt.Errorf("tensor %q: dtype %s is not supported by the runtime", g.Name, g.DType)
	}
	return t, nil
}

// ToGraph converts t to a constant called name.
func (t *Tensor) ToGraph(name string) (*graph.Tensor, error) {
	if err := t.check(name); err != nil {
		return nil, err
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	switch t.DType {
	case graph.Float32:
		return graph.NewFloat32(name, dims, t.F32), nil
	case graph.Int64:
		return graph.NewInt64(name, dims, t.I64), nil
	case graph.Uint8, graph.Bool:
		return &graph.Tensor{Name: name, DType: t.DType, Dims: dims, Raw: append([]byte(nil), t.U8...)}, nil
	}
	raw := make([]byte, len(t.I8))
	for i, v := range t.I8 {
		raw[i] = byte(v)
	}
	return &graph.Tensor{Name: name, DType: graph.Int8, Dims: dims, Raw: raw}, nil
}

// Float64s returns the values of any dtype as float64 (for comparisons).
func (t *Tensor) Float64s() []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.at(i)
	}
	return out
}

// at reads element i as float64 whatever the dtype.
func (t *Tensor) at(i int) float64 {
	switch t.DType {
	case graph.Float32:
		return float64(t.F32[i])
	case graph.Int64:
		return float64(t.I64[i])
	case graph.Uint8, graph.Bool:
		return float64(t.U8[i])
	case graph.Int8:
		return float64(t.I8[i])
	}
	return math.NaN()
}

// ints reads an integer tensor (shape inputs: Reshape, Slice, …) as ints.
func (t *Tensor) ints(what string) ([]int64, error) {
	switch t.DType {
	case graph.Int64:
		return t.I64, nil
	case graph.Int8, graph.Uint8:
		out := make([]int64, t.Len())
		for i := range out {
			out[i] = int64(t.at(i))
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s must be an integer tensor, got %s", what, t.DType)
}
