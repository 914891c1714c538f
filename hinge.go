package onnxcompress

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// HingeOptions configure CompressHinge. Zero values take the defaults in
// brackets.
type HingeOptions struct {
	// Select chooses the layers (Layers, Skip, Ops, MinParams) and the seed.
	Select rewrite.Options
	// FLOPsRatio is the target: the compressed model's multiply-adds over
	// the original's, whole model, as `inspect` counts them.
	FLOPsRatio float64
	Tolerance  float64 // |ratio − FLOPsRatio| allowed [0.001]
	MinKeep    float64 // fraction of every layer's groups always kept [0.2]
	// Search is the proximal search stage: defaults 1 epoch, SGD (momentum
	// 0.9) at a constant 0.1 on the matrices only, 0.6·CE + 0.4·KD at T = 4.
	Search finetune.Options
	Prox   finetune.HingeOptions
	// The search stops early once the groups already near zero — scaled
	// norm ‖a_g‖/s_l below T0 [0.05] — would bring the FLOP ratio within
	// SearchStop [0.05] of the target (A.7's stop_limit); it checks every
	// CheckEvery steps [100].
	T0, SearchStop float64
	CheckEvery     int
	// FineTune is the stage after compression: defaults 2 epochs of Adam at
	// 1e-3 (cosine) on every weight, same distillation. Epochs < 0 skips it.
	FineTune finetune.Options
	// CurvePoints is how many FLOP ratios between 1 and the target are
	// compressed and scored without fine-tuning for the accuracy/size
	// curve [3; negative: none], on CurveSamples test images [2000].
	CurvePoints  int
	CurveSamples int

	// Stage names the stage ("search", "finetune") of each report.
	Progress    func(stage string, p finetune.Progress)
	EpochReport func(stage string, e finetune.Epoch)
	// Stage announces each stage as it starts; Trace each search check.
	Stage func(stage string)
	Trace func(HingeSearchPoint)
	// Checkpoint receives each model worth keeping: the compressed one
	// after the search, then every new best of the fine-tuning. Writing it
	// (atomically) means an interruption never loses the last good model.
	Checkpoint func(stage string, m *graph.Model) error
}

// HingeLayer is what the search did to one layer.
type HingeLayer struct {
	Layer   string  `json:"layer"`
	Groups  string  `json:"groups"` // columns (pruned) or rows (decomposed)
	Coupled string  `json:"coupled,omitempty"`
	Kept    int     `json:"kept"`
	Total   int     `json:"total"`
	Scale   float64 `json:"scale"` // layer-balancing s_l
	Zero    int     `json:"zero_groups"`
}

// HingePoint is one point of the accuracy/size curve.
type HingePoint struct {
	// Stage: original, searched (compressed to Ratio, not fine-tuned),
	// compressed (at the target), finetune (after an epoch).
	Stage     string   `json:"stage"`
	Epoch     int      `json:"epoch,omitempty"`
	MACs      int64    `json:"macs"`
	Params    int64    `json:"params"`
	MACsRatio float64  `json:"macs_ratio"`
	Test      *float64 `json:"test_accuracy,omitempty"`
	Holdout   *float64 `json:"holdout_accuracy,omitempty"`
}

// HingeSearchPoint is one check of the search: the FLOP ratio the groups
// below T0 would leave, the penalty (relative to its start) and λ_eff.
type HingeSearchPoint struct {
	Step    int     `json:"step"`
	Ratio   float64 `json:"ratio_at_t0"`
	Penalty float64 `json:"relative_penalty"`
	Lambda  float64 `json:"lambda"`
}

// HingeResult reports CompressHinge.
type HingeResult struct {
	Target       float64      `json:"target_flops_ratio"`
	Ratio        float64      `json:"flops_ratio"`
	Met          bool         `json:"met"`
	Threshold    float64      `json:"threshold"`
	Evaluations  int          `json:"threshold_evaluations"`
	Refined      int          `json:"groups_moved_by_refinement"`
	MACsBefore   int64        `json:"macs_before"`
	MACsAfter    int64        `json:"macs_after"`
	ParamsBefore int64        `json:"params_before"`
	ParamsAfter  int64        `json:"params_after"`
	Layers       []HingeLayer `json:"layers"`
	Curve        []HingePoint `json:"curve"`
	SearchSteps  int          `json:"search_steps"`
	// SearchStopped says the search reached its stop rule before its epochs
	// ran out.
	SearchStopped bool               `json:"search_stopped"`
	Trace         []HingeSearchPoint `json:"search_trace"`
	// FineTune is the fine-tuning run (its epochs are in Curve).
	FineTune      *finetune.Result `json:"-"`
	FineTuneSteps int              `json:"finetune_steps"`
	BestEpoch     int              `json:"best_finetune_epoch"`
	Interrupted   bool             `json:"interrupted"`
	SearchTime    float64          `json:"search_seconds"`
	SelectTime    float64          `json:"threshold_search_seconds"`
	FineTuneTime  float64          `json:"finetune_seconds"`

	checkpointErr error
}

