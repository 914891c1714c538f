// Package onnx reads and writes ONNX model files as graph.Model values. It is
// the only package of onnxcompress that touches protobuf; the bindings in
// onnx/onnxpb are generated from the schema Debian ships with python3-onnx
// (scripts/gen-onnx-proto.sh).
//
// Read and Decode build the IR: values are resolved by name per graph scope,
// so a node inside an If/Loop/Scan body that uses an outer name points at the
// outer *graph.Value; an omitted optional input or output ("") is a nil
// entry. Tensors of every encoding (raw_data, the typed fields, external data
// files) become little-endian graph.Tensor.Raw bytes. Constant nodes stay
// Constant nodes.
//
// Write and Encode rebuild protos from the IR, starting from the proto each
// entity was read from (kept in the Opaque fields), so a model read and
// written untouched is protobuf-equal to the input: unknown fields,
// functions, training info, sparse initializers, field presence and tensor
// encodings all survive. A tensor is re-emitted in its original encoding only
// while a checksum of its dtype, dims and data still matches the one taken at
// read time; a changed or new tensor is written as raw_data. Output is
// deterministic, and Write replaces files atomically.
//
// Malformed or unsafe input (corrupt protobuf, data length disagreeing with
// dims, overflowing or negative dims, external data outside the model's
// folder) gives an *InputError naming the file and the tensor or node, which
// matches ErrBadInput under errors.Is; nothing panics.
package onnx
