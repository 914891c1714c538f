package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// MaxPool, AveragePool (count_include_pad, ceil_mode), GlobalAveragePool and
// GlobalMaxPool on 1-D and 2-D windows.

func init() {
	registerForward(compilePool(false), "MaxPool")
	registerForward(compilePool(true), "AveragePool")
	registerForward(simple(globalPool(false)), "GlobalMaxPool")
	registerForward(simple(globalPool(true)), "GlobalAveragePool")
}

func compilePool(average bool) compileFunc {
	return func(n *graph.Node, _ int64) (kernelFunc, error) {
		attrs, err := readConvAttrs(n)
		if err != nil {
			return nil, err
		}
		if attrs.kernel == nil {
			return nil, fmt.Errorf("kernel_shape missing")
		}
		ceil := n.AttrInt("ceil_mode", 0) != 0
		includePad := n.AttrInt("count_include_pad", 0) != 0
		if n.AttrInt("storage_order", 0) != 0 {
			return nil, fmt.Errorf("storage_order=1 is %w", ErrUnsupported)
		}
		if len(n.Outputs) > 1 && n.Outputs[1] != nil && n.Outputs[1].Name != "" {
			return nil, fmt.Errorf("the Indices output is %w", ErrUnsupported)
		}
		kernel := make([]int, len(attrs.kernel))
		for i, k := range attrs.kernel {
			kernel[i] = int(k)
		}
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			if x.DType != graph.Float32 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			if len(x.Shape) != len(kernel)+2 {
				return fmt.Errorf("X %v and kernel_shape %v disagree", x.Shape, kernel)
			}
			w, err := newWindow(attrs, x.Shape[2:], kernel, ceil)
			if err != nil {
				return err
			}
			planes := x.Shape[0] * x.Shape[1]
			c.alloc(out[0], graph.Float32, w.outShape(x.Shape[0], x.Shape[1])...)
			pool2D(c, w, planes, x.F32, out[0].F32, average, includePad)
			return nil
		}, nil
	}
}

// pool2D reduces each window to its max or mean. Averages divide by the
// taps inside the input, or, with count_include_pad, inside the padded input
// (never the part of a ceil_mode window beyond the padding).
func pool2D(c *execContext, w window, planes int, x, y []float32, average, includePad bool) {
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	c.parallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x[p*inHW : (p+1)*inHW]
			dst := y[p*outHW : (p+1)*outHW]
			for oh := 0; oh < w.outH; oh++ {
				h0 := oh*w.sH - w.padT
				for ow := 0; ow < w.outW; ow++ {
					w0 := ow*w.sW - w.padL
					m := float32(math.Inf(-1))
					var sum float32
					count, padded := 0, 0
					for ki := 0; ki < w.kH; ki++ {
						ih := h0 + ki*w.dH
						inPadH := ih >= -w.padT && ih < w.inH+w.padB
						for kj := 0; kj < w.kW; kj++ {
							iw := w0 + kj*w.dW
							if inPadH && iw >= -w.padL && iw < w.inW+w.padR {
								padded++
							}
							if ih < 0 || ih >= w.inH || iw < 0 || iw >= w.inW {
								continue
							}
							v := src[ih*w.inW+iw]
							count++
							sum += v
							if v > m || v != v {
								m = v
							}
						}
					}
					switch {
					case !average:
						dst[oh*w.outW+ow] = m
					case includePad:
						dst[oh*w.outW+ow] = sum / float32(padded)
					default:
						dst[oh*w.outW+ow] = sum / float32(count)
					}
				}
			}
		}
	})
}

func globalPool(average bool) kernelFunc {
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		if x.DType != graph.Float32 || len(x.Shape) < 2 {
			return fmt.Errorf("X %s%v: %w", x.DType, x.Shape, ErrUnsupported)
		}
		shape := []int{x.Shape[0], x.Shape[1]}
		for range x.Shape[2:] {
			shape = append(shape, 1)
		}
		c.alloc(out[0], graph.Float32, shape...)
		planes := x.Shape[0] * x.Shape[1]
		hw := shapeSize(x.Shape[2:])
		for p := 0; p < planes; p++ {
			src := x.F32[p*hw : (p+1)*hw]
			if average {
				var s float64
				for _, v := range src {
					s += float64(v)
				}
				out[0].F32[p] = float32(s / float64(hw))
				continue
			}
			m := float32(math.Inf(-1))
			for _, v := range src {
				if v > m || v != v {
					m = v
				}
			}
			out[0].F32[p] = m
		}
		return nil
	}
}
