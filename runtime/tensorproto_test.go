package runtime

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/onnxcompress/onnxcompress/graph"
)

// readTensorFile decodes a serialized onnx.TensorProto (the backend tests'
// input_N.pb / output_N.pb). It lives in a test file because only the onnx
// package may depend on protobuf in production code.
func readTensorFile(path string) (*graph.Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := decodeTensorProto(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func decodeTensorProto(b []byte) (*graph.Tensor, error) {
	t := &graph.Tensor{}
	var floats []float32
	var doubles []float64
	var ints, uints []uint64 // int32_data / int64_data widened; uint64_data
	var i64 []int64
	var raw []byte
	hasRaw := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		// Repeated scalars come packed (bytes) or one per tag (varint/fixed).
		switch {
		case typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case 1, 5, 7, 11:
				for len(v) > 0 {
					x, m := protowire.ConsumeVarint(v)
					if m < 0 {
						return nil, protowire.ParseError(m)
					}
					v = v[m:]
					switch num {
					case 1:
						t.Dims = append(t.Dims, int64(x))
					case 5:
						ints = append(ints, x)
					case 7:
						i64 = append(i64, int64(x))
					case 11:
						uints = append(uints, x)
					}
				}
			case 4:
				for ; len(v) >= 4; v = v[4:] {
					floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(v)))
				}
			case 10:
				for ; len(v) >= 8; v = v[8:] {
					doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(v)))
				}
			case 6:
				t.Strings = append(t.Strings, append([]byte(nil), v...))
			case 8:
				t.Name = string(v)
			case 9:
				raw, hasRaw = append([]byte(nil), v...), true
			}
		case typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case 1:
				t.Dims = append(t.Dims, int64(x))
			case 2:
				t.DType = graph.DType(x)
			case 5:
				ints = append(ints, x)
			case 7:
				i64 = append(i64, int64(x))
			case 11:
				uints = append(uints, x)
			}
		case typ == protowire.Fixed32Type:
			x, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
			if num == 4 {
				floats = append(floats, math.Float32frombits(x))
			}
		case typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
			if num == 10 {
				doubles = append(doubles, math.Float64frombits(x))
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	if hasRaw || t.DType == graph.String {
		t.Raw = raw
		return t, t.Validate()
	}
	sz := t.DType.Size()
	count := t.Len()
	t.Raw = make([]byte, sz*count)
	put := func(i int, bits uint64) {
		for j := 0; j < sz; j++ {
			t.Raw[i*sz+j] = byte(bits >> (8 * j))
		}
	}
	var src int
	switch t.DType {
	case graph.Float32:
		src = len(floats)
		for i := 0; i < min(count, src); i++ {
			put(i, uint64(math.Float32bits(floats[i])))
		}
	case graph.Float64:
		src = len(doubles)
		for i := 0; i < min(count, src); i++ {
			put(i, math.Float64bits(doubles[i]))
		}
	case graph.Int64:
		src = len(i64)
		for i := 0; i < min(count, src); i++ {
			put(i, uint64(i64[i]))
		}
	case graph.Uint32, graph.Uint64:
		src = len(uints)
		for i := 0; i < min(count, src); i++ {
			put(i, uints[i])
		}
	default: // int32_data carries every narrower type, float16 bits included
		src = len(ints)
		for i := 0; i < min(count, src); i++ {
			put(i, ints[i])
		}
	}
	if src != count {
		return nil, fmt.Errorf("tensor %q: %d values for dims %v", t.Name, src, t.Dims)
	}
	return t, nil
}
