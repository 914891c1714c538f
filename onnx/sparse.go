package onnx

import (
	"encoding/binary"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// Sparse initializers (GraphProto.sparse_initializer) are read into dense
// graph tensors, so this project's runtime and rewrites use them like any
// initializer, and written back as the same SparseTensorProto while the
// tensor is unchanged. SparseWhenSmaller writes other mostly-zero
// initializers sparsely too.

// sparseOpaque marks a tensor read from a sparse initializer.
type sparseOpaque struct {
	orig *pb.SparseTensorProto
	sum  uint64
}

// SparseWhenSmaller stores every float initializer whose non-zero values
// and their int64 positions take fewer bytes than its dense data as a
// sparse_initializer (COO with linear indices). ONNX Runtime reads those
// for any operator input; the ONNX checker's strict shape inference
// (full_check) rejects them as Conv or Gemm inputs ("has unsupported type:
// sparse_tensor(float)"), so it is not the default.
func SparseWhenSmaller() Option { return func(c *writeConfig) { c.sparse = true } }

// decodeSparse densifies a COO SparseTensorProto: values [NNZ] and indices
// [NNZ] (linear) or [NNZ, rank] (coordinates) into dims.
func decodeSparse(p *pb.SparseTensorProto, ext *externalReader) (*graph.Tensor, error) {
	if p.Values == nil || p.Indices == nil {
		return nil, badInput("sparse initializer", "values or indices missing")
	}
	where := tensorWhere(p.Values.GetName())
	values, err := decodeTensor(p.Values, ext)
	if err != nil {
		return nil, err
	}
	indices, err := decodeTensor(p.Indices, ext)
	if err != nil {
		return nil, err
	}
	size := values.DType.Size()
	if size <= 0 || len(values.Dims) != 1 {
		return nil, badInput(where, "sparse values must be a 1-D numeric tensor, have %s %v", values.DType, values.Dims)
	}
	n, err := graph.NumElements(p.Dims)
	if err != nil {
		return nil, badInput(where, "%v", err)
	}
	nnz := values.Dims[0]
	rank := int64(len(p.Dims))
	linear := len(indices.Dims) == 1 && indices.Dims[0] == nnz
	coords := len(indices.Dims) == 2 && indices.Dims[0] == nnz && indices.Dims[1] == rank
	if indices.DType != graph.Int64 || !(linear || coords) {
		return nil, badInput(where, "sparse indices %s %v do not fit %d values of a %v tensor", indices.DType, indices.Dims, nnz, p.Dims)
	}
	t := &graph.Tensor{Name: values.Name, DType: values.DType, Dims: append([]int64(nil), p.Dims...),
		DocString: values.DocString, Raw: make([]byte, n*int64(size))}
	at := func(i int64) int64 { return int64(binary.LittleEndian.Uint64(indices.Raw[8*i:])) }
	for k := int64(0); k < nnz; k++ {
		pos := int64(0)
		if linear {
			pos = at(k)
		} else {
			for d := int64(0); d < rank; d++ {
				c := at(k*rank + d)
				if c < 0 || c >= p.Dims[d] {
					return nil, badInput(where, "sparse index %d is outside %v", c, p.Dims)
				}
				pos = pos*p.Dims[d] + c
			}
		}
		if pos < 0 || pos >= n {
			return nil, badInput(where, "sparse position %d is outside %v", pos, p.Dims)
		}
		copy(t.Raw[pos*int64(size):(pos+1)*int64(size)], values.Raw[k*int64(size):(k+1)*int64(size)])
	}
	t.Opaque = &sparseOpaque{orig: p, sum: tensorChecksum(t)}
	return t, nil
}

// sparseProto is t as a SparseTensorProto: its unchanged original, or, when
// asked (or t was read sparse) and smaller, a new COO encoding with linear
// indices; nil means t is to be stored dense.
func (w *writer) sparseProto(t *graph.Tensor, name string) *pb.SparseTensorProto {
	op, wasSparse := t.Opaque.(*sparseOpaque)
	if wasSparse && op.orig != nil && op.orig.Values.GetName() == name && tensorChecksum(t) == op.sum &&
		!isExternal(op.orig.Values) && !isExternal(op.orig.Indices) {
		return op.orig
	}
	size := t.DType.Size()
	if !(w.sparse || wasSparse) || !t.DType.IsFloat() || size <= 0 || len(t.Raw) == 0 {
		return nil
	}
	var values, indices []byte
	for i := 0; i+size <= len(t.Raw); i += size {
		elem := t.Raw[i : i+size]
		for _, b := range elem {
			if b != 0 {
				values = append(values, elem...)
				indices = binary.LittleEndian.AppendUint64(indices, uint64(i/size))
				break
			}
		}
		if len(values)+len(indices) >= len(t.Raw) {
			return nil // no smaller than dense
		}
	}
	nnz := int64(len(values) / size)
	return &pb.SparseTensorProto{
		Values:  &pb.TensorProto{Name: optString(nil, name), DataType: proto32(int32(t.DType)), Dims: []int64{nnz}, RawData: append([]byte{}, values...), DocString: optString(nil, t.DocString)},
		Indices: &pb.TensorProto{Name: optString(nil, name+"_indices"), DataType: proto32(int32(graph.Int64)), Dims: []int64{nnz}, RawData: append([]byte{}, indices...)},
		Dims:    append([]int64{}, t.Dims...),
	}
}
