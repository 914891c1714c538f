// Package onnxcompress is the Go API of onnxcompress: load an ONNX model,
// look at where its parameters and multiply-adds are, compress it with any
// of the methods (SVD, Tucker-2, CP, TT, TR, HT, DeBut, hinge, sparse,
// quant, or auto), fine-tune it by distillation from the original, diff it
// against the original (structure, cost, outputs; as JSON or an HTML page),
// evaluate, run and time it, and write it back — the same steps the
// onnxcompress command runs, which uses this package and nothing else.
//
//	m, err := onnxcompress.Load("model.onnx")
//	orig, err := onnxcompress.Clone(m)
//	res, err := onnxcompress.Compress(ctx, m, onnxcompress.CompressOptions{
//		Options: onnxcompress.Options{Method: "tucker", Target: onnxcompress.Target{Ratio: 0.5}},
//		Probes:  1,
//	})
//	train, test, err := onnxcompress.OpenSplits("data/", m, onnxcompress.DataOptions{})
//	tuned, err := onnxcompress.Finetune(ctx, m, orig, train, test, onnxcompress.FinetuneOptions{Epochs: 1})
//	report, err := onnxcompress.Diff(ctx, orig, m, onnxcompress.DiffOptions{Probes: 4, Tol: onnxcompress.DefaultDiffTol})
//	err = onnxcompress.Save("model.small.onnx", m)
//
// Long steps (Compress, Finetune, Evaluate, Diff, Bench) take a context,
// which cancels them, and a progress callback in their options. Errors
// caused by what the caller gave (a malformed file, an impossible rank, an
// op the runtime lacks) match ErrBadInput; see IsBadInput.
package onnxcompress
