package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Dtype-generic data movement shared by the shape ops: they describe their
// output as a list of source element indices, and these helpers move the
// elements whatever their dtype.

// takeIndexed sets out (src's dtype, shape) to out[i] = src[idx[i]], or the
// pad value where idx[i] < 0.
func takeIndexed(c *execContext, out, src *Tensor, shape []int, idx []int64, pad float64) {
	c.alloc(out, src.DType, shape...)
	switch src.DType {
	case graph.Float32:
		takeElems(out.F32, src.F32, idx, float32(pad))
	case graph.Int64:
		takeElems(out.I64, src.I64, idx, int64(pad))
	case graph.Uint8, graph.Bool:
		takeElems(out.U8, src.U8, idx, uint8(pad))
	case graph.Int8:
		takeElems(out.I8, src.I8, idx, int8(pad))
	}
}

func takeElems[E any](dst, src []E, idx []int64, pad E) {
	for i, j := range idx {
		if j < 0 {
			dst[i] = pad
		} else {
			dst[i] = src[j]
		}
	}
}

// stridedIndex fills idx, row-major over shape, with base + Σ i_d·strides[d].
func stridedIndex(idx []int64, shape []int, strides []int, base int) {
	if len(idx) == 0 {
		return
	}
	r := len(shape)
	if r == 0 {
		idx[0] = int64(base)
		return
	}
	pos := make([]int, r)
	off := base
	inner, innerStride := shape[r-1], strides[r-1]
	for o := 0; o < len(idx); o += inner {
		for i := 0; i < inner; i++ {
			idx[o+i] = int64(off + i*innerStride)
		}
		for d := r - 2; d >= 0; d-- {
			pos[d]++
			off += strides[d]
			if pos[d] < shape[d] {
				break
			}
			off -= strides[d] * shape[d]
			pos[d] = 0
		}
	}
}

// rowMajorStrides are the element strides of a contiguous tensor.
func rowMajorStrides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// copyTensor sets out to src's data under a new shape of equal size.
func copyTensor(c *execContext, out, src *Tensor, shape []int) {
	c.alloc(out, src.DType, shape...)
	copyElems(out, 0, src, 0, src.Len())
}

// copyElems copies n elements of the same dtype between tensors.
func copyElems(dst *Tensor, dOff int, src *Tensor, sOff, n int) {
	switch src.DType {
	case graph.Float32:
		copy(dst.F32[dOff:dOff+n], src.F32[sOff:sOff+n])
	case graph.Int64:
		copy(dst.I64[dOff:dOff+n], src.I64[sOff:sOff+n])
	case graph.Uint8, graph.Bool:
		copy(dst.U8[dOff:dOff+n], src.U8[sOff:sOff+n])
	case graph.Int8:
		copy(dst.I8[dOff:dOff+n], src.I8[sOff:sOff+n])
	}
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := int(axis)
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

// intsInput reads an optional integer input, or returns nil when absent.
func intsInput(in []*Tensor, i int, what string) ([]int64, error) {
	if i >= len(in) || in[i] == nil {
		return nil, nil
	}
	return in[i].ints(what)
}
