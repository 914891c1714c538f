// Package graph is onnxcompress's intermediate representation of an ONNX model.
//
// A Model holds one Graph; a Graph holds Nodes that consume and produce Values.
// Values are shared pointers, in the style of onnx-graphsurgeon: a rewrite builds
// new nodes, points them at existing values and rewires consumers, and the
// cleanup pass drops what became dead. Constant weights are Values whose Const
// field holds a Tensor (ONNX initializers).
//
// The package knows nothing of protobuf. Whatever a codec needs to reproduce a
// model byte for byte but the IR does not model (unknown fields, encodings,
// functions) travels in the Opaque fields, which only the codec that set them
// reads.
package graph
