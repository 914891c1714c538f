// Package onnxcompress is the Go API of onnxcompress: load an ONNX model,
// look at where its parameters and multiply-adds are, compress it with any
// of the methods (SVD, Tucker-2, CP, TT, TR, HT, DeBut, hinge, sparse,
// quant, or auto), check the result in this project's runtime, evaluate it,
// and write it back — the same steps the onnxcompress command runs, which
// uses this package and nothing else.
//
//	m, err := onnxcompress.Load("model.onnx")
//	res, err := onnxcompress.Compress(ctx, m, onnxcompress.CompressOptions{
//		Options: rewrite.Options{Method: "tucker", Target: rewrite.Target{Ratio: 0.5}},
//		Probes:  1,
//	})
//	err = onnxcompress.Save("model.small.onnx", m)
//
// Long steps take a context (cancellation) and a progress callback.
package onnxcompress