func (o HingeOptions) withDefaults() HingeOptions {
	if o.Tolerance == 0 {
		o.Tolerance = 0.001
	}
	if o.MinKeep == 0 {
		o.MinKeep = 0.2
	}
	s := &o.Search
	if s.Epochs == 0 {
		s.Epochs = 1
	}
	if s.LR == 0 {
		s.LR = 0.1
	}
	if s.Optimizer == "" {
		s.Optimizer = "sgd"
	}
	if s.Schedule == "" {
		s.Schedule = "constant"
	}
	if s.Train == "" {
		s.Train = "factors"
	}
	f := &o.FineTune
	if f.Epochs == 0 {
		f.Epochs = 2
	}
	if f.Train == "" {
		f.Train = "all"
	}
	for _, t := range []*finetune.Options{s, f} {
		if t.Distillation == (finetune.Distillation{}) {
			t.Distillation = finetune.Distillation{Temperature: 4, Alpha: 0.4}
		}
	}
	if o.T0 == 0 {
		o.T0 = 0.05
	}
	if o.SearchStop == 0 {
		o.SearchStop = 0.05
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = 100
	}
	if o.CurvePoints == 0 {
		o.CurvePoints = 3
	}
	if o.CurveSamples == 0 {
		o.CurveSamples = 2000
	}
	return o
}

