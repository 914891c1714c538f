package finetune

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// LCS (learning compressible subspaces, lcs.md B.1–B.5) trains one set of
// weights — a line between two endpoints ω₀, ω₁ or a single point ω — so
// that every compression level on a continuum works without retraining:
// each step draws levels, writes the compressed weights f(ω(α), γ(α)) into
// the tape, and maps the gradient back to the endpoints. The levels are a
// keep fraction k (unstructured TopK), a width w (structured) or a bit
// width b (quantized).

// LCS compression regimes.
const (
	LCSUnstructured = "unstructured"
	LCSStructured   = "structured"
	LCSQuantized    = "quantized"
)

// LCS subspace types.
const (
	LCSLine  = "line"
	LCSPoint = "point"
)

// LCSTensor says how one float32 initializer takes part in LCS training.
// Tensors that are none of Line, TopK, Quantize or width-masked are trained
// as plain parameters.
type LCSTensor struct {
	Name string `json:"name"`
	// Line gives the tensor two endpoints (LCS+L only).
	Line bool `json:"line,omitempty"`
	// TopK masks it by magnitude at keep fraction k (unstructured).
	TopK bool `json:"topk,omitempty"`
	// Quantize fake-quantizes it per tensor at the level's bit width.
	Quantize bool `json:"quantize,omitempty"`
	// Layer is the node whose output channels the tensor holds along
	// WidthAxis (structured); WidthChannels is their count, 0 when the
	// tensor is not width-masked.
	Layer         string `json:"layer,omitempty"`
	WidthAxis     int    `json:"width_axis,omitempty"`
	WidthChannels int    `json:"width_channels,omitempty"`
}

// LCSActivation is the fake quantizer in front of a quantized layer's input
// (lcs.md B.5): the scalar initializers training and each level set (see
// rewrite.LCSActivationQuant) and the range it quantizes, an EMA of batch
// minima and maxima (momentum 0.1, widened to include 0; the first batch is
// copied). The activation takes the bit width of the layer's weight.
type LCSActivation struct {
	Layer    string  `json:"layer"`
	Weight   string  `json:"weight"`
	Input    string  `json:"input"`
	InvScale string  `json:"inv_scale"`
	Scale    string  `json:"scale"`
	Zero     string  `json:"zero_point"`
	QMin     string  `json:"qmin"`
	QMax     string  `json:"qmax"`
	Gate     string  `json:"gate"`
	Lo       float32 `json:"lo"`
	Hi       float32 `json:"hi"`
	Seen     bool    `json:"seen"`
}

// lcsActMomentum weighs a new batch in the activation range's EMA.
const lcsActMomentum = 0.1

// values are the quantizer's initializers for b bits (0: off).
func (a LCSActivation) values(bits int) (map[string][]float32, error) {
	v := map[string][]float32{a.InvScale: {1}, a.Scale: {1}, a.Zero: {0}, a.QMin: {-128}, a.QMax: {127}, a.Gate: {0}}
	if bits == 0 || !a.Seen {
		return v, nil
	}
	q, err := solvers.AffineFromRange(float64(a.Lo), float64(a.Hi), solvers.QuantScheme{Bits: bits, Signed: true})
	if err != nil {
		return nil, fmt.Errorf("activation of %s: %w", a.Layer, err)
	}
	v[a.InvScale][0] = float32(1 / float64(q.Scale))
	v[a.Scale][0], v[a.Zero][0] = q.Scale, float32(q.ZeroPoint)
	v[a.QMin][0], v[a.QMax][0], v[a.Gate][0] = float32(q.QMin), float32(q.QMax), 1
	return v, nil
}

// observe folds a batch of the activation into its range.
func (a *LCSActivation) observe(x []float32) {
	lo, hi := float32(0), float32(0)
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if !a.Seen {
		a.Lo, a.Hi, a.Seen = lo, hi, true
		return
	}
	a.Lo = (1-lcsActMomentum)*a.Lo + lcsActMomentum*lo
	a.Hi = (1-lcsActMomentum)*a.Hi + lcsActMomentum*hi
}

// LCSGrid is the default evaluation grid of a regime (lcs.md B.8): keep
// fractions, widths, or bit widths.
func LCSGrid(mode string) ([]float64, error) {
	switch mode {
	case LCSUnstructured:
		return []float64{0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.5, 0.75, 0.9, 0.95, 1}, nil
	case LCSStructured:
		return []float64{0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1}, nil
	case LCSQuantized:
		return []float64{3, 4, 5, 6, 7, 8}, nil
	}
	return nil, fmt.Errorf("unknown LCS mode %q (want unstructured, structured or quantized)", mode)
}

// LCS level limits (lcs.md B.2).
const (
	lcsMinKeep  = 0.025
	lcsMinWidth = 0.25
	lcsMinBits  = 3
	lcsMaxBits  = 8
)

