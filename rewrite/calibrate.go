package rewrite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
	"gonum.org/v1/gonum/mat"
)

// calibInputRows is how many inputs of each layer (im2col patches for a
// Conv) calibration keeps, drawn at random positions of the batches, to
// price output errors for the global budget (Layer.calib).
const calibInputRows = 512

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
	rows := make([][][]float64, len(s.layers)) // per layer, per group: sampled input rows
	perBatch := (calibInputRows + len(s.opts.Calibration) - 1) / len(s.opts.Calibration)
	rng := rand.New(rand.NewPCG(s.opts.Seed, 0xca1b))
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
		for k, l := range s.layers {
			t := out[l.Input.Name]
			if t == nil || t.DType != graph.Float32 {
				continue
			}
			got, err := l.inputRows(t, perBatch, rng)
			if err != nil {
				return fmt.Errorf("calibration batch %d, layer %s: %w", i, l.Node.Label(), err)
			}
			if rows[k] == nil {
				rows[k] = make([][]float64, len(got))
			}
			for g := range got {
				rows[k][g] = append(rows[k][g], got[g]...)
			}
		}
	}
	for k, l := range s.layers {
		if rows[k] == nil {
			continue
		}
		l.calib = make([]*mat.Dense, len(rows[k]))
		for g, data := range rows[k] {
			l.calib[g] = mat.NewDense(len(data)/l.In(), l.In(), data)
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

// inputRows draws count inputs of the layer from its input activation x, at
// positions picked by rng, as the weight sees them: per group, rows of
// length In() — an im2col patch in the (c, k…) order of Matrix for a Conv
// (zeros where the window reaches into padding), a row of A for Gemm, a
// last-axis vector for MatMul.
func (l *Layer) inputRows(x *runtime.Tensor, count int, rng *rand.Rand) ([][]float64, error) {
	in := l.In()
	switch l.Kind {
	case GemmLayer, MatMulLayer:
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("input of rank %d", len(x.Shape))
		}
		k := x.Shape[len(x.Shape)-1]
		n := len(x.F32) / k
		transA := l.Kind == GemmLayer && l.Gemm.TransA
		if transA {
			k, n = x.Shape[0], x.Shape[1]
		}
		if k != in {
			return nil, fmt.Errorf("input rows of %d values for a weight taking %d", k, in)
		}
		out := make([]float64, 0, count*in)
		for i := 0; i < count; i++ {
			row := rng.IntN(n)
			for j := 0; j < in; j++ {
				if transA {
					out = append(out, float64(x.F32[j*n+row]))
				} else {
					out = append(out, float64(x.F32[row*k+j]))
				}
			}
		}
		return [][]float64{out}, nil
	}
	win, err := l.convWindow(x.Shape)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, l.Groups())
	for g := range out {
		out[g] = make([]float64, 0, count*in)
	}
	for i := 0; i < count; i++ {
		p := rng.IntN(win.positions)
		for g := range out {
			out[g] = win.patch(x, p, g, out[g])
		}
	}
	return out, nil
}

// convWindow is where a Conv's window reads its input: sizes and begin
// padding per spatial axis, and the number of output positions (batch
// included).
type convWindow struct {
	c                      ConvAttrs
	chans                  int
	inSize, outSize, begin []int
	positions              int
}

func (l *Layer) convWindow(shape []int) (*convWindow, error) {
	c := l.Conv
	sp := len(c.Kernel)
	if len(shape) != sp+2 {
		return nil, fmt.Errorf("input of rank %d for a %d-D conv", len(shape), sp)
	}
	w := &convWindow{c: c, chans: int(l.Weight.Dims[1]), inSize: make([]int, sp), outSize: make([]int, sp), begin: make([]int, sp), positions: shape[0]}
	if shape[1] != l.Groups()*w.chans {
		return nil, fmt.Errorf("input has %d channels, the weight reads %d", shape[1], l.Groups()*w.chans)
	}
	for ax := 0; ax < sp; ax++ {
		n, k, st, d := shape[2+ax], int(c.Kernel[ax]), int(c.Strides[ax]), int(c.Dilations[ax])
		span := d*(k-1) + 1
		w.inSize[ax] = n
		switch c.AutoPad {
		case "SAME_UPPER", "SAME_LOWER":
			w.outSize[ax] = (n + st - 1) / st
			total := max(0, (w.outSize[ax]-1)*st+span-n)
			w.begin[ax] = total / 2
			if c.AutoPad == "SAME_LOWER" {
				w.begin[ax] = total - total/2
			}
		case "VALID":
			w.outSize[ax] = (n-span)/st + 1
		default:
			w.begin[ax] = int(c.Pads[ax])
			w.outSize[ax] = (n+int(c.Pads[ax])+int(c.Pads[ax+sp])-span)/st + 1
		}
		if w.outSize[ax] < 1 {
			return nil, fmt.Errorf("the window does not fit the input on axis %d", ax)
		}
		w.positions *= w.outSize[ax]
	}
	return w, nil
}

// patch appends to dst group g's im2col patch at output position p (batch
// major, then the spatial axes in order), in the (c, k…) order of Matrix;
// taps in the padding read zero.
func (w *convWindow) patch(x *runtime.Tensor, p, g int, dst []float64) []float64 {
	sp := len(w.outSize)
	pos, idx := make([]int, sp), make([]int, sp)
	for ax := sp - 1; ax >= 0; ax-- {
		pos[ax] = p % w.outSize[ax]
		p /= w.outSize[ax]
	}
	planeSize := 1
	for _, n := range w.inSize {
		planeSize *= n
	}
	taps := 1
	for _, k := range w.c.Kernel {
		taps *= int(k)
	}
	groups := x.Shape[1] / w.chans
	for ch := 0; ch < w.chans; ch++ {
		plane := x.F32[((p*groups+g)*w.chans+ch)*planeSize:]
		for tap := 0; tap < taps; tap++ {
			rem, off, inside := tap, 0, true
			for ax := sp - 1; ax >= 0; ax-- {
				idx[ax] = rem % int(w.c.Kernel[ax])
				rem /= int(w.c.Kernel[ax])
			}
			for ax := 0; ax < sp; ax++ {
				at := pos[ax]*int(w.c.Strides[ax]) - w.begin[ax] + idx[ax]*int(w.c.Dilations[ax])
				if at < 0 || at >= w.inSize[ax] {
					inside = false
					break
				}
				off = off*w.inSize[ax] + at
			}
			v := 0.0
			if inside {
				v = float64(plane[off])
			}
			dst = append(dst, v)
		}
	}
	return dst
}
