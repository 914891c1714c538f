package graph

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// DType matches ONNX TensorProto.DataType numbering.
type DType int32

const (
	Undefined  DType = 0
	Float32    DType = 1
	Uint8      DType = 2
	Int8       DType = 3
	Uint16     DType = 4
	Int16      DType = 5
	Int32      DType = 6
	Int64      DType = 7
	String     DType = 8
	Bool       DType = 9
	Float16    DType = 10
	Float64    DType = 11
	Uint32     DType = 12
	Uint64     DType = 13
	Complex64  DType = 14
	Complex128 DType = 15
	BFloat16   DType = 16
)

var dtypeNames = map[DType]string{
	Undefined: "undefined", Float32: "float32", Uint8: "uint8", Int8: "int8", Uint16: "uint16",
	Int16: "int16", Int32: "int32", Int64: "int64", String: "string", Bool: "bool",
	Float16: "float16", Float64: "float64", Uint32: "uint32", Uint64: "uint64",
	Complex64: "complex64", Complex128: "complex128", BFloat16: "bfloat16",
}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size is the element size in bytes; 0 for String, Undefined and types this
// project does not know (ONNX float8/int4 kinds).
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64, Complex64:
		return 8
	case Complex128:
		return 16
	}
	return 0
}

// IsFloat reports whether d is a real floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// Tensor is a dense constant. Numeric data is kept as little-endian bytes
// (ONNX raw_data layout) so every dtype shares one representation.
type Tensor struct {
	Name      string
	DType     DType
	Dims      []int64
	Raw       []byte   // numeric data, little-endian, row-major
	Strings   [][]byte // data when DType == String
	DocString string
	// Opaque is codec-owned: how the tensor was stored (typed field, external
	// file, unknown fields). A codec must check that the tensor still matches
	// before trusting it, since callers change tensors freely.
	Opaque any
}

// NumElements is the product of Dims, with overflow and negative-size checks.
func NumElements(dims []int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in %v", d, dims)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("dimensions %v overflow", dims)
		}
		n = int64(lo)
	}
	return n, nil
}

// Len is the element count; dims are assumed valid (a codec checks them).
func (t *Tensor) Len() int {
	n, err := NumElements(t.Dims)
	if err != nil {
		return 0
	}
	return int(n)
}

// Validate checks dims against the stored data length.
func (t *Tensor) Validate() error {
	n, err := NumElements(t.Dims)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if t.DType == String {
		if int64(len(t.Strings)) != n {
			return fmt.Errorf("tensor %q: %d strings for dims %v", t.Name, len(t.Strings), t.Dims)
		}
		return nil
	}
	sz := t.DType.Size()
	if sz == 0 {
		return nil // opaque dtype: nothing to check against
	}
	if want := n * int64(sz); int64(len(t.Raw)) != want {
		return fmt.Errorf("tensor %q: %d data bytes, dims %v of %s need %d", t.Name, len(t.Raw), t.Dims, t.DType, want)
	}
	return nil
}

// Clone copies the tensor; the copy has no codec Opaque.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Name: t.Name, DType: t.DType, DocString: t.DocString}
	c.Dims = append([]int64(nil), t.Dims...)
	c.Raw = append([]byte(nil), t.Raw...)
	for _, s := range t.Strings {
		c.Strings = append(c.Strings, append([]byte(nil), s...))
	}
	return c
}

// NewFloat32 makes a float32 tensor holding data (copied).
func NewFloat32(name string, dims []int64, data []float32) *Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &Tensor{Name: name, DType: Float32, Dims: append([]int64(nil), dims...), Raw: raw}
}

// NewInt64 makes an int64 tensor holding data (copied).
func NewInt64(name string, dims []int64, data []int64) *Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &Tensor{Name: name, DType: Int64, Dims: append([]int64(nil), dims...), Raw: raw}
}

// NewFromFloat64 makes a tensor of a floating dtype from float64 data,
// rounding to the target precision (solvers work in float64, models keep theirs).
func NewFromFloat64(name string, dtype DType, dims []int64, data []float64) (*Tensor, error) {
	if !dtype.IsFloat() {
		return nil, fmt.Errorf("tensor %q: cannot store floats as %s", name, dtype)
	}
	sz := dtype.Size()
	raw := make([]byte, sz*len(data))
	for i, v := range data {
		putFloat(raw[sz*i:], dtype, v)
	}
	return &Tensor{Name: name, DType: dtype, Dims: append([]int64(nil), dims...), Raw: raw}, nil
}

