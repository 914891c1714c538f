package rewrite

import (
	"context"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// Options say what Compress does.
type Options struct {
	// Method names the method for every selected layer (see MethodNames).
	Method string
	// Target applies to every selected layer unless Plan is given.
	Target Target
	// Plan, when set, gives each layer's method and settings explicitly;
	// Method and Target are then ignored.
	Plan []LayerPlan

	// Allocation says how a Ratio is spent: "global" (the default where the
	// method can price its settings) gives one budget to all selected layers
	// and spends it where it removes the most weight error; "uniform" keeps
	// the same ratio in every layer.
	Allocation string
	// RankMultiple aligns the ranks the global budget chooses: above it,
	// only its multiples are offered, so that factor layers have channel
	// counts ONNX Runtime's blocked conv kernels and GEMM panels take whole
	// (8 suits AVX2 and fp16 tensor cores, 16 AVX-512 too). 0 means
	// DefaultRankMultiple; 1 offers every rank. Fixed --rank, --energy and
	// per-layer ratios are not rounded.
	RankMultiple int

	// Layers are globs (path.Match) on node names; empty selects all.
	// A layer named by a glob without wildcards is "explicit": a method
	// that cannot take it is an error rather than a skip.
	Layers []string
	// Ops restricts selection to these op types (Conv, Gemm, MatMul).
	Ops []string
	// MinParams skips layers whose weight has fewer elements.
	MinParams int64
	// Skip are globs of node names never to touch.
	Skip []string

	// FoldBatchNorm folds a BatchNormalization that directly follows a Conv
	// into the Conv's weight and bias before decomposing, so the
	// decomposition sees the weight's true scale.
	FoldBatchNorm bool

	// InputShapes fixes input shapes for shape inference and MAC counts;
	// inputs left out keep their declared shapes (unknown dims stay symbolic).
	InputShapes map[string]graph.Shape

	// Force applies rewrites even when they do not reduce the cost, which
	// exactness checks at full rank need.
	Force bool

	// Calibration holds batches of model inputs (by input name) run through
	// this project's runtime once: quant takes activation ranges from it
	// and quantises the activations too (static QDQ), and the global budget
	// prices svd settings by their output error on the layers' sampled
	// inputs instead of their weight error (methods with no closed form for
	// it keep pricing by weight error).
	Calibration []map[string]*runtime.Tensor
	// CalibPercentile, in (50, 100), clips activation ranges to the
	// (100−P)-th…P-th percentiles; 0 uses min and max.
	CalibPercentile float64

	// Seed makes randomized solvers repeatable.
	Seed uint64

	// Context, when set, stops Compress between layers once it is done.
	Context context.Context
	// Progress, when set, is called after each layer is rewritten (or
	// skipped) with how many of the planned layers are done.
	Progress func(done, total int, layer string)
}

// DefaultRankMultiple is the rank alignment of the global budget when
// Options.RankMultiple is 0: 16 is ONNX Runtime's channel block on AVX-512
// and a multiple of AVX2's 8. On ResNet-18 (tucker, --macs-ratio 0.5, ORT
// 1.30, one AVX-512 core) the compressed model ran at 0.76 of the
// original's time with any rank, 0.66 with multiples of 8 and 0.55 with
// multiples of 16, at the same MACs.
const DefaultRankMultiple = 16
