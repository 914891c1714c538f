package onnxcompress

import (
	"context"
	"encoding/json"

	"github.com/onnxcompress/onnxcompress/finetune"
)

// The fine-tuning vocabulary, from package finetune.
type (
	// FinetuneOptions configure Finetune; zero values take defaults.
	FinetuneOptions = finetune.Options
	// FinetuneProgress is reported after every optimisation step.
	FinetuneProgress = finetune.Progress
	// Epoch is reported after each evaluation (epoch 0: before training).
	Epoch = finetune.Epoch
	// FinetuneResult summarises a run.
	FinetuneResult = finetune.Result
	// Distillation weighs the teacher's softened logits against the labels.
	Distillation = finetune.Distillation
	// EvalOptions tune Evaluate (batch, limit, threads, progress).
	EvalOptions = finetune.EvalOptions
	// EvalResult is top-1 accuracy and mean cross-entropy.
	EvalResult = finetune.EvalResult
)

// Finetune recovers a compressed student's accuracy by distillation from
// teacher (the original model) on train, selecting the weights that score
// best on a hold-out part of train (and reporting test accuracy when test
// is given). By default only the layers Compress rewrote are trained.
// Cancelling ctx stops training; the student then holds the best weights so
// far and the result says Interrupted. opts.Progress reports every step,
// opts.EpochReport every evaluation.
//
// The student's metadata_props gain FinetuneMetadataKey: what was trained
// and how the chosen weights scored (FinetuneRecord as JSON), beside the
// rewrites Compress recorded, whose weight errors describe the starting
// point.
func Finetune(ctx context.Context, student, teacher *Model, train, test *Dataset, opts FinetuneOptions) (*FinetuneResult, error) {
	res, err := finetune.Run(ctx, student, teacher, train, test, opts)
	if err != nil {
		return nil, err
	}
	rec := FinetuneRecord{Steps: res.Steps, Interrupted: res.Interrupted, Seed: opts.Seed, Trained: len(res.Trained),
		BestEpoch: res.Best.Epoch, HoldoutAccuracy: res.Best.Holdout.Accuracy}
	if res.Best.Test != nil {
		rec.TestAccuracy = &res.Best.Test.Accuracy
	}
	if len(res.Epochs) > 0 {
		rec.StartHoldoutAccuracy = res.Epochs[0].Holdout.Accuracy
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	student.SetMetadata(FinetuneMetadataKey, string(b))
	return res, nil
}

// FinetuneMetadataKey names the metadata_props entry Finetune writes.
const FinetuneMetadataKey = "onnxcompress.finetune"

// FinetuneRecord is what Finetune records in the student's metadata.
type FinetuneRecord struct {
	Steps       int    `json:"steps"`
	Interrupted bool   `json:"interrupted"`
	Seed        uint64 `json:"seed"`
	// Trained counts the initializers that were trained.
	Trained int `json:"trained_tensors"`
	// BestEpoch is the epoch whose weights the model holds (0: the
	// weights it started with), chosen on the hold-out split.
	BestEpoch            int      `json:"best_epoch"`
	StartHoldoutAccuracy float64  `json:"start_holdout_accuracy"`
	HoldoutAccuracy      float64  `json:"holdout_accuracy"`
	TestAccuracy         *float64 `json:"test_accuracy,omitempty"`
}

// Evaluate scores m's top-1 accuracy and cross-entropy on labelled data;
// opts.Progress reports each batch.
func Evaluate(ctx context.Context, m *Model, d *Dataset, opts EvalOptions) (EvalResult, error) {
	return finetune.Evaluate(ctx, m, d, opts)
}
