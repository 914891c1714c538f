package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Resize (nearest, linear, cubic) and the older Upsample, computed as one
// separable pass per resized axis: each output coordinate reads a few input
// coordinates (taps) with weights.

func init() {
	registerForward(compileResize(false), "Resize")
	registerForward(compileResize(true), "Upsample")
}

type resizeAttrs struct {
	mode, coord, nearest string
	cubicA               float64
	excludeOutside       bool
	extrapolation        float64
	legacy               bool // opset < 11 Resize, Upsample: asymmetric, "simple" nearest
}

func compileResize(upsample bool) compileFunc {
	return func(n *graph.Node, opset int64) (kernelFunc, error) {
		a := resizeAttrs{
			mode:           n.AttrString("mode", "nearest"),
			coord:          n.AttrString("coordinate_transformation_mode", "half_pixel"),
			nearest:        n.AttrString("nearest_mode", "round_prefer_floor"),
			cubicA:         float64(n.AttrFloat("cubic_coeff_a", -0.75)),
			excludeOutside: n.AttrInt("exclude_outside", 0) != 0,
			extrapolation:  float64(n.AttrFloat("extrapolation_value", 0)),
			legacy:         upsample || opset < 11,
		}
		if a.legacy {
			a.coord, a.nearest = "asymmetric", "simple"
		}
		switch a.mode {
		case "nearest", "linear", "cubic", "bilinear":
		default:
			return nil, fmt.Errorf("mode %q is %w", a.mode, ErrUnsupported)
		}
		if a.mode == "bilinear" {
			a.mode = "linear"
		}
		if n.AttrInt("antialias", 0) != 0 || n.Attr("axes") != nil || n.AttrString("keep_aspect_ratio_policy", "stretch") != "stretch" {
			return nil, fmt.Errorf("antialias, axes and keep_aspect_ratio_policy are %w", ErrUnsupported)
		}
		switch a.coord {
		case "half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_crop_and_resize":
		default:
			return nil, fmt.Errorf("coordinate_transformation_mode %q is %w", a.coord, ErrUnsupported)
		}
		attrScales := n.AttrFloats("scales", nil)
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			if x.DType != graph.Float32 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			r := len(x.Shape)
			var roi, scales []float64
			var sizes []int64
			switch {
			case upsample && opset < 9:
				for _, s := range attrScales {
					scales = append(scales, float64(s))
				}
			case upsample || opset < 11:
				scales = in[1].Float64s()
			default:
				if in[1] != nil {
					roi = in[1].Float64s()
				}
				if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
					scales = in[2].Float64s()
				}
				if len(in) > 3 && in[3] != nil && in[3].Len() > 0 {
					var err error
					if sizes, err = in[3].ints("sizes"); err != nil {
						return err
					}
				}
			}
			outShape := make([]int, r)
			scale := make([]float64, r)
			switch {
			case sizes != nil:
				if len(sizes) != r {
					return fmt.Errorf("sizes %v for rank %d", sizes, r)
				}
				for i := range outShape {
					outShape[i] = int(sizes[i])
					scale[i] = float64(sizes[i]) / float64(x.Shape[i])
				}
			case len(scales) == r:
				for i := range outShape {
					scale[i] = scales[i]
					outShape[i] = int(math.Floor(float64(x.Shape[i]) * float32Round(scales[i])))
				}
			default:
				return fmt.Errorf("need %d scales or sizes, got scales %v", r, scales)
			}
			cur := x
			for axis := 0; axis < r; axis++ {
				if outShape[axis] == cur.Shape[axis] && scale[axis] == 1 && a.coord != "tf_crop_and_resize" {
					continue
				}
				var lo, hi float64 = 0, 1
				if len(roi) == 2*r {
					lo, hi = roi[axis], roi[r+axis]
				}
				taps := a.taps(cur.Shape[axis], outShape[axis], scale[axis], lo, hi)
				next := &Tensor{}
				resizeAxis(c, cur, next, axis, outShape[axis], taps, a.extrapolation)
				cur = next
			}
			copyTensor(c, out[0], cur, cur.Shape)
			return nil
		}, nil
	}
}

// float32Round mirrors ONNX Runtime, which stores scales as float32.
func float32Round(v float64) float64 { return float64(float32(v)) }

// resizeTap is one input coordinate and its weight; outside marks an output
// coordinate that maps outside the input (tf_crop_and_resize extrapolation).
type resizeTaps struct {
	idx     [][]int
	weight  [][]float64
	outside []bool
}