// LCSAlpha is the subspace coordinate α ∈ [0, 1] of a level: α = k
// (unstructured), w = 0.25 + 0.75·α (structured), b = 2 + 6·α (quantized).
func LCSAlpha(mode string, level float64) (float64, error) {
	if err := checkLevel(mode, level); err != nil {
		return 0, err
	}
	switch mode {
	case LCSUnstructured:
		return level, nil
	case LCSStructured:
		return (level - lcsMinWidth) / (1 - lcsMinWidth), nil
	}
	return (level - 2) / 6, nil
}

func checkLevel(mode string, level float64) error {
	switch mode {
	case LCSUnstructured:
		if !(level >= lcsMinKeep && level <= 1) {
			return fmt.Errorf("keep fraction %g outside [%g, 1]", level, lcsMinKeep)
		}
	case LCSStructured:
		if !(level >= lcsMinWidth && level <= 1) {
			return fmt.Errorf("width %g outside [%g, 1]", level, lcsMinWidth)
		}
	case LCSQuantized:
		if level != math.Trunc(level) || level < lcsMinBits || level > lcsMaxBits {
			return fmt.Errorf("bit width %g is not an integer in [%d, %d]", level, lcsMinBits, lcsMaxBits)
		}
	default:
		return fmt.Errorf("unknown LCS mode %q (want unstructured, structured or quantized)", mode)
	}
	return nil
}

// LCSBits maps α to a bit width by the first matching bin of six over
// [3, 8]: the first i with i/6 ≤ α ≤ (i+1)/6 gives 3 + i.
func LCSBits(alpha float64) int {
	const levels = lcsMaxBits - lcsMinBits + 1
	for i := 0; i < levels; i++ {
		if float64(i)/levels <= alpha && alpha <= float64(i+1)/levels {
			return lcsMinBits + i
		}
	}
	if alpha < 0 {
		return lcsMinBits
	}
	return lcsMaxBits
}

// LCSWidthChannels is the number of leading channels kept of c at width w:
// max(1, round_half_even(c·w)), as Python's round.
func LCSWidthChannels(c int, w float64) int {
	return max(1, int(math.RoundToEven(float64(c)*w)))
}

