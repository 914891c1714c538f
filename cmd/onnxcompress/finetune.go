package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"

	"github.com/onnxcompress/onnxcompress"
	"github.com/urfave/cli/v2"
)

func finetuneCommand() *cli.Command {
	return &cli.Command{
		Name:      "finetune",
		Usage:     "recover a compressed model's accuracy by distillation from the original",
		ArgsUsage: "MODEL",
		Description: `Trains MODEL's weights (by default all; --train factors: only the layers compress rewrote) on the
training split of --data, matching the teacher's softened logits (and the labels, when
there are any), evaluates on a hold-out part of the training data after every epoch
(and on the test split when the data has one), and writes the weights that scored best
on the hold-out part into the same graph. Ctrl-C stops and writes the best model so far.
Quantized layers keep their integer codes and train their scales (straight-through
estimator; the scales' learning rate is relative to their size).

Examples:
   onnxcompress finetune small.onnx -o tuned.onnx --teacher lenet5.onnx \
      --data /usr/share/datasets/fashion-mnist --mean 0.286 --std 0.353 --epochs 2
   onnxcompress finetune small.onnx -o tuned.onnx --teacher lenet5.onnx --data train.npz --max-steps 300 --json`,
		Flags: append(finetuneDataFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the fine-tuned model to `FILE` (required)"},
			&cli.StringFlag{Name: "teacher", Usage: "the original model `ORIG` to distil from (required)"},
			&cli.IntFlag{Name: "epochs", Value: 1, Usage: "passes over the training data"},
			&cli.IntFlag{Name: "max-steps", Usage: "stop after `N` optimisation steps (0: no limit)"},
			&cli.Float64Flag{Name: "lr", Value: 3e-3, Usage: "base learning rate (the defaults, --lr 3e-3 --warmup 200 --train all, recovered best on the hold-out split in bench/finetune)"},
			&cli.IntFlag{Name: "batch", Value: 64, Usage: "samples per step"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for shuffling, the hold-out split and dropout"},
			&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "sgd (momentum 0.9), adam or adamw"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "weight decay (L2 for sgd/adam, decoupled for adamw)"},
			&cli.StringFlag{Name: "schedule", Value: "cosine", Usage: "learning-rate schedule: cosine, step (×0.1 per epoch) or constant"},
			&cli.IntFlag{Name: "warmup", Value: 200, Usage: "linear warm-up `STEPS` (capped below the total)"},
			&cli.Float64Flag{Name: "clip-norm", Usage: "clip the global gradient norm to `X` (0: off)"},
			&cli.StringFlag{Name: "train", Value: "all", Usage: "what to train: all (every weight) or factors (rewritten layers only)"},
			&cli.BoolFlag{Name: "bn-training", Usage: "train BatchNormalization with batch statistics (default: frozen)"},
			&cli.Float64Flag{Name: "kd-temperature", Value: 4, Usage: "distillation temperature `T`"},
			&cli.Float64Flag{Name: "kd-alpha", Value: 0.9, Usage: "weight `A` of the distillation term (1−A on the labels' cross-entropy)"},
			&cli.Float64Flag{Name: "feature-weight", Usage: "weight `B` of feature matching on the rewritten layers' outputs (0: off)"},
			&cli.Float64Flag{Name: "holdout", Value: 0.1, Usage: "fraction of the training data held out for model selection"},
			&cli.IntFlag{Name: "eval-limit", Usage: "evaluate on at most `N` samples per split"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu (the only device so far)"},
			jsonFlag(),
			quietFlag(),
		),
		Action: finetuneAction,
	}
}

// finetuneDataFlags are eval's data flags without --split: training reads
// the train split and evaluates on the test split when there is one.
func finetuneDataFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range dataFlags() {
		if f.Names()[0] != "split" {
			out = append(out, f)
		}
	}
	return out
}

// epochLine is one evaluation of a fine-tuning run in --json output.
type epochLine struct {
	Epoch           int      `json:"epoch"`
	Steps           int      `json:"steps"`
	Loss            *float64 `json:"loss,omitempty"` // mean training loss; none before training
	HoldoutAccuracy float64  `json:"holdout_accuracy"`
	TestAccuracy    *float64 `json:"test_accuracy,omitempty"`
	Best            bool     `json:"best"`
}

func newEpochLine(e onnxcompress.Epoch) epochLine {
	l := epochLine{Epoch: e.Epoch, Steps: e.Steps, HoldoutAccuracy: e.Holdout.Accuracy, Best: e.Best}
	if e.Epoch > 0 && !math.IsNaN(e.Loss) {
		loss := e.Loss
		l.Loss = &loss
	}
	if e.Test != nil {
		acc := e.Test.Accuracy
		l.TestAccuracy = &acc
	}
	return l
}

