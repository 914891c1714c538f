package onnxcompress

import (
	"context"

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
func Finetune(ctx context.Context, student, teacher *Model, train, test *Dataset, opts FinetuneOptions) (*FinetuneResult, error) {
	return finetune.Run(ctx, student, teacher, train, test, opts)
}

// Evaluate scores m's top-1 accuracy and cross-entropy on labelled data;
// opts.Progress reports each batch.
func Evaluate(ctx context.Context, m *Model, d *Dataset, opts EvalOptions) (EvalResult, error) {
	return finetune.Evaluate(ctx, m, d, opts)
}