// LCSQuantizer is the per-tensor asymmetric b-bit affine map of lcs.md B.5
// for w: the range widened to include 0, codes by multiplication with the
// reciprocal scale.
func LCSQuantizer(w []float32, bits int) (solvers.Affine, error) {
	lo, hi := 0.0, 0.0
	for _, v := range w {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	return solvers.AffineFromRange(lo, hi, solvers.QuantScheme{Bits: bits, Signed: true})
}

// LCSSubspace is a trained subspace: the endpoints (or the point) of every
// trainable tensor and how each is compressed. End1 holds ω₁ (the accurate
// end, α = 1) of lines and the value of every other tensor; End0 holds ω₀
// of lines.
type LCSSubspace struct {
	Mode     string               `json:"mode"`
	Subspace string               `json:"subspace"`
	Tensors  []LCSTensor          `json:"tensors"`
	Shapes   map[string][]int     `json:"-"`
	End0     map[string][]float32 `json:"-"`
	End1     map[string][]float32 `json:"-"`
	// Activations are the quantized layers' input quantizers (quantized
	// regime with LCSOptions.Activations).
	Activations []LCSActivation `json:"activations,omitempty"`
}

// Validate checks a subspace read from a file: known mode and type, and
// every width-masked tensor holding its channels on its axis.
func (s *LCSSubspace) Validate() error {
	if _, err := LCSGrid(s.Mode); err != nil {
		return err
	}
	if s.Subspace != LCSLine && s.Subspace != LCSPoint {
		return fmt.Errorf("unknown LCS subspace %q (want line or point)", s.Subspace)
	}
	for _, t := range s.Tensors {
		shape, ok := s.Shapes[t.Name]
		if !ok {
			return fmt.Errorf("LCS tensor %q has no value", t.Name)
		}
		if t.WidthChannels != 0 && (t.WidthAxis < 0 || t.WidthAxis >= len(shape) || shape[t.WidthAxis] != t.WidthChannels) {
			return fmt.Errorf("LCS tensor %q %v: no %d channels on axis %d", t.Name, shape, t.WidthChannels, t.WidthAxis)
		}
		if w0, ok := s.End0[t.Name]; ok && len(w0) != len(s.End1[t.Name]) {
			return fmt.Errorf("LCS tensor %q: endpoints of %d and %d values", t.Name, len(w0), len(s.End1[t.Name]))
		}
	}
	return nil
}

// lcsDraw is one sampled compression: the line coordinate and each
// compressed tensor's keep fraction, width or bit width.
type lcsDraw struct {
	alpha float64
	keep  float64 // TopK keep fraction (1: dense)
	width float64 // 1: full width
	bits  map[string]int
	act   bool // quantize the activations too
}

// drawAt is the draw that evaluates (or exports) a level: one level for the
// whole network.
func (s *LCSSubspace) drawAt(level float64) (lcsDraw, error) {
	alpha, err := LCSAlpha(s.Mode, level)
	if err != nil {
		return lcsDraw{}, err
	}
	d := lcsDraw{alpha: alpha, keep: 1, width: 1}
	switch s.Mode {
	case LCSUnstructured:
		d.keep = level
	case LCSStructured:
		d.width = level
	case LCSQuantized:
		d.bits, d.act = map[string]int{}, true
		for _, t := range s.Tensors {
			if t.Quantize {
				d.bits[t.Name] = int(level)
			}
		}
	}
	return d, nil
}

// Weights gives every tensor's compressed value at a level (for quantized
// tensors the dequantized weight).
func (s *LCSSubspace) Weights(level float64) (map[string][]float32, error) {
	d, err := s.drawAt(level)
	if err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for _, t := range s.Tensors {
		v := make([]float32, len(s.End1[t.Name]))
		if _, err := s.compress(t, d, v); err != nil {
			return nil, err
		}
		out[t.Name] = v
	}
	acts, err := s.activationValues(d)
	if err != nil {
		return nil, err
	}
	for name, v := range acts {
		out[name] = v
	}
	return out, nil
}

// activationValues sets each activation quantizer for draw d.
func (s *LCSSubspace) activationValues(d lcsDraw) (map[string][]float32, error) {
	out := map[string][]float32{}
	for _, a := range s.Activations {
		bits := 0
		if d.act {
			bits = d.bits[a.Weight]
		}
		v, err := a.values(bits)
		if err != nil {
			return nil, err
		}
		for name, x := range v {
			out[name] = x
		}
	}
	return out, nil
}

// Uncompressed gives the tensors of the uncompressed end (ω₁ or the
// point) with every activation quantizer off.
func (s *LCSSubspace) Uncompressed() map[string][]float32 {
	out, _ := s.activationValues(lcsDraw{})
	for name, v := range s.End1 {
		out[name] = v
	}
	return out
}

// LCSCodes is a quantized tensor at one level: integer codes and their
// affine map, so that the dequantized weight is exactly
// Affine.Dequantize(code).
type LCSCodes struct {
	Codes  []int32
	Affine solvers.Affine
}

// Codes gives the integer codes of the quantized tensors at a bit width.
func (s *LCSSubspace) Codes(level float64) (map[string]LCSCodes, error) {
	d, err := s.drawAt(level)
	if err != nil {
		return nil, err
	}
	out := map[string]LCSCodes{}
	for _, t := range s.Tensors {
		if !t.Quantize {
			continue
		}
		w := make([]float32, len(s.End1[t.Name]))
		s.interpolate(t, d.alpha, w)
		a, err := LCSQuantizer(w, d.bits[t.Name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		codes := make([]int32, len(w))
		for i, v := range w {
			codes[i] = a.QuantizeByReciprocal(float64(v))
		}
		out[t.Name] = LCSCodes{codes, a}
	}
	return out, nil
}

// interpolate writes ω(α) = (1 − α)·ω₀ + α·ω₁ (or ω for a point) into dst.
func (s *LCSSubspace) interpolate(t LCSTensor, alpha float64, dst []float32) {
	w1 := s.End1[t.Name]
	w0, line := s.End0[t.Name]
	if !line {
		copy(dst, w1)
		return
	}
	a := float32(alpha)
	for i := range dst {
		dst[i] = (1-a)*w0[i] + a*w1[i]
	}
}

// compress writes f(ω(α), γ) of one tensor into dst and returns the mask of
// entries that pass gradient (nil: all; the quantizer is straight-through).
func (s *LCSSubspace) compress(t LCSTensor, d lcsDraw, dst []float32) ([]bool, error) {
	s.interpolate(t, d.alpha, dst)
	var mask []bool
	if t.TopK && d.keep < 1 {
		n := len(dst)
		keep, err := solvers.MagnitudeKeepCount(n, d.keep)
		if err != nil {
			return nil, err
		}
		w := make([]float64, n)
		for i, v := range dst {
			w[i] = float64(v)
		}
		if mask, err = solvers.MagnitudeMask(w, keep); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		for i, k := range mask {
			if !k {
				dst[i] = 0
			}
		}
	}
	if t.WidthChannels > 0 && d.width < 1 {
		shape := s.Shapes[t.Name]
		if t.WidthAxis < 0 || t.WidthAxis >= len(shape) || shape[t.WidthAxis] != t.WidthChannels {
			return nil, fmt.Errorf("%s: shape %v has no %d channels on axis %d", t.Name, shape, t.WidthChannels, t.WidthAxis)
		}
		kept := LCSWidthChannels(t.WidthChannels, d.width)
		inner := 1
		for _, v := range shape[t.WidthAxis+1:] {
			inner *= v
		}
		mask = make([]bool, len(dst))
		for i := range dst {
			if (i/inner)%t.WidthChannels < kept {
				mask[i] = true
			} else {
				dst[i] = 0
			}
		}
	}
	if b, ok := d.bits[t.Name]; ok && t.Quantize {
		a, err := LCSQuantizer(dst, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		for i, v := range dst {
			dst[i] = float32(a.Dequantize(a.QuantizeByReciprocal(float64(v))))
		}
	}
	return mask, nil
}

// LCSCos2 is the line regulariser ⟨ω₀, ω₁⟩²/(‖ω₀‖²·‖ω₁‖²) over the
// concatenation of all line tensors (0 without lines or with a zero end).
func (s *LCSSubspace) LCSCos2() float64 {
	dot, n0, n1 := s.lineMoments()
	if n0 == 0 || n1 == 0 {
		return 0
	}
	return dot * dot / (n0 * n1)
}

func (s *LCSSubspace) lineMoments() (dot, n0, n1 float64) {
	for _, t := range s.Tensors {
		w0, ok := s.End0[t.Name]
		if !ok {
			continue
		}
		for i, a := range w0 {
			b := float64(s.End1[t.Name][i])
			dot += float64(a) * b
			n0 += float64(a) * float64(a)
			n1 += b * b
		}
	}
	return dot, n0, n1
}

// addCos2Grad adds β·∂cos²/∂ω to the endpoint gradients:
// ∂/∂ω₀ = 2β·d/(a·b)·(ω₁ − (d/a)·ω₀), symmetric for ω₁ (d = ⟨ω₀, ω₁⟩,
// a = ‖ω₀‖², b = ‖ω₁‖²). It returns the regulariser's value.
func (s *LCSSubspace) addCos2Grad(beta float64, grad0, grad1 map[string][]float32) float64 {
	dot, n0, n1 := s.lineMoments()
	if n0 == 0 || n1 == 0 || beta == 0 {
		return 0
	}
	c := 2 * beta * dot / (n0 * n1)
	for _, t := range s.Tensors {
		w0, ok := s.End0[t.Name]
		if !ok {
			continue
		}
		w1 := s.End1[t.Name]
		g0, g1 := grad0[t.Name], grad1[t.Name]
		for i := range w0 {
			a, b := float64(w0[i]), float64(w1[i])
			g0[i] += float32(c * (b - dot/n0*a))
			g1[i] += float32(c * (a - dot/n1*b))
		}
	}
	return beta * dot * dot / (n0 * n1)
}

func (s *LCSSubspace) clone() *LCSSubspace {
	c := *s
	c.Activations = slices.Clone(s.Activations)
	c.End0, c.End1 = map[string][]float32{}, map[string][]float32{}
	for k, v := range s.End0 {
		c.End0[k] = slices.Clone(v)
	}
	for k, v := range s.End1 {
		c.End1[k] = slices.Clone(v)
	}
	return &c
}

// LCSOptions configure RunLCS. Of the embedded Options, Train,
// BatchNormTraining and AfterStep are not used: every tensor in Tensors is
// trained and norms must keep no statistics.
type LCSOptions struct {
	Options
	Mode     string // unstructured | structured | quantized
	Subspace string // line | point [point]
	Tensors  []LCSTensor
	// Beta weighs the cos² line regulariser [1]; negative turns it off.
	Beta float64
	// WarmupFraction is the share of all steps spent warming up (TopK
	// annealing, dense or 8-bit training, lcs.md B.3) [0.8].
	WarmupFraction float64
	// EvalLevels are scored on the hold-out split after each epoch; the
	// epoch with the best mean accuracy is kept [mode-dependent: both ends
	// and the middle of the range].
	EvalLevels []float64
	// InitNoise perturbs ω₀ by this fraction of each tensor's RMS at the
	// start, so the endpoints differ and the regulariser has a gradient
	// (both start at the pretrained weights) [0.01].
	InitNoise float64
	// Activations fake-quantize the quantized layers' inputs (quantized
	// regime; the quantizer nodes must be in the student already, see
	// rewrite.LCSActivationQuant). They start after the warm-up.
	Activations []LCSActivation
	// WeightsOnly tells callers that build the quantizers
	// (onnxcompress.TrainLCS) to leave the activations float.
	WeightsOnly bool
	// LevelReport, when set, gets each evaluation with its per-level
	// scores (Options.EpochReport gets its Epoch part).
	LevelReport func(LCSEpoch)
}

// LCSEpoch is one evaluation: the hold-out accuracy at each EvalLevel.
type LCSEpoch struct {
	Epoch
	Levels []float64
	Scores []EvalResult
	Mean   float64
	Cos2   float64
}

// LCSResult summarises RunLCS.
type LCSResult struct {
	Epochs      []LCSEpoch
	Best        LCSEpoch
	Steps       int
	Interrupted bool
	Subspace    *LCSSubspace
}

func lcsDefaults(o LCSOptions) (LCSOptions, error) {
	o.Options = withDefaults(o.Options)
	if _, err := LCSGrid(o.Mode); err != nil {
		return o, err
	}
	if o.Subspace == "" {
		o.Subspace = LCSPoint
	}
	if o.Subspace != LCSLine && o.Subspace != LCSPoint {
		return o, fmt.Errorf("unknown LCS subspace %q (want line or point)", o.Subspace)
	}
	if o.Beta == 0 {
		o.Beta = 1
	}
	if o.WarmupFraction == 0 {
		o.WarmupFraction = 0.8
	}
	if !(o.WarmupFraction >= 0 && o.WarmupFraction <= 1) {
		return o, fmt.Errorf("warm-up fraction %g outside [0, 1]", o.WarmupFraction)
	}
	if o.InitNoise == 0 {
		o.InitNoise = 0.01
	}
	if len(o.EvalLevels) == 0 {
		switch o.Mode {
		case LCSUnstructured:
			o.EvalLevels = []float64{0.1, 0.5, 1}
		case LCSStructured:
			o.EvalLevels = []float64{0.25, 0.625, 1}
		case LCSQuantized:
			o.EvalLevels = []float64{3, 5, 8}
		}
	}
	for _, l := range o.EvalLevels {
		if err := checkLevel(o.Mode, l); err != nil {
			return o, err
		}
	}
	if len(o.Tensors) == 0 {
		return o, fmt.Errorf("LCS: no tensors to train")
	}
	return o, nil
}

// newLCSSubspace takes the endpoints from the model's initializers: ω₁ and
// the point are the stored weights, ω₀ the same plus seeded noise.
func newLCSSubspace(m *graph.Model, o LCSOptions) (*LCSSubspace, error) {
	if len(o.Activations) > 0 && o.Mode != LCSQuantized {
		return nil, fmt.Errorf("activation quantizers are for the quantized regime, not %s", o.Mode)
	}
	s := &LCSSubspace{Mode: o.Mode, Subspace: o.Subspace, Tensors: slices.Clone(o.Tensors), Activations: slices.Clone(o.Activations),
		Shapes: map[string][]int{}, End0: map[string][]float32{}, End1: map[string][]float32{}}
	byName := map[string]*graph.Value{}
	for _, v := range m.Graph.Initializers {
		byName[v.Name] = v
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6c637330))
	for i, t := range s.Tensors {
		v := byName[t.Name]
		if v == nil || v.Const == nil || v.Const.DType != graph.Float32 {
			return nil, fmt.Errorf("LCS tensor %q is not a float32 initializer", t.Name)
		}
		w, err := v.Const.Float32s()
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.Name, err)
		}
		s.End1[t.Name] = slices.Clone(w)
		shape := make([]int, len(v.Const.Dims))
		for k, d := range v.Const.Dims {
			shape[k] = int(d)
		}
		s.Shapes[t.Name] = shape
		if o.Subspace != LCSLine {
			s.Tensors[i].Line = false
			continue
		}
		if !t.Line {
			continue
		}
		sq := 0.0
		for _, x := range w {
			sq += float64(x) * float64(x)
		}
		rms := math.Sqrt(sq / float64(max(1, len(w))))
		w0 := make([]float32, len(w))
		for k, x := range w {
			w0[k] = x + float32(o.InitNoise*rms*rng.NormFloat64())
		}
		s.End0[t.Name] = w0
	}
	return s, nil
}

// sample draws a batch's compressions at step t of total (lcs.md B.3).
func (s *LCSSubspace) sample(rng *rand.Rand, t, total int, warmup float64) []lcsDraw {
	tw := warmup * float64(total)
	inWarmup := float64(t) < tw
	line := s.Subspace == LCSLine
	switch s.Mode {
	case LCSUnstructured:
		if line {
			alpha := lcsMinKeep + (1-lcsMinKeep)*rng.Float64()
			if rng.Float64() < 0.5 {
				alpha = []float64{lcsMinKeep, 1}[rng.IntN(2)]
			}
			keep := alpha
			if tw > 0 {
				keep = alpha + (1-alpha)*math.Max(0, 1-float64(t)/tw)
			}
			return []lcsDraw{{alpha: alpha, keep: keep, width: 1}}
		}
		if inWarmup {
			return []lcsDraw{{alpha: 1, keep: 1, width: 1}}
		}
		return []lcsDraw{{alpha: 1, keep: lcsMinKeep + (1-lcsMinKeep)*rng.Float64(), width: 1}}
	case LCSStructured:
		alphas := []float64{0, 1, rng.Float64(), rng.Float64()}
		out := make([]lcsDraw, len(alphas))
		for i, a := range alphas {
			out[i] = lcsDraw{alpha: a, keep: 1, width: lcsMinWidth + (1-lcsMinWidth)*a}
			if !line {
				out[i].alpha = 1
			}
		}
		return out
	}
	d := lcsDraw{alpha: 1, keep: 1, width: 1, bits: map[string]int{}, act: !inWarmup}
	if line {
		d.alpha = float64(1+rng.IntN(6)) / 6
	}
	for _, t := range s.Tensors {
		if !t.Quantize {
			continue
		}
		switch {
		case line:
			d.bits[t.Name] = LCSBits(d.alpha)
		case inWarmup:
			d.bits[t.Name] = lcsMaxBits
		default:
			d.bits[t.Name] = lcsMinBits + rng.IntN(lcsMaxBits-lcsMinBits+1)
		}
	}
	return []lcsDraw{d}
}

// RunLCS trains student as a compressible subspace by distillation from
// teacher (see Run for data, hold-out and test handling). The student's
// initializers end holding ω₁ (or the point) of the best epoch; the result's
// Subspace holds both endpoints. Cancelling ctx stops after the current
// step and keeps the best subspace so far.
func RunLCS(ctx context.Context, student, teacher *graph.Model, train, test *dataset.Dataset, opts LCSOptions) (*LCSResult, error) {
	opts, err := lcsDefaults(opts)
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
	for _, n := range student.Graph.Nodes {
		if n.OpType == "BatchNormalization" {
			return nil, badOptions(fmt.Errorf("node %s: LCS needs norms without stored statistics; swap BatchNormalization for GroupNorm or InstanceNorm first", n.Name))
		}
	}
	sub, err := newLCSSubspace(student, opts)
	if err != nil {
		return nil, badOptions(err)
	}
	names := make([]string, len(sub.Tensors))
	for i, t := range sub.Tensors {
		names[i] = t.Name
	}
	var observed []string
	for _, a := range sub.Activations {
		observed = append(observed, a.Input)
	}
	tape, err := runtime.NewTape(student, runtime.TrainOptions{Threads: opts.Threads, Trainable: names, Seed: opts.Seed, ExtraOutputs: observed})
	if err != nil {
		return nil, err
	}
	if len(tape.InputNames()) != 1 {
		return nil, fmt.Errorf("LCS: the student has %d inputs, want one image input", len(tape.InputNames()))
	}
	teach, err := runtime.NewSession(teacher, runtime.Options{Threads: opts.Threads})
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	plan, err := planTraining(train, teach, opts.Options)
	if err != nil {
		return nil, err
	}
	holdout, sched := plan.holdout, plan.sched

	res := &LCSResult{}
	best := sub.clone()
	evaluate := func(epoch, steps int, loss float64) error {
		e := LCSEpoch{Epoch: Epoch{Epoch: epoch, Steps: steps, Loss: loss}, Levels: opts.EvalLevels, Cos2: sub.LCSCos2()}
		evalOpts := EvalOptions{Threads: opts.Threads, Limit: opts.EvalLimit}
		for _, level := range opts.EvalLevels {
			w, err := sub.Weights(level)
			if err != nil {
				return err
			}
			if err := setInitializers(student, w); err != nil {
				return err
			}
			r, err := Evaluate(context.WithoutCancel(ctx), student, holdout, evalOpts)
			if err != nil {
				return err
			}
			e.Scores = append(e.Scores, r)
			e.Mean += r.Accuracy / float64(len(opts.EvalLevels))
		}
		e.Holdout = e.Scores[len(e.Scores)-1]
		if test != nil {
			if err := setInitializers(student, sub.Uncompressed()); err != nil {
				return err
			}
			r, err := Evaluate(context.WithoutCancel(ctx), student, test, evalOpts)
			if err != nil {
				return err
			}
			e.Test = &r
		}
		if len(res.Epochs) == 0 || e.Mean > res.Best.Mean {
			e.Best = true
			res.Best = e
			best = sub.clone()
		}
		res.Epochs = append(res.Epochs, e)
		if opts.EpochReport != nil {
			opts.EpochReport(e.Epoch)
		}
		if opts.LevelReport != nil {
			opts.LevelReport(e)
		}
		return nil
	}
	inName, logitsName := tape.InputNames()[0], tape.OutputNames()[0]
	if len(sub.Activations) > 0 {
		// Calibrate the activation ranges on one batch, so that every
		// evaluation, the first included, quantizes activations alike.
		idx := plan.trainIdx[:min(opts.Batch, len(plan.trainIdx))]
		input, _, err := batchInput(train, idx, make([]float32, len(idx)*train.SampleSize()), make([]int64, len(idx)))
		if err != nil {
			return nil, err
		}
		if _, err := sub.lcsForward(tape, lcsDraw{}, inName, input, true); err != nil {
			return nil, err
		}
	}
	if err := evaluate(0, 0, math.NaN()); err != nil {
		return nil, err
	}

	// The optimizer steps the endpoints: "name" is ω₁ (or the point),
	// "name#0" is ω₀.
	grad0, grad1 := map[string][]float32{}, map[string][]float32{}
	var params []Param
	for _, t := range sub.Tensors {
		grad1[t.Name] = make([]float32, len(sub.End1[t.Name]))
		params = append(params, Param{Name: t.Name, Value: sub.End1[t.Name], Grad: grad1[t.Name]})
		if w0, ok := sub.End0[t.Name]; ok {
			grad0[t.Name] = make([]float32, len(w0))
			params = append(params, Param{Name: t.Name + "#0", Value: w0, Grad: grad0[t.Name]})
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6c637332))
	step := func(b batch) (float64, float64, error) {
		for _, p := range params {
			clear(p.Grad)
		}
		loss := 0.0
		for _, d := range sub.sample(rng, b.step, plan.total, opts.WarmupFraction) {
			l, err := sub.lcsPass(tape, d, inName, logitsName, b.input, b.teacher[teach.OutputNames()[0]], b.labels, opts.Distillation, grad0, grad1)
			if err != nil {
				return 0, 0, err
			}
			loss += l
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return 0, 0, fmt.Errorf("LCS: loss became %g at step %d (learning rate %g too high?)", loss, b.step, sched.LR(b.step))
		}
		if opts.Beta > 0 {
			loss += sub.addCos2Grad(opts.Beta, grad0, grad1)
		}
		ClipGradNorm(params, opts.ClipNorm)
		lr := sched.LR(b.step)
		if err := optim.Step(params, lr); err != nil {
			return 0, 0, err
		}
		return loss, lr, nil
	}
	if res.Steps, res.Interrupted, err = plan.trainEpochs(ctx, train, teach, opts.Options, step, evaluate); err != nil {
		return nil, err
	}
	for i, a := range best.Activations {
		// Kept weights from before the activations were first observed
		// (the start) take the ranges training measured since.
		if !a.Seen {
			best.Activations[i] = sub.Activations[i]
		}
	}
	res.Subspace = best
	if err := setInitializers(student, best.Uncompressed()); err != nil {
		return nil, err
	}
	return res, nil
}

// lcsForward sets the activation quantizers for draw d, runs the tape
// forward and, with observe, folds the quantized layers' inputs into their
// ranges.
func (s *LCSSubspace) lcsForward(tape *runtime.Tape, d lcsDraw, inName string, input *runtime.Tensor, observe bool) (map[string]*runtime.Tensor, error) {
	acts, err := s.activationValues(d)
	if err != nil {
		return nil, err
	}
	for name, v := range acts {
		copy(tape.Param(name).F32, v)
	}
	out, err := tape.Forward(map[string]*runtime.Tensor{inName: input})
	if err != nil {
		return nil, err
	}
	if observe {
		for i := range s.Activations {
			s.Activations[i].observe(out[s.Activations[i].Input].F32)
		}
	}
	return out, nil
}

// lcsPass runs one forward and backward at draw d and adds the gradient of
// its loss to the endpoints: (1 − α)·g to ω₀ and α·g to ω₁ for lines, g to
// a point, masked entries getting none.
func (s *LCSSubspace) lcsPass(tape *runtime.Tape, d lcsDraw, inName, logitsName string, input, teacher *runtime.Tensor,
	labels []int64, kd Distillation, grad0, grad1 map[string][]float32) (float64, error) {
	masks := make([][]bool, len(s.Tensors))
	for i, t := range s.Tensors {
		m, err := s.compress(t, d, tape.Param(t.Name).F32)
		if err != nil {
			return 0, err
		}
		masks[i] = m
	}
	out, err := s.lcsForward(tape, d, inName, input, d.act)
	if err != nil {
		return 0, err
	}
	loss, grad, err := kd.Loss(out[logitsName], teacher, labels)
	if err != nil {
		return 0, err
	}
	if err := tape.Backward(map[string]*runtime.Tensor{logitsName: grad}); err != nil {
		return 0, err
	}
	for i, t := range s.Tensors {
		g := tape.Grad(t.Name).F32
		g1, g0 := grad1[t.Name], grad0[t.Name]
		a1, a0 := float32(1), float32(0)
		if g0 != nil {
			a1, a0 = float32(d.alpha), float32(1-d.alpha)
		}
		for k, v := range g {
			if masks[i] != nil && !masks[i][k] {
				continue
			}
			g1[k] += a1 * v
			if g0 != nil {
				g0[k] += a0 * v
			}
		}
	}
	return loss, nil
}

// lcsPassThrough are ops that keep zero channels zero, so masking a layer's
// trailing output channels equals slicing them away.
var lcsPassThrough = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Identity": true, "Dropout": true, "Tanh": true,
	"MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "GlobalMaxPool": true,
}

