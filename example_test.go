package onnxcompress_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// Inspect counts each weighted layer's parameters and multiply-adds.
func ExampleInspect() {
	path, _ := testmodels.BundledLeNetPath()
	m, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := onnxcompress.Inspect(m, nil) // declared input shape, batch 1
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range rep.Layers {
		fmt.Printf("%-12s %-4s %6d params %7d MACs\n", l.Name, l.Op, l.Params, l.MACs)
	}
	fmt.Println("total", rep.Params, rep.MACs)
	// Output:
	// /conv1/Conv  Conv    156 params  117600 MACs
	// /conv2/Conv  Conv   2416 params  240000 MACs
	// /fc1/Gemm    Gemm  48120 params   48000 MACs
	// /fc2/Gemm    Gemm  10164 params   10080 MACs
	// /fc3/Gemm    Gemm    850 params     840 MACs
	// total 61706 416520
}

// Compress rewrites the model in place; Save writes it atomically.
func ExampleCompress() {
	path, _ := testmodels.BundledLeNetPath()
	m, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := onnxcompress.Compress(context.Background(), m, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Method: "svd", Target: onnxcompress.Target{Ratio: 0.25}},
		Probes:  1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range res.Report.Rewritten() {
		fmt.Printf("%s: %s %s ranks %v, %d → %d params\n", l.Layer, l.Method, l.Form, l.Ranks, l.ParamsBefore, l.ParamsAfter)
	}
	fmt.Printf("model: %d → %d params\n", res.Report.Before.Params, res.Report.After.Params)
	out := filepath.Join(os.TempDir(), "lenet5.svd.onnx")
	if err := onnxcompress.Save(out, m); err != nil {
		fmt.Println(err)
	}
	os.Remove(out)
	// Output:
	// /fc1/Gemm: svd matrix ranks [12], 48120 → 6360 params
	// /fc2/Gemm: svd matrix ranks [27], 10164 → 5592 params
	// model: 61706 → 15374 params
}
