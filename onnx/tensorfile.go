package onnx

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// ReadTensor loads a file holding one serialized TensorProto, the format of
// the ONNX test data sets (test_data_set_N/input_M.pb). External data is read
// relative to the file's folder.
func ReadTensor(path string) (*graph.Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.EISDIR) {
			return nil, &InputError{File: path, Err: err}
		}
		return nil, err
	}
	t, err := decodeTensorBytes(data, dirOf(path))
	return t, inFile(path, err)
}

// DecodeTensor parses one serialized TensorProto with inline data.
func DecodeTensor(data []byte) (*graph.Tensor, error) { return decodeTensorBytes(data, "") }

func decodeTensorBytes(data []byte, dir string) (*graph.Tensor, error) {
	tp := &pb.TensorProto{}
	if err := proto.Unmarshal(data, tp); err != nil {
		return nil, &InputError{Err: fmt.Errorf("not a valid TensorProto: %w", err)}
	}
	ext := newExternalReader(dir)
	defer ext.close()
	return decodeTensor(tp, ext)
}

// EncodeTensor serializes t as a TensorProto, keeping the encoding it was
// read with while unchanged, else as raw_data.
func EncodeTensor(t *graph.Tensor) ([]byte, error) {
	if t == nil {
		return nil, errors.New("nil tensor")
	}
	w := &writer{inline: true}
	tp, err := w.tensorProto(t, t.Name, false)
	if err != nil {
		return nil, err
	}
	return marshalOptions.Marshal(tp)
}