// LCSLayout decides how each trainable tensor of m takes part in LCS
// (lcs.md B.1, B.2). Layers are the Conv, Gemm and MatMul nodes with a
// stored weight, in graph order; the first (it reads the input) and the
// last (the classifier) are never masked or quantized.
//   - unstructured: the other layers' weights are TopK-masked;
//   - quantized: the other layers' weights are fake-quantized;
//   - structured: every layer but the last keeps its leading output
//     channels: its weight, bias and the scale and bias of the per-channel
//     norms it feeds are width-masked.
//
// Lines (subspace "line"): every tensor but the layer biases
// (unstructured, quantized); only the norm parameters (structured).
func LCSLayout(m *graph.Model, mode, subspace string) ([]LCSTensor, error) {
	if _, err := LCSGrid(mode); err != nil {
		return nil, err
	}
	g := m.Graph
	names, err := TrainableNames(m, "all")
	if err != nil {
		return nil, err
	}
	trainable := map[string]bool{}
	for _, n := range names {
		trainable[n] = true
	}
	idx := graph.NewIndex(g)
	var layers []*graph.Node
	for _, n := range g.Nodes {
		if (n.OpType == "Conv" || n.OpType == "Gemm" || n.OpType == "MatMul") && n.Input(1).IsConst() && trainable[n.Input(1).Name] {
			layers = append(layers, n)
		}
	}
	if len(layers) < 3 && mode != LCSStructured {
		return nil, fmt.Errorf("LCS %s: %d weighted layers leave none between the first and the classifier", mode, len(layers))
	}
	if len(layers) < 2 {
		return nil, fmt.Errorf("LCS %s: %d weighted layers leave none to narrow before the classifier", mode, len(layers))
	}
	roles := map[string]*LCSTensor{}
	role := func(name string) *LCSTensor {
		if roles[name] == nil {
			roles[name] = &LCSTensor{Name: name}
		}
		return roles[name]
	}
	biases := map[string]bool{}
	normParams := map[string]bool{}
	for _, n := range g.Nodes {
		if (n.OpType == "InstanceNormalization" || n.OpType == "BatchNormalization") && len(n.Inputs) >= 3 {
			normParams[n.Input(1).Name], normParams[n.Input(2).Name] = true, true
		}
	}
	for i, n := range layers {
		w := n.Input(1)
		if b := n.Input(2); b != nil {
			biases[b.Name] = true
		}
		inner := i > 0 && i < len(layers)-1
		switch mode {
		case LCSUnstructured:
			role(w.Name).TopK = role(w.Name).TopK || inner
		case LCSQuantized:
			if inner {
				role(w.Name).Quantize, role(w.Name).Layer = true, n.Name
			}
		case LCSStructured:
			if i == len(layers)-1 {
				continue
			}
			if err := lcsWidthRoles(g, idx, n, trainable, role); err != nil {
				return nil, err
			}
		}
	}
	var out []LCSTensor
	for _, name := range names {
		t := LCSTensor{Name: name}
		if r := roles[name]; r != nil {
			t = *r
		}
		if subspace == LCSLine {
			if mode == LCSStructured {
				t.Line = normParams[name]
			} else {
				t.Line = !biases[name]
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// lcsWidthRoles marks the output-channel axis of a layer's weight and bias
// and of the per-channel norms downstream of it.
func lcsWidthRoles(g *graph.Graph, idx *graph.Index, n *graph.Node, trainable map[string]bool, role func(string) *LCSTensor) error {
	w := n.Input(1).Const
	axis := 0
	if n.OpType == "MatMul" || n.OpType == "Gemm" && n.AttrInt("transB", 0) == 0 {
		axis = 1
	}
	if n.OpType == "Conv" && n.AttrInt("group", 1) != 1 {
		return fmt.Errorf("node %s: structured LCS cannot narrow a grouped conv", n.Label())
	}
	if len(w.Dims) <= axis {
		return fmt.Errorf("node %s: weight %v has no output axis", n.Label(), w.Dims)
	}
	c := int(w.Dims[axis])
	mark := func(v *graph.Value, ax int) error {
		if v == nil || !trainable[v.Name] {
			return nil
		}
		if len(v.Const.Dims) <= ax || int(v.Const.Dims[ax]) != c {
			return fmt.Errorf("node %s: %s %v does not hold %d channels on axis %d", n.Label(), v.Name, v.Const.Dims, c, ax)
		}
		r := role(v.Name)
		if r.WidthChannels != 0 && (r.WidthChannels != c || r.WidthAxis != ax) {
			return fmt.Errorf("node %s: %s is narrowed by two layers", n.Label(), v.Name)
		}
		r.Layer, r.WidthAxis, r.WidthChannels = n.Name, ax, c
		return nil
	}
	if err := mark(n.Input(1), axis); err != nil {
		return err
	}
	if b := n.Input(2); b != nil {
		if err := mark(b, len(b.Const.Dims)-1); err != nil {
			return err
		}
	}
	v := n.Outputs[0]
	for {
		cons := idx.Consumers(v)
		if len(cons) != 1 {
			return nil
		}
		next := cons[0]
		switch {
		case next.OpType == "InstanceNormalization" || next.OpType == "BatchNormalization":
			if p := idx.Producer(next.Input(0)); p != nil && p.OpType == "Reshape" {
				return fmt.Errorf("node %s: structured LCS needs InstanceNorm, not GroupNorm (its statistics mix channels)", next.Label())
			}
			for _, in := range []int{1, 2} {
				if err := mark(next.Input(in), 0); err != nil {
					return err
				}
			}
		case next.OpType == "Reshape":
			if c2 := idx.Consumers(next.Outputs[0]); len(c2) == 1 && c2[0].OpType == "InstanceNormalization" {
				return fmt.Errorf("node %s: structured LCS needs InstanceNorm, not GroupNorm (its statistics mix channels)", c2[0].Label())
			}
			return nil
		case !lcsPassThrough[next.OpType]:
			return nil
		}
		v = next.Outputs[0]
	}
}