// CompressHinge is Hinge's full method (hinge.md A): attach a
// sparsity-inducing 1×1 matrix after every selected conv (svd2,
// function-preserving), train the matrices by proximal gradient with layer
// balancing and annealing, bisect the group threshold until the physically
// compressed model's MACs are FLOPsRatio of the original's (±Tolerance),
// compress (columns pruned with propagation into BN, Concat and consumers;
// rows, where channels are coupled to a residual, decomposed), then
// fine-tune with distillation from the original. m is not changed; the
// compressed, fine-tuned model is returned. Cancelling ctx during the
// search compresses what was learnt so far without fine-tuning; during the
// fine-tuning it keeps the best weights so far.
func CompressHinge(ctx context.Context, m *graph.Model, train, test *dataset.Dataset, opts HingeOptions) (*graph.Model, *HingeResult, error) {
	opts = opts.withDefaults()
	if !(opts.FLOPsRatio > 0 && opts.FLOPsRatio <= 1) {
		return nil, nil, hingeUsage("hinge: FLOP ratio %g outside (0, 1]", opts.FLOPsRatio)
	}
	teacher, err := Clone(m)
	if err != nil {
		return nil, nil, err
	}
	_, before := graph.ModelCost(teacher)
	if before.MACs == 0 {
		return nil, nil, hingeUsage("hinge: the model's MACs are unknown (no input shapes?)")
	}
	res := &HingeResult{Target: opts.FLOPsRatio, MACsBefore: before.MACs, ParamsBefore: before.Params}
	stage := func(s string) {
		if opts.Stage != nil {
			opts.Stage(s)
		}
	}
	inter, err := Clone(m)
	if err != nil {
		return nil, nil, err
	}
	sites, err := rewrite.HingeAttach(inter, opts.Select)
	if err != nil {
		return nil, nil, err
	}
	if len(sites) == 0 {
		return nil, nil, hingeUsage("hinge: no convolution to attach a matrix to")
	}

	stage("search")
	start := time.Now()
	mats := make([]finetune.HingeMatrix, len(sites))
	for i, s := range sites {
		mats[i] = finetune.HingeMatrix{Weight: s.Weight, Bias: s.Bias, Groups: s.Groups}
	}
	prox, err := finetune.NewHingeProx(inter, mats, opts.Prox)
	if err != nil {
		return nil, nil, err
	}
	sel, err := newHingeSelector(inter, sites, prox.Scales(), opts.MinKeep, opts.Select.Seed, before.MACs)
	if err != nil {
		return nil, nil, err
	}
	search := opts.Search
	search.Seed = cmpOr(search.Seed, opts.Select.Seed)
	search.Progress = stageProgress(opts.Progress, "search")
	searchCtx, stopSearch := context.WithCancel(ctx)
	defer stopSearch()
	penalty0 := prox.Penalty
	search.AfterStep = func(step int, _ []finetune.Param, _ float64) error {
		if (step+1)%opts.CheckEvery != 0 {
			return nil
		}
		keep, err := sel.keepAt(sel.scale(prox.GroupNorms()), opts.T0)
		if err != nil {
			return err
		}
		c, err := sel.compress(keep)
		if err != nil {
			return err
		}
		_, t := graph.ModelCost(c)
		p := HingeSearchPoint{Step: step + 1, Ratio: float64(t.MACs) / float64(before.MACs), Penalty: prox.Penalty / penalty0, Lambda: prox.LambdaEff}
		res.Trace = append(res.Trace, p)
		if opts.Trace != nil {
			opts.Trace(p)
		}
		if p.Ratio <= opts.FLOPsRatio+opts.SearchStop {
			res.SearchStopped = true
			stopSearch()
		}
		return nil
	}
	var curve []HingePoint
	search.EpochReport = func(e finetune.Epoch) {
		p := HingePoint{Stage: "search", Epoch: e.Epoch, MACs: before.MACs, Params: before.Params, MACsRatio: 1}
		p.setAccuracy(e)
		if e.Epoch == 0 {
			p.Stage = "original" // the attached model computes the original function
		}
		curve = append(curve, p)
		if opts.EpochReport != nil {
			opts.EpochReport("search", e)
		}
	}
	searched, err := finetune.HingeSearch(searchCtx, inter, teacher, train, test, search, prox)
	if err != nil {
		return nil, nil, err
	}
	res.SearchSteps = searched.Steps
	res.Interrupted = searched.Interrupted && ctx.Err() != nil
	res.SearchTime = time.Since(start).Seconds()

	stage("threshold")
	start = time.Now()
	if err := sel.readNorms(); err != nil {
		return nil, nil, err
	}
	keep, ratio, err := sel.forRatio(opts.FLOPsRatio, opts.Tolerance)
	if err != nil {
		return nil, nil, err
	}
	res.Threshold, res.Evaluations, res.Refined, res.Met = sel.threshold, sel.evaluations, sel.refined, math.Abs(ratio-opts.FLOPsRatio) <= opts.Tolerance
	student, err := sel.compress(keep)
	if err != nil {
		return nil, nil, err
	}
	_, after := graph.ModelCost(student)
	res.Ratio = float64(after.MACs) / float64(before.MACs)
	res.MACsAfter, res.ParamsAfter = after.MACs, after.Params
	res.SelectTime = time.Since(start).Seconds()
	for i, s := range sites {
		l := HingeLayer{Layer: s.Layer, Groups: "columns", Coupled: s.Coupled, Kept: len(keep[i]), Total: len(sel.norms[i]), Scale: prox.Scales()[i]}
		if s.Groups == solvers.HingeRows {
			l.Groups = "rows"
		}
		for _, v := range sel.norms[i] {
			if v == 0 {
				l.Zero++
			}
		}
		res.Layers = append(res.Layers, l)
	}

	evalCtx := context.WithoutCancel(ctx)
	if test != nil && opts.CurvePoints > 0 && !res.Interrupted {
		stage("curve")
		for i := 1; i <= opts.CurvePoints; i++ {
			target := 1 - (1-opts.FLOPsRatio)*float64(i)/float64(opts.CurvePoints+1)
			k, _, err := sel.forRatio(target, opts.Tolerance)
			if err != nil {
				return nil, nil, err
			}
			p, err := sel.score(evalCtx, k, test, opts.CurveSamples, opts.Search.Threads)
			if err != nil {
				return nil, nil, err
			}
			curve = append(curve, p)
		}
		sel.threshold = res.Threshold
	}
	if opts.Checkpoint != nil {
		if err := opts.Checkpoint("compressed", student); err != nil {
			return nil, nil, err
		}
	}
	ftEpoch := func(e finetune.Epoch) {
		p := HingePoint{Stage: "finetune", Epoch: e.Epoch, MACs: after.MACs, Params: after.Params, MACsRatio: res.Ratio}
		p.setAccuracy(e)
		if e.Epoch == 0 {
			p.Stage = "compressed"
		}
		curve = append(curve, p)
		if opts.EpochReport != nil {
			opts.EpochReport("finetune", e)
		}
	}
	if res.Interrupted || opts.FineTune.Epochs < 0 {
		if test != nil {
			r, err := finetune.Evaluate(evalCtx, student, test, finetune.EvalOptions{Threads: opts.FineTune.Threads, Limit: opts.FineTune.EvalLimit})
			if err != nil {
				return nil, nil, err
			}
			ftEpoch(finetune.Epoch{Test: &r})
		}
		res.Curve = curve
		return student, res, nil
	}

	stage("finetune")
	start = time.Now()
	ft := opts.FineTune
	ft.Seed = cmpOr(ft.Seed, opts.Select.Seed)
	ft.Progress = stageProgress(opts.Progress, "finetune")
	ft.EpochReport = func(e finetune.Epoch) {
		ftEpoch(e)
		if e.Best && e.Epoch > 0 && opts.Checkpoint != nil {
			// Run has just written these weights into the student.
			if err := opts.Checkpoint("finetune", student); err != nil {
				res.checkpointErr = err
			}
		}
	}
	tuned, err := finetune.Run(ctx, student, teacher, train, test, ft)
	if err != nil {
		return nil, nil, err
	}
	if res.checkpointErr != nil {
		return nil, nil, res.checkpointErr
	}
	res.FineTune = tuned
	res.FineTuneSteps, res.BestEpoch = tuned.Steps, tuned.Best.Epoch
	res.Interrupted = tuned.Interrupted
	res.FineTuneTime = time.Since(start).Seconds()
	res.Curve = curve
	return student, res, nil
}

