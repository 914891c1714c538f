package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/urfave/cli/v2"
)

func finetuneCommand() *cli.Command {
	return &cli.Command{
		Name:      "finetune",
		Usage:     "recover a compressed model's accuracy by distillation from the original",
		ArgsUsage: "MODEL",
		Description: `Trains MODEL's weights (by default only the layers compress rewrote) on the
training split of --data, matching the teacher's softened logits (and the labels, when
there are any), evaluates on a hold-out part of the training data after every epoch
(and on the test split when the data has one), and writes the weights that scored best
on the hold-out part into the same graph. Ctrl-C stops and writes the best model so far.

Examples:
   onnxcompress finetune small.onnx -o tuned.onnx --teacher lenet5.onnx \
      --data /usr/share/datasets/fashion-mnist --mean 0.286 --std 0.353 --epochs 2`,
		Flags: append(finetuneDataFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the fine-tuned model to `FILE` (required)"},
			&cli.StringFlag{Name: "teacher", Usage: "the original model `ORIG` to distil from (required)"},
			&cli.IntFlag{Name: "epochs", Value: 1, Usage: "passes over the training data"},
			&cli.IntFlag{Name: "max-steps", Usage: "stop after `N` optimisation steps (0: no limit)"},
			&cli.Float64Flag{Name: "lr", Value: 1e-3, Usage: "base learning rate"},
			&cli.IntFlag{Name: "batch", Value: 64, Usage: "samples per step"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for shuffling, the hold-out split and dropout"},
			&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "sgd (momentum 0.9), adam or adamw"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "weight decay (L2 for sgd/adam, decoupled for adamw)"},
			&cli.StringFlag{Name: "schedule", Value: "cosine", Usage: "learning-rate schedule: cosine, step (×0.1 per epoch) or constant"},
			&cli.IntFlag{Name: "warmup", Usage: "linear warm-up `STEPS`"},
			&cli.Float64Flag{Name: "clip-norm", Usage: "clip the global gradient norm to `X` (0: off)"},
			&cli.StringFlag{Name: "train", Value: "factors", Usage: "what to train: factors (rewritten layers) or all"},
			&cli.BoolFlag{Name: "bn-training", Usage: "train BatchNormalization with batch statistics (default: frozen)"},
			&cli.Float64Flag{Name: "kd-temperature", Value: 4, Usage: "distillation temperature `T`"},
			&cli.Float64Flag{Name: "kd-alpha", Value: 0.9, Usage: "weight `A` of the distillation term (1−A on the labels' cross-entropy)"},
			&cli.Float64Flag{Name: "holdout", Value: 0.1, Usage: "fraction of the training data held out for model selection"},
			&cli.IntFlag{Name: "eval-limit", Usage: "evaluate on at most `N` samples per split"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (0: one per core)"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu (the only device so far)"},
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
	return append(out, &cli.StringFlag{Name: "split", Value: "train", Hidden: true})
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
	student, err := onnx.Read(path)
	if err != nil {
		return err
	}
	teacher, err := onnx.Read(c.String("teacher"))
	if err != nil {
		return err
	}
	ins := graph.RealInputs(student.Graph)
	var shape []int64
	if len(ins) == 1 && ins[0].Type != nil {
		shape, _ = concreteTail(ins[0].Type.Shape)
	}
	train, err := openData(c, shape)
	if err != nil {
		return err
	}
	if err := c.Set("split", "test"); err != nil {
		return err
	}
	test, err := openData(c, shape)
	if err != nil || test.Labels == nil || test.Path == train.Path && test.N == train.N && train.Kind != dataset.KindIDX {
		test = nil // the data has no separate labelled test split
	}
	out := c.App.Writer
	bar := newProgressPrinter(out)
	opts := finetune.Options{
		Epochs: c.Int("epochs"), MaxSteps: c.Int("max-steps"), Batch: c.Int("batch"), LR: c.Float64("lr"),
		Seed: c.Uint64("seed"), Optimizer: c.String("optimizer"), WeightDecay: c.Float64("weight-decay"),
		Train: c.String("train"), BatchNormTraining: c.Bool("bn-training"),
		Distillation: finetune.Distillation{Temperature: c.Float64("kd-temperature"), Alpha: c.Float64("kd-alpha")},
		Schedule:     c.String("schedule"), Warmup: c.Int("warmup"), ClipNorm: c.Float64("clip-norm"),
		Holdout: c.Float64("holdout"), EvalLimit: c.Int("eval-limit"), Threads: c.Int("threads"),
		Progress: bar.step,
		EpochReport: func(e finetune.Epoch) {
			bar.clear()
			line := fmt.Sprintf("epoch %d: step %d", e.Epoch, e.Steps)
			if e.Epoch > 0 {
				line += fmt.Sprintf(", train loss %.4f", e.Loss)
			}
			line += fmt.Sprintf(", hold-out top-1 %.2f%%", 100*e.Holdout.Accuracy)
			if e.Test != nil {
				line += fmt.Sprintf(", test top-1 %.2f%%", 100*e.Test.Accuracy)
			}
			if e.Best {
				line += " (best)"
			}
			fmt.Fprintln(out, line)
		},
	}
	if opts.Epochs < 1 || opts.Batch < 1 || opts.MaxSteps < 0 || !(opts.LR > 0) {
		return badInput("--epochs, --batch and --lr must be positive and --max-steps not negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		// After the first Ctrl-C, a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	res, err := finetune.Run(ctx, student, teacher, train, test, opts)
	bar.clear()
	if err != nil {
		if errors.Is(err, finetune.ErrBadOptions) || errors.Is(err, runtime.ErrUnsupported) {
			return usageError{fmt.Errorf("%s: %w", path, err)}
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := onnx.Write(c.String("output"), student); err != nil {
		return err
	}
	if res.Interrupted {
		fmt.Fprintf(out, "interrupted after %d steps\n", res.Steps)
	}
	best := res.Best
	fmt.Fprintf(out, "wrote %s: weights of epoch %d (hold-out top-1 %.2f%%", c.String("output"), best.Epoch, 100*best.Holdout.Accuracy)
	if best.Test != nil {
		fmt.Fprintf(out, ", test top-1 %.2f%%", 100*best.Test.Accuracy)
	}
	fmt.Fprintf(out, "), %d tensors trained\n", len(res.Trained))
	return nil
}

// progressPrinter draws a one-line progress bar on a terminal and prints a
// plain line every few seconds otherwise.
type progressPrinter struct {
	w        io.Writer
	terminal bool
	drawn    bool
	last     time.Time
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressPrinter) step(s finetune.Progress) {
	eta := time.Duration(0)
	if s.Step > 0 {
		eta = time.Duration(float64(s.Elapsed) / float64(s.Step) * float64(s.TotalSteps-s.Step)).Round(time.Second)
	}
	if p.terminal {
		const width = 30
		done := width * s.Step / max(1, s.TotalSteps)
		fmt.Fprintf(p.w, "\r[%s%s] step %d/%d  loss %.4f  %.0f img/s  ETA %s ",
			strings.Repeat("=", done), strings.Repeat(" ", width-done), s.Step, s.TotalSteps, s.Loss, s.ImagesPerSecond, eta)
		p.drawn = true
		return
	}
	if time.Since(p.last) >= 5*time.Second || s.Step == s.TotalSteps {
		p.last = time.Now()
		fmt.Fprintf(p.w, "step %d/%d epoch %d loss %.4f lr %.3g %.0f img/s ETA %s\n",
			s.Step, s.TotalSteps, s.Epoch, s.Loss, s.LR, s.ImagesPerSecond, eta)
	}
}

func (p *progressPrinter) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
