// Package rewrite replaces heavy Conv, Gemm and MatMul nodes by smaller
// subgraphs of standard ONNX operators that compute (nearly) the same thing.
//
// The flow is a compiler's: Compress runs the ordered pass table in passes.go
// over a *graph.Model — preparation (optional BatchNormalization folding),
// layer selection, planning (a method and its settings per layer, under a
// global budget), the rewrites themselves, then cleanup (dead nodes, order,
// shapes) — and graph.Verify holds after every pass. Each method lives in one
// file (svd.go, tucker.go, …) and implements Method; methods are listed once,
// in methods.go.
//
// A rewrite never edits nodes it did not select. The last node it emits
// produces the replaced node's own output value, so names, graph outputs and
// value_info stay as they were, and every emitted node carries provenance (the
// original node, method, settings and weight error) in its doc_string; the
// model's metadata_props get the whole list under "onnxcompress.rewrites".
package rewrite
