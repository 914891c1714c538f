package finetune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// TrainableNames lists the float32 initializers to train, in graph order:
// "all" takes every one; "factors" those read by the layers a rewrite
// produced (nodes whose doc_string starts with "onnxcompress:").
func TrainableNames(m *graph.Model, which string) ([]string, error) {
	g := m.Graph
	var chosen map[string]bool
	switch which {
	case "all":
	case "factors":
		chosen = map[string]bool{}
		for _, n := range g.Nodes {
			if strings.HasPrefix(n.DocString, "onnxcompress:") {
				for _, v := range n.Inputs {
					if v != nil {
						chosen[v.Name] = true
					}
				}
			}
		}
	default:
		return nil, fmt.Errorf("unknown trainable set %q (want factors or all)", which)
	}
	var names []string
	for _, v := range g.Initializers {
		if v.Const != nil && v.Const.DType == graph.Float32 && v.Const.Len() > 0 && (chosen == nil || chosen[v.Name]) && isWeightOrBias(g, v) {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no trainable float32 initializers (--train %s)", which)
	}
	return names, nil
}

// FeatureNames lists, in graph order, the values a rewrite produced in
// place of an original layer's output: outputs of the student's rewritten
// nodes (doc_string "onnxcompress:") that the teacher also computes, with
// the same shape where both graphs declare one (channel pruning changes
// it).
func FeatureNames(student, teacher *graph.Model) []string {
	produced := map[string]*graph.Value{}
	for _, n := range teacher.Graph.Nodes {
		for _, v := range n.Outputs {
			if v != nil && v.Name != "" {
				produced[v.Name] = v
			}
		}
	}
	var names []string
	for _, n := range student.Graph.Nodes {
		if !strings.HasPrefix(n.DocString, "onnxcompress:") {
			continue
		}
		for _, v := range n.Outputs {
			t := produced[v.Name]
			if t == nil || slices.Contains(names, v.Name) || !sameDeclaredShape(v, t) {
				continue
			}
			names = append(names, v.Name)
		}
	}
	return names
}

func sameDeclaredShape(a, b *graph.Value) bool {
	if a.Type == nil || b.Type == nil || !a.Type.HasShape || !b.Type.HasShape {
		return true
	}
	if len(a.Type.Shape) != len(b.Type.Shape) {
		return false
	}
	for i, d := range a.Type.Shape {
		e := b.Type.Shape[i]
		if d.Param == "" && e.Param == "" && d.Value > 0 && e.Value > 0 && d.Value != e.Value {
			return false
		}
	}
	return true
}

// isWeightOrBias rules out float initializers that are not parameters:
// BatchNormalization statistics, Clip bounds, Pad values, exponents.
func isWeightOrBias(g *graph.Graph, v *graph.Value) bool {
	read := false
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in != v {
				continue
			}
			read = true
			switch {
			case n.OpType == "BatchNormalization" && i >= 3,
				n.OpType == "Clip" && i >= 1,
				n.OpType == "Pad" && i >= 1,
				n.OpType == "Dropout" && i >= 1,
				n.OpType == "Pow" && i == 1:
				return false
			}
		}
	}
	return read
}

// relativeStepScales gives each named initializer its Param.LRScale:
// quantization scales (the scale input of a QuantizeLinear or
// DequantizeLinear) take their mean magnitude, so that a step of the base
// learning rate changes them by about that fraction. They are about the
// size of such a step (LeNet's int8 scales: 3e-3 to 6e-3), so absolute
// steps would wipe them out in a few. Everything else keeps the base rate (0).
func relativeStepScales(g *graph.Graph, names []string) []float64 {
	quantScale := map[*graph.Value]bool{}
	for _, n := range g.Nodes {
		if (n.OpType == "QuantizeLinear" || n.OpType == "DequantizeLinear") && len(n.Inputs) > 1 && n.Inputs[1] != nil {
			quantScale[n.Inputs[1]] = true
		}
	}
	scales := make([]float64, len(names))
	for _, v := range g.Initializers {
		i := slices.Index(names, v.Name)
		if i < 0 || !quantScale[v] {
			continue
		}
		values, err := v.Const.Float64s()
		if err != nil || len(values) == 0 {
			continue
		}
		sum := 0.0
		for _, x := range values {
			sum += math.Abs(x)
		}
		scales[i] = sum / float64(len(values))
	}
	return scales
}

