package solvers

import (
	"fmt"
	"math"
	"slices"
)

// QuantScheme says how real values map to b-bit integers.
type QuantScheme struct {
	// Bits is the integer width, 2 to 8.
	Bits int
	// Signed selects [−2^{b−1}, 2^{b−1}−1] instead of [0, 2^b−1].
	Signed bool
	// Symmetric fixes the zero point at the middle of the range (0 when
	// signed) and takes the scale from max |x|.
	Symmetric bool
}

// Validate reports an unsupported bit width.
func (s QuantScheme) Validate() error {
	if s.Bits < 2 || s.Bits > 8 {
		return fmt.Errorf("quantization: %d bits, supported are 2 to 8", s.Bits)
	}
	return nil
}

// Limits returns the integer range [qmin, qmax].
func (s QuantScheme) Limits() (qmin, qmax int32) {
	if s.Signed {
		return -(1 << uint(s.Bits-1)), 1<<uint(s.Bits-1) - 1
	}
	return 0, 1<<uint(s.Bits) - 1
}

// Affine is one scale/zero-point pair with ONNX QuantizeLinear and
// DequantizeLinear semantics: q = saturate(round_half_even(x/Scale) + ZeroPoint)
// and x̂ = (q − ZeroPoint)·Scale, in float32 arithmetic like ONNX Runtime.
type Affine struct {
	Scale      float32
	ZeroPoint  int32
	QMin, QMax int32
}

// Quantize maps one value to its integer code. x is rounded to float32 first,
// since the ONNX tensor being quantized is float32.
func (a Affine) Quantize(x float64) int32 {
	return a.saturate(math.RoundToEven(float64(float32(x)/a.Scale)) + float64(a.ZeroPoint))
}

// QuantizeByReciprocal is the LCS reference variant (quantize_affine.py): it
// multiplies by the float32 reciprocal of the scale instead of dividing, which
// can move ties by one step.
func (a Affine) QuantizeByReciprocal(x float64) int32 {
	inv := float32(1 / float64(a.Scale))
	return a.saturate(math.RoundToEven(float64(float32(x)*inv)) + float64(a.ZeroPoint))
}

func (a Affine) saturate(v float64) int32 {
	return int32(math.Max(float64(a.QMin), math.Min(float64(a.QMax), v)))
}

// Dequantize maps an integer code back to (q − ZeroPoint)·Scale in float32.
func (a Affine) Dequantize(q int32) float64 {
	return float64(float32(q-a.ZeroPoint) * a.Scale)
}

// FakeQuantize is Dequantize(Quantize(x)).
func (a Affine) FakeQuantize(x float64) float64 { return a.Dequantize(a.Quantize(x)) }

// AffineFromRange derives scale and zero point from a value range. The range
// is widened to include 0 so that 0 is exactly representable. Asymmetric:
// s = (r_max − r_min)/(q_max − q_min), z = clip(round_half_even(q_min − r_min/s)).
// Symmetric: s = max(|r_min|, |r_max|)/((q_max − q_min)/2) and z at the middle.
// An empty range (all zeros) gets scale 1, so every code dequantizes to a
// finite value and 0 still maps to 0.
func AffineFromRange(lo, hi float64, scheme QuantScheme) (Affine, error) {
	if err := scheme.Validate(); err != nil {
		return Affine{}, err
	}
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return Affine{}, fmt.Errorf("quantization range [%g, %g] is not finite", lo, hi)
	}
	if lo > hi {
		return Affine{}, fmt.Errorf("quantization range [%g, %g] is reversed", lo, hi)
	}
	qmin, qmax := scheme.Limits()
	a := Affine{QMin: qmin, QMax: qmax}
	rmin, rmax := math.Min(lo, 0), math.Max(hi, 0)
	if scheme.Symmetric {
		amax := math.Max(-rmin, rmax)
		if !scheme.Signed {
			a.ZeroPoint = (qmin + qmax + 1) / 2
		}
		a.Scale = float32(amax / (float64(qmax-qmin) / 2))
		if a.Scale == 0 {
			a.Scale = 1
		}
		return a, nil
	}
	scale := (rmax - rmin) / float64(qmax-qmin)
	a.Scale = float32(scale)
	if a.Scale == 0 {
		a.Scale = 1
		a.ZeroPoint = a.saturate(math.RoundToEven(float64(qmin)))
		return a, nil
	}
	a.ZeroPoint = a.saturate(math.RoundToEven(float64(qmin) - rmin/float64(a.Scale)))
	return a, nil
}

// QuantRange chooses the value range to calibrate on.
type QuantRange struct {
	// Percentile, when in (50, 100), clips outliers: the range becomes the
	// (100−P)-th to P-th percentiles (linear interpolation, as numpy). 0 or
	// 100 uses the exact min and max.
	Percentile float64
}

// rangeOf returns the calibration range of x.
func (opt QuantRange) rangeOf(x []float64) (lo, hi float64, err error) {
	if len(x) == 0 {
		return 0, 0, fmt.Errorf("quantization: empty tensor")
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, 0, fmt.Errorf("quantization: element %d is %g", i, v)
		}
	}
	p := opt.Percentile
	if p == 0 || p == 100 {
		return slices.Min(x), slices.Max(x), nil
	}
	if !(p > 50 && p < 100) {
		return 0, 0, fmt.Errorf("quantization: percentile %g must lie in (50, 100)", p)
	}
	sorted := slices.Clone(x)
	slices.Sort(sorted)
	return percentileSorted(sorted, 100-p), percentileSorted(sorted, p), nil
}