func (l epochLine) String() string {
	line := fmt.Sprintf("epoch %d: step %d", l.Epoch, l.Steps)
	if l.Loss != nil {
		line += fmt.Sprintf(", train loss %.4f", *l.Loss)
	}
	line += fmt.Sprintf(", hold-out top-1 %.2f%%", 100*l.HoldoutAccuracy)
	if l.TestAccuracy != nil {
		line += fmt.Sprintf(", test top-1 %.2f%%", 100**l.TestAccuracy)
	}
	if l.Best {
		line += " (best)"
	}
	return line
}

// finetuneResult is what finetune prints with --json.
type finetuneResult struct {
	Model       string      `json:"model"`
	Teacher     string      `json:"teacher"`
	Output      string      `json:"output"`
	Steps       int         `json:"steps"`
	Interrupted bool        `json:"interrupted"`
	Trained     []string    `json:"trained"`
	Best        epochLine   `json:"best"`
	Epochs      []epochLine `json:"epochs"`
}

func finetuneAction(c *cli.Context) error {
	path, err := oneModelArg(c)
	if err != nil {
		return err
	}
	for _, required := range []string{"output", "teacher"} {
		if c.String(required) == "" {
			return badInput("finetune: --%s is required", required)
		}
	}
	if d := c.String("device"); d != "cpu" {
		return badInput("--device %s: only cpu is supported", d)
	}
	student, err := onnxcompress.Load(path)
	if err != nil {
		return err
	}
	teacher, err := onnxcompress.Load(c.String("teacher"))
	if err != nil {
		return err
	}
	dataOpts, err := dataOptions(c)
	if err != nil {
		return err
	}
	train, test, err := onnxcompress.OpenSplits(c.String("data"), student, dataOpts)
	if err != nil {
		return err
	}
	out := c.App.Writer
	talk := !c.Bool("quiet") && !c.Bool("json")
	bar := newProgress(c, "finetune")
	opts := onnxcompress.FinetuneOptions{
		Epochs: c.Int("epochs"), MaxSteps: c.Int("max-steps"), Batch: c.Int("batch"), LR: c.Float64("lr"),
		Seed: c.Uint64("seed"), Optimizer: c.String("optimizer"), WeightDecay: c.Float64("weight-decay"),
		Train: c.String("train"), BatchNormTraining: c.Bool("bn-training"),
		Distillation:  onnxcompress.Distillation{Temperature: c.Float64("kd-temperature"), Alpha: c.Float64("kd-alpha")},
		FeatureWeight: c.Float64("feature-weight"),
		Schedule:      c.String("schedule"), Warmup: c.Int("warmup"), ClipNorm: c.Float64("clip-norm"),
		Holdout: c.Float64("holdout"), EvalLimit: c.Int("eval-limit"), Threads: c.Int("threads"),
		Progress: func(p onnxcompress.FinetuneProgress) {
			bar.update(p.Step, p.TotalSteps, fmt.Sprintf("epoch %d  loss %.4f  lr %.3g  %.0f img/s", p.Epoch, p.Loss, p.LR, p.ImagesPerSecond))
		},
		EpochReport: func(e onnxcompress.Epoch) {
			bar.clear()
			if talk {
				fmt.Fprintln(out, newEpochLine(e))
			}
		},
	}
	if opts.Epochs < 1 || opts.Batch < 1 || opts.MaxSteps < 0 || !(opts.LR > 0) {
		return badInput("--epochs, --batch and --lr must be positive and --max-steps not negative")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	go func() {
		// After the first Ctrl-C, a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	res, err := onnxcompress.Finetune(ctx, student, teacher, train, test, opts)
	bar.clear()
	if err != nil {
		return withPath(path, err)
	}
	if err := onnxcompress.Save(c.String("output"), student); err != nil {
		return err
	}
	summary := finetuneResult{Model: path, Teacher: c.String("teacher"), Output: c.String("output"), Steps: res.Steps,
		Interrupted: res.Interrupted, Trained: res.Trained, Best: newEpochLine(res.Best), Epochs: []epochLine{}}
	for _, e := range res.Epochs {
		summary.Epochs = append(summary.Epochs, newEpochLine(e))
	}
	return printResult(c, summary, func(w io.Writer) error {
		if res.Interrupted {
			fmt.Fprintf(w, "interrupted after %d steps\n", res.Steps)
		}
		best := summary.Best
		fmt.Fprintf(w, "wrote %s: weights of epoch %d (hold-out top-1 %.2f%%", summary.Output, best.Epoch, 100*best.HoldoutAccuracy)
		if best.TestAccuracy != nil {
			fmt.Fprintf(w, ", test top-1 %.2f%%", 100**best.TestAccuracy)
		}
		_, err := fmt.Fprintf(w, "), %d tensors trained\n", len(res.Trained))
		return err
	})
}
