package rewrite

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxcompress/onnxcompress/graph"
)

// calibSampleCap bounds the values kept per activation for percentile
// ranges; past it every k-th value is kept, deterministically.
const calibSampleCap = 1 << 20

// calibrate runs the model on the calibration batches (Options.Calibration)
// in this project's runtime and records the range of every selected layer's
// input activation: min/max, or the Options.CalibPercentile-th percentiles
// of |outliers| clipped. Methods read them through Emitter.ActivationRange.
func calibrate(s *state) error {
	if len(s.opts.Calibration) == 0 || len(s.layers) == 0 {
		return nil
	}
	var watch []string
	seen := map[string]bool{}
	for _, l := range s.layers {
		if !seen[l.Input.Name] {
			seen[l.Input.Name] = true
			watch = append(watch, l.Input.Name)
		}
	}
	// Inference fixed the inputs at the probe shapes; calibration batches
	// have their own batch size, as the model's declared inputs allow.
	for _, v := range s.model.Graph.Inputs {
		if t, ok := s.declared[v]; ok {
			current := v.Type
			v.Type = t
			defer func(v *graph.Value) { v.Type = current }(v)
		}
	}
	samples := map[string][]float32{}
	for i, batch := range s.opts.Calibration {
		out, err := runWatching(s.model, watch, batch, 0)
		if err != nil {
			return fmt.Errorf("calibration batch %d: %w", i, err)
		}
		for _, name := range watch {
			t := out[name]
			if t == nil || t.DType != graph.Float32 {
				continue
			}
			samples[name] = append(samples[name], t.F32...)
		}
	}
	s.ranges = map[string][2]float64{}
	for name, x := range samples {
		lo, hi, err := activationRange(x, s.opts.CalibPercentile)
		if err != nil {
			return fmt.Errorf("calibration of %s: %w", name, err)
		}
		s.ranges[name] = [2]float64{lo, hi}
	}
	return nil
}

// activationRange is [min, max] of x, or the (100−p)-th and p-th
// percentiles (linear interpolation, as numpy) when p is in (50, 100).
func activationRange(x []float32, p float64) (float64, float64, error) {
	if len(x) == 0 {
		return 0, 0, fmt.Errorf("no values")
	}
	if p == 0 || p == 100 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range x {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
		return lo, hi, nil
	}
	if !(p > 50 && p < 100) {
		return 0, 0, fmt.Errorf("percentile %g: want 0, 100, or a value in (50, 100)", p)
	}
	step := max(1, len(x)/calibSampleCap)
	kept := make([]float64, 0, len(x)/step+1)
	for i := 0; i < len(x); i += step {
		kept = append(kept, float64(x[i]))
	}
	sort.Float64s(kept)
	at := func(q float64) float64 {
		pos := q / 100 * float64(len(kept)-1)
		i := int(pos)
		if i+1 >= len(kept) {
			return kept[len(kept)-1]
		}
		return kept[i] + (pos-float64(i))*(kept[i+1]-kept[i])
	}
	return at(100 - p), at(p), nil
}
