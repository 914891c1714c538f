package finetune

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// batch is one training step's data: the samples' inputs, their labels
// (nil for unlabelled data) and the teacher's outputs on them.
type batch struct {
	step, epoch int
	input       *runtime.Tensor
	labels      []int64
	teacher     map[string]*runtime.Tensor
}

// stepFunc trains on one batch and returns its loss and the learning rate
// it stepped with.
type stepFunc func(b batch) (loss, lr float64, err error)

// epochFunc is called after each epoch that took a step, with the steps so
// far and the epoch's mean training loss.
type epochFunc func(epoch, steps int, meanLoss float64) error

// trainEpochs is the loop Run and RunLCS share: each epoch visits the
// training samples in an order seeded by the epoch, batch by batch, runs the
// teacher on the batch and hands it to step, until plan.total steps are
// taken or ctx is cancelled (interrupted). It reports progress after every
// step.
func (p *trainingPlan) trainEpochs(ctx context.Context, train *dataset.Dataset, teach *runtime.Session, opts Options,
	step stepFunc, endEpoch epochFunc) (steps int, interrupted bool, err error) {
	x := make([]float32, opts.Batch*train.SampleSize())
	labels := make([]int64, opts.Batch)
	teachIn := teach.InputNames()[0]
	start := time.Now()
	n := 0
	for epoch := 1; epoch <= opts.Epochs && n < p.total; epoch++ {
		order := dataset.Permute(slices.Clone(p.trainIdx), opts.Seed+uint64(epoch))
		lossSum, lossSteps := 0.0, 0
		for b := 0; b < len(order) && n < p.total; b += opts.Batch {
			if ctx.Err() != nil {
				return n, true, nil
			}
			input, lb, err := batchInput(train, order[b:min(b+opts.Batch, len(order))], x, labels)
			if err != nil {
				return n, false, err
			}
			tout, err := teach.Run(map[string]*runtime.Tensor{teachIn: input})
			if err != nil {
				return n, false, fmt.Errorf("teacher: %w", err)
			}
			loss, lr, err := step(batch{step: n, epoch: epoch, input: input, labels: lb, teacher: tout})
			if err != nil {
				return n, false, err
			}
			n++
			lossSum += loss
			lossSteps++
			if opts.Progress != nil {
				el := time.Since(start)
				opts.Progress(Progress{Step: n, TotalSteps: p.total, Epoch: epoch, Loss: loss, LR: lr,
					ImagesPerSecond: float64(n*opts.Batch) / el.Seconds(), Elapsed: el})
			}
		}
		if lossSteps > 0 {
			if err := endEpoch(epoch, n, lossSum/float64(lossSteps)); err != nil {
				return n, false, err
			}
		}
	}
	return n, false, nil
}