// ErrBadOptions marks errors about Options (or a trainable set that is
// empty), as opposed to failures while training.
var ErrBadOptions = errors.New("bad fine-tuning options")

func badOptions(err error) error { return fmt.Errorf("%w: %w", ErrBadOptions, err) }

// Options configure Run. Zero values take the defaults in brackets.
type Options struct {
	Epochs    int     // passes over the training split [1]
	MaxSteps  int     // stop after this many steps (0: no limit)
	Batch     int     // samples per step [64]
	LR        float64 // base learning rate [1e-3]
	Seed      uint64  // shuffling, hold-out split, dropout
	Optimizer string  // sgd | adam | adamw [adam]
	// WeightDecay applies to every trainable tensor.
	WeightDecay float64
	// Train is "factors" (the rewritten layers' initializers) or "all"
	// [factors].
	Train string
	// BatchNormTraining trains BatchNormalization with batch statistics;
	// otherwise it stays frozen.
	BatchNormTraining bool
	// Distillation from the teacher's logits; Temperature 0 means 4, and
	// Alpha is used as given (1: distillation only).
	Distillation Distillation
	// FeatureWeight adds FeatureWeight × the mean FeatureMatching loss of
	// the rewritten layers' outputs (FeatureNames) to the loss (0: off).
	FeatureWeight float64
	// Schedule kind ("cosine", "step", "constant") [cosine], warm-up steps,
	// and for "step" the epochs between decays by Gamma [0.1].
	Schedule    string
	Warmup      int
	StepEpochs  int
	Gamma       float64
	ClipNorm    float64 // global gradient-norm bound (0: none)
	Holdout     float64 // fraction of the training data held out [0.1]
	EvalLimit   int     // evaluate on at most this many samples per split (0: all)
	Threads     int
	Progress    func(Progress)
	EpochReport func(Epoch)
	// AfterStep runs after every optimizer step with the live parameters
	// (updated in place) and the step's learning rate: proximal methods
	// such as hinge apply their projection here.
	AfterStep func(step int, params []Param, lr float64) error
}

// Progress is reported after every step.
type Progress struct {
	Step, TotalSteps int
	Epoch            int
	Loss             float64
	LR               float64
	ImagesPerSecond  float64
	Elapsed          time.Duration
}

// Epoch is reported after each evaluation (epoch 0: before training).
type Epoch struct {
	Epoch   int
	Steps   int
	Loss    float64 // mean training loss of the epoch
	Holdout EvalResult
	Test    *EvalResult // when a test split was given
	Best    bool
}

// Result summarises a run. The student model holds the best weights.
type Result struct {
	Epochs      []Epoch
	Steps       int
	Best        Epoch
	Interrupted bool
	Trained     []string
}