// hingeUsage is an error about the request, not the work (exit status 2).
func hingeUsage(format string, args ...any) error {
	return &rewrite.UsageError{Msg: fmt.Sprintf(format, args...)}
}

func cmpOr(a, b uint64) uint64 {
	if a != 0 {
		return a
	}
	return b
}

func stageProgress(f func(string, finetune.Progress), stage string) func(finetune.Progress) {
	if f == nil {
		return nil
	}
	return func(p finetune.Progress) { f(stage, p) }
}

func (p *HingePoint) setAccuracy(e finetune.Epoch) {
	if e.Holdout.Samples > 0 {
		a := e.Holdout.Accuracy
		p.Holdout = &a
	}
	if e.Test != nil {
		a := e.Test.Accuracy
		p.Test = &a
	}
}

// hingeSelector turns a threshold into kept groups and prices them by
// compressing a copy of the trained model.
type hingeSelector struct {
	model       *graph.Model
	sites       []rewrite.HingeSite
	norms       [][]float64 // raw group norms
	scaled      [][]float64 // norms / s_l: one threshold fits every layer
	scales      []float64
	minKeep     float64
	seed        uint64
	macs        int64 // the original model's
	threshold   float64
	evaluations int
	refined     int
}

func newHingeSelector(m *graph.Model, sites []rewrite.HingeSite, scales []float64, minKeep float64, seed uint64, macs int64) (*hingeSelector, error) {
	s := &hingeSelector{model: m, sites: sites, scales: scales, minKeep: minKeep, seed: seed, macs: macs}
	return s, s.readNorms()
}

// readNorms takes the group norms from the model as it is now.
func (s *hingeSelector) readNorms() error {
	norms, err := rewrite.HingeNorms(s.model, s.sites)
	if err != nil {
		return err
	}
	s.norms, s.scaled = norms, s.scale(norms)
	return nil
}

// scale divides each layer's norms by its balancing scale s_l.
func (s *hingeSelector) scale(norms [][]float64) [][]float64 {
	out := make([][]float64, len(norms))
	for i, n := range norms {
		out[i] = make([]float64, len(n))
		for g, v := range n {
			out[i][g] = v / s.scales[i]
		}
	}
	return out
}

func (s *hingeSelector) keep(t float64) ([][]int, error) { return s.keepAt(s.scaled, t) }

func (s *hingeSelector) keepAt(scaled [][]float64, t float64) ([][]int, error) {
	out := make([][]int, len(s.sites))
	for i, n := range scaled {
		k, err := solvers.HingeSelectGroups(n, t, s.minKeep, s.seed+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", s.sites[i].Layer, err)
		}
		out[i] = k
	}
	return out, nil
}

func (s *hingeSelector) compress(keep [][]int) (*graph.Model, error) {
	c, err := Clone(s.model)
	if err != nil {
		return nil, err
	}
	if err := rewrite.HingeCompress(c, s.sites, keep); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *hingeSelector) ratio(keep [][]int) (float64, error) {
	s.evaluations++
	c, err := s.compress(keep)
	if err != nil {
		return 0, err
	}
	_, t := graph.ModelCost(c)
	return float64(t.MACs) / float64(s.macs), nil
}