func putFloat(b []byte, dtype DType, v float64) {
	switch dtype {
	case Float32:
		binary.LittleEndian.PutUint32(b, math.Float32bits(float32(v)))
	case Float64:
		binary.LittleEndian.PutUint64(b, math.Float64bits(v))
	case Float16:
		binary.LittleEndian.PutUint16(b, Float32ToFloat16(float32(v)))
	case BFloat16:
		binary.LittleEndian.PutUint16(b, Float32ToBFloat16(float32(v)))
	}
}

// Float64s decodes numeric data of any real or integer dtype to float64.
func (t *Tensor) Float64s() ([]float64, error) {
	n := t.Len()
	sz := t.DType.Size()
	if sz == 0 || t.DType == Complex64 || t.DType == Complex128 {
		return nil, fmt.Errorf("tensor %q: %s is not a real numeric type", t.Name, t.DType)
	}
	if len(t.Raw) != n*sz {
		return nil, fmt.Errorf("tensor %q: %d data bytes for %d elements of %s", t.Name, len(t.Raw), n, t.DType)
	}
	out := make([]float64, n)
	r := t.Raw
	le := binary.LittleEndian
	for i := range out {
		switch t.DType {
		case Float32:
			out[i] = float64(math.Float32frombits(le.Uint32(r[4*i:])))
		case Float64:
			out[i] = math.Float64frombits(le.Uint64(r[8*i:]))
		case Float16:
			out[i] = float64(Float16ToFloat32(le.Uint16(r[2*i:])))
		case BFloat16:
			out[i] = float64(BFloat16ToFloat32(le.Uint16(r[2*i:])))
		case Int8:
			out[i] = float64(int8(r[i]))
		case Uint8:
			out[i] = float64(r[i])
		case Bool:
			out[i] = float64(r[i] & 1)
		case Int16:
			out[i] = float64(int16(le.Uint16(r[2*i:])))
		case Uint16:
			out[i] = float64(le.Uint16(r[2*i:]))
		case Int32:
			out[i] = float64(int32(le.Uint32(r[4*i:])))
		case Uint32:
			out[i] = float64(le.Uint32(r[4*i:]))
		case Int64:
			out[i] = float64(int64(le.Uint64(r[8*i:])))
		case Uint64:
			out[i] = float64(le.Uint64(r[8*i:]))
		}
	}
	return out, nil
}

// Float32s decodes numeric data to float32.
func (t *Tensor) Float32s() ([]float32, error) {
	if t.DType == Float32 {
		n := t.Len()
		if len(t.Raw) != 4*n {
			return nil, fmt.Errorf("tensor %q: %d data bytes for %d float32", t.Name, len(t.Raw), n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
		}
		return out, nil
	}
	f, err := t.Float64s()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v)
	}
	return out, nil
}

// Int64s decodes integer data (any integer dtype or bool) to int64.
func (t *Tensor) Int64s() ([]int64, error) {
	if t.DType == Int64 {
		n := t.Len()
		if len(t.Raw) != 8*n {
			return nil, fmt.Errorf("tensor %q: %d data bytes for %d int64", t.Name, len(t.Raw), n)
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(t.Raw[8*i:]))
		}
		return out, nil
	}
	if t.DType.IsFloat() {
		return nil, fmt.Errorf("tensor %q: %s is not an integer type", t.Name, t.DType)
	}
	f, err := t.Float64s()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(f))
	for i, v := range f {
		out[i] = int64(v)
	}
	return out, nil
}

// Float16ToFloat32 converts IEEE half bits to float32 (exact).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal half: value = mant * 2^-24
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			return -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// Float32ToFloat16 rounds float32 to IEEE half bits, round-to-nearest-even.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 // NaN
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(half)
}

// BFloat16ToFloat32 converts bfloat16 bits to float32 (exact).
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 rounds float32 to bfloat16 bits, round-to-nearest-even.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40 // quiet NaN
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// NewFloat64Tensor makes a float64 tensor holding data (copied).
func NewFloat64Tensor(name string, dims []int64, data []float64) *Tensor {
	t, _ := NewFromFloat64(name, Float64, dims, data)
	return t
}