// Run fine-tunes student by distillation from teacher (the original model)
// on train, evaluating each epoch on a hold-out split of train (labels: the
// data's own, or the teacher's predictions for unlabelled data) and on test
// when given. Training stops early when ctx is cancelled. On return the
// student's initializers (names and shapes unchanged) hold the weights that
// scored best on the hold-out split (the later epoch on a tie), possibly the
// ones it started with.
func Run(ctx context.Context, student, teacher *graph.Model, train, test *dataset.Dataset, opts Options) (*Result, error) {
	opts = withDefaults(opts)
	names, err := TrainableNames(student, opts.Train)
	if err != nil {
		return nil, badOptions(err)
	}
	if _, _, err := opts.Distillation.Loss(zeroLogits, zeroLogits, nil); err != nil {
		return nil, badOptions(err)
	}
	optim, err := NewOptimizer(opts.Optimizer, opts.WeightDecay)
	if err != nil {
		return nil, badOptions(err)
	}
	var features []string
	if opts.FeatureWeight < 0 {
		return nil, badOptions(fmt.Errorf("feature-matching weight %g is negative", opts.FeatureWeight))
	} else if opts.FeatureWeight > 0 {
		if features = FeatureNames(student, teacher); len(features) == 0 {
			return nil, badOptions(errors.New("feature matching: no output of a rewritten layer is a value of the teacher"))
		}
	}
	tape, err := runtime.NewTape(student, runtime.TrainOptions{Threads: opts.Threads, Trainable: names,
		BatchNormTraining: opts.BatchNormTraining, Seed: opts.Seed, ExtraOutputs: features})
	if err != nil {
		return nil, err
	}
	if len(tape.InputNames()) != 1 {
		return nil, fmt.Errorf("finetune: the student has %d inputs, want one image input", len(tape.InputNames()))
	}
	teach, err := runtime.NewSession(teacher, runtime.Options{Threads: opts.Threads, ExtraOutputs: features})
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	if len(teach.InputNames()) != 1 {
		return nil, fmt.Errorf("finetune: the teacher has %d inputs, want one image input", len(teach.InputNames()))
	}
	plan, err := planTraining(train, teach, opts)
	if err != nil {
		return nil, err
	}
	holdout, sched := plan.holdout, plan.sched
	saved := savedNames(tape, student, names, opts.BatchNormTraining)
	res := &Result{Trained: names}
	evaluate := func(epoch, steps int, loss float64) error {
		if err := writeBack(student, tape, saved); err != nil {
			return err
		}
		e := Epoch{Epoch: epoch, Steps: steps, Loss: loss}
		evalOpts := EvalOptions{Threads: opts.Threads, Limit: opts.EvalLimit}
		if e.Holdout, err = Evaluate(context.WithoutCancel(ctx), student, holdout, evalOpts); err != nil {
			return err
		}
		if test != nil {
			r, err := Evaluate(context.WithoutCancel(ctx), student, test, evalOpts)
			if err != nil {
				return err
			}
			e.Test = &r
		}
		// Ties go to the later epoch: further along the schedule, and the
		// hold-out cannot tell them apart.
		if len(res.Epochs) == 0 || e.Holdout.Accuracy >= res.Best.Holdout.Accuracy {
			e.Best = true
			res.Best = e
			saved.snapshot(tape)
		}
		res.Epochs = append(res.Epochs, e)
		if opts.EpochReport != nil {
			opts.EpochReport(e)
		}
		return nil
	}
	if err := evaluate(0, 0, math.NaN()); err != nil {
		return nil, err
	}
	inName := tape.InputNames()[0]
	logitsName := tape.OutputNames()[0]
	params := make([]Param, len(names))
	lrScales := relativeStepScales(student.Graph, names)
	step := func(b batch) (float64, float64, error) {
		sout, err := tape.Forward(map[string]*runtime.Tensor{inName: b.input})
		if err != nil {
			return 0, 0, err
		}
		loss, grad, err := opts.Distillation.Loss(sout[logitsName], b.teacher[teach.OutputNames()[0]], b.labels)
		if err != nil {
			return 0, 0, err
		}
		grads := map[string]*runtime.Tensor{logitsName: grad}
		matched := features[:0:0]
		for _, f := range features {
			// Undeclared shapes may still differ (pruned channels).
			if slices.Equal(sout[f].Shape, b.teacher[f].Shape) {
				matched = append(matched, f)
			}
		}
		for _, f := range matched {
			fl, fg, err := FeatureMatching(sout[f], b.teacher[f])
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %w", f, err)
			}
			w := opts.FeatureWeight / float64(len(matched))
			for i := range fg.F32 {
				fg.F32[i] *= float32(w)
			}
			loss += w * fl
			grads[f] = fg
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return 0, 0, fmt.Errorf("finetune: loss became %g at step %d (learning rate %g too high?)", loss, b.step, sched.LR(b.step))
		}
		if err := tape.Backward(grads); err != nil {
			return 0, 0, err
		}
		for i, name := range names {
			params[i] = Param{Name: name, Value: tape.Param(name).F32, Grad: tape.Grad(name).F32, LRScale: lrScales[i]}
		}
		ClipGradNorm(params, opts.ClipNorm)
		lr := sched.LR(b.step)
		if err := optim.Step(params, lr); err != nil {
			return 0, 0, err
		}
		if opts.AfterStep != nil {
			if err := opts.AfterStep(b.step, params, lr); err != nil {
				return 0, 0, err
			}
		}
		return loss, lr, nil
	}
	if res.Steps, res.Interrupted, err = plan.trainEpochs(ctx, train, teach, opts, step, evaluate); err != nil {
		return nil, err
	}
	if err := saved.restoreInto(student); err != nil {
		return nil, err
	}
	return res, nil
}