// forRatio bisects the threshold (A.7) and, when one group's removal jumps
// over the whole tolerance window, refines: starting from the threshold
// just above the target, it removes further groups in order of their
// scaled norm, skipping any whose removal would overshoot, until the ratio
// is within the window ([ours]: the official search fails there).
func (s *hingeSelector) forRatio(target, tol float64) ([][]int, float64, error) {
	hi := 0.0
	for _, n := range s.scaled {
		hi = max(hi, slices.Max(n))
	}
	hi = hi*1.01 + 1e-12
	th, err := solvers.HingeSearchThreshold(func(t float64) (float64, error) {
		k, err := s.keep(t)
		if err != nil {
			return 0, err
		}
		return s.ratio(k)
	}, target, tol, hi, 100)
	if err != nil {
		return nil, 0, err
	}
	s.threshold = th.T
	if th.Met {
		keep, err := s.keep(th.T)
		return keep, th.Ratio, err
	}
	if th.RatioAbove < target {
		// Even T = 0 leaves too little: the search zeroed more groups than
		// the target removes. Zero groups come back (largest scaled norm
		// first among the rest) until the ratio is in the window; they
		// change nothing until fine-tuning uses them.
		keep, err := s.keep(0)
		if err != nil {
			return nil, 0, err
		}
		return s.addBack(keep, th.Ratio, target, tol)
	}
	keep, err := s.keep(th.Above)
	if err != nil {
		return nil, 0, err
	}
	s.threshold = th.Above
	r := th.RatioAbove
	type cand struct {
		site, group int
		v           float64
	}
	var cands []cand
	for i, k := range keep {
		for _, g := range k {
			cands = append(cands, cand{i, g, s.scaled[i][g]})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmpFloat(a.v, b.v) })
	for _, c := range cands {
		if math.Abs(r-target) <= tol || s.evaluations > 300 {
			break
		}
		floor := max(1, int(math.Floor(s.minKeep*float64(len(s.scaled[c.site])))))
		if len(keep[c.site]) <= floor {
			continue
		}
		trial := slices.Clone(keep)
		trial[c.site] = slices.DeleteFunc(slices.Clone(keep[c.site]), func(g int) bool { return g == c.group })
		rt, err := s.ratio(trial)
		if err != nil {
			return nil, 0, err
		}
		if rt < target-tol || rt >= r {
			continue // overshoots, or saves nothing (a decomposed layer not yet cheaper)
		}
		keep, r = trial, rt
		s.refined++
	}
	return keep, r, nil
}

// addBack restores groups that keep leaves out, largest scaled norm first,
// skipping any that would overshoot, until the ratio r is within tol of
// target.
func (s *hingeSelector) addBack(keep [][]int, r, target, tol float64) ([][]int, float64, error) {
	type cand struct {
		site, group int
		v           float64
	}
	var cands []cand
	for i, k := range keep {
		for g, v := range s.scaled[i] {
			if !slices.Contains(k, g) {
				cands = append(cands, cand{i, g, v})
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return -cmpFloat(a.v, b.v) })
	for _, c := range cands {
		if math.Abs(r-target) <= tol || s.evaluations > 300 {
			break
		}
		trial := slices.Clone(keep)
		trial[c.site] = append(slices.Clone(keep[c.site]), c.group)
		slices.Sort(trial[c.site])
		rt, err := s.ratio(trial)
		if err != nil {
			return nil, 0, err
		}
		if rt > target+tol || rt <= r {
			continue
		}
		keep, r = trial, rt
		s.refined++
	}
	return keep, r, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// score compresses at keep and measures it, without fine-tuning.
func (s *hingeSelector) score(ctx context.Context, keep [][]int, d *dataset.Dataset, samples, threads int) (HingePoint, error) {
	c, err := s.compress(keep)
	if err != nil {
		return HingePoint{}, err
	}
	_, t := graph.ModelCost(c)
	r, err := finetune.Evaluate(ctx, c, d, finetune.EvalOptions{Limit: samples, Threads: threads})
	if err != nil {
		return HingePoint{}, err
	}
	return HingePoint{Stage: "searched", MACs: t.MACs, Params: t.Params, MACsRatio: float64(t.MACs) / float64(s.macs), Test: &r.Accuracy}, nil
}
