package finetune

import (
	"context"
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// EvalResult is a model's score on a labelled set.
type EvalResult struct {
	Samples  int     `json:"samples"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
	// Loss is the mean cross-entropy of the softmax of the logits.
	Loss float64 `json:"loss"`
}

// EvalOptions tune Evaluate.
type EvalOptions struct {
	Batch   int // samples per run; 0 means 256
	Limit   int // evaluate only the first Limit samples; 0 means all
	Threads int
	// Progress, when set, is called after each batch with samples done.
	Progress func(done, total int)
}

// Evaluate runs m on every sample of d (in order) and scores the top-1
// prediction of its first output against the labels.
func Evaluate(ctx context.Context, m *graph.Model, d *dataset.Dataset, opts EvalOptions) (EvalResult, error) {
	if d.Labels == nil {
		return EvalResult{}, fmt.Errorf("%s: no labels to evaluate against", d.Path)
	}
	s, err := runtime.NewSession(m, runtime.Options{Threads: opts.Threads})
	if err != nil {
		return EvalResult{}, err
	}
	ins := s.InputNames()
	if len(ins) != 1 {
		return EvalResult{}, fmt.Errorf("evaluate: the model has %d inputs, want one image input", len(ins))
	}
	batch := opts.Batch
	if batch <= 0 {
		batch = 256
	}
	n := d.N
	if opts.Limit > 0 && opts.Limit < n {
		n = opts.Limit
	}
	var res EvalResult
	buf := make([]float32, batch*d.SampleSize())
	idx := make([]int, 0, batch)
	shape := append([]int{0}, d.Shape...)
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		idx = idx[:0]
		for i := start; i < min(start+batch, n); i++ {
			idx = append(idx, i)
		}
		x := buf[:len(idx)*d.SampleSize()]
		if err := d.Batch(idx, x); err != nil {
			return res, err
		}
		shape[0] = len(idx)
		out, err := s.Run(map[string]*runtime.Tensor{ins[0]: runtime.NewFloat32Tensor(shape, x)})
		if err != nil {
			return res, err
		}
		logits := out[s.OutputNames()[0]]
		if logits.DType != graph.Float32 || len(logits.Shape) != 2 || logits.Shape[0] != len(idx) {
			return res, fmt.Errorf("evaluate: first output has shape %v, want [%d, classes]", logits.Shape, len(idx))
		}
		classes := logits.Shape[1]
		for k, i := range idx {
			row := logits.F32[k*classes : (k+1)*classes]
			label := int(d.Labels[i])
			if label < 0 || label >= classes {
				return res, fmt.Errorf("%s: sample %d has label %d, the model has %d classes", d.Path, i, label, classes)
			}
			best := 0
			for c := range row {
				if row[c] > row[best] {
					best = c
				}
			}
			if best == label {
				res.Correct++
			}
			res.Loss += crossEntropy(row, label)
		}
		res.Samples += len(idx)
		if opts.Progress != nil {
			opts.Progress(res.Samples, n)
		}
	}
	if res.Samples > 0 {
		res.Accuracy = float64(res.Correct) / float64(res.Samples)
		res.Loss /= float64(res.Samples)
	}
	return res, nil
}

// crossEntropy is −log softmax(row)[label], computed stably in float64.
func crossEntropy(row []float32, label int) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	sum := 0.0
	for _, v := range row {
		sum += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(sum) - float64(row[label])
}