// trainingPlan is what a training loop derives from its data and options:
// the samples it trains on, the labelled hold-out split, the number of
// steps and the learning-rate schedule (Run and RunLCS share it).
type trainingPlan struct {
	trainIdx []int
	holdout  *dataset.Dataset
	total    int
	sched    Schedule
}

func planTraining(train *dataset.Dataset, teach *runtime.Session, opts Options) (*trainingPlan, error) {
	trainIdx, holdIdx, err := train.SplitHoldout(opts.Holdout, opts.Seed)
	if err != nil {
		return nil, badOptions(err)
	}
	if len(trainIdx) == 0 || len(holdIdx) == 0 {
		return nil, fmt.Errorf("%s: %d samples leave nothing to train on or hold out", train.Path, train.N)
	}
	holdout, err := subset(train, holdIdx, teach, opts.Threads)
	if err != nil {
		return nil, err
	}
	stepsPerEpoch := (len(trainIdx) + opts.Batch - 1) / opts.Batch
	total := stepsPerEpoch * opts.Epochs
	if opts.MaxSteps > 0 {
		total = min(total, opts.MaxSteps)
	}
	sched := Schedule{Kind: opts.Schedule, Base: opts.LR, Warmup: min(opts.Warmup, total-1), Total: total,
		StepSize: opts.StepEpochs * stepsPerEpoch, Gamma: opts.Gamma}
	if err := sched.Validate(); err != nil {
		return nil, badOptions(err)
	}
	return &trainingPlan{trainIdx: trainIdx, holdout: holdout, total: total, sched: sched}, nil
}

// batchInput reads samples idx into x's storage as the model's input, and
// their labels into labels' (nil for unlabelled data).
func batchInput(d *dataset.Dataset, idx []int, x []float32, labels []int64) (*runtime.Tensor, []int64, error) {
	xb := x[:len(idx)*d.SampleSize()]
	if err := d.Batch(idx, xb); err != nil {
		return nil, nil, err
	}
	var lb []int64
	if d.Labels != nil {
		lb = labels[:len(idx)]
		if err := d.BatchLabels(idx, lb); err != nil {
			return nil, nil, err
		}
	}
	return runtime.NewFloat32Tensor(append([]int{len(idx)}, d.Shape...), xb), lb, nil
}

// zeroLogits validates distillation settings before any data is read.
var zeroLogits = runtime.NewFloat32Tensor([]int{1, 2}, []float32{0, 0})