func percentileSorted(sorted []float64, p float64) float64 {
	pos := p / 100 * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(i)
	return sorted[i] + frac*(sorted[i+1]-sorted[i])
}

// QuantizeTensor quantizes x with one scale and zero point from its range.
func QuantizeTensor(x []float64, scheme QuantScheme, rng QuantRange) ([]int32, Affine, error) {
	lo, hi, err := rng.rangeOf(x)
	if err != nil {
		return nil, Affine{}, err
	}
	a, err := AffineFromRange(lo, hi, scheme)
	if err != nil {
		return nil, Affine{}, err
	}
	q := make([]int32, len(x))
	for i, v := range x {
		q[i] = a.Quantize(v)
	}
	return q, a, nil
}

// DequantizeTensor is the per-tensor DequantizeLinear.
func DequantizeTensor(q []int32, a Affine) []float64 {
	out := make([]float64, len(q))
	for i, v := range q {
		out[i] = a.Dequantize(v)
	}
	return out
}

// channelLayout returns how a row-major tensor of the given shape splits
// along axis: element e belongs to channel (e/inner) % channels.
func channelLayout(size int, shape []int, axis int) (channels, inner int, err error) {
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		return 0, 0, fmt.Errorf("quantization: axis %d out of range for shape %v", axis, shape)
	}
	total := 1
	for _, d := range shape {
		if d < 0 {
			return 0, 0, fmt.Errorf("quantization: negative dimension in shape %v", shape)
		}
		total *= d
	}
	if total != size {
		return 0, 0, fmt.Errorf("quantization: shape %v holds %d elements, tensor has %d", shape, total, size)
	}
	inner = 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return shape[axis], inner, nil
}

// QuantizeChannels quantizes each slice along axis (ONNX per-axis
// quantization; a negative axis counts from the end) with its own range.
func QuantizeChannels(x []float64, shape []int, axis int, scheme QuantScheme, rng QuantRange) ([]int32, []Affine, error) {
	channels, inner, err := channelLayout(len(x), shape, axis)
	if err != nil {
		return nil, nil, err
	}
	members := make([][]float64, channels)
	for e, v := range x {
		ch := (e / inner) % channels
		members[ch] = append(members[ch], v)
	}
	params := make([]Affine, channels)
	for ch, vals := range members {
		lo, hi, err := rng.rangeOf(vals)
		if err != nil {
			return nil, nil, fmt.Errorf("channel %d: %w", ch, err)
		}
		if params[ch], err = AffineFromRange(lo, hi, scheme); err != nil {
			return nil, nil, fmt.Errorf("channel %d: %w", ch, err)
		}
	}
	q, err := QuantizeChannelsWith(x, shape, axis, params)
	return q, params, err
}

// QuantizeChannelsWith applies given per-axis parameters (QuantizeLinear with a
// 1-D scale).
func QuantizeChannelsWith(x []float64, shape []int, axis int, params []Affine) ([]int32, error) {
	channels, inner, err := channelLayout(len(x), shape, axis)
	if err != nil {
		return nil, err
	}
	if len(params) != channels {
		return nil, fmt.Errorf("quantization: %d channel parameters for %d channels", len(params), channels)
	}
	q := make([]int32, len(x))
	for e, v := range x {
		q[e] = params[(e/inner)%channels].Quantize(v)
	}
	return q, nil
}

// DequantizeChannels is DequantizeLinear with a 1-D scale along axis.
func DequantizeChannels(q []int32, shape []int, axis int, params []Affine) ([]float64, error) {
	channels, inner, err := channelLayout(len(q), shape, axis)
	if err != nil {
		return nil, err
	}
	if len(params) != channels {
		return nil, fmt.Errorf("dequantization: %d channel parameters for %d channels", len(params), channels)
	}
	out := make([]float64, len(q))
	for e, v := range q {
		out[e] = params[(e/inner)%channels].Dequantize(v)
	}
	return out, nil
}

// MagnitudeKeepCount is the number of entries an unstructured mask keeps at
// keep fraction k, as in the LCS TopK: the int((1−k)·n) smallest are dropped.
func MagnitudeKeepCount(n int, keepFraction float64) (int, error) {
	if !(keepFraction >= 0 && keepFraction <= 1) {
		return 0, fmt.Errorf("magnitude mask: keep fraction %g outside [0, 1]", keepFraction)
	}
	return n - int((1-keepFraction)*float64(n)), nil
}

// MagnitudeMask keeps the keep entries of largest |x|. Ties go to the lower
// index, so masks are deterministic and nested: the mask for a smaller keep
// is a subset of the mask for a larger one.
func MagnitudeMask(x []float64, keep int) ([]bool, error) {
	if keep < 0 || keep > len(x) {
		return nil, fmt.Errorf("magnitude mask: keep %d of %d entries", keep, len(x))
	}
	for i, v := range x {
		if math.IsNaN(v) {
			return nil, fmt.Errorf("magnitude mask: element %d is NaN", i)
		}
	}
	order := make([]int, len(x))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		ai, aj := math.Abs(x[i]), math.Abs(x[j])
		switch {
		case ai > aj:
			return -1
		case ai < aj:
			return 1
		}
		return i - j
	})
	mask := make([]bool, len(x))
	for _, i := range order[:keep] {
		mask[i] = true
	}
	return mask, nil
}
