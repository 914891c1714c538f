package onnxcompress_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/graph"
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
	// /fc1/Gemm: svd matrix ranks [16], 48120 → 8440 params
	// /fc2/Gemm: svd matrix ranks [16], 10164 → 3348 params
	// model: 61706 → 15210 params
}

// Plan says what Compress would do, without changing the model; the plan
// (JSON as compress --write-plan writes it) can be edited and applied.
func ExamplePlan() {
	path, _ := testmodels.BundledLeNetPath()
	m, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := onnxcompress.Plan(context.Background(), m, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Method: "svd", Target: onnxcompress.Target{Ratio: 0.25}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range plan {
		fmt.Println(p.Layer, p.Method, p.Describe())
	}
	plan[0].Ranks = []int{20} // keep more of fc1
	res, err := onnxcompress.Compress(context.Background(), m, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Plan: plan}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("params:", res.Report.After.Params)
	// Output:
	// /fc1/Gemm svd form matrix, ranks [16]
	// /fc2/Gemm svd form matrix, ranks [16]
	// params: 17290
}

// Diff pairs the nodes of two models and compares their outputs on random
// probes: here the bundled LeNet against its SVD-compressed self.
func ExampleDiff() {
	path, _ := testmodels.BundledLeNetPath()
	orig, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	small, _ := onnxcompress.Clone(orig)
	_, err = onnxcompress.Compress(context.Background(), small, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Method: "svd", Target: onnxcompress.Target{Ratio: 0.25}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := onnxcompress.Diff(context.Background(), orig, small, onnxcompress.DiffOptions{
		NameA: "lenet5.onnx", NameB: "lenet5.svd.onnx", Probes: 2, Tol: onnxcompress.DefaultDiffTol})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range d.Structure.Changes {
		if c.Kind != "unchanged" {
			fmt.Printf("%s %s by %s (%s %s): %d → %d params, %d new nodes\n", c.Kind, c.Old[0].Name, c.Match,
				c.Method, c.Settings, c.ParamsBefore, c.ParamsAfter, len(c.New))
		}
	}
	fmt.Printf("params %d → %d, equivalent within %g: %v\n", d.Structure.Before.Params, d.Structure.After.Params,
		d.Numeric.Tol, *d.Equivalent)
	// Output:
	// replaced /fc1/Gemm by provenance (svd form matrix, ranks [16]): 48120 → 8440 params, 2 new nodes
	// replaced /fc2/Gemm by provenance (svd form matrix, ranks [16]): 10164 → 3348 params, 2 new nodes
	// params 61706 → 15210, equivalent within 0.0001: false
}

// Evaluate scores top-1 accuracy on labelled data; OpenData loads the data
// at the model's input shape.
func ExampleEvaluate() {
	path, _ := testmodels.BundledLeNetPath()
	m, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	test, err := onnxcompress.OpenData("/usr/share/datasets/fashion-mnist", m, onnxcompress.DataOptions{
		Split: "test", Mean: []float32{0.286}, Std: []float32{0.353}})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := onnxcompress.Evaluate(context.Background(), m, test, onnxcompress.EvalOptions{Limit: 1000})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("top-1 %.1f%% on %d test images\n", 100*res.Accuracy, res.Samples)
	// Output:
	// top-1 91.6% on 1000 test images
}

// Finetune recovers accuracy by distillation from the original model,
// training only the layers Compress rewrote. Progress reports every step;
// cancelling the context stops training with the best weights so far.
func ExampleFinetune() {
	path, _ := testmodels.BundledLeNetPath()
	teacher, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	student, _ := onnxcompress.Clone(teacher)
	_, err = onnxcompress.Compress(context.Background(), student, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Method: "svd", Target: onnxcompress.Target{Ratio: 0.25}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	train, test, err := onnxcompress.OpenSplits("/usr/share/datasets/fashion-mnist", student, onnxcompress.DataOptions{
		Mean: []float32{0.286}, Std: []float32{0.353}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := onnxcompress.Finetune(ctx, student, teacher, train, test, onnxcompress.FinetuneOptions{
		MaxSteps: 40, Seed: 1, EvalLimit: 200,
		Progress: func(p onnxcompress.FinetuneProgress) {
			if p.Step == 10 {
				cancel() // as Ctrl-C would
			}
		}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("steps:", res.Steps, "interrupted:", res.Interrupted)
	fmt.Println("trained:", res.Trained)
	// Output:
	// steps: 10 interrupted: true
	// trained: [fc1.bias fc2.bias /fc1/Gemm/svd/P /fc1/Gemm/svd/Q /fc2/Gemm/svd/P /fc2/Gemm/svd/Q]
}

// Run runs a model once and returns its outputs in the graph's order.
func ExampleRun() {
	path, _ := testmodels.BundledLeNetPath()
	m, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := graph.NewFloat32("input", []int64{2, 1, 28, 28}, make([]float32, 2*28*28))
	outs, err := onnxcompress.Run(context.Background(), m, map[string]*onnxcompress.Tensor{"input": x}, onnxcompress.RunOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range outs {
		fmt.Println(t.Name, t.Dims)
	}
	// Output:
	// logits [2 10]
}

// Bench times a model on a random batch in this project's runtime.
func ExampleBench() {
	path, _ := testmodels.BundledLeNetPath()
	m, err := onnxcompress.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	shapes, _ := onnxcompress.ParseInputShapes([]string{"8,1,28,28"})
	res, err := onnxcompress.Bench(context.Background(), m, onnxcompress.BenchOptions{InputShapes: shapes, Iters: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d runs at batch %d, median > 0: %v\n", res.Iters, res.Batch, res.MedianSeconds > 0)
	// Output:
	// 5 runs at batch 8, median > 0: true
}
