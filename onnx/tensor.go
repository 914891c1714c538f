package onnx

import (
	"encoding/binary"
	"hash/maphash"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// tensorOpaque remembers how a tensor was stored so an unchanged tensor is
// written back exactly as read (typed field, raw_data or external file).
type tensorOpaque struct {
	orig *pb.TensorProto
	sum  uint64 // checksum of dtype, dims and data at read time
}

// checksumSeed is fixed for the life of the process; sums are never persisted.
var checksumSeed = maphash.MakeSeed()

// tensorChecksum covers what decides the stored bytes: dtype, dims and data.
// Name and doc string are compared directly by the writer.
func tensorChecksum(t *graph.Tensor) uint64 {
	var h maphash.Hash
	h.SetSeed(checksumSeed)
	var b [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	put(uint64(t.DType))
	put(uint64(len(t.Dims)))
	for _, d := range t.Dims {
		put(uint64(d))
	}
	put(uint64(len(t.Raw)))
	h.Write(t.Raw)
	put(uint64(len(t.Strings)))
	for _, s := range t.Strings {
		put(uint64(len(s)))
		h.Write(s)
	}
	return h.Sum64()
}

// unchangedSince reports whether t still holds what was read into it, and
// returns the proto it was read from.
func unchangedSince(t *graph.Tensor) (*pb.TensorProto, bool) {
	op, ok := t.Opaque.(*tensorOpaque)
	if !ok || op.orig == nil {
		return nil, false
	}
	return op.orig, tensorChecksum(t) == op.sum
}

// decodeTensor turns a TensorProto into a graph.Tensor with little-endian Raw
// data, whatever field held the data. External data is read through ext.
func decodeTensor(p *pb.TensorProto, ext *externalReader) (*graph.Tensor, error) {
	name := p.GetName()
	where := tensorWhere(name)
	t := &graph.Tensor{
		Name:      name,
		DType:     graph.DType(p.GetDataType()),
		Dims:      append([]int64(nil), p.Dims...),
		DocString: p.GetDocString(),
	}
	n, err := graph.NumElements(p.Dims)
	if err != nil {
		return nil, badInput(where, "%v", err)
	}
	size := int64(t.DType.Size())
	if size > 0 && n > math.MaxInt64/size {
		return nil, badInput(where, "dims %v of %s overflow", p.Dims, t.DType)
	}
	wantBytes := n * size
	switch {
	case p.GetDataLocation() == pb.TensorProto_EXTERNAL:
		if t.DType == graph.String {
			return nil, badInput(where, "string tensors cannot be stored externally")
		}
		if t.Raw, err = ext.load(p, wantBytes, size > 0); err != nil {
			return nil, err
		}
	case t.DType == graph.String:
		if int64(len(p.StringData)) != n {
			return nil, badInput(where, "%d strings for dims %v", len(p.StringData), p.Dims)
		}
		t.Strings = p.StringData
	case p.RawData != nil:
		t.Raw = p.RawData
	case size > 0:
		if t.Raw, err = typedToRaw(t.DType, p, n); err != nil {
			return nil, err
		}
	}
	if size > 0 && t.DType != graph.String && int64(len(t.Raw)) != wantBytes {
		return nil, badInput(where, "%d data bytes, dims %v of %s need %d", len(t.Raw), p.Dims, t.DType, wantBytes)
	}
	t.Opaque = &tensorOpaque{orig: p, sum: tensorChecksum(t)}
	return t, nil
}

// typedToRaw converts ONNX's typed data fields to little-endian bytes. Narrow
// types travel in int32_data and are truncated the way onnx.numpy_helper does.
func typedToRaw(dt graph.DType, p *pb.TensorProto, n int64) ([]byte, error) {
	where := tensorWhere(p.GetName())
	count := func(got int, per int64, field string) error {
		if int64(got) != n*per {
			return badInput(where, "%d values in %s, dims %v of %s need %d", got, field, p.Dims, dt, n*per)
		}
		return nil
	}
	le := binary.LittleEndian
	switch dt {
	case graph.Float32, graph.Complex64:
		per := int64(1)
		if dt == graph.Complex64 {
			per = 2
		}
		if err := count(len(p.FloatData), per, "float_data"); err != nil {
			return nil, err
		}
		raw := make([]byte, 4*len(p.FloatData))
		for i, v := range p.FloatData {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		return raw, nil
	case graph.Float64, graph.Complex128:
		per := int64(1)
		if dt == graph.Complex128 {
			per = 2
		}
		if err := count(len(p.DoubleData), per, "double_data"); err != nil {
			return nil, err
		}
		raw := make([]byte, 8*len(p.DoubleData))
		for i, v := range p.DoubleData {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
		return raw, nil
	case graph.Int64:
		if err := count(len(p.Int64Data), 1, "int64_data"); err != nil {
			return nil, err
		}
		raw := make([]byte, 8*len(p.Int64Data))
		for i, v := range p.Int64Data {
			le.PutUint64(raw[8*i:], uint64(v))
		}
		return raw, nil
	case graph.Uint64, graph.Uint32:
		if err := count(len(p.Uint64Data), 1, "uint64_data"); err != nil {
			return nil, err
		}
		size := dt.Size()
		raw := make([]byte, size*len(p.Uint64Data))
		for i, v := range p.Uint64Data {
			if size == 8 {
				le.PutUint64(raw[8*i:], v)
			} else {
				le.PutUint32(raw[4*i:], uint32(v))
			}
		}
		return raw, nil
	case graph.Int32, graph.Int16, graph.Uint16, graph.Float16, graph.BFloat16, graph.Int8, graph.Uint8, graph.Bool:
		if err := count(len(p.Int32Data), 1, "int32_data"); err != nil {
			return nil, err
		}
		size := dt.Size()
		raw := make([]byte, size*len(p.Int32Data))
		for i, v := range p.Int32Data {
			switch size {
			case 4:
				le.PutUint32(raw[4*i:], uint32(v))
			case 2:
				le.PutUint16(raw[2*i:], uint16(v))
			default:
				raw[i] = byte(v)
			}
		}
		return raw, nil
	}
	return nil, nil
}

// rawTensorProto stores t the one way every reader understands: raw_data
// (string_data for strings).
func rawTensorProto(t *graph.Tensor, name string) (*pb.TensorProto, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	p := &pb.TensorProto{
		Name:      optString(nil, name),
		DataType:  proto32(int32(t.DType)),
		Dims:      append([]int64{}, t.Dims...),
		DocString: optString(nil, t.DocString),
	}
	if t.DType == graph.String {
		p.StringData = t.Strings
	} else {
		p.RawData = t.Raw
		if p.RawData == nil {
			p.RawData = []byte{}
		}
	}
	return p, nil
}

func proto32(v int32) *int32 { return &v }

// optString keeps the presence of an optional string field: the original
// pointer when the value is unchanged (set or unset alike), nil for a new
// empty value, else a pointer to the new value.
func optString(orig *string, v string) *string {
	if orig == nil && v == "" {
		return nil
	}
	if orig != nil && *orig == v {
		return orig
	}
	return &v
}

// optInt64 is optString for int64 fields.
func optInt64(orig *int64, v int64) *int64 {
	if orig == nil && v == 0 {
		return nil
	}
	if orig != nil && *orig == v {
		return orig
	}
	return &v
}