func withDefaults(o Options) Options {
	if o.Epochs <= 0 {
		o.Epochs = 1
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.LR == 0 {
		o.LR = 1e-3
	}
	if o.Optimizer == "" {
		o.Optimizer = "adam"
	}
	if o.Train == "" {
		o.Train = "factors"
	}
	if o.Distillation.Temperature == 0 {
		o.Distillation.Temperature = 4
	}
	if o.Schedule == "" {
		o.Schedule = "cosine"
	}
	if o.Gamma == 0 {
		o.Gamma = 0.1
	}
	if o.StepEpochs <= 0 {
		o.StepEpochs = 1
	}
	if o.Holdout == 0 {
		o.Holdout = 0.1
	}
	return o
}

// subset copies the chosen samples, normalised, into a dataset of their own;
// unlabelled samples are labelled with the teacher's predictions.
func subset(d *dataset.Dataset, idx []int, teacher *runtime.Session, threads int) (*dataset.Dataset, error) {
	x, err := d.BatchTensor("x", idx)
	if err != nil {
		return nil, err
	}
	labels := make([]int64, len(idx))
	if d.Labels != nil {
		if err := d.BatchLabels(idx, labels); err != nil {
			return nil, err
		}
	} else {
		xs, _ := x.Float32s()
		shape := append([]int{len(idx)}, d.Shape...)
		out, err := teacher.Run(map[string]*runtime.Tensor{teacher.InputNames()[0]: runtime.NewFloat32Tensor(shape, xs)})
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		logits := out[teacher.OutputNames()[0]]
		k := logits.Len() / len(idx)
		for i := range labels {
			row := logits.F32[i*k : (i+1)*k]
			for c := range row {
				if row[c] > row[labels[i]] {
					labels[i] = int64(c)
				}
			}
		}
	}
	y := graph.NewInt64("y", []int64{int64(len(idx))}, labels)
	sub, err := dataset.FromTensors(x, y, dataset.Options{Scale: 1})
	if err != nil {
		return nil, err
	}
	sub.Path = d.Path + " (hold-out)"
	return sub, nil
}

// savedWeights holds the best weights seen, by initializer name.
type savedWeights struct {
	names []string
	best  map[string][]float32
}

// savedNames lists what training changes: the trainable initializers and,
// with batch-statistics training, the running statistics.
func savedNames(tape *runtime.Tape, m *graph.Model, trained []string, bnTraining bool) *savedWeights {
	s := &savedWeights{names: slices.Clone(trained), best: map[string][]float32{}}
	if bnTraining {
		for _, n := range m.Graph.Nodes {
			if n.OpType == "BatchNormalization" {
				for _, v := range n.Inputs[3:min(5, len(n.Inputs))] {
					if v != nil && tape.Param(v.Name) != nil && !slices.Contains(s.names, v.Name) {
						s.names = append(s.names, v.Name)
					}
				}
			}
		}
	}
	return s
}

func (s *savedWeights) snapshot(tape *runtime.Tape) {
	for _, name := range s.names {
		s.best[name] = slices.Clone(tape.Param(name).F32)
	}
}

// writeBack copies the tape's current weights into m's initializers.
func writeBack(m *graph.Model, tape *runtime.Tape, s *savedWeights) error {
	cur := map[string][]float32{}
	for _, name := range s.names {
		cur[name] = tape.Param(name).F32
	}
	return setInitializers(m, cur)
}

func (s *savedWeights) restoreInto(m *graph.Model) error { return setInitializers(m, s.best) }

// setInitializers replaces the data of the named float32 initializers,
// keeping names and shapes.
func setInitializers(m *graph.Model, values map[string][]float32) error {
	done := 0
	for _, v := range m.Graph.Initializers {
		data, ok := values[v.Name]
		if !ok {
			continue
		}
		if v.Const.Len() != len(data) {
			return fmt.Errorf("initializer %q holds %d values, training produced %d", v.Name, v.Const.Len(), len(data))
		}
		t := graph.NewFloat32(v.Name, slices.Clone(v.Const.Dims), slices.Clone(data))
		t.DocString = v.Const.DocString
		v.Const = t
		done++
	}
	if done != len(values) {
		return errors.New("finetune: some trained tensors are no longer initializers")
	}
	return nil
}
