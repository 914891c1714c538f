// Package runtime executes ONNX graphs (graph.Model) on the CPU, computing
// what ONNX Runtime computes: float32 arithmetic, int64 on shape paths,
// int8/uint8 for QuantizeLinear/DequantizeLinear, bool for comparisons and
// Where.
//
// The API is a session over a model:
//
//	s, err := runtime.NewSession(model, runtime.Options{Threads: 1})
//	// err names the first node whose op (or domain, dtype, attribute) the
//	// runtime cannot execute, before anything runs.
//	out, err := s.Run(map[string]*runtime.Tensor{"input": x})
//	logits := out["logits"] // owned by the caller
//
// Options.ExtraOutputs also returns named intermediate values (calibration,
// probing).
//
// NewSession validates every node once, parses attributes once, folds
// Constant nodes and everything computed from constants only, fuses a
// Relu/LeakyRelu/Clip into the Conv before it, and records after which node
// each intermediate value is dead. Run recycles dead values' buffers through
// a pool, so a run with the same shapes as the previous one allocates no
// intermediate buffers. Graph inputs may have symbolic dimensions (a batch
// "N"); everything else is derived from the fed shapes at run time.
//
// Tensor is the runtime value; FromGraph and Tensor.ToGraph convert to and
// from graph.Tensor (float16/float64 constants become float32).
//
// Kernels: one file per op family (conv.go, gemm.go, pooling.go, …), each
// registering a compile function per op type in init (registry.go). The
// backward kernels of finetuning go in a file beside each forward
// (conv_grad.go) with a registry of their own. Device-specific work sits
// behind the Backend interface (backend.go): today the pure-Go backend
// ("cpu/go-avx512": a blocked sgemm around a Go-assembly AVX-512
// micro-kernel where the CPU has AVX-512, "cpu/go": gonum elsewhere) and
// OpenBLAS's sgemm_ loaded at run time through purego, no cgo
// ("cpu/openblas"). Options.Backend, else $ONNXCOMPRESS_BLAS (go|openblas),
// chooses; by default the AVX-512 Go kernel where it runs, else OpenBLAS
// when libopenblas.so.0 loads, else gonum. Session.BackendName reports which.
//
// Convolutions: depthwise ones run a direct kernel; 3×3 stride-1 ones large
// enough run Winograd F(2×2, 3×3) (conv_winograd.go: AVX-512 transforms,
// 16 GEMMs on any backend; their weight gradient too where the backend is
// not the micro-kernel's, conv_winograd_grad.go); with the AVX-512 micro-kernel the others read
// the zero-padded input (split into phases for strides > 1) in place through
// a row-offset table instead of building im2col (conv_shifted.go); else
// im2col + the backend's GEMM. Bias and Relu are applied while the output is
// written (activation.go, vector_amd64.s).
//
// Conformance: TestConformance runs every ONNX backend node test under
// /usr/share/libonnx-testdata; docs/ops.md lists what passes per op and is
// regenerated with go test ./runtime -run TestConformance -update-ops.
package runtime