func (a resizeAttrs) taps(in, out int, scale, roiLo, roiHi float64) resizeTaps {
	t := resizeTaps{idx: make([][]int, out), weight: make([][]float64, out), outside: make([]bool, out)}
	for o := 0; o < out; o++ {
		x := a.original(float64(o), in, out, scale, roiLo, roiHi)
		if a.coord == "tf_crop_and_resize" && (x < 0 || x > float64(in-1)) {
			t.outside[o] = true
			continue
		}
		switch a.mode {
		case "nearest":
			i := a.nearestIndex(x, scale < 1)
			t.idx[o], t.weight[o] = []int{max(0, min(i, in-1))}, []float64{1}
		case "linear":
			x = max(0, min(x, float64(in-1)))
			i0 := int(math.Floor(x))
			i1 := min(i0+1, in-1)
			f := x - float64(i0)
			t.idx[o], t.weight[o] = []int{i0, i1}, []float64{1 - f, f}
		case "cubic":
			i0 := int(math.Floor(x))
			f := x - float64(i0)
			w := cubicWeights(f, a.cubicA)
			var sum float64
			for k := -1; k <= 2; k++ {
				i := i0 + k
				wk := w[k+1]
				if a.excludeOutside && (i < 0 || i >= in) {
					wk = 0
				}
				t.idx[o] = append(t.idx[o], max(0, min(i, in-1)))
				t.weight[o] = append(t.weight[o], wk)
				sum += wk
			}
			if a.excludeOutside && sum != 0 {
				for k := range t.weight[o] {
					t.weight[o][k] /= sum
				}
			}
		}
	}
	return t
}

// original maps an output coordinate to the input coordinate system.
func (a resizeAttrs) original(x float64, in, out int, scale, roiLo, roiHi float64) float64 {
	switch a.coord {
	case "asymmetric":
		return x / scale
	case "align_corners":
		// The resized length is in·scale, not the floored output size.
		length := float64(in) * scale
		if length == 1 {
			return 0
		}
		return x * float64(in-1) / (length - 1)
	case "pytorch_half_pixel":
		if float64(in)*scale <= 1 {
			return 0
		}
		return (x+0.5)/scale - 0.5
	case "tf_crop_and_resize":
		if out == 1 {
			return (roiHi - roiLo) * float64(in-1) / 2
		}
		return roiLo*float64(in-1) + x*(roiHi-roiLo)*float64(in-1)/float64(out-1)
	}
	return (x+0.5)/scale - 0.5
}

func (a resizeAttrs) nearestIndex(x float64, down bool) int {
	switch a.nearest {
	case "simple":
		if down {
			return int(math.Ceil(x))
		}
		return int(x)
	case "floor":
		return int(math.Floor(x))
	case "ceil":
		return int(math.Ceil(x))
	case "round_prefer_ceil":
		return int(math.Floor(x + 0.5))
	}
	if x == math.Floor(x)+0.5 {
		return int(math.Floor(x))
	}
	return int(math.Round(x))
}

// cubicWeights are Keys' cubic convolution weights for taps -1, 0, 1, 2.
func cubicWeights(t, a float64) [4]float64 {
	w := func(d float64) float64 {
		d = math.Abs(d)
		switch {
		case d <= 1:
			return ((a+2)*d-(a+3))*d*d + 1
		case d < 2:
			return ((a*d-5*a)*d+8*a)*d - 4*a
		}
		return 0
	}
	return [4]float64{w(t + 1), w(t), w(1 - t), w(2 - t)}
}

// resizeAxis interpolates x along axis into out (size outDim there).
func resizeAxis(c *execContext, x, out *Tensor, axis, outDim int, t resizeTaps, extrapolation float64) {
	shape := append([]int(nil), x.Shape...)
	shape[axis] = outDim
	out.DType, out.Shape = graph.Float32, shape
	out.F32 = make([]float32, shapeSize(shape))
	outer, inner := shapeSize(x.Shape[:axis]), shapeSize(x.Shape[axis+1:])
	in := x.Shape[axis]
	for o := 0; o < outer; o++ {
		for j := 0; j < outDim; j++ {
			dst := out.F32[(o*outDim+j)*inner : (o*outDim+j+1)*inner]
			if t.outside[j] {
				for i := range dst {
					dst[i] = float32(extrapolation)
				}
				continue
			}
			for i := range dst {
				var s float64
				for k, idx := range t.idx[j] {
					s += t.weight[j][k] * float64(x.F32[(o*in+idx)*inner+i])
				}
				dst[i] = float32(s)
			}
		}
	}
}
